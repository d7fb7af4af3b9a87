//! Event searches on sled: a user's events by prefix, or every shard's events in key order,
//! keeping the best `limit` by the query's order.
//!
//! Only events at or below their user's record count: one past it is the first half of a change
//! that was never answered (see `CheckReport::unanswered`), not history.

use super::layout::{self, KeyKind};
use super::listing::Budget;
use super::{io, Trees};
use crate::domain::User;
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
            let shard = trees.shard_of(id);
            if let (Some(tree), Some(user)) = (trees.shards.get(shard), trees.user(id)?) {
                scan(
                    tree,
                    &layout::events_prefix(id),
                    Some(user),
                    query,
                    budget,
                    &mut found,
                )?;
            }
        }
        None => {
            for tree in &trees.shards {
                scan(
                    tree,
                    &layout::event_prefix(),
                    None,
                    query,
                    budget,
                    &mut found,
                )?;
            }
        }
    }
    query.sort(&mut found);
    Ok(found)
}

/// Collect the admitted events under `prefix` of one shard tree; `user` is the record when the
/// prefix is one user's.
fn scan(
    tree: &sled::Tree,
    prefix: &[u8],
    mut user: Option<User>,
    query: &EventQuery,
    budget: &mut Budget,
    found: &mut Vec<StoredEvent>,
) -> Result<(), StoreError> {
    for item in tree.scan_prefix(prefix) {
        budget.tick()?;
        let (key, value) = item.map_err(io)?;
        let KeyKind::Event(id, sequence) = layout::parse_key(&key) else {
            continue;
        };
        if user.as_ref().is_none_or(|u| u.id != id) {
            let key = layout::user_key(&id);
            user = match tree.get(&key).map_err(io)? {
                Some(bytes) => Some(layout::decode_user(&key, &bytes)?),
                None => None,
            };
        }
        let Some(owner) = user.as_ref().filter(|u| sequence <= u.sequence) else {
            continue;
        };
        let event = layout::decode_event(&key, &value)?;
        if query.admits(&id, &owner.org, &event) {
            found.push(StoredEvent {
                user_id: id,
                org: owner.org.clone(),
                event,
            });
            // Keep memory bounded by the page: drop what can no longer make it.
            if found.len() >= query.limit.saturating_mul(2).max(64) {
                query.sort(found);
            }
        }
    }
    Ok(())
}
