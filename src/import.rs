//! The import format, read by `userd import FILE` (straight into the store, with the server
//! stopped), `serve --seed` and `POST /debug/reset`, and written by `userd export`. JSON lines
//! of two kinds:
//! - a v3alpha create body: a new user, created now. A surface like the others: read with the
//!   v3alpha codec (`api::v3alpha`, its `TryFrom` of the create message) into the core's
//!   create request, it gets the record, creation event and index keys a create through the
//!   API would;
//! - an exported user, `{"userdExport": 1, "userId": ID, "events": [...]}`: any kind of user
//!   (v2 humans and machines too) with a history from its creation, in userd's own event form
//!   of this version. The history is replayed (every change must have been allowed) and the
//!   user written as it leaves it.
//!
//! Ids already in the store (or earlier in the file) are reported as duplicates and left alone,
//! so importing a file twice changes nothing (a line without a `userId` gets an id derived from
//! its content, for the same reason).

use crate::app::{CreateUser, NewProfile};
use crate::domain::{self, Event, NewUser, Profile, Timestamp, UserState};
use crate::pb::zitadel::user::v3alpha::CreateUserRequest;
use crate::store::{fnv1a64, Backend, Imported, StoreError};
use std::io::BufRead;

/// Lines per chunk.
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

/// The id of a line without `userId`: derived from the line's bytes (18 digits, like a
/// generated id), so importing the same file again finds it taken and changes nothing.
fn id_for_line(text: &str) -> String {
    const LOW: u64 = 100_000_000_000_000_000;
    (LOW + fnv1a64(text.trim().as_bytes()) % (9 * LOW)).to_string()
}

/// The version of exported lines this build reads and writes.
const EXPORT_FORMAT: u32 = 1;

/// An exported user's line.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportLine {
    userd_export: u32,
    user_id: String,
    events: Vec<Event>,
}

/// The line `userd export` writes for `user`: with its whole history, or (without
/// `history`) a short one that rebuilds it as it is (see `domain::snapshot_history`).
pub fn export_line(user: &Imported, history: bool) -> Result<String, String> {
    let events = if history {
        user.events.clone()
    } else {
        domain::snapshot_history(&user.user)
    };
    serde_json::to_string(&ExportLine {
        userd_export: EXPORT_FORMAT,
        user_id: user.user.id.clone(),
        events,
    })
    .map_err(|e| format!("user {}: {e}", user.user.id))
}

/// One line: an exported user, or a v3alpha create body (created at `now`).
fn parse_line(text: &str, default_org: Option<&str>, now: Timestamp) -> Result<Imported, String> {
    if text.contains("\"userdExport\"") {
        let line: ExportLine =
            serde_json::from_str(text).map_err(|e| format!("not an exported user: {e}"))?;
        if line.userd_export != EXPORT_FORMAT {
            return Err(format!(
                "exported in format {}, and this userd reads format {EXPORT_FORMAT}",
                line.userd_export
            ));
        }
        let user = domain::replay(&line.user_id, &line.events)
            .map_err(|e| format!("user {}: its history does not replay: {e:?}", line.user_id))?;
        return Ok(Imported {
            user,
            events: line.events,
        });
    }
    parse_create(text, default_org).map(|new| Imported::created(new, now))
}

fn parse_create(text: &str, default_org: Option<&str>) -> Result<NewUser, String> {
    let message: CreateUserRequest = serde_json::from_str(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            format!("not JSON: {e}")
        } else {
            format!("not a create body: {e}")
        }
    })?;
    let request = CreateUser::try_from(message).map_err(|e| e.text().to_string())?;
    let org = request
        .org
        .or_else(|| default_org.map(str::to_string))
        .ok_or("no organization.orgId (and no --org)")?;
    let NewProfile::Schema {
        schema_id,
        data_json,
        contact,
    } = request.profile
    else {
        return Err("not a v3alpha user".into());
    };
    Ok(NewUser {
        id: request.user_id.unwrap_or_else(|| id_for_line(text)),
        org,
        initial_state: UserState::Active,
        creator_scope: crate::domain::OrgScope::Everywhere,
        editor: String::new(),
        profile: Profile::V3 {
            schema_id,
            data_json,
            contact,
        },
    })
}

/// Every user of `input` (a seed), or why a line is bad: `line N: reason`, with how many are.
pub fn read_all(input: impl BufRead) -> Result<Vec<Imported>, String> {
    let now = Timestamp::now();
    let mut users = Vec::new();
    let mut bad: Option<(u64, String)> = None;
    let mut bad_count = 0u64;
    for (i, line) in input.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| format!("cannot read line {line_no}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line, None, now) {
            Ok(user) => users.push(user),
            Err(why) => {
                bad_count += 1;
                bad.get_or_insert((line_no, why));
            }
        }
    }
    match bad {
        Some((line, why)) => Err(format!("{bad_count} bad lines (line {line}: {why})")),
        None => Ok(users),
    }
}

/// Import JSON lines from `input` into `store`, then close it (durable, counts saved).
/// `progress` is called after each chunk with the number of lines read so far.
pub fn import(
    store: &dyn Backend,
    input: impl BufRead,
    default_org: Option<&str>,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    let mut chunk: Vec<Imported> = Vec::with_capacity(CHUNK);
    let now = Timestamp::now();
    let mut line_no = 0u64;
    let mut lines = input.lines();
    loop {
        let next = lines.next();
        let done = next.is_none();
        if let Some(line) = next {
            line_no += 1;
            let line = line.map_err(|e| StoreError::Io(e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(&line, default_org, now) {
                Ok(user) => chunk.push(user),
                Err(why) => {
                    report.bad_count += 1;
                    if report.bad.len() < 100 {
                        report.bad.push((line_no, why));
                    }
                }
            }
        }
        if chunk.len() >= CHUNK || (done && !chunk.is_empty()) {
            let counts = store.import(std::mem::take(&mut chunk))?;
            report.imported += counts.imported;
            report.duplicates += counts.duplicates;
            progress(line_no);
        }
        if done {
            break;
        }
    }
    store.close()?;
    Ok(report)
}
