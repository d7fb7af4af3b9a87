//! The sled layout: which trees exist, how keys are built (big-endian, so keys sort the way
//! listings read them) and how values are encoded (bincode behind a format-version byte).
//!
//! A change turns into [`Op`]s, plain puts and removes that are idempotent when replayed in
//! order, which is what lets the commit log (`wal`) be replayed over whatever prefix of them
//! sled kept after a crash.

use super::super::{Change, StoreError};
use crate::domain::{Event, User};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Version byte in front of every stored value. Format 1 records and events (earlier builds)
/// have no creator scope; they read as created by an instance-wide role. Format 2 records have
/// no metadata, format 3 records no credentials; events of formats 2 to 4 read alike (later
/// formats only add event kinds at the end); events before format 5 have no editor.
pub const VALUE_FORMAT: u8 = 5;
/// The format of sled's records that carry their user's newest events after the user (the
/// tail) and of event chunks (several events under one key). Their parts are format-5 values;
/// every other value (and every value PostgreSQL stores) stays format 5, which earlier builds
/// read.
const TAIL_FORMAT: u8 = 6;
/// A record's tail grows up to this many bytes; the change that would pass it first moves the
/// tail to a chunk. A change then writes one value (its record), and a chunk every few changes.
#[cfg(not(test))]
pub const TAIL_BYTES: usize = 512;
/// Small in unit tests, so that short histories already span chunks.
#[cfg(test)]
pub const TAIL_BYTES: usize = 40;
/// Version of the layout, recorded in `meta`. Format 1 had no index trees and no commit log;
/// opening it builds the indexes once. Format 2 had no record tails or event chunks (values
/// before format 6); it reads as it is, and is marked 3 so that earlier builds refuse it.
pub const STORE_FORMAT: u64 = 3;

pub const META_TREE: &str = "meta";
/// Format 1's username claims, replaced by [`TreeId::Username`].
pub const OLD_USERNAMES_TREE: &str = "usernames";
pub const META_FORMAT: &[u8] = b"format";
pub const META_SHARDS: &[u8] = b"shards";
pub const META_STATE_COUNTS: &[u8] = b"state-counts";
/// The commit log's next LSN at the last checkpoint: LSNs never go below it.
pub const META_WAL_LSN: &[u8] = b"wal-lsn";

const USER_PREFIX: u8 = b'u';
const EVENT_PREFIX: u8 = b'e';

/// A tree of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TreeId {
    /// One per shard: `u<id>` the user's record with its newest events (its tail),
    /// `e<len><id><seq>` a chunk of its older events, keyed by the newest one's sequence.
    Shard(u16),
    /// Live users by creation: `created ++ id`.
    Created,
    /// Live users by organization, then creation: `len ++ org ++ created ++ id`.
    Org,
    /// Live v2 users by username: `username` → id. Unique: this is the claim on the name.
    Username,
    /// Live users by email, lowercased: `escaped(email) ++ id`.
    Email,
    /// Live users per organization: `org` → u64.
    OrgCounts,
    /// Deliveries owed to targets: `parked ++ len ++ target ++ position` → an [`Outgoing`]'s
    /// attempts and delivery.
    ///
    /// [`Outgoing`]: crate::store::Outgoing
    Outbox,
    /// Targets and executions: key → JSON.
    Settings,
}

impl TreeId {
    pub const INDEXES: [TreeId; 4] = [
        TreeId::Created,
        TreeId::Org,
        TreeId::Username,
        TreeId::Email,
    ];

    /// The sled tree's name.
    pub fn name(self) -> String {
        match self {
            TreeId::Shard(i) => format!("shard-{i:04}"),
            TreeId::Created => "idx-created".into(),
            TreeId::Org => "idx-org".into(),
            TreeId::Username => "idx-username".into(),
            TreeId::Email => "idx-email".into(),
            TreeId::OrgCounts => "org-counts".into(),
            TreeId::Outbox => "outbox".into(),
            TreeId::Settings => "settings".into(),
        }
    }
}

/// One write to one tree: a put (`Some(value)`) or a remove (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub tree: TreeId,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

impl Op {
    pub fn put(tree: TreeId, key: Vec<u8>, value: Vec<u8>) -> Op {
        Op {
            tree,
            key,
            value: Some(value),
        }
    }

    fn remove(tree: TreeId, key: Vec<u8>) -> Op {
        Op {
            tree,
            key,
            value: None,
        }
    }
}

pub fn user_key(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(USER_PREFIX);
    key.extend_from_slice(id.as_bytes());
    key
}

pub fn events_prefix(id: &str) -> Vec<u8> {
    let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(3 + id.len() + 8);
    key.push(EVENT_PREFIX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The key of the event chunk of `id` whose newest event has `sequence` (a chunk of one event
/// is an event of earlier formats, and of imports).
pub fn event_key(id: &str, sequence: u64) -> Vec<u8> {
    let mut key = events_prefix(id);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// The prefix of every event key in a shard tree.
pub fn event_prefix() -> [u8; 1] {
    [EVENT_PREFIX]
}

/// The prefix of every record key in a shard tree.
pub fn user_prefix() -> [u8; 1] {
    [USER_PREFIX]
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
        Some((&EVENT_PREFIX, rest)) => {
            let Some((len, rest)) = rest.split_first_chunk::<2>() else {
                return KeyKind::Unknown;
            };
            let len = usize::from(u16::from_be_bytes(*len));
            if rest.len() != len + 8 {
                return KeyKind::Unknown;
            }
            let (id, seq) = rest.split_at(len);
            match (std::str::from_utf8(id), be_u64(seq)) {
                (Ok(id), Some(seq)) => KeyKind::Event(id.to_string(), seq),
                _ => KeyKind::Unknown,
            }
        }
        _ => KeyKind::Unknown,
    }
}

/// A creation time as 8 bytes that sort like the signed number.
pub fn time_bytes(nanos: i64) -> [u8; 8] {
    ((nanos as u64) ^ (1 << 63)).to_be_bytes()
}

/// The org part of an `idx-org` key: every key of the org's users starts with it.
pub fn org_prefix(org: &str) -> Vec<u8> {
    let len = u16::try_from(org.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(2 + org.len() + 8 + 20);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(org.as_bytes());
    key
}

/// Email index keys compare lowercased addresses; the escape keeps prefixes and order whatever
/// bytes an address holds (`0x00` becomes `0x00 0xFF`; `0x00 0x00` ends the address).
pub fn email_prefix(address_lowercase: &str, whole: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(address_lowercase.len() + 24);
    for b in address_lowercase.bytes() {
        key.push(b);
        if b == 0 {
            key.push(0xFF);
        }
    }
    if whole {
        key.extend_from_slice(&[0, 0]);
    }
    key
}

/// The id at the end of an `idx-created`, `idx-org` or `idx-email` key (after `prefix_len`
/// bytes, and the creation time for the first two).
pub fn id_after(key: &[u8], skip: usize) -> Option<String> {
    key.get(skip..)
        .and_then(|id| std::str::from_utf8(id).ok())
        .map(str::to_string)
}

/// A user's place in creation order: its `idx-created` key, and its `idx-org` key after the
/// organization's prefix.
pub fn created_suffix(user: &User) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + user.id.len());
    key.extend_from_slice(&time_bytes(user.created_at.0));
    key.extend_from_slice(user.id.as_bytes());
    key
}

/// Every index entry of a live user: (tree, key, value).
pub fn index_entries(user: &User) -> Vec<(TreeId, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(4);
    let created = created_suffix(user);
    let mut key = org_prefix(&user.org);
    key.extend_from_slice(&created);
    out.push((TreeId::Created, created, Vec::new()));
    out.push((TreeId::Org, key, Vec::new()));
    if let Some(name) = user.profile.username() {
        out.push((
            TreeId::Username,
            name.as_bytes().to_vec(),
            user.id.as_bytes().to_vec(),
        ));
    }
    if let Some(email) = user.profile.email() {
        let mut key = email_prefix(&email.address.to_lowercase(), true);
        key.extend_from_slice(user.id.as_bytes());
        out.push((TreeId::Email, key, Vec::new()));
    }
    out
}

/// Whether two records of one user have the same index entries (checked before building them:
/// lifecycle changes keep them all, so toggles write no index keys).
fn same_index_entries(a: &User, b: &User) -> bool {
    a.created_at == b.created_at
        && a.org == b.org
        && a.profile.username() == b.profile.username()
        && a.profile.email().map(|e| &e.address) == b.profile.email().map(|e| &e.address)
}

/// The writes of one change: the record after it, its event appended to the record's tail
/// (`tail`: the tail of the record before the change, left as the new record's), the tail
/// moved to a chunk first when it is full, then the index keys that change. Also the change's
/// effect on its organization's live-user count.
///
/// A record's tail, when not empty, ends with the event that made the record, so a full tail
/// is the chunk keyed by the sequence of the record before the change.
pub fn change_ops(
    change: &Change,
    shard: u16,
    tail: &mut Vec<u8>,
    ops: &mut Vec<Op>,
) -> Option<(String, i64)> {
    let after = &change.after;
    let tree = TreeId::Shard(shard);
    let mut event = Vec::with_capacity(96);
    encode_raw(&change.event, &mut event);
    match &change.before {
        Some(before) if !tail.is_empty() && tail.len() + event.len() > TAIL_BYTES => {
            let mut chunk = Vec::with_capacity(1 + tail.len());
            chunk.push(TAIL_FORMAT);
            chunk.append(tail);
            ops.push(Op::put(tree, event_key(&after.id, before.sequence), chunk));
        }
        Some(_) => {}
        // A new user has no tail (a caller's leftover would not be its history).
        None => tail.clear(),
    }
    tail.extend_from_slice(&event);
    let mut record = Vec::with_capacity(320 + tail.len());
    record.push(TAIL_FORMAT);
    encode_raw(after, &mut record);
    record.extend_from_slice(tail);
    ops.push(Op::put(tree, user_key(&after.id), record));
    let before = change.before.as_ref().filter(|b| crate::domain::is_live(b));
    let after_live = crate::domain::is_live(after);
    if let (Some(before), true) = (before, after_live) {
        if same_index_entries(before, after) {
            return None;
        }
    }
    let old = before.map(index_entries).unwrap_or_default();
    let new = if after_live {
        index_entries(after)
    } else {
        Vec::new()
    };
    for (tree, key, _) in &old {
        if !new.iter().any(|(t, k, _)| t == tree && k == key) {
            ops.push(Op::remove(*tree, key.clone()));
        }
    }
    for (tree, key, value) in new {
        if !old
            .iter()
            .any(|(t, k, v)| *t == tree && *k == key && *v == value)
        {
            ops.push(Op::put(tree, key, value));
        }
    }
    // A user's organization never changes, so only creations and deletions move counts.
    match (before, after_live) {
        (None, true) => Some((after.org.clone(), 1)),
        (Some(b), false) => Some((b.org.clone(), -1)),
        _ => None,
    }
}

/// The outbox key of a delivery: parked ones apart, then by target, then by position.
pub fn outbox_key(parked: bool, target: &str, position: u64) -> Vec<u8> {
    let mut key = outbox_prefix(parked, Some(target));
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// The prefix of the pending (or parked) deliveries of one target, or of all.
pub fn outbox_prefix(parked: bool, target: Option<&str>) -> Vec<u8> {
    let mut key = vec![u8::from(parked)];
    if let Some(target) = target {
        let len = u16::try_from(target.len()).unwrap_or(u16::MAX);
        key.extend_from_slice(&len.to_be_bytes());
        key.extend_from_slice(target.as_bytes());
    }
    key
}

/// The position at the end of an outbox key.
pub fn outbox_position(key: &[u8]) -> Option<u64> {
    key.len()
        .checked_sub(8)
        .and_then(|start| key.get(start..))
        .and_then(be_u64)
}

/// The ops that put a group's deliveries in the outbox, from position `first` on.
pub fn delivery_ops(deliveries: &[crate::store::Delivery], first: u64, ops: &mut Vec<Op>) {
    for (position, delivery) in (first..).zip(deliveries) {
        let entry = crate::store::Outgoing {
            position,
            delivery: delivery.clone(),
            attempts: 0,
            next_at: crate::domain::Timestamp(0),
            last_error: String::new(),
            parked: false,
        };
        ops.push(Op::put(
            TreeId::Outbox,
            outbox_key(false, &delivery.target, position),
            encode(&entry),
        ));
    }
}

/// The op that records an organization's live-user count.
pub fn org_count_op(org: &str, count: u64) -> Op {
    Op::put(
        TreeId::OrgCounts,
        org.as_bytes().to_vec(),
        count.to_be_bytes().to_vec(),
    )
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(VALUE_FORMAT);
    encode_raw(value, &mut out);
    out
}

/// The bincode of `value`, appended to `out` (no format byte: a tail's or a chunk's events).
fn encode_raw<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Encoding plain structs into a Vec cannot fail; an empty value would fail to decode loudly.
    let _ = bincode::serde::encode_into_std_write(value, out, bincode::config::standard());
}

/// The bincode of `T` after a value's format byte.
fn decode_as<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| corrupt(key, reason);
    match bytes.split_first() {
        Some((&format, rest)) if (1..=TAIL_FORMAT).contains(&format) => {
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

/// A value whose layout is the same in every format.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    decode_as::<T>(key, bytes)
}

/// Format 1 (earlier builds): no creator scope.
mod v1 {
    use crate::domain::{Event, EventKind, OrgScope, Profile, Timestamp, User, UserState};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct UserV1 {
        id: String,
        org: String,
        state: UserState,
        sequence: u64,
        created_at: Timestamp,
        changed_at: Timestamp,
        revoked_at: Option<Timestamp>,
        profile: Profile,
    }

    impl From<UserV1> for User {
        fn from(u: UserV1) -> User {
            User {
                id: u.id,
                org: u.org,
                state: u.state,
                sequence: u.sequence,
                created_at: u.created_at,
                changed_at: u.changed_at,
                revoked_at: u.revoked_at,
                profile: u.profile,
                creator_scope: OrgScope::Everywhere,
                metadata: Default::default(),
                credentials: Default::default(),
            }
        }
    }

    #[derive(Debug, Deserialize)]
    pub struct EventV1 {
        sequence: u64,
        at: Timestamp,
        kind: KindV1,
    }

    #[derive(Debug, Deserialize)]
    enum KindV1 {
        Created {
            org: String,
            state: UserState,
            profile: Profile,
        },
        Deactivated,
        Reactivated,
        Locked,
        Unlocked,
        Deleted,
    }

    impl From<EventV1> for Event {
        fn from(e: EventV1) -> Event {
            let kind = match e.kind {
                KindV1::Created {
                    org,
                    state,
                    profile,
                } => EventKind::Created {
                    org,
                    state,
                    profile,
                    creator_scope: OrgScope::Everywhere,
                },
                KindV1::Deactivated => EventKind::Deactivated,
                KindV1::Reactivated => EventKind::Reactivated,
                KindV1::Locked => EventKind::Locked,
                KindV1::Unlocked => EventKind::Unlocked,
                KindV1::Deleted => EventKind::Deleted,
            };
            Event {
                sequence: e.sequence,
                at: e.at,
                kind,
                editor: String::new(),
            }
        }
    }
}

/// Events of formats 2 to 4: no editor.
mod v4 {
    use crate::domain::{Event, EventKind, Timestamp};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct EventV4 {
        sequence: u64,
        at: Timestamp,
        kind: EventKind,
    }

    impl From<EventV4> for Event {
        fn from(e: EventV4) -> Event {
            Event {
                sequence: e.sequence,
                at: e.at,
                kind: e.kind,
                editor: String::new(),
            }
        }
    }
}

/// Format 2: no metadata.
mod v2 {
    use crate::domain::{OrgScope, Profile, Timestamp, User, UserState};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct UserV2 {
        id: String,
        org: String,
        state: UserState,
        sequence: u64,
        created_at: Timestamp,
        changed_at: Timestamp,
        revoked_at: Option<Timestamp>,
        profile: Profile,
        creator_scope: OrgScope,
    }

    impl From<UserV2> for User {
        fn from(u: UserV2) -> User {
            User {
                id: u.id,
                org: u.org,
                state: u.state,
                sequence: u.sequence,
                created_at: u.created_at,
                changed_at: u.changed_at,
                revoked_at: u.revoked_at,
                profile: u.profile,
                creator_scope: u.creator_scope,
                metadata: Default::default(),
                credentials: Default::default(),
            }
        }
    }
}

/// Format 3: no credentials.
mod v3 {
    use crate::domain::{MetadataValue, OrgScope, Profile, Timestamp, User, UserState};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    pub struct UserV3 {
        id: String,
        org: String,
        state: UserState,
        sequence: u64,
        created_at: Timestamp,
        changed_at: Timestamp,
        revoked_at: Option<Timestamp>,
        profile: Profile,
        creator_scope: OrgScope,
        metadata: BTreeMap<String, MetadataValue>,
    }

    impl From<UserV3> for User {
        fn from(u: UserV3) -> User {
            User {
                id: u.id,
                org: u.org,
                state: u.state,
                sequence: u.sequence,
                created_at: u.created_at,
                changed_at: u.changed_at,
                revoked_at: u.revoked_at,
                profile: u.profile,
                creator_scope: u.creator_scope,
                metadata: u.metadata,
                credentials: Default::default(),
            }
        }
    }
}

/// A record's user (its tail, if any, is not decoded).
pub fn decode_user(key: &[u8], bytes: &[u8]) -> Result<User, StoreError> {
    split_record(key, bytes).map(|(user, _)| user)
}

/// A record's user and its tail: the bincode of its newest events, one after the other (empty
/// before format 6).
pub fn split_record<'a>(key: &[u8], bytes: &'a [u8]) -> Result<(User, &'a [u8]), StoreError> {
    match bytes.split_first() {
        Some((&format, rest)) if format == TAIL_FORMAT => {
            let (user, used) =
                bincode::serde::decode_from_slice::<User, _>(rest, bincode::config::standard())
                    .map_err(|e| corrupt(key, e.to_string()))?;
            Ok((user, rest.get(used..).unwrap_or_default()))
        }
        _ => decode_untailed_user(key, bytes).map(|user| (user, &[][..])),
    }
}

/// Every event a value under an event key holds, in sequence order, appended to `out`.
pub fn decode_events(key: &[u8], bytes: &[u8], out: &mut Vec<Event>) -> Result<(), StoreError> {
    match bytes.split_first() {
        Some((&format, rest)) if format == TAIL_FORMAT => decode_tail(key, rest, out),
        _ => decode_event(key, bytes).map(|event| out.push(event)),
    }
}

/// The events of a record's tail (from [`split_record`]).
pub fn tail_events(key: &[u8], tail: &[u8]) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    decode_tail(key, tail, &mut events)?;
    Ok(events)
}

/// The events of a record's tail (from [`split_record`]) or a chunk, appended to `out`.
fn decode_tail(key: &[u8], mut tail: &[u8], out: &mut Vec<Event>) -> Result<(), StoreError> {
    while !tail.is_empty() {
        let (event, used) =
            bincode::serde::decode_from_slice::<Event, _>(tail, bincode::config::standard())
                .map_err(|e| corrupt(key, e.to_string()))?;
        if used == 0 {
            return Err(corrupt(key, "an empty event".into()));
        }
        out.push(event);
        tail = tail.get(used..).unwrap_or_default();
    }
    Ok(())
}

/// A user's history from the events of its chunks (in key order) and of its record's tail, in
/// sequence order with each sequence once. A later write wins: the tail over every chunk, a
/// later chunk over an earlier one (an event left by a change that was never answered, under an
/// earlier format, is shadowed by the change that took its sequence).
pub fn history(chunks: Vec<Event>, tail: Vec<Event>) -> Vec<Event> {
    let mut by_sequence = std::collections::BTreeMap::new();
    for event in chunks.into_iter().chain(tail) {
        by_sequence.insert(event.sequence, event);
    }
    by_sequence.into_values().collect()
}

fn corrupt(key: &[u8], reason: String) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    }
}

/// A record of a format without a tail.
fn decode_untailed_user(key: &[u8], bytes: &[u8]) -> Result<User, StoreError> {
    match bytes.first() {
        Some(1) => decode::<v1::UserV1>(key, bytes).map(User::from),
        Some(2) => decode::<v2::UserV2>(key, bytes).map(User::from),
        Some(3) => decode::<v3::UserV3>(key, bytes).map(User::from),
        _ => decode::<User>(key, bytes),
    }
}

pub fn decode_event(key: &[u8], bytes: &[u8]) -> Result<Event, StoreError> {
    match bytes.first() {
        Some(1) => decode::<v1::EventV1>(key, bytes).map(Event::from),
        Some(2..=4) => decode::<v4::EventV4>(key, bytes).map(Event::from),
        _ => decode::<Event>(key, bytes),
    }
}

pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        apply, create, decide, Contact, Email, HumanProfile, NewUser, Operation, Profile,
        Timestamp, UserState,
    };

    fn human(id: &str, org: &str, username: &str, email: &str) -> User {
        create(
            NewUser {
                id: id.into(),
                org: org.into(),
                initial_state: UserState::Active,
                creator_scope: crate::domain::OrgScope::Everywhere,
                editor: String::new(),
                profile: Profile::V2(Box::new(HumanProfile {
                    username: username.into(),
                    email: Some(Email {
                        address: email.into(),
                        is_verified: false,
                    }),
                    ..HumanProfile::default()
                })),
            },
            Timestamp(5),
        )
        .0
    }

    #[test]
    fn keys_parse_back_and_sort() {
        assert_eq!(parse_key(&user_key("ab")), KeyKind::User("ab".into()));
        assert_eq!(
            parse_key(&event_key("ab", 7)),
            KeyKind::Event("ab".into(), 7)
        );
        assert_eq!(parse_key(b"zzz"), KeyKind::Unknown);
        assert_eq!(parse_key(&event_key("ab", 7)[..5]), KeyKind::Unknown);
        assert!(event_key("a", 2) < event_key("a", 10));
        assert!(event_key("a", 255) < event_key("a", 256));
        assert!(!event_key("ab", 1).starts_with(&events_prefix("a")));
        assert!(time_bytes(-5) < time_bytes(3));
        assert!(time_bytes(3) < time_bytes(1 << 40));
        assert!(email_prefix("a\u{0}b", true) > email_prefix("a", true));
        assert!(email_prefix("a", true) < email_prefix("a\u{0}", true));
    }

    #[test]
    fn values_round_trip_and_bad_bytes_are_reported() {
        let (user, event) = create(
            NewUser {
                id: "42".into(),
                org: "o".into(),
                initial_state: UserState::Active,
                creator_scope: crate::domain::OrgScope::Everywhere,
                editor: String::new(),
                profile: Profile::V3 {
                    schema_id: "s".into(),
                    data_json: "{\"a\":1}".into(),
                    contact: Contact::default(),
                },
            },
            Timestamp(7),
        );
        assert_eq!(decode_user(b"k", &encode(&user)).unwrap(), user);
        assert_eq!(decode_event(b"k", &encode(&event)).unwrap(), event);
        assert!(decode_user(b"k", &[]).is_err());
        assert!(decode_user(b"k", &[9, 1, 2]).is_err());
        let mut truncated = encode(&user);
        truncated.truncate(5);
        assert!(decode_user(b"k", &truncated).is_err());
    }

    #[test]
    fn format_1_records_read_as_created_by_an_instance_role() {
        #[derive(serde::Serialize)]
        struct OldUser<'a> {
            id: &'a str,
            org: &'a str,
            state: UserState,
            sequence: u64,
            created_at: Timestamp,
            changed_at: Timestamp,
            revoked_at: Option<Timestamp>,
            profile: Profile,
        }
        let old = OldUser {
            id: "u1",
            org: "o1",
            state: UserState::Inactive,
            sequence: 2,
            created_at: Timestamp(1),
            changed_at: Timestamp(2),
            revoked_at: Some(Timestamp(2)),
            profile: Profile::V3 {
                schema_id: "s".into(),
                data_json: "{}".into(),
                contact: Contact::default(),
            },
        };
        let mut bytes = vec![1u8];
        bytes.extend(bincode::serde::encode_to_vec(&old, bincode::config::standard()).unwrap());
        let user = decode_user(b"k", &bytes).unwrap();
        assert_eq!(user.state, UserState::Inactive);
        assert_eq!(user.creator_scope, crate::domain::OrgScope::Everywhere);
    }

    #[test]
    fn format_2_records_read_with_no_metadata() {
        #[derive(serde::Serialize)]
        struct UserV2<'a> {
            id: &'a str,
            org: &'a str,
            state: UserState,
            sequence: u64,
            created_at: Timestamp,
            changed_at: Timestamp,
            revoked_at: Option<Timestamp>,
            profile: Profile,
            creator_scope: crate::domain::OrgScope,
        }
        let old = UserV2 {
            id: "u2",
            org: "o2",
            state: UserState::Active,
            sequence: 1,
            created_at: Timestamp(1),
            changed_at: Timestamp(1),
            revoked_at: None,
            profile: Profile::V3 {
                schema_id: "s".into(),
                data_json: "{}".into(),
                contact: Contact::default(),
            },
            creator_scope: crate::domain::OrgScope::Everywhere,
        };
        let mut bytes = vec![2u8];
        bytes.extend(bincode::serde::encode_to_vec(&old, bincode::config::standard()).unwrap());
        let user = decode_user(b"k", &bytes).unwrap();
        assert_eq!(user.org, "o2");
        assert!(user.metadata.is_empty());
        // Events of format 2 read with their kinds (which only gained variants), no editor.
        let old = (2u64, Timestamp(3), crate::domain::EventKind::Locked);
        let mut bytes = vec![2u8];
        bytes.extend(bincode::serde::encode_to_vec(&old, bincode::config::standard()).unwrap());
        let event = Event {
            sequence: 2,
            at: Timestamp(3),
            kind: crate::domain::EventKind::Locked,
            editor: String::new(),
        };
        assert_eq!(decode_event(b"k", &bytes).unwrap(), event);
        // Format 5 keeps the editor.
        let edited = Event {
            editor: "admin".into(),
            ..event
        };
        assert_eq!(decode_event(b"k", &encode(&edited)).unwrap(), edited);
    }

    #[test]
    fn toggles_write_no_index_keys_and_delete_removes_them_all() {
        let user = human("1", "o", "ada", "Ada@Example.com");
        let created = Change {
            before: None,
            event: Event {
                sequence: 1,
                at: user.created_at,
                kind: crate::domain::EventKind::Deactivated,
                editor: String::new(),
            },
            after: user.clone(),
        };
        let mut ops = Vec::new();
        let mut tail = Vec::new();
        assert_eq!(
            change_ops(&created, 0, &mut tail, &mut ops),
            Some(("o".into(), 1))
        );
        // The record (the event its tail), and the four index keys.
        assert_eq!(ops.len(), 5);
        assert!(ops
            .iter()
            .any(|o| o.tree == TreeId::Email && o.key.starts_with(b"ada@example.com")));

        let event = decide(Operation::Deactivate, &user, Timestamp(9)).unwrap();
        let toggled = Change {
            before: Some(user.clone()),
            after: apply(&user, &event),
            event,
        };
        let mut ops = Vec::new();
        assert_eq!(change_ops(&toggled, 0, &mut tail, &mut ops), None);
        assert_eq!(
            ops.len(),
            1,
            "a toggle is its record, the event in its tail"
        );

        let event = decide(Operation::Delete, &user, Timestamp(9)).unwrap();
        let deleted = Change {
            before: Some(user.clone()),
            after: apply(&user, &event),
            event,
        };
        let mut ops = Vec::new();
        assert_eq!(
            change_ops(&deleted, 0, &mut Vec::new(), &mut ops),
            Some(("o".into(), -1))
        );
        assert_eq!(ops.iter().filter(|o| o.value.is_none()).count(), 4);
    }

    /// Toggle a user `changes` times from its creation, as a shard would: the ops in order.
    fn toggled(changes: u64) -> (User, Vec<Event>, Vec<Op>) {
        let mut user = human("7", "o", "ada", "ada@example.com");
        let mut events = vec![Event {
            sequence: 1,
            at: user.created_at,
            kind: crate::domain::EventKind::Deactivated,
            editor: String::new(),
        }];
        let mut ops = Vec::new();
        let mut tail = Vec::new();
        let created = Change {
            before: None,
            event: events[0].clone(),
            after: user.clone(),
        };
        change_ops(&created, 3, &mut tail, &mut ops);
        for i in 0..changes {
            let op = if user.state == UserState::Active {
                Operation::Deactivate
            } else {
                Operation::Reactivate
            };
            let event = decide(op, &user, Timestamp(1_800_000_000_000_000_000 + i as i64)).unwrap();
            let after = apply(&user, &event);
            let change = Change {
                before: Some(user),
                event: event.clone(),
                after: after.clone(),
            };
            change_ops(&change, 3, &mut tail, &mut ops);
            events.push(event);
            user = after;
        }
        (user, events, ops)
    }

    #[test]
    fn a_full_tail_moves_to_a_chunk_keyed_by_its_newest_event() {
        let (user, events, ops) = toggled(200);
        // Applied in order, as the committer would: the last value of each key stands.
        let ops: Vec<&Op> = ops.iter().filter(|o| o.tree == TreeId::Shard(3)).collect();
        let mut stored = std::collections::BTreeMap::new();
        for op in &ops {
            stored.insert(op.key.clone(), op.value.clone().unwrap());
        }
        let chunks: Vec<_> = stored
            .iter()
            .filter(|(k, _)| k.starts_with(&events_prefix("7")))
            .collect();
        assert!(chunks.len() >= 2, "200 toggles fill more than one tail");
        let record_writes = ops.iter().filter(|o| o.key == user_key("7")).count();
        assert_eq!(record_writes, 201, "every change writes its record once");
        assert_eq!(ops.len(), 201 + chunks.len(), "and a chunk now and then");

        let mut from_chunks = Vec::new();
        for (key, value) in &chunks {
            let before = from_chunks.len();
            decode_events(key, value, &mut from_chunks).unwrap();
            let KeyKind::Event(_, newest) = parse_key(key) else {
                panic!("not an event key")
            };
            assert_eq!(from_chunks.last().map(|e| e.sequence), Some(newest));
            assert!(from_chunks.len() > before);
        }
        let record = stored.get(&user_key("7")).unwrap();
        let (decoded, tail) = split_record(b"u7", record).unwrap();
        assert_eq!(decoded, user);
        assert!(!tail.is_empty() && tail.len() <= TAIL_BYTES);
        let mut from_tail = Vec::new();
        decode_tail(b"u7", tail, &mut from_tail).unwrap();
        assert_eq!(from_tail.last().map(|e| e.sequence), Some(user.sequence));
        assert_eq!(history(from_chunks, from_tail), events);
    }

    #[test]
    fn history_takes_each_sequence_once_the_later_write_winning() {
        let (_, events, _) = toggled(3);
        let stray = Event {
            kind: crate::domain::EventKind::Locked,
            ..events[2].clone()
        };
        // A stray event of an earlier format's unanswered change, then the tail that took its
        // sequence.
        let chunks = vec![stray.clone(), events[3].clone()];
        let tail = events.clone();
        assert_eq!(history(chunks, tail), events);
        // Past the tail, the stray stays (readers then compare it with the record).
        let chunks = vec![events[0].clone(), events[1].clone(), stray.clone()];
        let tail = vec![];
        assert_eq!(history(chunks, tail).last(), Some(&stray));
    }

    #[test]
    fn records_and_events_of_earlier_formats_still_decode() {
        let (user, events, _) = toggled(1);
        let mut v5 = encode(&user);
        v5[0] = 5;
        assert_eq!(decode_user(b"u7", &v5).unwrap(), user);
        let (_, tail) = split_record(b"u7", &v5).unwrap();
        assert!(tail.is_empty());
        // A format-5 record has no tail: trailing bytes are a fault.
        let mut longer = v5.clone();
        longer.push(0);
        assert!(decode_user(b"u7", &longer).is_err());
        let mut v5 = encode(&events[1]);
        v5[0] = 5;
        let mut out = Vec::new();
        decode_events(b"e", &v5, &mut out).unwrap();
        assert_eq!(out, vec![events[1].clone()]);
    }
}
