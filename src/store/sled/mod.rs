//! The embedded backend: sled trees (one per shard, plus the listing indexes), a commit log that
//! makes each group durable before sled sees it, and a committer thread that writes both.
//!
//! Invariants: the trees hold only durable changes (so reads never need isolating from a commit
//! that may fail), the committer is the only thread that writes them while serving, index keys
//! exist exactly for live users, and `org-counts` holds each organization's live users.
//! `check` verifies all of it offline.

pub mod backup;
mod check;
mod committer;
mod history;
mod import;
pub mod layout;
mod listing;
mod model_tests;
mod outbox;
mod wal;

use super::{
    Backend, CheckReport, CommitDone, CommitError, EventQuery, Group, ImportCounts, Imported,
    ListQuery, Outgoing, Page, Settle, StoreError, StoredEvent,
};
use crate::config::Durability;
use crate::domain::{User, UserState};
use committer::{Committer, Job, SyncPolicy};
use futures_util::future::BoxFuture;
use layout::{Op, TreeId};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How to open the store.
#[derive(Clone, Debug)]
pub struct Options {
    pub shards: u32,
    pub durability: Durability,
    /// Under periodic durability, how often the commit log is synced.
    pub flush_interval_ms: u64,
    pub cache_bytes: u64,
    /// Threads for listings no index serves, and how long each may scan.
    pub scan_threads: usize,
    pub scan_budget: Duration,
}

impl Options {
    /// What offline tools (`check`, `import`) open a store with.
    pub fn offline(shards: u32, cache_bytes: u64) -> Options {
        Options {
            shards,
            durability: Durability::Fsync,
            flush_interval_ms: 500,
            cache_bytes,
            scan_threads: 1,
            scan_budget: Duration::from_secs(60),
        }
    }
}

/// Run store work that may scan or flush off the caller's (async) thread.
fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> BoxFuture<'static, Result<T, StoreError>> {
    let task = tokio::task::spawn_blocking(work);
    Box::pin(async move {
        task.await
            .map_err(|_| StoreError::Io("a store task stopped".into()))?
    })
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// How the store is doing; shared by the store, the committer and every generation of trees.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// sled cannot take writes (its IO errors stick, and a durable commit may be missing from
    /// it): changes are refused until the committer has reopened sled and replayed the log.
    degraded: AtomicBool,
    /// The last write to the disk failed (a log append or sync, or a checkpoint).
    write_failing: AtomicBool,
}

impl Health {
    fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::SeqCst)
    }

    fn set_write_failing(&self, failing: bool) {
        self.write_failing.store(failing, Ordering::SeqCst);
    }

    fn is_ready(&self) -> bool {
        !self.is_degraded() && !self.write_failing.load(Ordering::SeqCst)
    }
}

/// The trees in service. The committer takes them out while it reopens sled after a failure
/// (sled's files can be opened by one database at a time); reads meanwhile answer unavailable.
#[derive(Debug)]
pub(crate) struct Slot(RwLock<Option<Arc<Trees>>>);

impl Slot {
    fn new(trees: Arc<Trees>) -> Slot {
        Slot(RwLock::new(Some(trees)))
    }

    fn get(&self) -> Result<Arc<Trees>, StoreError> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::Io("the store is reopening after a write failure".into()))
    }

    fn take(&self) -> Option<Arc<Trees>> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn put(&self, trees: Arc<Trees>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(trees);
    }
}

/// The sled database and its trees, shared by the committer, readers and listings.
#[derive(Debug)]
pub(crate) struct Trees {
    db: sled::Db,
    meta: sled::Tree,
    shards: Vec<sled::Tree>,
    created: sled::Tree,
    org: sled::Tree,
    username: sled::Tree,
    email: sled::Tree,
    org_counts: sled::Tree,
    outbox: sled::Tree,
    settings: sled::Tree,
    /// Applied users by state, indexed by the state's number (kept across reopenings).
    counts: Arc<[AtomicI64; 6]>,
    /// Held (shared) by writes made beside the committer (the outbox's settlements, settings),
    /// and (exclusively) by a backup, so that the backup is one moment of those trees too.
    side_writes: RwLock<()>,
    /// Per shard, the tails of the records its actor read to decide (see [`Tails`]).
    tails: Vec<Tails>,
}

/// The tails of the records a shard's actor read since its last group, by user: the group's
/// writes need each changed record's tail, and this saves reading the record twice. An entry
/// counts only for the sequence it was read at; a group takes what it uses and drops the rest,
/// and a reset drops all (a user it replaces may come back at the same sequence). A missing
/// entry only costs a read.
#[derive(Debug, Default)]
struct Tails(std::sync::Mutex<std::collections::HashMap<String, (u64, Vec<u8>)>>);

/// Entries kept in all shards together (each up to about `TAIL_BYTES`): past a shard's share,
/// its actor read without committing (refusals), and its entries are dropped.
const TAILS_KEPT: usize = 16_384;

impl Tails {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (u64, Vec<u8>)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn keep(&self, id: &str, sequence: u64, tail: &[u8], shards: usize) {
        let mut tails = self.lock();
        if tail.is_empty() {
            tails.remove(id);
            return;
        }
        if tails.len() >= (TAILS_KEPT / shards.max(1)).max(16) {
            tails.clear();
        }
        tails.insert(id.to_string(), (sequence, tail.to_vec()));
    }
}

impl Trees {
    /// Run a write beside the committer (see `side_writes`).
    fn beside<T>(&self, write: impl FnOnce(&Trees) -> T) -> T {
        let _shared = self
            .side_writes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        write(self)
    }
}

impl Trees {
    fn tree(&self, id: TreeId) -> Result<&sled::Tree, StoreError> {
        committer::tree(self, id).ok_or_else(|| StoreError::Io(format!("no tree {id:?}")))
    }

    fn apply(&self, op: &Op) -> Result<(), StoreError> {
        let tree = self.tree(op.tree)?;
        match &op.value {
            Some(value) => tree.insert(op.key.as_slice(), value.as_slice()).map(|_| ()),
            None => tree.remove(op.key.as_slice()).map(|_| ()),
        }
        .map_err(io)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }

    /// Make everything applied durable in sled, then start the commit log over. The log's next
    /// LSN is recorded with the flush, so a later log never starts below it.
    fn checkpoint(&self, wal: &mut wal::Wal) -> Result<(), StoreError> {
        self.flush_at(wal.next_lsn())?;
        wal.reset()
    }

    /// The first half of a checkpoint: record the log's next LSN and flush sled.
    fn flush_at(&self, next_lsn: u64) -> Result<(), StoreError> {
        self.meta
            .insert(layout::META_WAL_LSN, &next_lsn.to_be_bytes())
            .map_err(io)?;
        self.flush()
    }

    fn shard_of(&self, id: &str) -> usize {
        super::shard_of(id, self.shards.len())
    }

    fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let Some(tree) = self.shards.get(self.shard_of(id)) else {
            return Ok(None);
        };
        let key = layout::user_key(id);
        match tree.get(&key).map_err(io)? {
            Some(bytes) => layout::decode_user(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Forget every kept tail (the users were replaced).
    fn forget_tails(&self) {
        for tails in &self.tails {
            tails.lock().clear();
        }
    }

    /// A record read to decide a change: its tail is kept for the change's writes.
    fn user_to_change(&self, id: &str) -> Result<Option<User>, StoreError> {
        let shard = self.shard_of(id);
        let (Some(tree), Some(tails)) = (self.shards.get(shard), self.tails.get(shard)) else {
            return Ok(None);
        };
        let key = layout::user_key(id);
        let Some(bytes) = tree.get(&key).map_err(io)? else {
            tails.keep(id, 0, &[], self.shards.len());
            return Ok(None);
        };
        let (user, tail) = layout::split_record(&key, &bytes)?;
        tails.keep(id, user.sequence, tail, self.shards.len());
        Ok(Some(user))
    }

    /// The tail of `user`'s record as stored, which must be at `user`'s sequence.
    fn stored_tail(&self, shard: usize, user: &User) -> Result<Vec<u8>, StoreError> {
        if let Some((sequence, tail)) = self
            .tails
            .get(shard)
            .and_then(|t| t.lock().remove(&user.id))
        {
            if sequence == user.sequence {
                return Ok(tail);
            }
        }
        let tree = self
            .shards
            .get(shard)
            .ok_or_else(|| StoreError::Io(format!("no shard {shard}")))?;
        let key = layout::user_key(&user.id);
        let bytes = tree
            .get(&key)
            .map_err(io)?
            .ok_or_else(|| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "a change's record is not stored".into(),
            })?;
        let (stored, tail) = layout::split_record(&key, &bytes)?;
        if stored.sequence != user.sequence {
            return Err(StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: format!(
                    "a change expects sequence {}, the record has {}",
                    user.sequence, stored.sequence
                ),
            });
        }
        Ok(tail.to_vec())
    }

    /// The writes of `changes` (one shard's group): their ops, the organization count deltas.
    fn group_ops(
        &self,
        shard: usize,
        changes: &[super::Change],
        ops: &mut Vec<Op>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let shard_id = u16::try_from(shard).unwrap_or(u16::MAX);
        let mut org_deltas = Vec::new();
        // The tail each changed user's record has after the group's changes so far.
        let mut tails: std::collections::HashMap<&str, Vec<u8>> = Default::default();
        for change in changes {
            let id = change.after.id.as_str();
            let mut tail = match (tails.remove(id), &change.before) {
                (Some(tail), _) => tail,
                (None, Some(before)) => self.stored_tail(shard, before)?,
                (None, None) => Vec::new(),
            };
            org_deltas.extend(layout::change_ops(change, shard_id, &mut tail, ops));
            tails.insert(id, tail);
        }
        // Whatever the actor read for decisions that changed nothing.
        if let Some(kept) = self.tails.get(shard) {
            kept.lock().clear();
        }
        Ok(org_deltas)
    }

    fn username_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .username
            .get(name.as_bytes())
            .map_err(io)?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    fn org_count(&self, org: &str) -> Result<u64, StoreError> {
        Ok(self
            .org_counts
            .get(org.as_bytes())
            .map_err(io)?
            .and_then(|v| layout::be_u64(&v))
            .unwrap_or(0))
    }

    fn state_moved(&self, from: Option<UserState>, to: UserState) {
        if let Some(from) = from {
            self.counts[from.number() as usize].fetch_sub(1, Ordering::Relaxed);
        }
        self.counts[to.number() as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn state_counts(&self) -> [i64; 6] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    /// Live users in all: every state but DELETED.
    fn live_count(&self) -> u64 {
        let counts = self.state_counts();
        let all: i64 = counts.iter().sum();
        u64::try_from(all - counts[UserState::Deleted.number() as usize]).unwrap_or(0)
    }

    /// Save the users-by-state counts at a clean stop, so the next start need not count.
    fn save_state_counts(&self) -> Result<(), StoreError> {
        self.meta
            .insert(
                layout::META_STATE_COUNTS,
                layout::encode(&self.state_counts().to_vec()),
            )
            .map_err(io)?;
        self.flush()
    }

    /// Take the counts a clean stop saved (None after a crash), or count every user (also when
    /// `stale`).
    fn load_state_counts(&self, stale: bool) -> Result<(), StoreError> {
        let saved = self.meta.remove(layout::META_STATE_COUNTS).map_err(io)?;
        // Once anything changes users the saved counts are stale: a crash must not leave them.
        self.flush()?;
        let saved = saved.filter(|_| !stale);
        let counts = match saved.and_then(|b| layout::decode::<Vec<i64>>(b"counts", &b).ok()) {
            Some(saved) if saved.len() == 6 => saved,
            _ => {
                let mut counts = vec![0i64; 6];
                for tree in &self.shards {
                    for item in tree.scan_prefix(layout::user_prefix()) {
                        let (key, value) = item.map_err(io)?;
                        match layout::decode_user(&key, &value) {
                            Ok(user) => counts[user.state.number() as usize] += 1,
                            // A record that does not decode is reported when it is used, and by
                            // `userd check`.
                            Err(e) => log::error!("{e}"),
                        }
                    }
                }
                counts
            }
        };
        for (slot, n) in self.counts.iter().zip(counts) {
            slot.store(n, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The embedded store.
#[derive(Debug)]
pub struct SledStore {
    slot: Arc<Slot>,
    health: Arc<Health>,
    counts: Arc<[AtomicI64; 6]>,
    shard_count: usize,
    committer: Committer,
    scans: listing::ScanPool,
    dir: PathBuf,
    /// The outbox position of the next delivery.
    next_position: std::sync::atomic::AtomicU64,
}

fn open_db(dir: &Path, cache_bytes: u64, flush_ms: Option<u64>) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        .flush_every_ms(flush_ms)
        .open()
        .map_err(|e| match e {
            sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                StoreError::Locked(dir.to_path_buf())
            }
            sled::Error::Io(ref io) if io.to_string().contains("lock") => {
                StoreError::Locked(dir.to_path_buf())
            }
            other => StoreError::Io(other.to_string()),
        })
}

/// What opening (or reopening) sled's trees needs.
#[derive(Clone, Debug)]
pub(crate) struct TreeOptions {
    dir: PathBuf,
    cache_bytes: u64,
    shards: u16,
    counts: Arc<[AtomicI64; 6]>,
    health: Arc<Health>,
}

impl TreeOptions {
    /// Open sled's database and trees (sled flushes at checkpoints only: the commit log makes
    /// changes durable); the store's format.
    fn open(&self) -> Result<(Arc<Trees>, u64), StoreError> {
        let db = open_db(&self.dir, self.cache_bytes, None)?;
        let meta = db.open_tree(layout::META_TREE).map_err(io)?;
        let format = check_meta(&meta, &self.dir, u32::from(self.shards))?;
        let open = |id: TreeId| db.open_tree(id.name()).map_err(io);
        let trees = Trees {
            shards: (0..self.shards)
                .map(|i| open(TreeId::Shard(i)))
                .collect::<Result<_, _>>()?,
            created: open(TreeId::Created)?,
            org: open(TreeId::Org)?,
            username: open(TreeId::Username)?,
            email: open(TreeId::Email)?,
            org_counts: open(TreeId::OrgCounts)?,
            outbox: open(TreeId::Outbox)?,
            settings: open(TreeId::Settings)?,
            meta,
            db,
            counts: self.counts.clone(),
            side_writes: RwLock::new(()),
            tails: (0..self.shards).map(|_| Tails::default()).collect(),
        };
        Ok((Arc::new(trees), format))
    }

    /// Open the trees, waiting out the file lock that a database just dropped keeps for a
    /// moment (its threads release it).
    fn reopen(&self) -> Result<Arc<Trees>, StoreError> {
        let mut attempt = 0;
        loop {
            match self.open() {
                Err(StoreError::Locked(_)) if attempt < 100 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.map(|(trees, _)| trees),
            }
        }
    }
}

/// Apply the changes the commit log holds (sled may lack them) to `trees`, then checkpoint:
/// the open log, and whether it held anything.
fn replay_log(trees: &Trees, dir: &Path) -> Result<(wal::Wal, bool), StoreError> {
    let lsn_floor = trees
        .meta
        .get(layout::META_WAL_LSN)
        .map_err(io)?
        .and_then(|v| layout::be_u64(&v))
        .unwrap_or(0);
    let (mut wal, records) = wal::Wal::open(dir, lsn_floor)?;
    let replayed = !records.is_empty();
    if replayed {
        log::info!("replaying {} commits from the commit log", records.len());
        for op in records.iter().flatten() {
            trees.apply(op)?;
        }
    }
    trees.checkpoint(&mut wal)?;
    Ok((wal, replayed))
}

impl SledStore {
    pub fn open(dir: &Path, options: Options) -> Result<SledStore, StoreError> {
        if options.shards == 0 {
            return Err(StoreError::Mismatch(
                "storage.shards must be at least 1".into(),
            ));
        }
        let shards = u16::try_from(options.shards)
            .map_err(|_| StoreError::Mismatch("storage.shards must be at most 65535".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e.to_string()))?;
        // A directory made by an earlier build may be open to others: close it.
        {
            use std::os::unix::fs::PermissionsExt;
            if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                log::warn!("cannot restrict {} to its owner: {e}", dir.display());
            }
        }
        // A probe a recovery left behind when the process stopped.
        let _ = std::fs::remove_file(dir.join(committer::PROBE_FILE));
        let tree_options = TreeOptions {
            dir: dir.to_path_buf(),
            cache_bytes: options.cache_bytes,
            shards,
            counts: Default::default(),
            health: Default::default(),
        };
        let (trees, format) = tree_options.open()?;
        let (wal, replayed) = replay_log(&trees, dir)?;
        if format < layout::STORE_FORMAT {
            if format < 2 {
                log::info!(
                    "{}: building the listing indexes (store format {format} to {})",
                    dir.display(),
                    layout::STORE_FORMAT
                );
                build_indexes(&trees)?;
                trees.db.drop_tree(layout::OLD_USERNAMES_TREE).map_err(io)?;
            }
            // Format 2's values read as they are; from now on they get written as format 3's.
            trees
                .meta
                .insert(layout::META_FORMAT, &layout::STORE_FORMAT.to_be_bytes())
                .map_err(io)?;
            trees.flush()?;
        }
        import::recover(&trees)?;
        // Counts saved by a clean stop do not cover commits replayed from the log.
        trees.load_state_counts(replayed)?;
        let slot = Arc::new(Slot::new(trees));
        let committer = Committer::start(
            slot.clone(),
            tree_options.clone(),
            wal,
            match options.durability {
                Durability::Fsync => SyncPolicy::EveryCommit,
                Durability::Periodic => {
                    SyncPolicy::Every(Duration::from_millis(options.flush_interval_ms))
                }
            },
        )?;
        let scans = listing::ScanPool::start(options.scan_threads, options.scan_budget)?;
        let next_position = {
            let trees = slot.get()?;
            outbox::first_position(&trees)?
        };
        Ok(SledStore {
            next_position: std::sync::atomic::AtomicU64::new(next_position),
            slot,
            health: tree_options.health,
            counts: tree_options.counts,
            shard_count: usize::from(shards),
            committer,
            scans,
            dir: dir.to_path_buf(),
        })
    }

    /// Open an existing store with the shard count recorded in it (for offline tools).
    pub fn open_existing(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        if !dir.join("db").is_file() {
            return Err(StoreError::Mismatch(format!(
                "{} holds no userd store",
                dir.display()
            )));
        }
        let shards = {
            let db = open_db(dir, cache_bytes, None)?;
            let meta = db.open_tree(layout::META_TREE).map_err(io)?;
            meta.get(layout::META_SHARDS)
                .map_err(io)?
                .and_then(|v| layout::be_u64(&v))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: "meta/shards".into(),
                    reason: "missing or not a shard count".into(),
                })?
        };
        // sled's threads release the directory's lock a moment after the database is dropped.
        let mut attempt = 0;
        loop {
            match SledStore::open(dir, Options::offline(shards, cache_bytes)) {
                Err(StoreError::Locked(_)) if attempt < 100 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write one raw key, bypassing every rule (tests that damage a store on purpose).
    #[doc(hidden)]
    pub fn put_raw(&self, tree: TreeId, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let trees = self.slot.get()?;
        trees.tree(tree)?.insert(key, value).map_err(io)?;
        trees.flush()
    }

    /// Remove one raw key, bypassing every rule (tests that damage a store on purpose).
    #[doc(hidden)]
    pub fn remove_raw(&self, tree: TreeId, key: &[u8]) -> Result<(), StoreError> {
        let trees = self.slot.get()?;
        trees.tree(tree)?.remove(key).map_err(io)?;
        trees.flush()
    }

    /// The stored record of `id`, read now (offline tools and tests).
    pub fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.slot.get()?.user(id)
    }
}

/// Check the format and shard count recorded in `meta` (recording them in a new store); the
/// store's format.
fn check_meta(meta: &sled::Tree, dir: &Path, shards: u32) -> Result<u64, StoreError> {
    let corrupt = |key: &str| StoreError::Corrupt {
        key: format!("meta/{key}"),
        reason: "not a u64".into(),
    };
    match (
        meta.get(layout::META_FORMAT).map_err(io)?,
        meta.get(layout::META_SHARDS).map_err(io)?,
    ) {
        (None, None) => {
            meta.insert(layout::META_FORMAT, &layout::STORE_FORMAT.to_be_bytes())
                .map_err(io)?;
            meta.insert(layout::META_SHARDS, &u64::from(shards).to_be_bytes())
                .map_err(io)?;
            meta.flush().map_err(io)?;
            Ok(layout::STORE_FORMAT)
        }
        (Some(format), Some(stored)) => {
            let format = layout::be_u64(&format).ok_or_else(|| corrupt("format"))?;
            if format > layout::STORE_FORMAT {
                return Err(StoreError::Mismatch(format!(
                    "{} holds store format {format}, this userd reads formats up to {}",
                    dir.display(),
                    layout::STORE_FORMAT
                )));
            }
            let stored = layout::be_u64(&stored).ok_or_else(|| corrupt("shards"))?;
            if stored != u64::from(shards) {
                return Err(StoreError::Mismatch(format!(
                    "storage.shards is {shards} but {} was created with {stored} shards; \
                     the shard count is fixed at creation",
                    dir.display()
                )));
            }
            Ok(format)
        }
        _ => Err(StoreError::Mismatch(format!(
            "{} has an incomplete meta tree",
            dir.display()
        ))),
    }
}

/// Write the index keys and organization counts of every live user (a format-1 store, or one
/// an import left unfinished).
fn build_indexes(trees: &Trees) -> Result<(), StoreError> {
    let mut org_counts: std::collections::HashMap<String, u64> = Default::default();
    for tree in &trees.shards {
        for item in tree.scan_prefix(layout::user_prefix()) {
            let (key, value) = item.map_err(io)?;
            let user = match layout::decode_user(&key, &value) {
                Ok(user) => user,
                Err(e) => {
                    log::error!("{e}");
                    continue;
                }
            };
            if !crate::domain::is_live(&user) {
                continue;
            }
            for (tree, key, value) in layout::index_entries(&user) {
                trees.tree(tree)?.insert(key, value).map_err(io)?;
            }
            *org_counts.entry(user.org).or_default() += 1;
        }
    }
    for (org, n) in org_counts {
        trees.apply(&layout::org_count_op(&org, n))?;
    }
    trees.flush()
}

impl Backend for SledStore {
    fn shard_count(&self) -> usize {
        self.shard_count
    }

    fn user<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        Box::pin(std::future::ready(self.slot.get().and_then(|t| t.user(id))))
    }

    fn user_at_once(&self, id: &str) -> Option<Result<Option<User>, StoreError>> {
        Some(self.slot.get().and_then(|t| t.user_to_change(id)))
    }

    fn username_holder<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(std::future::ready(
            self.slot.get().and_then(|t| t.username_holder(username)),
        ))
    }

    fn commit(&self, group: Group, done: CommitDone) {
        let mut ops = Vec::with_capacity(group.changes.len() * 2);
        let org_deltas = match self
            .slot
            .get()
            .and_then(|trees| trees.group_ops(group.shard, &group.changes, &mut ops))
        {
            Ok(deltas) => deltas,
            Err(e) => return done(Err(CommitError::Unavailable(e))),
        };
        let moves = group.changes.iter().map(|c| c.state_move()).collect();
        if !group.deliveries.is_empty() {
            // Taken in the shard's commit order, so a user's deliveries queue in sequence order.
            let first = self
                .next_position
                .fetch_add(group.deliveries.len() as u64, Ordering::SeqCst);
            layout::delivery_ops(&group.deliveries, first, &mut ops);
        }
        let mut encoded = Vec::new();
        wal::encode_ops(&ops, &mut encoded);
        self.committer.submit(Job {
            ops,
            encoded,
            org_deltas,
            moves,
            done,
        });
    }

    fn list(&self, query: ListQuery) -> BoxFuture<'static, Result<Page, StoreError>> {
        match self.slot.get() {
            Ok(trees) => listing::list(trees, &self.scans, query),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn events(
        &self,
        query: EventQuery,
    ) -> BoxFuture<'static, Result<Vec<StoredEvent>, StoreError>> {
        match self.slot.get() {
            Ok(trees) => self
                .scans
                .submit(move |budget| history::search(&trees, &query, budget)),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn outbox(
        &self,
        target: Option<String>,
        parked: bool,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Outgoing>, StoreError>> {
        let trees = match self.slot.get() {
            Ok(trees) => trees,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        match target {
            // A seek and at most `limit` entries.
            Some(target) => blocking(move || outbox::list(&trees, &target, parked, after, limit)),
            // Every target's: a scan, on the scan pool within its budget.
            None => self
                .scans
                .submit(move |budget| outbox::list_all(&trees, parked, after, limit, budget)),
        }
    }

    fn settle(
        &self,
        target: String,
        position: u64,
        settle: Settle,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        let trees = self.slot.get();
        blocking(move || {
            trees.and_then(|t| t.beside(|t| outbox::settle(t, &target, position, settle)))
        })
    }

    fn purge_outbox(&self, target: String) -> BoxFuture<'static, Result<(), StoreError>> {
        let trees = self.slot.get();
        blocking(move || trees.and_then(|t| t.beside(|t| outbox::purge(t, &target))))
    }

    fn settings(&self) -> BoxFuture<'static, Result<super::SettingEntries, StoreError>> {
        let trees = self.slot.get();
        Box::pin(std::future::ready(trees.and_then(|t| outbox::settings(&t))))
    }

    fn put_setting(
        &self,
        key: String,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let trees = self.slot.get();
        blocking(move || trees.and_then(|t| t.beside(|t| outbox::put_setting(t, &key, value))))
    }

    fn state_counts(&self) -> [i64; 6] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    fn is_ready(&self) -> bool {
        self.health.is_ready()
            && self
                .slot
                .get()
                .is_ok_and(|t| t.meta.get(layout::META_FORMAT).is_ok())
    }

    fn check(&self, max_problems: usize) -> Result<CheckReport, StoreError> {
        check::check(&*self.slot.get()?, max_problems)
    }

    fn import(&self, users: Vec<Imported>) -> Result<ImportCounts, StoreError> {
        import::import(&*self.slot.get()?, users)
    }

    fn export(
        &self,
        visit: &mut dyn FnMut(Imported) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let trees = self.slot.get()?;
        let mut visited = 0;
        for tree in &trees.shards {
            for item in tree.scan_prefix(layout::user_prefix()) {
                let (key, value) = item.map_err(io)?;
                let (user, tail) = layout::split_record(&key, &value)?;
                if !crate::domain::is_live(&user) {
                    continue;
                }
                let mut events = history::user_history(tree, &key, &user.id, tail, &mut || Ok(()))?;
                // Events past the record belong to a commit that never finished.
                events.retain(|event| event.sequence <= user.sequence);
                visit(Imported { user, events })?;
                visited += 1;
            }
        }
        Ok(visited)
    }

    fn close(&self) -> Result<(), StoreError> {
        self.committer.close()
    }

    fn backup(&self) -> BoxFuture<'static, Result<Option<super::Snapshot>, StoreError>> {
        let (dir, link) = (self.dir.clone(), self.committer.backup_link());
        blocking(move || {
            let link = link.ok_or_else(|| StoreError::Io("the committer has stopped".into()))?;
            backup::take(&dir, &link).map(Some)
        })
    }

    fn reset(&self, users: Vec<Imported>) -> BoxFuture<'static, Result<ImportCounts, StoreError>> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.committer.reset(committer::Reset { users, done });
        Box::pin(async move {
            outcome
                .await
                .map_err(|_| StoreError::Io("the committer has stopped".into()))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(shards: u32) -> Options {
        Options::offline(shards, 1 << 20)
    }

    #[test]
    fn shard_count_is_fixed_at_creation() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledStore::open(dir.path(), options(4)).unwrap());
        let err = open_again(dir.path(), 8).unwrap_err();
        assert!(err.to_string().contains("created with 4 shards"), "{err}");
        assert_eq!(open_again(dir.path(), 4).unwrap().shard_count(), 4);
    }

    #[test]
    fn a_reset_that_did_not_finish_leaves_no_user() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), options(4)).unwrap();
        let new = |id: &str| crate::domain::NewUser {
            id: id.into(),
            org: "o".into(),
            initial_state: UserState::Active,
            creator_scope: crate::domain::OrgScope::Everywhere,
            editor: String::new(),
            profile: crate::domain::Profile::V3 {
                schema_id: "s".into(),
                data_json: "{}".into(),
                contact: Default::default(),
            },
        };
        let users = ["a", "b"]
            .map(|id| Imported::created(new(id), crate::domain::Timestamp(1)))
            .to_vec();
        assert_eq!(store.import(users).unwrap().imported, 2);
        // A reset that stopped after clearing some users: the marker is still set.
        let trees = store.slot.get().unwrap();
        trees.meta.insert(import::META_RESETTING, &[1u8]).unwrap();
        trees.shards[store.shard_count - 1].clear().unwrap();
        trees.flush().unwrap();
        drop(trees);
        drop(store);
        let store = open_again(dir.path(), 4).unwrap();
        assert_eq!(store.get_user("a").unwrap(), None);
        assert_eq!(store.get_user("b").unwrap(), None);
        assert_eq!(store.state_counts(), [0; 6]);
        assert!(store.check(10).unwrap().is_ok());
    }

    /// Open, waiting out the file lock sled's threads hold for a moment after a drop.
    fn open_again(dir: &Path, shards: u32) -> Result<SledStore, StoreError> {
        for _ in 0..100 {
            match SledStore::open(dir, options(shards)) {
                Err(StoreError::Locked(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other,
            }
        }
        SledStore::open(dir, options(shards))
    }
}
