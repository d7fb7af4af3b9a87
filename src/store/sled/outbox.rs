//! The outbox and the settings on sled. Deliveries enter the outbox through the commit log with
//! their changes; settling them writes the tree directly (made durable by the next flush: one
//! lost with a crash is sent again, which at-least-once delivery allows).

use super::layout;
use super::listing::Budget;
use super::{io, Trees};
use crate::domain::Timestamp;
use crate::store::{Outgoing, Settle, StoreError};

/// The first position for new deliveries: past every one in the outbox, and past the clock
/// (nanoseconds), so positions keep rising across restarts.
pub(super) fn first_position(trees: &Trees) -> Result<u64, StoreError> {
    let mut next = u64::try_from(Timestamp::now().0).unwrap_or(0);
    for parked in [false, true] {
        for item in trees
            .outbox
            .scan_prefix(layout::outbox_prefix(parked, None))
        {
            let (key, _) = item.map_err(io)?;
            if let Some(p) = layout::outbox_position(&key) {
                next = next.max(p.saturating_add(1));
            }
        }
    }
    Ok(next)
}

/// One target's queue from past `after`, in position order (a seek, then at most `limit`).
pub(super) fn list(
    trees: &Trees,
    target: &str,
    parked: bool,
    after: u64,
    limit: usize,
) -> Result<Vec<Outgoing>, StoreError> {
    let start = layout::outbox_key(parked, target, after.saturating_add(1));
    let prefix = layout::outbox_prefix(parked, Some(target));
    let mut found = Vec::new();
    for item in trees.outbox.range(start..) {
        let (key, value) = item.map_err(io)?;
        if !key.starts_with(&prefix) || found.len() >= limit {
            break;
        }
        found.push(layout::decode::<Outgoing>(&key, &value)?);
    }
    Ok(found)
}

/// Every target's deliveries past `after`, the `limit` lowest positions. The keys sort by
/// target first, so this scans the whole half (within `budget`) and decodes only what it keeps.
pub(super) fn list_all(
    trees: &Trees,
    parked: bool,
    after: u64,
    limit: usize,
    budget: &mut Budget,
) -> Result<Vec<Outgoing>, StoreError> {
    let mut kept: Vec<(u64, sled::IVec, sled::IVec)> = Vec::new();
    for item in trees
        .outbox
        .scan_prefix(layout::outbox_prefix(parked, None))
    {
        budget.tick()?;
        let (key, value) = item.map_err(io)?;
        match layout::outbox_position(&key) {
            Some(p) if p > after => kept.push((p, key, value)),
            _ => continue,
        }
        if kept.len() >= limit.saturating_mul(2).max(64) {
            kept.sort_unstable_by_key(|k| k.0);
            kept.truncate(limit);
        }
    }
    kept.sort_unstable_by_key(|k| k.0);
    kept.truncate(limit);
    kept.iter()
        .map(|(_, key, value)| layout::decode::<Outgoing>(key, value))
        .collect()
}

pub(super) fn settle(
    trees: &Trees,
    target: &str,
    position: u64,
    settle: Settle,
) -> Result<bool, StoreError> {
    let parked = matches!(settle, Settle::Unpark);
    let key = layout::outbox_key(parked, target, position);
    let Some(value) = trees.outbox.get(&key).map_err(io)? else {
        return Ok(false);
    };
    let mut entry: Outgoing = layout::decode(&key, &value)?;
    match settle {
        Settle::Delivered => {
            trees.outbox.remove(&key).map_err(io)?;
        }
        Settle::Retry {
            attempts,
            next_at,
            error,
        } => {
            entry.attempts = attempts;
            entry.next_at = next_at;
            entry.last_error = error;
            trees
                .outbox
                .insert(&key, layout::encode(&entry))
                .map_err(io)?;
        }
        Settle::Park { attempts, error } => {
            entry.attempts = attempts;
            entry.last_error = error;
            entry.parked = true;
            move_entry(
                trees,
                &key,
                &layout::outbox_key(true, target, position),
                &entry,
            )?;
        }
        Settle::Unpark => {
            entry.attempts = 0;
            entry.next_at = Timestamp(0);
            entry.parked = false;
            move_entry(
                trees,
                &key,
                &layout::outbox_key(false, target, position),
                &entry,
            )?;
        }
    }
    Ok(true)
}

/// Move an entry between the pending and parked halves in one atomic batch.
fn move_entry(trees: &Trees, from: &[u8], to: &[u8], entry: &Outgoing) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    batch.remove(from);
    batch.insert(to, layout::encode(entry));
    trees.outbox.apply_batch(batch).map_err(io)
}

pub(super) fn settings(trees: &Trees) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    trees
        .settings
        .iter()
        .map(|item| {
            let (k, v) = item.map_err(io)?;
            Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
        })
        .collect()
}

pub(super) fn put_setting(
    trees: &Trees,
    key: &str,
    value: Option<Vec<u8>>,
) -> Result<(), StoreError> {
    match value {
        Some(v) => trees.settings.insert(key.as_bytes(), v).map(|_| ()),
        None => trees.settings.remove(key.as_bytes()).map(|_| ()),
    }
    .map_err(io)?;
    trees.flush()
}

pub(super) fn purge(trees: &Trees, target: &str) -> Result<(), StoreError> {
    for parked in [false, true] {
        let mut batch = sled::Batch::default();
        for item in trees
            .outbox
            .scan_prefix(layout::outbox_prefix(parked, Some(target)))
        {
            let (key, _) = item.map_err(io)?;
            batch.remove(key);
        }
        trees.outbox.apply_batch(batch).map_err(io)?;
    }
    trees.flush()
}
