//! `userd import FILE`: bulk-load v3alpha create bodies (JSON lines) straight into the store,
//! with the server stopped. Each user gets the same record and creation event a create through
//! the API would write; ids already in the store (or earlier in the file) are reported as
//! duplicates and left alone, so importing a file twice changes nothing (a line without a
//! `userId` gets an id derived from its content, for the same reason).
//!
//! Lines are grouped into chunks; each chunk's creations are written with plain inserts by one
//! thread per core (sled's per-insert work is most of an import's time), and one flush at the
//! end makes everything durable. A crash mid-import leaves at most creation events without
//! records (see `store`), which importing the file again completes.

use crate::domain::{self, NewUser, Profile, Timestamp, UserState};
use crate::http::v3alpha::parse_create;
use crate::store::{self, Store, StoreError};
use std::collections::HashSet;
use std::io::BufRead;

/// Lines per chunk (one batch per shard per chunk).
const CHUNK: usize = 20_000;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    pub duplicates: u64,
    /// `(line number, reason)` of the first bad lines.
    pub bad: Vec<(u64, String)>,
    pub bad_count: u64,
}

/// A line parsed into a user ready to store.
struct Parsed {
    line: u64,
    user: NewUser,
}

/// The id of a line without `userId`: derived from the line's bytes (18 digits, like a
/// generated id), so importing the same file again finds it taken and changes nothing.
fn id_for_line(text: &str) -> String {
    const LOW: u64 = 100_000_000_000_000_000;
    (LOW + store::fnv1a64(text.trim().as_bytes()) % (9 * LOW)).to_string()
}

fn parse_line(text: &str, default_org: Option<&str>) -> Result<NewUser, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    let body = parse_create(&map).map_err(|e| e.text.to_string())?;
    let org = body
        .org
        .or_else(|| default_org.map(str::to_string))
        .ok_or("no organization.orgId (and no --org)")?;
    Ok(NewUser {
        id: body.user_id.unwrap_or_else(|| id_for_line(text)),
        org,
        initial_state: UserState::Active,
        profile: Profile::V3 {
            schema_id: body.schema_id,
            data_json: body.data_json,
            contact: body.contact,
        },
    })
}

/// Import JSON lines from `input` into `store`. `progress` is called after each chunk with the
/// number of lines read so far.
pub fn import(
    store: &Store,
    input: impl BufRead,
    default_org: Option<&str>,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, StoreError> {
    // Users are about to change: a clean stop's saved counts no longer hold as they are, but
    // they (or zeros, for an empty store) plus the imported users do.
    let mut counts = match store.take_state_counts()? {
        Some(saved) if saved.len() == 6 => Some(saved),
        _ if store.is_empty()? => Some(vec![0; 6]),
        _ => None,
    };
    let mut report = ImportReport::default();
    let mut seen_in_chunk: HashSet<String> = HashSet::new();
    let mut chunk: Vec<Parsed> = Vec::with_capacity(CHUNK);
    let mut line_no = 0u64;
    let mut lines = input.lines();
    loop {
        let next = lines.next();
        let done = next.is_none();
        if let Some(line) = next {
            line_no += 1;
            let line = line.map_err(|e| StoreError::Io(sled::Error::Io(e)))?;
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(&line, default_org) {
                Ok(user) => chunk.push(Parsed {
                    line: line_no,
                    user,
                }),
                Err(why) => {
                    report.bad_count += 1;
                    if report.bad.len() < 100 {
                        report.bad.push((line_no, why));
                    }
                }
            }
        }
        if chunk.len() >= CHUNK || (done && !chunk.is_empty()) {
            write_chunk(
                store,
                std::mem::take(&mut chunk),
                &mut seen_in_chunk,
                &mut report,
            )?;
            progress(line_no);
        }
        if done {
            break;
        }
    }
    match counts.as_mut() {
        Some(counts) => {
            counts[UserState::Active.number() as usize] +=
                i64::try_from(report.imported).unwrap_or(i64::MAX);
            store.save_state_counts(counts)?;
        }
        None => {
            store.flush()?;
        }
    }
    Ok(report)
}

fn write_chunk(
    store: &Store,
    chunk: Vec<Parsed>,
    seen: &mut HashSet<String>,
    report: &mut ImportReport,
) -> Result<(), StoreError> {
    let shards = store.shard_count();
    let mut writes: Vec<Vec<(Vec<u8>, Vec<u8>)>> = (0..shards).map(|_| Vec::new()).collect();
    let now = Timestamp::now();
    seen.clear();
    for Parsed { line, user } in chunk {
        let shard = store.shard_of(&user.id);
        let Some(tree) = store.shard_tree(shard) else {
            continue;
        };
        if !seen.insert(user.id.clone()) || tree.contains_key(store::user_key(&user.id))? {
            log::debug!("line {line}: user {} exists", user.id);
            report.duplicates += 1;
            continue;
        }
        let (record, event) = domain::create(user, now);
        if let Some(shard_writes) = writes.get_mut(shard) {
            store::stage_change(shard_writes, None, &record, &event, None);
        }
        report.imported += 1;
    }
    // Plain inserts (a creation is its event, then its record, as through the API), one thread
    // per core over disjoint shards: sled serializes batches behind a global lock.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, shards.max(1));
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                let writes = &writes;
                scope.spawn(move || -> Result<(), StoreError> {
                    for shard in (t..shards).step_by(threads) {
                        if let (Some(tree), Some(shard_writes)) =
                            (store.shard_tree(shard), writes.get(shard))
                        {
                            store.write(tree, shard_writes)?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        writers.into_iter().try_for_each(|writer| {
            writer.join().unwrap_or_else(|_| {
                Err(StoreError::Io(sled::Error::ReportableBug(
                    "an import writer thread panicked".into(),
                )))
            })
        })
    })
}
