//! `userd check`: an offline verification of a data directory. It replays every user's events
//! and compares the result with the record stored with the last one, and checks sequences,
//! shard placement and that every stored value decodes. It never writes user data.
//!
//! Streaming: a user's events are contiguous in its shard tree, so memory holds one user's
//! history at a time.

use crate::domain::{self, Event, User};
use crate::store::{self, KeyKind, Store, StoreError};
use std::fmt;

/// What a check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub shards: usize,
    pub users: u64,
    pub events: u64,
    /// The first problems found (at most `max_problems`).
    pub problems: Vec<String>,
    /// All problems, including those not listed.
    pub problem_count: u64,
    max_problems: usize,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
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

/// Check every shard of `store`, listing at most `max_problems` problems.
pub fn check(store: &Store, max_problems: usize) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport {
        shards: store.shard_count(),
        max_problems,
        ..CheckReport::default()
    };
    for shard in 0..store.shard_count() {
        let Some(tree) = store.shard_tree(shard) else {
            continue;
        };
        check_shard(store, shard, tree, &mut report)?;
    }
    Ok(report)
}

fn check_shard(
    store: &Store,
    shard: usize,
    tree: &sled::Tree,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    // A user's changes are contiguous, in sequence order.
    let mut current: Option<History> = None;
    for item in tree.iter() {
        let (key, value) = item?;
        let KeyKind::Event(id, seq) = store::parse_key(&key) else {
            report.problem(format!(
                "shard {shard}: unknown key {}",
                String::from_utf8_lossy(&key)
            ));
            continue;
        };
        report.events += 1;
        if current.as_ref().is_none_or(|h| h.id != id) {
            if let Some(done) = current.take() {
                check_user(store, shard, &done, report);
            }
            current = Some(History {
                id: id.clone(),
                events: Vec::new(),
                last: None,
                ok: true,
            });
        }
        let Some(history) = current.as_mut() else {
            continue;
        };
        match store::decode_change(&key, &value) {
            Ok((event, user)) if event.sequence == seq && user.sequence == seq && user.id == id => {
                history.events.push(event);
                history.last = Some(user);
            }
            Ok((event, user)) => {
                history.ok = false;
                report.problem(format!(
                    "shard {shard}: change key of user {id:?} says sequence {seq}, its event \
                     says {} and its record {} (of user {:?})",
                    event.sequence, user.sequence, user.id
                ));
            }
            Err(e) => {
                history.ok = false;
                report.problem(format!("shard {shard}: {e}"));
            }
        }
    }
    if let Some(done) = current.take() {
        check_user(store, shard, &done, report);
    }
    Ok(())
}

/// One user's changes as read from its shard.
struct History {
    id: String,
    events: Vec<Event>,
    /// The record stored with the last change.
    last: Option<User>,
    /// Every change decoded and agreed with its key.
    ok: bool,
}

/// Compare one user's current record (stored with its last change) with the replay of its
/// history.
fn check_user(store: &Store, shard: usize, history: &History, report: &mut CheckReport) {
    let id = &history.id;
    report.users += 1;
    let owner = store.shard_of(id);
    if owner != shard {
        report.problem(format!(
            "user {id:?} is stored in shard {shard} but belongs to shard {owner}"
        ));
    }
    let (true, Some(record)) = (history.ok, &history.last) else {
        return;
    };
    match domain::replay(id, &history.events) {
        Err(e) => report.problem(format!(
            "shard {shard}: history of user {id:?} does not replay: {e:?}"
        )),
        Ok(replayed) if replayed != *record => report.problem(format!(
            "shard {shard}: record of user {id:?} (state {:?}, sequence {}) differs from its \
             replayed history (state {:?}, sequence {})",
            record.state, record.sequence, replayed.state, replayed.sequence
        )),
        Ok(_) => {}
    }
}
