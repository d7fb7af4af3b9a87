//! Event searches on PostgreSQL: the filters SQL can apply (user, organization, sequence, time)
//! in the statement, the rest (types, editor, the caller's organizations) on the decoded events,
//! reading in keyset-ordered batches until the page is full or the budget is spent.

use super::db_error;
use crate::store::sled::layout;
use crate::store::{EventQuery, StoreError, StoredEvent};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Rows read per statement.
const BATCH: i64 = 500;

pub(super) async fn search(
    client: &Client,
    query: &EventQuery,
    budget: Duration,
) -> Result<Vec<StoredEvent>, StoreError> {
    let deadline = Instant::now() + budget;
    let (cmp, dir) = if query.asc {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    let sql = format!(
        "SELECT e.user_id, u.org, e.sequence, e.created_at, e.event FROM events e \
         JOIN users u ON u.id = e.user_id \
         WHERE ($1::text IS NULL OR e.user_id = $1) AND ($2::text IS NULL OR u.org = $2) \
         AND ($3::bigint = 0 OR e.sequence {cmp} $3) AND e.created_at >= $4 AND e.created_at < $5 \
         AND ($6::bigint IS NULL OR (e.created_at, e.user_id, e.sequence) {cmp} ($6, $7, $8)) \
         ORDER BY e.created_at {dir}, e.user_id {dir}, e.sequence {dir} LIMIT {BATCH}"
    );
    let statement = client.prepare(&sql).await.map_err(|e| db_error(&e))?;
    let after = i64::try_from(query.after_sequence).unwrap_or(i64::MAX);
    let since = query.since.map_or(i64::MIN, |t| t.0);
    let until = query.until.map_or(i64::MAX, |t| t.0);
    let mut cursor: Option<(i64, String, i64)> = None;
    let mut found = Vec::new();
    loop {
        if Instant::now() > deadline {
            return Err(StoreError::OverBudget);
        }
        let (at, id, seq) = match &cursor {
            Some((at, id, seq)) => (Some(*at), Some(id.clone()), Some(*seq)),
            None => (None, None, None),
        };
        let rows = client
            .query(
                &statement,
                &[
                    &query.user_id,
                    &query.org,
                    &after,
                    &since,
                    &until,
                    &at,
                    &id,
                    &seq,
                ],
            )
            .await
            .map_err(|e| db_error(&e))?;
        let complete = rows.len() < BATCH as usize;
        for row in rows {
            let (user_id, org, sequence, at, bytes): (String, String, i64, i64, Vec<u8>) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            let event = layout::decode_event(user_id.as_bytes(), &bytes)?;
            cursor = Some((at, user_id.clone(), sequence));
            if query.admits(&user_id, &org, &event) {
                found.push(StoredEvent {
                    user_id,
                    org,
                    event,
                });
                if found.len() >= query.limit {
                    return Ok(found);
                }
            }
        }
        if complete {
            return Ok(found);
        }
    }
}
