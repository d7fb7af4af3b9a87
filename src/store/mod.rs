//! The storage seam: what the shard actors and the application core need from a store, as one
//! trait ([`Backend`]), and the types that cross it. [`sled`] (embedded, the default) and
//! [`postgres`] (shared by several nodes) implement it; no storage engine's type appears
//! outside `store/`.
//!
//! Invariants every backend keeps: reads ([`Backend::user`], listings, username holders) only
//! ever see changes that are durable; a group commits all of its changes or none; each change is
//! applied only if its user is still at the sequence the change expects (a backend with a single
//! writer per shard may rely on the actors for that, one shared by several processes must check
//! and answer [`CommitError::Conflict`]).

pub mod faults;
pub mod postgres;
pub mod sled;

use crate::domain::{Event, Filter, NewUser, OrgScope, Timestamp, User, UserState};
use futures_util::future::BoxFuture;
use std::fmt;
use std::path::PathBuf;

/// Why the store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// The storage engine could not read or write.
    Io(String),
    /// The data directory is held by another process.
    Locked(PathBuf),
    /// A stored value does not decode.
    Corrupt { key: String, reason: String },
    /// The store was made with other settings, or by another version, than the ones given.
    Mismatch(String),
    /// A listing that no index serves ran past its budget.
    OverBudget,
    /// Too many listings that need a scan are waiting already.
    Busy,
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
            StoreError::Corrupt { key, reason } => {
                write!(f, "stored value under key {key} does not decode: {reason}")
            }
            StoreError::Mismatch(msg) => f.write_str(msg),
            StoreError::OverBudget => f.write_str("listing scan ran past its budget"),
            StoreError::Busy => f.write_str("too many listing scans are waiting"),
        }
    }
}

impl std::error::Error for StoreError {}

/// One accepted change: the user before it (None: the change creates the user), its event, and
/// the user after it. The change expects the stored user to be at `before`'s sequence (0 for a
/// creation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub before: Option<User>,
    pub event: Event,
    pub after: User,
}

impl Change {
    /// The sequence the stored user must be at for this change to apply.
    pub fn expected_sequence(&self) -> u64 {
        self.before.as_ref().map_or(0, |u| u.sequence)
    }

    /// The user's state before (None: a creation) and after.
    pub fn state_move(&self) -> (Option<UserState>, UserState) {
        (self.before.as_ref().map(|b| b.state), self.after.state)
    }
}

/// One shard's changes, in the order they were decided; committed all together or not at all,
/// with the deliveries they owe (the outbox: a committed change's deliveries are never lost).
#[derive(Debug, Default)]
pub struct Group {
    pub shard: usize,
    pub changes: Vec<Change>,
    pub deliveries: Vec<Delivery>,
}

/// One event to post to one target (a webhook), decided with the change that made the event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub target: String,
    pub user_id: String,
    pub sequence: u64,
    /// When the event happened.
    pub at: Timestamp,
    /// The request body, as it will be posted (signed when sent).
    pub body: String,
}

/// A delivery in the outbox: its place in the target's queue (ascending in commit order, so
/// per user in sequence order), and how its attempts went.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outgoing {
    pub position: u64,
    pub delivery: Delivery,
    pub attempts: u32,
    /// Not to be tried before this.
    pub next_at: Timestamp,
    pub last_error: String,
    /// Given up on after its attempts: kept, listed, and sent again only when retried.
    pub parked: bool,
}

/// Settings as stored: key and value.
pub type SettingEntries = Vec<(String, Vec<u8>)>;

/// What became of a delivery's attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// The target took it: it leaves the outbox.
    Delivered,
    /// It failed; try again at `next_at`.
    Retry {
        attempts: u32,
        next_at: Timestamp,
        error: String,
    },
    /// It failed for the last time: park it.
    Park { attempts: u32, error: String },
    /// An operator asked for a parked delivery to be sent again.
    Unpark,
}

/// Why a group did not commit. Nothing of it is applied either way.
#[derive(Debug)]
pub enum CommitError {
    /// These users were no longer at the sequence their changes expected (another writer moved
    /// them): the shard re-reads them and decides again.
    Conflict(Vec<String>),
    /// These users' changes would take a username another user holds (a writer elsewhere
    /// claimed it first): their requests are refused, the rest decided again.
    NameTaken(Vec<String>),
    /// The store cannot write now.
    Unavailable(StoreError),
    /// The store failed in a way that leaves it unknown whether the group will survive a
    /// restart (a write that could not be taken back).
    Unknown(StoreError),
}

/// Called once, from any thread, when a group is durable (and visible to reads) or failed.
pub type CommitDone = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

/// A listing: the users `scope` may read that pass `filter`, ordered by creation (newest first
/// unless `asc`; the id breaks ties), the page `offset`..`offset + limit` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub scope: OrgScope,
    pub offset: u64,
    pub limit: u64,
    pub asc: bool,
    /// The column to order by (then by creation and id); `asc` applies to both.
    pub sort: crate::domain::SortBy,
    /// A user listed whatever `scope` says, if it passes the filter: the caller's own user,
    /// which v2 lists as ZITADEL does.
    pub also: Option<String>,
}

/// One page of a listing and how many users match in all. Deleted users are never listed.
#[derive(Debug, Default)]
pub struct Page {
    pub total: u64,
    pub users: Vec<User>,
}

/// A search of the history (ZITADEL's event API): the events that pass every filter, ordered
/// by creation time (then user id and sequence), oldest first if `asc`, at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventQuery {
    /// Only this user's events (a point read instead of a scan).
    pub user_id: Option<String>,
    /// Only events of users of this organization (their resource owner).
    pub org: Option<String>,
    pub editor: Option<String>,
    /// Event types or groups (`user`, `user.human.*`); empty: every type.
    pub types: Vec<String>,
    /// Paging by sequence, as ZITADEL's: events after this one in the query's order (above it
    /// when ascending, below it when descending); 0 for none.
    pub after_sequence: u64,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// The organizations whose users' events the caller may read.
    pub scope: OrgScope,
    pub asc: bool,
    pub limit: usize,
}

impl EventQuery {
    /// Whether `event` of user `user_id` (of `org`) passes the filters.
    pub fn admits(&self, user_id: &str, org: &str, event: &Event) -> bool {
        self.user_id.as_deref().is_none_or(|u| u == user_id)
            && self.org.as_deref().is_none_or(|o| o == org)
            && self.editor.as_deref().is_none_or(|e| e == event.editor)
            && (self.after_sequence == 0
                || if self.asc {
                    event.sequence > self.after_sequence
                } else {
                    event.sequence < self.after_sequence
                })
            && self.since.is_none_or(|t| event.at >= t)
            && self.until.is_none_or(|t| event.at < t)
            && self.scope.allows(org)
            && (self.types.is_empty() || {
                let name = crate::domain::events::event_type(&event.kind);
                self.types
                    .iter()
                    .any(|t| crate::domain::events::matches(t, name))
            })
    }

    /// The order of the answer: (time, user id, sequence), ascending or descending.
    pub fn sort(&self, events: &mut Vec<StoredEvent>) {
        events.sort_by(|a, b| {
            let order = (a.event.at, &a.user_id, a.event.sequence).cmp(&(
                b.event.at,
                &b.user_id,
                b.event.sequence,
            ));
            if self.asc {
                order
            } else {
                order.reverse()
            }
        });
        events.truncate(self.limit);
    }
}

/// One event of the history, with the user it belongs to and that user's organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub user_id: String,
    pub org: String,
    pub event: Event,
}

/// What `userd check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub shards: usize,
    pub users: u64,
    pub events: u64,
    /// The first problems found (at most the number asked for).
    pub problems: Vec<String>,
    /// All problems, including those not listed.
    pub problem_count: u64,
    /// Events one past their user's record: the first half of a change that was never answered
    /// (the server stopped between its writes). Not a problem: readers go by the record, and
    /// the user's next change overwrites such an event.
    pub unanswered: u64,
    pub max_problems: usize,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    pub fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < self.max_problems {
            self.problems.push(text);
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "problem: {p}")?;
        }
        if self.problem_count > self.problems.len() as u64 {
            writeln!(
                f,
                "... and {} more problems",
                self.problem_count - self.problems.len() as u64
            )?;
        }
        if self.unanswered > 0 {
            writeln!(
                f,
                "{} events of changes that were never answered (one past their user's record) are ignored",
                self.unanswered
            )?;
        }
        write!(
            f,
            "checked {} users and {} events in {} shards: {}",
            self.users,
            self.events,
            self.shards,
            if self.is_ok() {
                "OK".to_string()
            } else {
                format!("{} problems", self.problem_count)
            }
        )
    }
}

/// What a bulk import wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportCounts {
    pub imported: u64,
    /// Users whose id (or username) was taken already, left alone.
    pub duplicates: u64,
}

/// The storage seam.
/// A user written as it is: its record and the whole history that rebuilds it (from its
/// creation, sequence 1 on).
#[derive(Clone, Debug)]
pub struct Imported {
    pub user: User,
    pub events: Vec<Event>,
}

impl Imported {
    /// A new user, created at `now`.
    pub fn created(new: NewUser, now: Timestamp) -> Imported {
        let (user, event) = crate::domain::create(new, now);
        Imported {
            user,
            events: vec![event],
        }
    }
}

/// A backup taken: the file (rewound, unlinked) and what it holds.
#[derive(Debug)]
pub struct Snapshot {
    pub file: std::fs::File,
    pub entries: u64,
    pub bytes: u64,
}

pub trait Backend: Send + Sync + fmt::Debug {
    /// The shard count the store was created with. A user belongs to shard
    /// `fnv1a64(id) % shard_count`, fixed across processes, platforms and versions.
    fn shard_count(&self) -> usize;

    /// The durable record of `id`, deleted users included.
    fn user<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<User>, StoreError>>;

    /// The same, if the store can read it without waiting (an embedded store); None sends the
    /// caller to [`Backend::user`].
    fn user_at_once(&self, _id: &str) -> Option<Result<Option<User>, StoreError>> {
        None
    }

    /// The id of the live user holding `username`, if any (usernames are unique across the
    /// instance; deleting the holder frees the name).
    fn username_holder<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    /// Commit `group` (all of it or nothing); `done` is called once that is decided.
    fn commit(&self, group: Group, done: CommitDone);

    /// One page of a listing. Listings no index serves scan off the caller's thread, bounded
    /// in time; past the budget they fail with [`StoreError::OverBudget`].
    fn list(&self, query: ListQuery) -> BoxFuture<'static, Result<Page, StoreError>>;

    /// A search of the durable history. Searches no user id bounds scan off the caller's
    /// thread, bounded in time like listings.
    fn events(&self, query: EventQuery)
        -> BoxFuture<'static, Result<Vec<StoredEvent>, StoreError>>;

    /// Outbox deliveries in position order: pending (or parked) ones of `target` (every
    /// target's if None) past `after`, at most `limit`.
    fn outbox(
        &self,
        target: Option<String>,
        parked: bool,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Outgoing>, StoreError>>;

    /// Record what became of a delivery; false if it is not (or no longer) in the outbox, or
    /// not in the state the settlement expects.
    fn settle(
        &self,
        target: String,
        position: u64,
        settle: Settle,
    ) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// Every setting (targets, executions), durable, by key.
    fn settings(&self) -> BoxFuture<'static, Result<SettingEntries, StoreError>>;

    /// Set (or remove, with None) a setting; answers once it is durable.
    fn put_setting(
        &self,
        key: String,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Remove every delivery (pending and parked) of `target`: it was deleted.
    fn purge_outbox(&self, target: String) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Take or renew the lease `name` for `holder` for `length` (by the store's clock), if
    /// nobody else holds it: what lets one process of several deliver a target's queue. A
    /// store only one process opens always grants it.
    fn lease(
        &self,
        _name: String,
        _holder: String,
        _length: std::time::Duration,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(true)))
    }

    /// Durable users by state, indexed by the state's number.
    fn state_counts(&self) -> [i64; 6];

    /// Whether the store can serve reads and writes.
    fn is_ready(&self) -> bool;

    /// Verify every stored user, its history and the indexes (offline: stop the server first).
    fn check(&self, max_problems: usize) -> Result<CheckReport, StoreError>;

    /// Write new users straight into the store (offline). Ids (and usernames) that are taken
    /// already are counted as duplicates and left alone.
    fn import(&self, users: Vec<Imported>) -> Result<ImportCounts, StoreError>;

    /// Every live user with its whole history, in no particular order, to `visit` (offline:
    /// for `userd export`). Answers how many were visited.
    fn export(
        &self,
        visit: &mut dyn FnMut(Imported) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;

    /// Make everything durable and leave the store so the next start is quick.
    fn close(&self) -> Result<(), StoreError>;

    /// A copy of the whole store as one moment of it, in a file to stream (`sled::backup`'s
    /// format), taken while the store keeps serving; None where the backend has its own tools.
    fn backup(&self) -> BoxFuture<'static, Result<Option<Snapshot>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Replace every user (records, events, indexes, counts) with `users`, created at `now`, in
    /// one step, durable when it answers; webhook settings and the outbox stay. The shards must
    /// be paused: nothing else may change users meanwhile.
    fn reset(&self, users: Vec<Imported>) -> BoxFuture<'static, Result<ImportCounts, StoreError>>;
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

/// The shard that owns `id` in a store of `shards` shards.
pub fn shard_of(id: &str, shards: usize) -> usize {
    // The remainder is below the shard count, which is a usize.
    (fnv1a64(id.as_bytes()) % (shards.max(1) as u64)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_published_function() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }
}
