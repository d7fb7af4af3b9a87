//! The sled layout: one tree per shard, plus a `meta` tree that records the format and the shard
//! count the store was created with (checked at every open, since placement is on disk).
//!
//! In a shard tree, `u<userId>` holds the user's record and `e<len u16 BE><userId><seq u64 BE>`
//! each event of its history, so a user's events sort in sequence order. Values are bincode with
//! a leading format-version byte.
//!
//! A change is two plain inserts, the event first and then the record: a sled batch would make
//! them atomic, but re-seals sled's IO buffer on every call (under group commit, 64 two-key
//! batches and a flush cost ten times as much as the same inserts and a flush). The order makes
//! the only torn state after a crash an event one past its user's record: the tail of a change
//! that was never answered (answers wait for a flush covering both inserts). Readers go by the
//! record, the next change of that user overwrites the stray event, and `userd check` reports
//! it as unanswered rather than as a problem.

use crate::domain::{Event, User};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Version byte in front of every stored value.
pub const VALUE_FORMAT: u8 = 1;
/// Version of the key layout, recorded in `meta`.
pub const STORE_FORMAT: u64 = 1;

const META_TREE: &str = "meta";
const USERNAMES_TREE: &str = "usernames";
const META_FORMAT: &[u8] = b"format";
const META_SHARDS: &[u8] = b"shards";
const META_STATE_COUNTS: &[u8] = b"state-counts";
const USER_PREFIX: u8 = b'u';
const EVENT_PREFIX: u8 = b'e';

#[derive(Debug)]
pub enum StoreError {
    /// sled could not read or write.
    Io(sled::Error),
    /// The data directory is held by another process.
    Locked(PathBuf),
    /// A stored value does not decode.
    Corrupt { key: Vec<u8>, reason: String },
    /// The store was made with other settings than the ones given.
    Mismatch(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "store error: {e}"),
            StoreError::Locked(dir) => write!(
                f,
                "data directory {} is in use by another userd process",
                dir.display()
            ),
            StoreError::Corrupt { key, reason } => write!(
                f,
                "stored value under key {} does not decode: {reason}",
                String::from_utf8_lossy(key)
            ),
            StoreError::Mismatch(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e)
    }
}

/// FNV-1a, 64 bit: placement must be the same in every process, platform and version.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

pub fn user_key(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(USER_PREFIX);
    key.extend_from_slice(id.as_bytes());
    key
}

fn events_prefix(id: &str) -> Vec<u8> {
    let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(3 + id.len() + 8);
    key.push(EVENT_PREFIX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

pub fn event_key(id: &str, sequence: u64) -> Vec<u8> {
    let mut key = events_prefix(id);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![VALUE_FORMAT];
    // Encoding plain structs into a Vec cannot fail; an empty value would fail to decode loudly.
    if let Ok(bytes) = bincode::serde::encode_to_vec(value, bincode::config::standard()) {
        out.extend_from_slice(&bytes);
    }
    out
}

pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.to_vec(),
        reason,
    };
    match bytes.split_first() {
        Some((&VALUE_FORMAT, rest)) => {
            let (value, used) =
                bincode::serde::decode_from_slice(rest, bincode::config::standard())
                    .map_err(|e| corrupt(e.to_string()))?;
            if used != rest.len() {
                return Err(corrupt(format!("{} trailing bytes", rest.len() - used)));
            }
            Ok(value)
        }
        Some((v, _)) => Err(corrupt(format!("unknown value format {v}"))),
        None => Err(corrupt("empty value".into())),
    }
}

/// The opened store: the sled database and one tree per shard.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    shards: Vec<sled::Tree>,
    /// v2 usernames: `username` → the id of the user that claimed it (see `swap_username`).
    usernames: sled::Tree,
    meta: sled::Tree,
    dir: PathBuf,
}

/// How sled should flush on its own.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    pub shards: u32,
    /// `Some(ms)`: sled flushes in the background every `ms` (periodic durability).
    pub background_flush_ms: Option<u64>,
    pub cache_bytes: u64,
}

impl Store {
    pub fn open(dir: &Path, options: OpenOptions) -> Result<Store, StoreError> {
        if options.shards == 0 {
            return Err(StoreError::Mismatch(
                "storage.shards must be at least 1".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(sled::Error::Io(e)))?;
        let db = open_db(dir, options.cache_bytes, options.background_flush_ms)?;
        let meta = db.open_tree(META_TREE)?;
        match (meta.get(META_FORMAT)?, meta.get(META_SHARDS)?) {
            (None, None) => {
                let mut batch = sled::Batch::default();
                batch.insert(META_FORMAT, &STORE_FORMAT.to_be_bytes());
                batch.insert(META_SHARDS, &u64::from(options.shards).to_be_bytes());
                meta.apply_batch(batch)?;
                db.flush()?;
            }
            (Some(format), Some(shards)) => {
                let format = be_u64(&format).ok_or_else(|| StoreError::Corrupt {
                    key: META_FORMAT.to_vec(),
                    reason: "not a u64".into(),
                })?;
                if format != STORE_FORMAT {
                    return Err(StoreError::Mismatch(format!(
                        "{} holds store format {format}, this userd reads format {STORE_FORMAT}",
                        dir.display()
                    )));
                }
                let stored = be_u64(&shards).ok_or_else(|| StoreError::Corrupt {
                    key: META_SHARDS.to_vec(),
                    reason: "not a u64".into(),
                })?;
                if stored != u64::from(options.shards) {
                    return Err(StoreError::Mismatch(format!(
                        "storage.shards is {} but {} was created with {stored} shards; \
                         the shard count is fixed at creation",
                        options.shards,
                        dir.display()
                    )));
                }
            }
            _ => {
                return Err(StoreError::Mismatch(format!(
                    "{} has an incomplete meta tree",
                    dir.display()
                )))
            }
        }
        let shards = (0..options.shards)
            .map(|i| db.open_tree(format!("shard-{i:04}")))
            .collect::<Result<Vec<_>, _>>()?;
        let usernames = db.open_tree(USERNAMES_TREE)?;
        Ok(Store {
            db,
            shards,
            usernames,
            meta,
            dir: dir.to_path_buf(),
        })
    }

    /// Open an existing store with the shard count recorded in it (for offline tools).
    pub fn open_existing(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        if !dir.join("db").is_file() {
            return Err(StoreError::Mismatch(format!(
                "{} holds no userd store",
                dir.display()
            )));
        }
        let db = open_db(dir, cache_bytes, None)?;
        let meta = db.open_tree(META_TREE)?;
        let shards = meta
            .get(META_SHARDS)?
            .and_then(|v| be_u64(&v))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| StoreError::Corrupt {
                key: META_SHARDS.to_vec(),
                reason: "missing or not a shard count".into(),
            })?;
        drop(meta);
        drop(db);
        Store::open(
            dir,
            OpenOptions {
                shards,
                background_flush_ms: None,
                cache_bytes,
            },
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard that owns `id`: `fnv1a64(id) % shards`.
    pub fn shard_of(&self, id: &str) -> usize {
        // The remainder is below the shard count, which is a usize.
        (fnv1a64(id.as_bytes()) % self.shards.len() as u64) as usize
    }

    pub fn shard_tree(&self, shard: usize) -> Option<&sled::Tree> {
        self.shards.get(shard)
    }

    /// The stored record of `id`, deleted users included.
    pub fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let Some(tree) = self.shards.get(self.shard_of(id)) else {
            return Ok(None);
        };
        get_user_in(tree, id)
    }

    /// Every user record of one shard, in key order.
    pub fn shard_users(&self, shard: usize) -> impl Iterator<Item = Result<User, StoreError>> + '_ {
        self.shards
            .get(shard)
            .into_iter()
            .flat_map(|tree| tree.scan_prefix([USER_PREFIX]))
            .map(|item| {
                let (key, value) = item?;
                decode::<User>(&key, &value)
            })
    }

    /// The id of the user holding the claim on `username`, if any. The holder may since have
    /// been deleted (claims are not released on delete; a deleted holder's claim is free).
    pub fn username_holder(&self, username: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .usernames
            .get(username.as_bytes())?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    /// Move the claim on `username` from `expected` to `new` (None: no claim) atomically
    /// (compare-and-swap, so no sled transaction is left for the next flush to pay for); false
    /// if the claim was not `expected`. Durable with the next flush, like every write.
    pub fn swap_username(
        &self,
        username: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        faults::check(&faults::WRITE, "write")?;
        Ok(self
            .usernames
            .compare_and_swap(
                username.as_bytes(),
                expected.map(str::as_bytes),
                new.map(str::as_bytes),
            )?
            .is_ok())
    }

    /// Write `writes` (from [`stage_change`]) to `tree` in order with plain inserts (one of the
    /// two fault points). On failure some may be written: undo with the group's undo list.
    pub fn write(
        &self,
        tree: &sled::Tree,
        writes: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        faults::check(&faults::WRITE, "write")?;
        for (key, value) in writes {
            tree.insert(key.as_slice(), value.as_slice())?;
        }
        Ok(())
    }

    /// Put back what a group's undo list (from [`stage_change`]) records: each record as it was
    /// before the group, each of its events gone. Failures are logged: nothing better can be done.
    pub fn undo(&self, tree: &sled::Tree, undo: &[(Vec<u8>, Option<Vec<u8>>)]) {
        for (key, before) in undo.iter().rev() {
            let done = match before {
                Some(value) => tree.insert(key.as_slice(), value.as_slice()).map(|_| ()),
                None => tree.remove(key.as_slice()).map(|_| ()),
            };
            if let Err(e) = done {
                log::error!("undoing {} failed: {e}", String::from_utf8_lossy(key));
            }
        }
    }

    /// Whether no shard holds anything.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        for tree in &self.shards {
            if tree.first()?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Save the users-by-state counts at a clean stop (after the last flush of changes), so the
    /// next start need not count every user.
    pub fn save_state_counts(&self, counts: &[i64]) -> Result<(), StoreError> {
        self.meta
            .insert(META_STATE_COUNTS, encode(&counts.to_vec()))?;
        self.flush()?;
        Ok(())
    }

    /// The counts saved by the last clean stop, removed durably before they are returned: once
    /// anything changes users they are stale, and a crash must not leave them behind. None if
    /// there are none (a crash, or the first start of a store).
    pub fn take_state_counts(&self) -> Result<Option<Vec<i64>>, StoreError> {
        let Some(bytes) = self.meta.remove(META_STATE_COUNTS)? else {
            return Ok(None);
        };
        self.flush()?;
        Ok(decode::<Vec<i64>>(META_STATE_COUNTS, &bytes).ok())
    }

    /// Make every change applied so far durable, in every tree at once (the other fault point).
    pub fn flush(&self) -> Result<usize, StoreError> {
        faults::check(&faults::FLUSH, "flush")?;
        Ok(self.db.flush()?)
    }

    /// Can the store still be read?
    pub fn is_readable(&self) -> bool {
        self.db.get(META_FORMAT).is_ok()
    }
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
            other => StoreError::Io(other),
        })
}

/// What a raw key of a shard tree names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    User(String),
    Event(String, u64),
    Unknown,
}

/// Parse a raw key of a shard tree.
pub fn parse_key(key: &[u8]) -> KeyKind {
    match key.split_first() {
        Some((&USER_PREFIX, id)) => match std::str::from_utf8(id) {
            Ok(id) => KeyKind::User(id.to_string()),
            Err(_) => KeyKind::Unknown,
        },
        Some((&EVENT_PREFIX, rest)) if rest.len() >= 2 + 8 => {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if rest.len() != 2 + len + 8 {
                return KeyKind::Unknown;
            }
            let (id, seq) = rest[2..].split_at(len);
            match (std::str::from_utf8(id), be_u64(seq)) {
                (Ok(id), Some(seq)) => KeyKind::Event(id.to_string(), seq),
                _ => KeyKind::Unknown,
            }
        }
        _ => KeyKind::Unknown,
    }
}

/// The stored record of `id` in `tree`, deleted users included.
pub fn get_user_in(tree: &sled::Tree, id: &str) -> Result<Option<User>, StoreError> {
    let key = user_key(id);
    match tree.get(&key)? {
        Some(bytes) => decode::<User>(&key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// A group's undo list: keys with the value to put back (None: remove the key).
pub type Undo = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Stage a change for [`Store::write`]: its event, then the user's new record, in that order
/// (see the module notes); and in `undo`, if given, what takes it back. `before` is `Some(record before the
/// change)` (`Some(None)` for a creation) for the user's first change in the group, and None for
/// later ones, whose before-image the first already recorded.
pub fn stage_change(
    writes: &mut Vec<(Vec<u8>, Vec<u8>)>,
    undo: Option<&mut Undo>,
    user: &User,
    event: &Event,
    before: Option<Option<&User>>,
) {
    let event_key = event_key(&user.id, event.sequence);
    if let Some(undo) = undo {
        if let Some(before) = before {
            undo.push((user_key(&user.id), before.map(encode)));
        }
        undo.push((event_key.clone(), None));
    }
    writes.push((event_key, encode(event)));
    writes.push((user_key(&user.id), encode(user)));
}

/// Injected store failures, for tests of what userd does when the disk fails. Compiled in only
/// with the `fault-injection` feature; otherwise the checks are no-ops.
pub mod faults {
    use super::StoreError;
    use std::sync::atomic::{AtomicBool, Ordering};

    pub static WRITE: AtomicBool = AtomicBool::new(false);
    pub static FLUSH: AtomicBool = AtomicBool::new(false);

    /// Make writes and/or flushes fail until cleared.
    pub fn set(write: bool, flush: bool) {
        WRITE.store(write, Ordering::SeqCst);
        FLUSH.store(flush, Ordering::SeqCst);
    }

    pub(super) fn check(point: &AtomicBool, name: &str) -> Result<(), StoreError> {
        if cfg!(feature = "fault-injection") && point.load(Ordering::Relaxed) {
            return Err(StoreError::Io(sled::Error::Io(std::io::Error::other(
                format!("injected {name} fault"),
            ))));
        }
        Ok(())
    }
}

fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{create, Contact, NewUser, Profile, Timestamp, UserState};

    fn options(shards: u32) -> OpenOptions {
        OpenOptions {
            shards,
            background_flush_ms: None,
            cache_bytes: 1 << 20,
        }
    }

    #[test]
    fn fnv_is_the_published_function() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn keys_parse_back() {
        assert_eq!(parse_key(&user_key("ab")), KeyKind::User("ab".into()));
        assert_eq!(
            parse_key(&event_key("ab", 7)),
            KeyKind::Event("ab".into(), 7)
        );
        assert_eq!(parse_key(b"zzz"), KeyKind::Unknown);
        assert_eq!(parse_key(&event_key("ab", 7)[..5]), KeyKind::Unknown);
    }

    #[test]
    fn event_keys_sort_by_sequence_and_do_not_mix_users() {
        assert!(event_key("a", 2) < event_key("a", 10));
        assert!(event_key("a", 255) < event_key("a", 256));
        assert!(!event_key("ab", 1).starts_with(&events_prefix("a")));
    }

    #[test]
    fn values_round_trip_and_bad_bytes_are_reported() {
        let (user, event) = create(
            NewUser {
                id: "42".into(),
                org: "o".into(),
                initial_state: UserState::Active,
                profile: Profile::V3 {
                    schema_id: "s".into(),
                    data_json: "{\"a\":1}".into(),
                    contact: Contact::default(),
                },
            },
            Timestamp(7),
        );
        assert_eq!(decode::<User>(b"k", &encode(&user)).unwrap(), user);
        assert_eq!(decode::<Event>(b"k", &encode(&event)).unwrap(), event);
        assert!(decode::<User>(b"k", &[]).is_err());
        assert!(decode::<User>(b"k", &[9, 1, 2]).is_err());
        let mut truncated = encode(&user);
        truncated.truncate(5);
        assert!(decode::<User>(b"k", &truncated).is_err());
    }

    #[test]
    fn shard_count_is_fixed_at_creation() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), options(4)).unwrap());
        let err = open_again(dir.path(), 8).unwrap_err();
        assert!(err.to_string().contains("created with 4 shards"), "{err}");
        assert_eq!(open_again(dir.path(), 4).unwrap().shard_count(), 4);
    }

    /// Open, waiting out the file lock sled's threads hold for a moment after a drop.
    fn open_again(dir: &Path, shards: u32) -> Result<Store, StoreError> {
        for _ in 0..100 {
            match Store::open(dir, options(shards)) {
                Err(StoreError::Locked(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other,
            }
        }
        Store::open(dir, options(shards))
    }
}
