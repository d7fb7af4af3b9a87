//! The outbox, the settings and the delivery leases on PostgreSQL. Deliveries are inserted by
//! the commit of their changes (`commit_group`); everything here runs one statement each.

use super::db_error;
use crate::domain::Timestamp;
use crate::store::{Delivery, Outgoing, Settle, StoreError};
use deadpool_postgres::Object;

fn position(p: u64) -> i64 {
    i64::try_from(p).unwrap_or(i64::MAX)
}

pub(super) async fn list(
    client: &Object,
    target: Option<String>,
    parked: bool,
    after: u64,
    limit: usize,
) -> Result<Vec<Outgoing>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT position, target_id, user_id, sequence, at, body, attempts, next_at, last_error \
             FROM outbox WHERE ($1::text IS NULL OR target_id = $1) AND parked = $2 AND position > $3 \
             ORDER BY position LIMIT $4",
        )
        .await
        .map_err(|e| db_error(&e))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&statement, &[&target, &parked, &position(after), &limit])
        .await
        .map_err(|e| db_error(&e))?;
    Ok(rows
        .into_iter()
        .map(|row| Outgoing {
            position: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            delivery: Delivery {
                target: row.get(1),
                user_id: row.get(2),
                sequence: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                at: Timestamp(row.get(4)),
                body: row.get(5),
            },
            attempts: u32::try_from(row.get::<_, i32>(6)).unwrap_or(0),
            next_at: Timestamp(row.get(7)),
            last_error: row.get(8),
            parked,
        })
        .collect())
}

pub(super) async fn settle(
    client: &Object,
    target: &str,
    at: u64,
    settle: Settle,
) -> Result<bool, StoreError> {
    let p = position(at);
    let attempts = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let changed = match settle {
        Settle::Delivered => {
            client
                .execute(
                    "DELETE FROM outbox WHERE target_id = $1 AND position = $2 AND NOT parked",
                    &[&target, &p],
                )
                .await
        }
        Settle::Retry {
            attempts: n,
            next_at,
            error,
        } => {
            client
                .execute(
                    "UPDATE outbox SET attempts = $3, next_at = $4, last_error = $5 \
                     WHERE target_id = $1 AND position = $2 AND NOT parked",
                    &[&target, &p, &attempts(n), &next_at.0, &error],
                )
                .await
        }
        Settle::Park { attempts: n, error } => {
            client
                .execute(
                    "UPDATE outbox SET attempts = $3, last_error = $4, parked = true \
                     WHERE target_id = $1 AND position = $2 AND NOT parked",
                    &[&target, &p, &attempts(n), &error],
                )
                .await
        }
        Settle::Unpark => {
            client
                .execute(
                    "UPDATE outbox SET attempts = 0, next_at = 0, parked = false \
                     WHERE target_id = $1 AND position = $2 AND parked",
                    &[&target, &p],
                )
                .await
        }
    }
    .map_err(|e| db_error(&e))?;
    Ok(changed > 0)
}

pub(super) async fn settings(client: &Object) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let rows = client
        .query("SELECT key, value FROM settings ORDER BY key", &[])
        .await
        .map_err(|e| db_error(&e))?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) async fn put_setting(
    client: &Object,
    key: &str,
    value: Option<Vec<u8>>,
) -> Result<(), StoreError> {
    match value {
        Some(v) => {
            client
                .execute(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&key, &v],
                )
                .await
        }
        None => {
            client
                .execute("DELETE FROM settings WHERE key = $1", &[&key])
                .await
        }
    }
    .map_err(|e| db_error(&e))?;
    Ok(())
}

/// The lease, by the database's clock (nodes' clocks may disagree).
pub(super) async fn lease(
    client: &Object,
    name: &str,
    holder: &str,
    length: std::time::Duration,
) -> Result<bool, StoreError> {
    let micros = i64::try_from(length.as_micros()).unwrap_or(i64::MAX);
    let row = client
        .query_opt(
            "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us) \
             INSERT INTO leases (name, holder, until) SELECT $1, $2, us + $3 FROM now \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
             WHERE leases.holder = EXCLUDED.holder OR leases.until < (SELECT us FROM now) \
             RETURNING holder",
            &[&name, &holder, &micros],
        )
        .await
        .map_err(|e| db_error(&e))?;
    Ok(row.is_some())
}

pub(super) async fn purge(client: &Object, target: &str) -> Result<(), StoreError> {
    client
        .execute("DELETE FROM outbox WHERE target_id = $1", &[&target])
        .await
        .map_err(|e| db_error(&e))?;
    Ok(())
}
