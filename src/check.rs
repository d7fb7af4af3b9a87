//! `userd check`: an offline verification of a data directory. It replays every user's events
//! and compares the result with the stored record, and checks sequences, shard placement and
//! that every stored value decodes. It never writes user data.
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
    /// Events one past their user's record: the first half of a change that was never answered
    /// (the server stopped between its two writes). Not a problem: readers go by the record, and
    /// the user's next change overwrites such an event.
    pub unanswered: u64,
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
    // Histories first: a user's events are contiguous, in sequence order.
    let mut current: Option<(String, Vec<Event>, bool)> = None;
    for item in tree.iter() {
        let (key, value) = item?;
        match store::parse_key(&key) {
            KeyKind::Event(id, seq) => {
                report.events += 1;
                if current
                    .as_ref()
                    .map(|(cur, _, _)| cur != &id)
                    .unwrap_or(true)
                {
                    if let Some((done, events, ok)) = current.take() {
                        check_user(store, shard, tree, &done, &events, ok, report)?;
                    }
                    current = Some((id.clone(), Vec::new(), true));
                }
                let Some((_, events, ok)) = current.as_mut() else {
                    continue;
                };
                match store::decode::<Event>(&key, &value) {
                    Ok(event) if event.sequence == seq => events.push(event),
                    Ok(event) => {
                        *ok = false;
                        report.problem(format!(
                            "shard {shard}: event key of user {id:?} says sequence {seq}, \
                             the event says {}",
                            event.sequence
                        ));
                    }
                    Err(e) => {
                        *ok = false;
                        report.problem(format!("shard {shard}: {e}"));
                    }
                }
            }
            KeyKind::User(id) => {
                report.users += 1;
                // A record whose history is missing entirely.
                if tree.get(store::event_key(&id, 1))?.is_none() {
                    report.problem(format!(
                        "shard {shard}: user {id:?} has a record but no creation event"
                    ));
                }
            }
            KeyKind::Unknown => report.problem(format!(
                "shard {shard}: unknown key {}",
                String::from_utf8_lossy(&key)
            )),
        }
    }
    if let Some((done, events, ok)) = current.take() {
        check_user(store, shard, tree, &done, &events, ok, report)?;
    }
    Ok(())
}

/// Compare one user's record with the replay of its history.
fn check_user(
    store: &Store,
    shard: usize,
    tree: &sled::Tree,
    id: &str,
    events: &[Event],
    events_decoded: bool,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let owner = store.shard_of(id);
    if owner != shard {
        report.problem(format!(
            "user {id:?} is stored in shard {shard} but belongs to shard {owner}"
        ));
    }
    let key = store::user_key(id);
    let record = match tree.get(&key)? {
        // A creation whose record was never written: the first half of an unanswered create.
        None if events.len() == 1 && events[0].sequence == 1 => {
            report.unanswered += 1;
            return Ok(());
        }
        None => {
            report.problem(format!(
                "shard {shard}: user {id:?} has {} events but no record",
                events.len()
            ));
            return Ok(());
        }
        Some(bytes) => match store::decode::<User>(&key, &bytes) {
            Ok(user) => user,
            Err(e) => {
                report.problem(format!("shard {shard}: {e}"));
                return Ok(());
            }
        },
    };
    if !events_decoded {
        return Ok(());
    }
    let events = match events.split_last() {
        Some((last, answered)) if last.sequence == record.sequence + 1 => {
            report.unanswered += 1;
            answered
        }
        _ => events,
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
