//! `userd check`: an offline verification of a data directory. It replays every user's events
//! and compares the result with the stored record, checks sequences, shard placement and that
//! every stored value decodes, and checks the indexes and organization counts against the
//! records, both ways. It never writes user data (opening the store first completes the
//! commits its log holds, as a start would).
//!
//! Streaming: a user's event chunks are contiguous in its shard tree (and the rest of its
//! history is its record's tail), so memory holds one user's history at a time; index keys are
//! checked by point reads.

use super::layout::{self, KeyKind, TreeId};
use super::Trees;
use crate::domain::{self, Event, User};
use crate::store::{CheckReport, StoreError};
use std::collections::HashMap;

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Check every shard and index of `trees`, listing at most `max_problems` problems.
pub fn check(trees: &Trees, max_problems: usize) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport {
        shards: trees.shards.len(),
        max_problems,
        ..CheckReport::default()
    };
    let mut org_counts: HashMap<String, u64> = HashMap::new();
    for (shard, tree) in trees.shards.iter().enumerate() {
        check_shard(trees, shard, tree, &mut report, &mut org_counts)?;
    }
    check_indexes(trees, &mut report)?;
    for item in trees.org_counts.iter() {
        let (key, value) = item.map_err(io)?;
        let org = String::from_utf8_lossy(&key).into_owned();
        let stored = layout::be_u64(&value);
        let counted = org_counts.remove(&org).unwrap_or(0);
        if stored != Some(counted) {
            report.problem(format!(
                "organization {org:?} is counted with {stored:?} live users, it has {counted}"
            ));
        }
    }
    for (org, counted) in org_counts {
        report.problem(format!(
            "organization {org:?} has {counted} live users but no count"
        ));
    }
    Ok(report)
}

fn check_shard(
    trees: &Trees,
    shard: usize,
    tree: &sled::Tree,
    report: &mut CheckReport,
    org_counts: &mut HashMap<String, u64>,
) -> Result<(), StoreError> {
    // Chunks first: a user's chunks are contiguous, in sequence order; then the records, whose
    // tails end the histories.
    let mut current: Option<(String, Vec<Event>, bool)> = None;
    for item in tree.iter() {
        let (key, value) = item.map_err(io)?;
        match layout::parse_key(&key) {
            KeyKind::Event(id, seq) => {
                if current.as_ref().is_none_or(|(cur, _, _)| cur != &id) {
                    if let Some((done, events, ok)) = current.take() {
                        check_user(trees, shard, tree, &done, events, ok, report, org_counts)?;
                    }
                    current = Some((id.clone(), Vec::new(), true));
                }
                let Some((_, events, ok)) = current.as_mut() else {
                    continue;
                };
                let mut chunk = Vec::new();
                if let Err(e) = layout::decode_events(&key, &value, &mut chunk) {
                    *ok = false;
                    report.problem(format!("shard {shard}: {e}"));
                    continue;
                }
                let consecutive = chunk.windows(2).all(|w| match w {
                    [a, b] => b.sequence == a.sequence + 1,
                    _ => true,
                });
                let newest = chunk.last().map(|e| e.sequence);
                if !consecutive || newest != Some(seq) {
                    *ok = false;
                    report.problem(format!(
                        "shard {shard}: event chunk of user {id:?} is keyed by sequence {seq}, \
                         it holds {:?}",
                        chunk.iter().map(|e| e.sequence).collect::<Vec<_>>()
                    ));
                }
                events.append(&mut chunk);
            }
            KeyKind::User(id) => {
                report.users += 1;
                if let Some((done, events, ok)) = current.take() {
                    check_user(trees, shard, tree, &done, events, ok, report, org_counts)?;
                }
                // A user whose whole history is its record's tail (checked here, once).
                let chunked = tree
                    .scan_prefix(layout::events_prefix(&id))
                    .next()
                    .is_some();
                if !chunked {
                    check_user(
                        trees,
                        shard,
                        tree,
                        &id,
                        Vec::new(),
                        true,
                        report,
                        org_counts,
                    )?;
                }
            }
            KeyKind::Unknown => report.problem(format!(
                "shard {shard}: unknown key {}",
                String::from_utf8_lossy(&key)
            )),
        }
    }
    if let Some((done, events, ok)) = current.take() {
        check_user(trees, shard, tree, &done, events, ok, report, org_counts)?;
    }
    Ok(())
}

/// Compare one user's record with the replay of its history, and look up its index keys.
#[allow(clippy::too_many_arguments)]
fn check_user(
    trees: &Trees,
    shard: usize,
    tree: &sled::Tree,
    id: &str,
    chunks: Vec<Event>,
    mut events_decoded: bool,
    report: &mut CheckReport,
    org_counts: &mut HashMap<String, u64>,
) -> Result<(), StoreError> {
    let owner = trees.shard_of(id);
    if owner != shard {
        report.problem(format!(
            "user {id:?} is stored in shard {shard} but belongs to shard {owner}"
        ));
    }
    let key = layout::user_key(id);
    let bytes = match tree.get(&key).map_err(io)? {
        // A creation whose record was never written: the first half of an unanswered create.
        None if chunks.len() == 1 && chunks.first().is_some_and(|e| e.sequence == 1) => {
            report.events += 1;
            report.unanswered += 1;
            return Ok(());
        }
        None => {
            report.problem(format!(
                "shard {shard}: user {id:?} has {} events but no record",
                chunks.len()
            ));
            return Ok(());
        }
        Some(bytes) => bytes,
    };
    let (record, tail) = match layout::split_record(&key, &bytes) {
        Ok(split) => split,
        Err(e) => {
            report.problem(format!("shard {shard}: {e}"));
            return Ok(());
        }
    };
    let tail_events = layout::tail_events(&key, tail).unwrap_or_else(|e| {
        events_decoded = false;
        report.problem(format!("shard {shard}: {e}"));
        Vec::new()
    });
    if tail_events
        .last()
        .is_some_and(|e| e.sequence != record.sequence)
    {
        report.problem(format!(
            "shard {shard}: the tail of user {id:?} ends at sequence {:?}, its record is at {}",
            tail_events.last().map(|e| e.sequence),
            record.sequence
        ));
    }
    let events = layout::history(chunks, tail_events);
    report.events += events.len() as u64;
    if domain::is_live(&record) {
        *org_counts.entry(record.org.clone()).or_default() += 1;
        for (index, key, value) in layout::index_entries(&record) {
            let stored = trees.tree(index)?.get(&key).map_err(io)?;
            if stored.as_deref() != Some(value.as_slice()) {
                report.problem(format!(
                    "user {id:?} is missing from {} (key {})",
                    index.name(),
                    String::from_utf8_lossy(&key)
                ));
            }
        }
    }
    if !events_decoded {
        return Ok(());
    }
    let events = match events.split_last() {
        Some((last, answered)) if last.sequence == record.sequence + 1 => {
            report.unanswered += 1;
            answered
        }
        _ => &events[..],
    };
    match domain::replay(id, events) {
        Err(e) => report.problem(format!(
            "shard {shard}: history of user {id:?} does not replay: {e:?}"
        )),
        Ok(replayed) if replayed != record => report.problem(format!(
            "shard {shard}: record of user {id:?} (state {:?}, sequence {}) differs from its \
             replayed history (state {:?}, sequence {})",
            record.state, record.sequence, replayed.state, replayed.sequence
        )),
        Ok(_) => {}
    }
    Ok(())
}

/// Every index key must name a live user whose record has exactly that key.
fn check_indexes(trees: &Trees, report: &mut CheckReport) -> Result<(), StoreError> {
    for index in TreeId::INDEXES {
        for item in trees.tree(index)?.iter() {
            let (key, value) = item.map_err(io)?;
            let id = match index {
                TreeId::Username => Some(String::from_utf8_lossy(&value).into_owned()),
                TreeId::Created => layout::id_after(&key, 8),
                TreeId::Org => key
                    .get(..2)
                    .map(|len| usize::from(u16::from_be_bytes([len[0], len[1]])))
                    .and_then(|len| layout::id_after(&key, 2 + len + 8)),
                TreeId::Email => key
                    .windows(2)
                    .position(|w| w == [0, 0])
                    .and_then(|end| layout::id_after(&key, end + 2)),
                TreeId::Shard(_) | TreeId::OrgCounts | TreeId::Outbox | TreeId::Settings => None,
            };
            let shown = String::from_utf8_lossy(&key).into_owned();
            let Some(id) = id else {
                report.problem(format!("{}: malformed key {shown}", index.name()));
                continue;
            };
            let user: Option<User> = match trees.user(&id) {
                Ok(user) => user,
                // Reported with the record.
                Err(_) => continue,
            };
            let indexed = user.filter(domain::is_live).is_some_and(|u| {
                layout::index_entries(&u)
                    .iter()
                    .any(|(t, k, v)| *t == index && *k == key.as_ref() && *v == value.as_ref())
            });
            if !indexed {
                report.problem(format!(
                    "{}: key {shown} names user {id:?}, which is not live with that key",
                    index.name()
                ));
            }
        }
    }
    Ok(())
}
