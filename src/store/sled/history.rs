//! Event searches on sled: a user's chunks by prefix and its record's tail, or every shard's
//! chunks and then its records' tails, keeping the best `limit` by the query's order.
//!
//! Only events at or below their user's record count: one past it is the first half of a change
//! that was never answered (see `CheckReport::unanswered`), not history.

use super::layout::{self, KeyKind};
use super::listing::Budget;
use super::{io, Trees};
use crate::domain::{Event, User};
use crate::store::{EventQuery, StoreError, StoredEvent};

/// The events `query` asks for, in its order.
pub(super) fn search(
    trees: &Trees,
    query: &EventQuery,
    budget: &mut Budget,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut found = Vec::new();
    match &query.user_id {
        Some(id) => {
            let key = layout::user_key(id);
            let tree = trees.shards.get(trees.shard_of(id));
            if let Some((tree, bytes)) = tree.and_then(|t| t.get(&key).transpose().map(|b| (t, b)))
            {
                let bytes = bytes.map_err(io)?;
                let (user, tail) = layout::split_record(&key, &bytes)?;
                let events = user_history(tree, &key, &user.id, tail, &mut || budget.tick())?;
                admit(&user, events, query, &mut found);
            }
        }
        None => {
            for tree in &trees.shards {
                chunks(tree, query, budget, &mut found)?;
                tails(tree, query, budget, &mut found)?;
            }
        }
    }
    query.sort(&mut found);
    Ok(found)
}

/// The whole history of the user whose record (under `key`) has `tail`: its chunks and its
/// tail put together (see [`layout::history`]); `tick` runs once per chunk read.
pub(super) fn user_history(
    tree: &sled::Tree,
    key: &[u8],
    id: &str,
    tail: &[u8],
    tick: &mut dyn FnMut() -> Result<(), StoreError>,
) -> Result<Vec<Event>, StoreError> {
    let mut chunks = Vec::new();
    for item in tree.scan_prefix(layout::events_prefix(id)) {
        tick()?;
        let (key, value) = item.map_err(io)?;
        layout::decode_events(&key, &value, &mut chunks)?;
    }
    Ok(layout::history(chunks, layout::tail_events(key, tail)?))
}

/// The admitted events of every chunk of one shard tree that its record's tail does not
/// shadow: a user's chunks are contiguous, so they are put together one user at a time, as
/// [`layout::history`] does with the tail (which [`tails`] then adds).
fn chunks(
    tree: &sled::Tree,
    query: &EventQuery,
    budget: &mut Budget,
    found: &mut Vec<StoredEvent>,
) -> Result<(), StoreError> {
    let mut current: Option<(String, Vec<Event>)> = None;
    for item in tree.scan_prefix(layout::event_prefix()) {
        budget.tick()?;
        let (key, value) = item.map_err(io)?;
        let KeyKind::Event(id, _) = layout::parse_key(&key) else {
            continue;
        };
        if current.as_ref().is_none_or(|(cur, _)| *cur != id) {
            if let Some((done, events)) = current.take() {
                admit_chunks(tree, &done, events, query, found)?;
            }
            current = Some((id, Vec::new()));
        }
        if let Some((_, events)) = current.as_mut() {
            layout::decode_events(&key, &value, events)?;
        }
    }
    if let Some((done, events)) = current.take() {
        admit_chunks(tree, &done, events, query, found)?;
    }
    Ok(())
}

/// Admit one user's chunk events (in key order) that its record's tail does not shadow.
fn admit_chunks(
    tree: &sled::Tree,
    id: &str,
    events: Vec<Event>,
    query: &EventQuery,
    found: &mut Vec<StoredEvent>,
) -> Result<(), StoreError> {
    let key = layout::user_key(id);
    let Some(bytes) = tree.get(&key).map_err(io)? else {
        return Ok(());
    };
    let (user, tail) = layout::split_record(&key, &bytes)?;
    let in_tail: std::collections::HashSet<u64> = layout::tail_events(&key, tail)?
        .iter()
        .map(|e| e.sequence)
        .collect();
    let mut events = layout::history(events, Vec::new());
    events.retain(|e| !in_tail.contains(&e.sequence));
    admit(&user, events, query, found);
    Ok(())
}

/// The admitted events of every record's tail in one shard tree.
fn tails(
    tree: &sled::Tree,
    query: &EventQuery,
    budget: &mut Budget,
    found: &mut Vec<StoredEvent>,
) -> Result<(), StoreError> {
    for item in tree.scan_prefix(layout::user_prefix()) {
        budget.tick()?;
        let (key, value) = item.map_err(io)?;
        let (owner, tail) = layout::split_record(&key, &value)?;
        admit(&owner, layout::tail_events(&key, tail)?, query, found);
    }
    Ok(())
}

/// Add the events of `owner` that count as history and that `query` admits to `found`.
fn admit(owner: &User, events: Vec<Event>, query: &EventQuery, found: &mut Vec<StoredEvent>) {
    for event in events {
        if event.sequence > owner.sequence || !query.admits(&owner.id, &owner.org, &event) {
            continue;
        }
        found.push(StoredEvent {
            user_id: owner.id.clone(),
            org: owner.org.clone(),
            event,
        });
        // Keep memory bounded by the page: drop what can no longer make it.
        if found.len() >= query.limit.saturating_mul(2).max(64) {
            query.sort(found);
        }
    }
}
