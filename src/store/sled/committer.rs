//! The committer: one thread that makes the groups of every shard durable together and then
//! applies them to sled's trees, so reads only ever see durable changes.
//!
//! It takes every group queued while the previous commit ran, from all shards, writes them as
//! one commit-log record (synced at once under `fsync` durability, every `flush_interval_ms`
//! under `periodic`), applies their writes to the trees, and only then reports each group done.
//! Sled itself is flushed at checkpoints, after which the log starts over.
//!
//! Failures: a commit the log refused answers "not applied" and left nothing. sled's IO errors
//! stick (a full disk breaks it for good), so a sled write that fails leaves the store
//! degraded: changes are refused and no checkpoint runs (it would drop the log); the groups
//! that were logged but not applied answer "outcome unknown". Once the disk has room again
//! (a probe file can be written), the committer takes the trees out of service, reopens sled
//! and replays the log into it, as a restart would, and serves again. Readiness
//! ([`Health`]) is false while degraded or while the last write to the disk failed.

use super::super::{CommitDone, CommitError, ImportCounts, Imported, StoreError};
use super::layout::{self, Op, TreeId};
use super::wal::{self, AppendError, Wal};
use super::{Health, Slot, TreeOptions, Trees};
use crate::domain::UserState;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Log size past which a checkpoint starts it over.
const CHECKPOINT_BYTES: u64 = 8 << 20;
/// A log older than this is checkpointed: sled's dirty pages (memory) and what a restart
/// replays stay small.
const CHECKPOINT_AGE: Duration = Duration::from_secs(1);
/// How often a degraded store tries to recover, and a failing disk is probed.
const RECOVERY_PAUSE: Duration = Duration::from_secs(1);
/// Room a recovery wants on the disk first: a reopened sled's checkpoint writes new segments.
const RECOVERY_ROOM: usize = 8 << 20;
/// How long a recovery waits for readers (a scan may run to its budget) to let go of the trees.
const RELEASE_WAIT: Duration = Duration::from_secs(3);
/// The file a recovery writes to learn whether the disk has room.
pub(super) const PROBE_FILE: &str = "recovery.probe";

/// When appended commits are synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SyncPolicy {
    /// Before each commit counts (`durability = "fsync"`).
    EveryCommit,
    /// At most this long after a commit (`durability = "periodic"`).
    Every(Duration),
}

/// One shard's group, turned into writes by the shard's thread.
pub(super) struct Job {
    pub ops: Vec<Op>,
    /// `ops`, encoded for the log.
    pub encoded: Vec<u8>,
    /// Live-user count changes by organization.
    pub org_deltas: Vec<(String, i64)>,
    /// State moves of the group's changes (None: a creation), counted once applied.
    pub moves: Vec<(Option<UserState>, UserState)>,
    pub done: CommitDone,
}

enum Message {
    Commit(Job),
    /// Apply what is queued, checkpoint, save the state counts, answer.
    Close(mpsc::Sender<Result<(), StoreError>>),
    /// Replace every user with these (see [`Run::reset`]).
    Reset(Reset),
    /// A backup begins: keep what is committed from now on (see [`Run::backup_begin`]).
    BackupBegin(mpsc::Sender<Result<Arc<Trees>, StoreError>>),
    /// The backup's copy is done: what was committed meanwhile (see [`Run::backup_end`]).
    BackupEnd(mpsc::Sender<Result<std::fs::File, StoreError>>),
}

/// What a backup in progress needs from the committer: the commits made while it copies.
#[derive(Debug, Clone)]
pub(super) struct BackupLink(mpsc::Sender<Message>);

impl BackupLink {
    fn ask<T>(&self, message: impl FnOnce(mpsc::Sender<T>) -> Message) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::channel();
        self.0.send(message(tx)).map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())
    }

    /// Start keeping every commit's writes; the trees to copy meanwhile.
    pub fn begin(&self) -> Result<Arc<Trees>, StoreError> {
        self.ask(Message::BackupBegin)?
    }

    /// Stop keeping them: the writes of every commit since `begin`, in commit order, as the
    /// log's payloads (`u32` length, big-endian, then the payload), rewound for reading.
    pub fn end(&self) -> Result<std::fs::File, StoreError> {
        self.ask(Message::BackupEnd)?
    }
}

/// The writes committed since a backup began, and the trees it copies (a recovery replaces
/// them, and voids the backup).
struct Tail {
    trees: Arc<Trees>,
    out: std::io::BufWriter<std::fs::File>,
    bytes: u64,
    failed: Option<String>,
}

/// How much a backup's tail may hold: past it the backup fails rather than fill the disk.
const TAIL_LIMIT: u64 = 1 << 30;

/// A reset's users and where its outcome goes.
pub(super) struct Reset {
    pub users: Vec<Imported>,
    pub done: tokio::sync::oneshot::Sender<Result<ImportCounts, StoreError>>,
}

/// The committer thread's queue. Dropping it lets the thread finish what is queued and waits
/// for it, so the store's files are free again once the store is dropped.
#[derive(Debug)]
pub(super) struct Committer {
    queue: Option<mpsc::Sender<Message>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn stopped() -> StoreError {
    StoreError::Io("the committer has stopped".into())
}

impl Committer {
    /// Start the committer thread. It ends when the queue is dropped.
    pub fn start(
        slot: Arc<Slot>,
        reopen: TreeOptions,
        wal: Wal,
        policy: SyncPolicy,
    ) -> Result<Committer, StoreError> {
        let (tx, rx) = mpsc::channel::<Message>();
        let thread = std::thread::Builder::new()
            .name("userd-committer".into())
            .spawn(move || Run::new(slot, reopen, wal, policy).run(rx))
            .map_err(|e| StoreError::Io(format!("cannot start the committer thread: {e}")))?;
        Ok(Committer {
            queue: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn submit(&self, job: Job) {
        let Some(queue) = &self.queue else {
            return (job.done)(Err(CommitError::Unavailable(stopped())));
        };
        if let Err(mpsc::SendError(Message::Commit(job))) = queue.send(Message::Commit(job)) {
            (job.done)(Err(CommitError::Unavailable(stopped())));
        }
    }

    /// Queue a reset behind the commits queued before it.
    pub fn reset(&self, reset: Reset) {
        let Some(queue) = &self.queue else {
            let _ = reset.done.send(Err(stopped()));
            return;
        };
        if let Err(mpsc::SendError(Message::Reset(reset))) = queue.send(Message::Reset(reset)) {
            let _ = reset.done.send(Err(stopped()));
        }
    }

    /// The backup's side of the queue (None once stopped).
    pub fn backup_link(&self) -> Option<BackupLink> {
        self.queue.clone().map(BackupLink)
    }

    pub fn close(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::channel();
        self.queue
            .as_ref()
            .ok_or_else(stopped)?
            .send(Message::Close(tx))
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Run {
    slot: Arc<Slot>,
    /// How to open the trees again after a failure.
    reopen: TreeOptions,
    health: Arc<Health>,
    wal: Wal,
    policy: SyncPolicy,
    /// Live users per organization as applied (loaded from `org-counts` on first use).
    org_counts: HashMap<String, u64>,
    /// The last checkpoint, or the last failed try.
    last_checkpoint: Instant,
    /// When the first record since the last checkpoint was appended.
    first_unsaved: Option<Instant>,
    last_sync: Instant,
    /// Records appended since the last sync (periodic durability).
    unsynced: bool,
    /// The store was closed: later commits are refused.
    closed: bool,
    /// The last recovery try or disk probe.
    last_recovery: Instant,
    /// Recovery tries since the store degraded (a full disk is logged once a minute).
    recovery_tries: u64,
    /// A backup in progress: the commits made while it copies.
    tail: Option<Tail>,
}

impl Tail {
    /// Keep one commit's log payload.
    fn keep(&mut self, payload: &[u8]) {
        use std::io::Write;
        if self.failed.is_some() {
            return;
        }
        self.bytes += payload.len() as u64 + 4;
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let written = self
            .out
            .write_all(&len.to_be_bytes())
            .and_then(|()| self.out.write_all(payload));
        if let Err(e) = written {
            self.failed = Some(format!("keeping the commits made meanwhile: {e}"));
        } else if self.bytes > TAIL_LIMIT {
            self.failed = Some("more was committed meanwhile than a backup keeps".into());
        }
    }
}

impl Run {
    fn new(slot: Arc<Slot>, reopen: TreeOptions, wal: Wal, policy: SyncPolicy) -> Run {
        Run {
            slot,
            health: reopen.health.clone(),
            reopen,
            wal,
            policy,
            org_counts: HashMap::new(),
            last_checkpoint: Instant::now(),
            first_unsaved: None,
            last_sync: Instant::now(),
            unsynced: false,
            closed: false,
            last_recovery: Instant::now(),
            recovery_tries: 0,
            tail: None,
        }
    }

    fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        self.slot.get()
    }

    fn run(mut self, rx: mpsc::Receiver<Message>) {
        let tick = match self.policy {
            SyncPolicy::EveryCommit => CHECKPOINT_AGE,
            SyncPolicy::Every(interval) => interval.min(CHECKPOINT_AGE),
        };
        loop {
            let first = match rx.recv_timeout(tick) {
                Ok(message) => message,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.maintain();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            // Commits queued before a control message are applied before it.
            let mut jobs = Vec::new();
            let mut control = None;
            match first {
                Message::Commit(job) => jobs.push(job),
                other => control = Some(other),
            }
            while control.is_none() {
                match rx.try_recv() {
                    Ok(Message::Commit(job)) => jobs.push(job),
                    Ok(other) => control = Some(other),
                    Err(_) => break,
                }
            }
            if !jobs.is_empty() {
                self.commit(jobs);
                self.maintain();
            }
            match control {
                Some(Message::Commit(job)) => self.commit(vec![job]),
                Some(Message::Close(reply)) => {
                    let _ = reply.send(self.close());
                }
                Some(Message::Reset(r)) => {
                    let outcome = self.reset(r.users);
                    let _ = r.done.send(outcome);
                }
                Some(Message::BackupBegin(reply)) => {
                    let _ = reply.send(self.backup_begin());
                }
                Some(Message::BackupEnd(reply)) => {
                    let _ = reply.send(self.backup_end());
                }
                None => {}
            }
        }
    }

    /// The absolute counts the jobs' deltas lead to, as writes (the log holds absolute values,
    /// so replaying it twice is harmless).
    fn count_ops(&mut self, jobs: &[Job]) -> Result<(Vec<Op>, HashMap<String, u64>), StoreError> {
        let mut next: HashMap<String, u64> = HashMap::new();
        for (org, delta) in jobs.iter().flat_map(|j| &j.org_deltas) {
            let current = match next.get(org) {
                Some(n) => *n,
                None => self.org_count(org)?,
            };
            next.insert(org.clone(), current.saturating_add_signed(*delta));
        }
        let ops = next
            .iter()
            .map(|(org, n)| layout::org_count_op(org, *n))
            .collect();
        Ok((ops, next))
    }

    fn org_count(&mut self, org: &str) -> Result<u64, StoreError> {
        if let Some(n) = self.org_counts.get(org) {
            return Ok(*n);
        }
        let n = self.trees()?.org_count(org)?;
        self.org_counts.insert(org.to_string(), n);
        Ok(n)
    }

    fn degrade(&self, why: &str) {
        log::error!("{why}: refusing changes until the store is reopened");
        self.health.degraded.store(true, Ordering::SeqCst);
        self.health.set_write_failing(true);
    }

    /// What runs between commits: the periodic sync, probing a failing disk, recovering a
    /// degraded store, checkpoints.
    fn maintain(&mut self) {
        self.sync_if_due();
        if !self.closed && self.last_recovery.elapsed() >= RECOVERY_PAUSE {
            if self.health.is_degraded() {
                self.last_recovery = Instant::now();
                self.recover();
            } else if self.health.write_failing.load(Ordering::SeqCst) {
                self.last_recovery = Instant::now();
                self.probe_log();
            }
        }
        self.checkpoint_if_due();
    }

    /// After a failed log write, with no commits coming: an empty record (replayed as
    /// nothing) tells whether the log takes writes again.
    fn probe_log(&mut self) {
        match self.wal.append(&[], true) {
            Ok(()) => {
                log::info!("the commit log takes writes again");
                self.health.set_write_failing(false);
            }
            Err(AppendError::Failed(e)) => log::debug!("the commit log still fails: {e}"),
            Err(AppendError::Broken(e)) => self.degrade(&format!("the commit log broke: {e}")),
        }
    }

    /// Reopen sled and replay the log into it, once the disk has room.
    fn recover(&mut self) {
        self.recovery_tries += 1;
        if let Err(e) = room_for_recovery(&self.reopen.dir) {
            if self.recovery_tries % 60 == 1 {
                log::warn!("the store stays degraded: the disk has no room yet ({e})");
            }
            return;
        }
        match self.reopen_trees() {
            Ok(()) => {
                log::info!(
                    "the store recovered after {} tries: sled reopened and the commit log replayed",
                    self.recovery_tries
                );
                self.recovery_tries = 0;
                self.health.degraded.store(false, Ordering::SeqCst);
                self.health.set_write_failing(false);
            }
            Err(e) => log::error!("recovering the store failed, trying again: {e}"),
        }
    }

    fn reopen_trees(&mut self) -> Result<(), StoreError> {
        // sled's files can be open in one database at a time: the old trees must be dropped
        // first, so they leave service and readers let go of them.
        if let Some(mut old) = self.slot.take() {
            let deadline = Instant::now() + RELEASE_WAIT;
            loop {
                match Arc::try_unwrap(old) {
                    Ok(trees) => {
                        drop(trees);
                        break;
                    }
                    Err(still_held) if Instant::now() >= deadline => {
                        self.slot.put(still_held);
                        return Err(StoreError::Io(
                            "readers still hold the store's trees".into(),
                        ));
                    }
                    Err(still_held) => {
                        old = still_held;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }
        // Until this succeeds the slot stays empty and reads answer unavailable.
        let trees = self.reopen.reopen()?;
        let replayed = super::replay_log(&trees, &self.reopen.dir);
        // Readable either way: the trees hold everything the log held.
        self.slot.put(trees);
        let (wal, _) = replayed?;
        self.wal = wal;
        self.org_counts.clear();
        self.first_unsaved = None;
        self.last_checkpoint = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        let fail = |jobs: Vec<Job>, e: &StoreError| {
            for job in jobs {
                (job.done)(Err(CommitError::Unavailable(StoreError::Io(e.to_string()))));
            }
        };
        if self.closed {
            return fail(jobs, &StoreError::Io("the store is closed".into()));
        }
        if self.health.is_degraded() {
            return fail(
                jobs,
                &StoreError::Io("the store is recovering from a failed write".into()),
            );
        }
        let trees = match self.trees() {
            Ok(trees) => trees,
            Err(e) => return fail(jobs, &e),
        };
        let started = Instant::now();
        let (count_ops, counts) = match self.count_ops(&jobs) {
            Ok(x) => x,
            Err(e) => return fail(jobs, &e),
        };
        let mut payload =
            Vec::with_capacity(jobs.iter().map(|j| j.encoded.len()).sum::<usize>() + 64);
        for job in &jobs {
            payload.extend_from_slice(&job.encoded);
        }
        wal::encode_ops(&count_ops, &mut payload);
        let sync = match self.policy {
            SyncPolicy::EveryCommit => true,
            SyncPolicy::Every(interval) => self.last_sync.elapsed() >= interval,
        };
        match self.wal.append(&payload, sync) {
            Ok(()) if sync => {
                self.last_sync = Instant::now();
                self.unsynced = false;
                self.health.set_write_failing(false);
            }
            Ok(()) => self.unsynced = true,
            Err(AppendError::Failed(e)) => {
                log::error!("commit failed, {} groups not applied: {e}", jobs.len());
                self.health.set_write_failing(true);
                return fail(jobs, &e);
            }
            Err(AppendError::Broken(e)) => {
                self.degrade(&format!("the commit log cannot be written: {e}"));
                for job in jobs {
                    (job.done)(Err(CommitError::Unknown(StoreError::Io(e.to_string()))));
                }
                return;
            }
        }
        self.first_unsaved.get_or_insert_with(Instant::now);
        if let Some(m) = crate::metrics::get() {
            m.flush_seconds.observe(started.elapsed().as_secs_f64());
        }
        if let Some(tail) = &mut self.tail {
            tail.keep(&payload);
        }
        // In the log now: the groups count, even if applying them fails (a recovery or a
        // restart replays it).
        let applied = jobs
            .iter()
            .flat_map(|j| &j.ops)
            .chain(&count_ops)
            .try_for_each(|op| trees.apply(op));
        self.org_counts.extend(counts);
        for job in &jobs {
            for (from, to) in &job.moves {
                trees.state_moved(*from, *to);
            }
        }
        if let Err(e) = applied {
            // Reads do not see these groups until the store recovers: not a success yet.
            self.degrade(&format!("applying a logged commit failed: {e}"));
            for job in jobs {
                (job.done)(Err(CommitError::Unknown(StoreError::Io(format!(
                    "logged but not applied ({e}); it is applied when the store recovers"
                )))));
            }
            return;
        }
        for job in jobs {
            (job.done)(Ok(()));
        }
    }

    /// Under periodic durability, sync what was appended once the interval has passed.
    fn sync_if_due(&mut self) {
        let SyncPolicy::Every(interval) = self.policy else {
            return;
        };
        if self.unsynced && self.last_sync.elapsed() >= interval {
            match self.wal.sync() {
                Ok(()) => {
                    self.last_sync = Instant::now();
                    self.unsynced = false;
                    self.health.set_write_failing(false);
                }
                Err(e) => {
                    log::error!("syncing the commit log failed, retrying: {e}");
                    self.health.set_write_failing(true);
                }
            }
        }
    }

    /// Flush sled and start the log over, when it is large or old. Never while degraded: the
    /// log then holds commits the trees may lack.
    fn checkpoint_if_due(&mut self) {
        if self.health.is_degraded() || self.closed {
            return;
        }
        // Old: the first record since the last checkpoint (or a failed try) is a second old.
        let old = self
            .first_unsaved
            .is_some_and(|t| t.elapsed() >= CHECKPOINT_AGE)
            && self.last_checkpoint.elapsed() >= CHECKPOINT_AGE;
        let due = !self.wal.is_empty() && (self.wal.len() >= CHECKPOINT_BYTES || old);
        if due {
            if let Err(e) = self.checkpoint() {
                log::error!("checkpoint failed, keeping the commit log: {e}");
            }
        }
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        // Tried again after a pause, not after every commit, if it fails.
        self.last_checkpoint = Instant::now();
        self.first_unsaved = None;
        let trees = self.trees()?;
        if let Err(e) = trees.flush_at(self.wal.next_lsn()) {
            // sled's IO errors stick: it takes no more writes until it is reopened.
            self.degrade(&format!("flushing sled failed: {e}"));
            return Err(e);
        }
        if let Err(e) = self.wal.reset() {
            self.health.set_write_failing(true);
            return Err(e);
        }
        self.unsynced = false;
        Ok(())
    }

    /// Replace every user (records, events, indexes, counts) with `users`, and make it
    /// durable. The webhook settings and outbox stay. Commits queued earlier are
    /// applied first; the shards decide nothing meanwhile. A crash part way leaves the users
    /// written so far, with indexes rebuilt from them at the next start.
    fn reset(&mut self, users: Vec<Imported>) -> Result<ImportCounts, StoreError> {
        if self.closed || self.health.is_degraded() {
            return Err(StoreError::Io(
                "the store is closed or degraded: it cannot be reset".into(),
            ));
        }
        // Everything logged is in sled, and the log is empty: nothing older can be replayed
        // over the new users.
        self.checkpoint()?;
        let trees = self.trees()?;
        self.org_counts.clear();
        if let Some(tail) = &mut self.tail {
            tail.failed = Some("the store was reset meanwhile".into());
        }
        let outcome = replace_users(&trees, users);
        if let Err(e) = &outcome {
            // Not half old, half new: no user at all, consistently, until the next reset.
            log::error!("reset failed ({e}): clearing every user");
            if let Err(e) = super::import::recover(&trees).and_then(|()| trees.flush()) {
                self.degrade(&format!("clearing after a failed reset failed: {e}"));
            }
        }
        outcome
    }

    /// A backup begins: from now on every commit's writes are kept in an unlinked file beside
    /// the store, until [`Run::backup_end`]. Commits already applied are in the trees the backup
    /// then copies; the kept writes, applied over that copy in order, make it the store as it is
    /// when the copy ends (the writes are absolute, so applying one the copy already saw is
    /// harmless). Commits never wait for the copy.
    fn backup_begin(&mut self) -> Result<Arc<Trees>, StoreError> {
        if self.health.is_degraded() {
            // The trees may lack commits that only the log holds.
            return Err(StoreError::Io(
                "the store is degraded: no backup until it has recovered".into(),
            ));
        }
        let trees = self.trees()?;
        let file = super::backup::scratch_file(&self.reopen.dir, "backup-tail")?;
        self.tail = Some(Tail {
            trees: trees.clone(),
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            failed: None,
        });
        Ok(trees)
    }

    /// The writes committed since the backup began, rewound for reading.
    fn backup_end(&mut self) -> Result<std::fs::File, StoreError> {
        use std::io::Seek;
        let tail = self
            .tail
            .take()
            .ok_or_else(|| StoreError::Io("no backup is in progress".into()))?;
        if let Some(why) = tail.failed {
            return Err(StoreError::Io(format!("the backup failed: {why}")));
        }
        let replaced = !Arc::ptr_eq(&tail.trees, &self.trees()?);
        if self.health.is_degraded() || replaced {
            return Err(StoreError::Io(
                "the store failed a write during the backup: take it again".into(),
            ));
        }
        let mut file = tail
            .out
            .into_inner()
            .map_err(|e| StoreError::Io(format!("backup tail: {}", e.error())))?;
        file.rewind()
            .map_err(|e| StoreError::Io(format!("backup tail: {e}")))?;
        Ok(file)
    }

    /// Refuse later commits, then leave the store durable and quick to open: checkpoint and
    /// save the state counts. A degraded store keeps its log for the next start to replay.
    fn close(&mut self) -> Result<(), StoreError> {
        self.closed = true;
        if self.health.is_degraded() {
            return Err(StoreError::Io(
                "the store is degraded: its commit log is kept for the next start".into(),
            ));
        }
        self.checkpoint()?;
        let trees = self.trees()?;
        super::import::finish(&trees)?;
        trees.save_state_counts()
    }
}

/// Every user replaced by `users`, under the resetting marker (see `import::recover`).
fn replace_users(trees: &Trees, users: Vec<Imported>) -> Result<ImportCounts, StoreError> {
    use super::import;
    // Tails read before the reset are no user's now (one may come back at the same sequence).
    trees.forget_tails();
    import::begin(trees)?;
    trees
        .meta
        .insert(import::META_RESETTING, &[1u8])
        .map_err(super::io)?;
    trees.flush()?;
    import::clear_users(trees)?;
    let mut counts = ImportCounts::default();
    let mut users = users.into_iter().peekable();
    while users.peek().is_some() {
        let chunk: Vec<Imported> = users.by_ref().take(import::CHUNK).collect();
        let done = import::import(trees, chunk)?;
        counts.imported += done.imported;
        counts.duplicates += done.duplicates;
    }
    trees
        .meta
        .remove(import::META_RESETTING)
        .map_err(super::io)?;
    import::finish(trees)?;
    trees.flush()?;
    Ok(counts)
}

/// Whether the disk under `dir` has room for a recovery: a probe file of that size can be
/// written and synced.
fn room_for_recovery(dir: &std::path::Path) -> Result<(), StoreError> {
    let path = dir.join(PROBE_FILE);
    let written = std::fs::File::create(&path).and_then(|mut file| {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..RECOVERY_ROOM / chunk.len() {
            file.write_all(&chunk)?;
        }
        file.sync_all()
    });
    let _ = std::fs::remove_file(&path);
    written.map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
}

/// Which tree an op names, among the trees of `trees`.
pub(super) fn tree(trees: &Trees, id: TreeId) -> Option<&sled::Tree> {
    match id {
        TreeId::Shard(i) => trees.shards.get(usize::from(i)),
        TreeId::Created => Some(&trees.created),
        TreeId::Org => Some(&trees.org),
        TreeId::Username => Some(&trees.username),
        TreeId::Email => Some(&trees.email),
        TreeId::OrgCounts => Some(&trees.org_counts),
        TreeId::Outbox => Some(&trees.outbox),
        TreeId::Settings => Some(&trees.settings),
    }
}
