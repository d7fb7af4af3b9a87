//! Bulk loading, with the server stopped: each user gets its record (the newest event as its
//! tail), its older events one key each, and the index keys a create through the API writes,
//! straight into the trees with plain inserts in key order, one thread per core over disjoint
//! trees (sled serializes batches behind a global lock).
//!
//! A marker in `meta` is set before the first write and cleared when the import is closed; a
//! store opened with the marker still set (an import that crashed) rebuilds its indexes and
//! counts from the records, so a crash can only leave users that importing again skips.

use super::layout::{self, Op};
use super::{io, Trees};
use crate::domain;
use crate::store::{Change, ImportCounts, Imported, StoreError};
use std::collections::{HashMap, HashSet};

pub const META_IMPORTING: &[u8] = b"importing";

/// Write `users` (one chunk of an import), each with its whole history.
pub fn import(trees: &Trees, users: Vec<Imported>) -> Result<ImportCounts, StoreError> {
    begin(trees)?;
    let shards = trees.shards.len();
    let mut writes: Vec<Vec<Op>> = (0..shards).map(|_| Vec::new()).collect();
    let mut counts = ImportCounts::default();
    let mut deltas: HashMap<String, i64> = HashMap::new();
    let mut seen_ids = HashSet::new();
    let mut seen_names = HashSet::new();
    for Imported { user, events } in users {
        let shard = trees.shard_of(&user.id);
        let Some(shard_tree) = trees.shards.get(shard) else {
            continue;
        };
        let taken_id = !seen_ids.insert(user.id.clone())
            || shard_tree
                .contains_key(layout::user_key(&user.id))
                .map_err(io)?;
        let username = user
            .profile
            .username()
            .filter(|_| domain::is_live(&user))
            .map(str::to_string);
        let taken_name = match &username {
            Some(name) => {
                !seen_names.insert(name.clone()) || trees.username_holder(name)?.is_some()
            }
            None => false,
        };
        if taken_id || taken_name {
            log::debug!("user {} exists", user.id);
            counts.duplicates += 1;
            continue;
        }
        let mut events = events;
        let Some(newest) = events.pop() else {
            continue;
        };
        let Some(shard_writes) = writes.get_mut(shard) else {
            continue;
        };
        let shard_id = u16::try_from(shard).unwrap_or(u16::MAX);
        // The history up to the newest event, one key each; the record as it is now with the
        // newest event as its tail (as a change through the API leaves it), and its index keys.
        let tree = layout::TreeId::Shard(shard_id);
        for event in &events {
            shard_writes.push(Op::put(
                tree,
                layout::event_key(&user.id, event.sequence),
                layout::encode(event),
            ));
        }
        let change = Change {
            before: None,
            event: newest,
            after: user,
        };
        if let Some((org, delta)) =
            layout::change_ops(&change, shard_id, &mut Vec::new(), shard_writes)
        {
            *deltas.entry(org).or_default() += delta;
        }
        trees.state_moved(None, change.after.state);
        counts.imported += 1;
    }
    // One list per tree, in key order: sled appends to pages in order far faster (and with far
    // less garbage on disk) than it inserts in random order. The marker set above makes the
    // order within a chunk irrelevant to crash safety.
    let mut by_tree: std::collections::HashMap<layout::TreeId, Vec<Op>> = Default::default();
    for op in writes.into_iter().flatten() {
        by_tree.entry(op.tree).or_default().push(op);
    }
    let mut lists: Vec<Vec<Op>> = by_tree.into_values().collect();
    for list in &mut lists {
        list.sort_by(|a, b| a.key.cmp(&b.key));
    }
    lists.sort_by_key(|list| std::cmp::Reverse(list.len()));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, lists.len().max(1));
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                let lists = &lists;
                scope.spawn(move || -> Result<(), StoreError> {
                    for list in lists.iter().skip(t).step_by(threads) {
                        for op in list {
                            trees.apply(op)?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        writers.into_iter().try_for_each(|writer| {
            writer
                .join()
                .unwrap_or_else(|_| Err(StoreError::Io("an import writer panicked".into())))
        })
    })?;
    for (org, delta) in deltas {
        let n = trees.org_count(&org)?.saturating_add_signed(delta);
        trees.apply(&layout::org_count_op(&org, n))?;
    }
    Ok(counts)
}

/// Users per chunk of a reset.
pub const CHUNK: usize = 20_000;

/// Mark an import as begun (durably): if it does not finish, the next start rebuilds every index
/// and count from the records.
pub fn begin(trees: &Trees) -> Result<(), StoreError> {
    if trees.meta.get(META_IMPORTING).map_err(io)?.is_none() {
        trees.meta.insert(META_IMPORTING, &[1u8]).map_err(io)?;
        trees.flush()?;
    }
    Ok(())
}

/// Set while a reset replaces every user: a store opened with it set is left with no user
/// rather than some old users and some of the seed.
pub const META_RESETTING: &[u8] = b"resetting";

/// Remove every user: records, events, indexes and counts (the outbox and settings stay).
pub fn clear_users(trees: &Trees) -> Result<(), StoreError> {
    let indexes = layout::TreeId::INDEXES
        .into_iter()
        .chain([layout::TreeId::OrgCounts])
        .map(|id| trees.tree(id))
        .collect::<Result<Vec<_>, _>>()?;
    for tree in trees.shards.iter().chain(indexes) {
        tree.clear().map_err(io)?;
    }
    for count in trees.counts.iter() {
        count.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// After an import that did not finish: rebuild every index and count from the records (after
/// a reset that did not finish, from no record).
pub fn recover(trees: &Trees) -> Result<(), StoreError> {
    if trees.meta.get(META_RESETTING).map_err(io)?.is_some() {
        log::error!("a reset did not finish: the store is left with no user; reset it again");
        clear_users(trees)?;
        trees.meta.remove(META_RESETTING).map_err(io)?;
        trees.meta.insert(META_IMPORTING, &[1u8]).map_err(io)?;
    }
    if trees.meta.get(META_IMPORTING).map_err(io)?.is_none() {
        return Ok(());
    }
    log::warn!("an import did not finish: rebuilding the listing indexes from the records");
    for index in layout::TreeId::INDEXES
        .into_iter()
        .chain([layout::TreeId::OrgCounts])
    {
        trees.tree(index)?.clear().map_err(io)?;
    }
    super::build_indexes(trees)?;
    trees.meta.remove(META_IMPORTING).map_err(io)?;
    trees.flush()
}

/// The import is complete: clear the marker (the caller flushes).
pub fn finish(trees: &Trees) -> Result<(), StoreError> {
    trees.meta.remove(META_IMPORTING).map_err(io)?;
    Ok(())
}
