//! Offline tools on the database: `userd check` as SQL (histories gap-free up to each record's
//! sequence, usernames held exactly by live users, the state counts, every value decodable) and
//! `userd import` by COPY.

use super::query::{seq, UserRow, COLUMNS};
use super::{db_error, StoreError};
use crate::domain::is_live;
use crate::store::sled::layout;
use crate::store::{shard_of, CheckReport, ImportCounts, Imported};
use deadpool_postgres::GenericClient;
use futures_util::{pin_mut, TryStreamExt};
use std::collections::{HashMap, HashSet};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

fn e(err: tokio_postgres::Error) -> StoreError {
    db_error(&err)
}

/// Ids (or names) a query of one text column answers, for a problem each.
async fn report_rows(
    client: &impl GenericClient,
    report: &mut CheckReport,
    sql: &str,
    what: &str,
) -> Result<(), StoreError> {
    for row in client.query(sql, &[]).await.map_err(e)? {
        let id: String = row.get(0);
        report.problem(format!("{what}: {id}"));
    }
    Ok(())
}

pub async fn check(
    client: &impl GenericClient,
    shards: usize,
    max_problems: usize,
) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport {
        shards,
        max_problems,
        ..CheckReport::default()
    };
    // Every record decodes, and its columns say what it says.
    let rows = client
        .query_raw(
            "SELECT id, state, sequence, org, record FROM users",
            std::iter::empty::<&(dyn ToSql + Sync)>(),
        )
        .await
        .map_err(e)?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await.map_err(e)? {
        report.users += 1;
        let (id, state, sequence, org, bytes): (String, i16, i64, String, Vec<u8>) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        match layout::decode_user(id.as_bytes(), &bytes) {
            Ok(user) => {
                let columns_agree = user.id == id
                    && i64::from(user.state.number()) == i64::from(state)
                    && seq(user.sequence) == sequence
                    && user.org == org;
                if !columns_agree {
                    report.problem(format!("user {id}: its columns differ from its record"));
                }
            }
            Err(err) => report.problem(format!("user {id}: {err}")),
        }
    }
    let rows = client
        .query_raw(
            "SELECT user_id, sequence, event FROM events",
            std::iter::empty::<&(dyn ToSql + Sync)>(),
        )
        .await
        .map_err(e)?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await.map_err(e)? {
        report.events += 1;
        let (id, sequence, bytes): (String, i64, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
        match layout::decode_event(id.as_bytes(), &bytes) {
            Ok(event) if seq(event.sequence) == sequence => {}
            Ok(_) => report.problem(format!("user {id}: event {sequence} says another sequence")),
            Err(err) => report.problem(format!("user {id}: event {sequence}: {err}")),
        }
    }
    report_rows(
        client,
        &mut report,
        "SELECT u.id FROM users u LEFT JOIN (
            SELECT user_id, count(*) AS n, min(sequence) AS first, max(sequence) AS last
            FROM events GROUP BY user_id) e ON e.user_id = u.id
         WHERE e.n IS NULL OR e.n <> u.sequence OR e.first <> 1 OR e.last <> u.sequence",
        "history is not gap-free up to the record's sequence",
    )
    .await?;
    report_rows(
        client,
        &mut report,
        "SELECT DISTINCT user_id FROM events e WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id)",
        "events without a user",
    )
    .await?;
    report_rows(
        client,
        &mut report,
        "SELECT n.username FROM usernames n LEFT JOIN users u ON u.id = n.user_id
         WHERE u.id IS NULL OR u.state = 3 OR u.username IS DISTINCT FROM n.username",
        "username held by no live user of that name",
    )
    .await?;
    report_rows(
        client,
        &mut report,
        "SELECT u.id FROM users u WHERE u.state <> 3 AND u.username IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM usernames n WHERE n.username = u.username AND n.user_id = u.id)",
        "live user whose username is not held",
    )
    .await?;
    let counted = client
        .query(
            "SELECT COALESCE(s.state, c.state)::text FROM
               (SELECT state, count(*)::bigint AS n FROM users GROUP BY state) s
               FULL JOIN (SELECT state, sum(n)::bigint AS n FROM state_counts GROUP BY state) c
               ON c.state = s.state
             WHERE COALESCE(s.n, 0) <> COALESCE(c.n, 0)",
            &[],
        )
        .await
        .map_err(e)?;
    for row in counted {
        let state: Option<String> = row.get(0);
        report.problem(format!(
            "users-by-state count of state {} differs from the users",
            state.unwrap_or_default()
        ));
    }
    Ok(report)
}

/// Write new users by COPY, each with its whole history. Ids or usernames taken already (or
/// twice in `users`) are counted as duplicates and left alone. Offline: a node committing
/// meanwhile could make the COPY fail.
pub async fn import(
    client: &mut deadpool_postgres::Object,
    users: Vec<Imported>,
    shards: usize,
) -> Result<ImportCounts, StoreError> {
    let mut counts = ImportCounts::default();
    let ids: Vec<String> = users.iter().map(|u| u.user.id.clone()).collect();
    let names: Vec<String> = users
        .iter()
        .filter_map(|u| u.user.profile.username().map(str::to_string))
        .collect();
    let mut taken_ids: HashSet<String> = client
        .query("SELECT id FROM users WHERE id = ANY($1)", &[&ids])
        .await
        .map_err(e)?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let mut taken_names: HashSet<String> = client
        .query(
            "SELECT username FROM usernames WHERE username = ANY($1)",
            &[&names],
        )
        .await
        .map_err(e)?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let records = plan(users, &mut taken_ids, &mut taken_names, &mut counts);
    let tx = client.transaction().await.map_err(e)?;
    write(&tx, &records, shards).await?;
    tx.commit().await.map_err(e)?;
    counts.imported = records.len() as u64;
    Ok(counts)
}

/// Every live user with its history, as one moment of the database (a repeatable-read
/// transaction), sent to `out` until it stops taking them.
pub async fn export(
    client: &mut deadpool_postgres::Object,
    out: &std::sync::mpsc::SyncSender<Result<Imported, StoreError>>,
) -> Result<(), StoreError> {
    let tx = super::snapshot(client).await?;
    let rows = tx
        .query_raw(
            "SELECT u.id, CASE WHEN e.sequence = 1 THEN u.record END, e.event
             FROM users u JOIN events e ON e.user_id = u.id AND e.sequence <= u.sequence
             WHERE u.state <> 3 ORDER BY u.id, e.sequence",
            std::iter::empty::<&(dyn ToSql + Sync)>(),
        )
        .await
        .map_err(e)?;
    pin_mut!(rows);
    let mut current: Option<Imported> = None;
    while let Some(row) = rows.try_next().await.map_err(e)? {
        let (id, record, event): (String, Option<Vec<u8>>, Vec<u8>) =
            (row.get(0), row.get(1), row.get(2));
        let event = layout::decode_event(id.as_bytes(), &event)?;
        if let Some(record) = record {
            let user = layout::decode_user(id.as_bytes(), &record)?;
            if let Some(done) = current.take() {
                if out.send(Ok(done)).is_err() {
                    return Ok(());
                }
            }
            current = Some(Imported {
                user,
                events: Vec::new(),
            });
        }
        match &mut current {
            Some(imported) if imported.user.id == id => imported.events.push(event),
            _ => {
                return Err(StoreError::Corrupt {
                    key: id,
                    reason: "its history does not start at sequence 1".into(),
                })
            }
        }
    }
    if let Some(done) = current {
        let _ = out.send(Ok(done));
    }
    Ok(())
}

/// Replace every user with `users` in one transaction (others wait on its locks, then see the
/// new users); webhook settings and the outbox stay.
pub async fn reset(
    client: &mut deadpool_postgres::Object,
    users: Vec<Imported>,
    shards: usize,
) -> Result<ImportCounts, StoreError> {
    let mut counts = ImportCounts::default();
    let records = plan(users, &mut HashSet::new(), &mut HashSet::new(), &mut counts);
    let tx = client.transaction().await.map_err(e)?;
    tx.batch_execute("TRUNCATE users, events, usernames, state_counts")
        .await
        .map_err(e)?;
    write(&tx, &records, shards).await?;
    tx.commit().await.map_err(e)?;
    counts.imported = records.len() as u64;
    Ok(counts)
}

/// The users whose ids and usernames are not taken (nor taken earlier in `users`); the others
/// count as duplicates.
fn plan(
    users: Vec<Imported>,
    taken_ids: &mut HashSet<String>,
    taken_names: &mut HashSet<String>,
    counts: &mut ImportCounts,
) -> Vec<Imported> {
    let mut records = Vec::with_capacity(users.len());
    for imported in users {
        let user = &imported.user;
        let name = user
            .profile
            .username()
            .filter(|_| is_live(user))
            .map(str::to_string);
        let name_taken = name.as_ref().is_some_and(|n| taken_names.contains(n));
        if taken_ids.contains(&user.id) || name_taken {
            counts.duplicates += 1;
            continue;
        }
        taken_ids.insert(user.id.clone());
        if let Some(n) = name {
            taken_names.insert(n);
        }
        records.push(imported);
    }
    records
}

/// COPY `records` (new users) into `tx`, with their events, usernames and counts.
async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    records: &[Imported],
    shards: usize,
) -> Result<(), StoreError> {
    let text = Type::TEXT;
    // COLUMNS: id, org, state, kind, sequence, created_at, changed_at, 8 texts, 9 lowered
    // texts, record.
    let mut user_types = vec![
        text.clone(),
        text.clone(),
        Type::INT2,
        Type::INT2,
        Type::INT8,
        Type::INT8,
        Type::INT8,
    ];
    user_types.extend(std::iter::repeat_n(text.clone(), 17));
    user_types.push(Type::BYTEA);
    let sink = tx
        .copy_in(&format!("COPY users ({COLUMNS}) FROM STDIN BINARY"))
        .await
        .map_err(e)?;
    let writer = BinaryCopyInWriter::new(sink, &user_types);
    pin_mut!(writer);
    for Imported { user, .. } in records {
        let row = UserRow::of(user);
        writer.as_mut().write(&row.params()).await.map_err(e)?;
    }
    writer.finish().await.map_err(e)?;
    let sink = tx
        .copy_in("COPY events (user_id, sequence, created_at, event) FROM STDIN BINARY")
        .await
        .map_err(e)?;
    let writer =
        BinaryCopyInWriter::new(sink, &[text.clone(), Type::INT8, Type::INT8, Type::BYTEA]);
    pin_mut!(writer);
    for Imported { user, events } in records {
        for event in events {
            let bytes = layout::encode(event);
            writer
                .as_mut()
                .write(&[&user.id, &seq(event.sequence), &event.at.0, &bytes])
                .await
                .map_err(e)?;
        }
    }
    writer.finish().await.map_err(e)?;
    let sink = tx
        .copy_in("COPY usernames (username, user_id) FROM STDIN BINARY")
        .await
        .map_err(e)?;
    let writer = BinaryCopyInWriter::new(sink, &[text.clone(), text]);
    pin_mut!(writer);
    for Imported { user, .. } in records {
        if let Some(name) = user.profile.username().filter(|_| is_live(user)) {
            let name = name.to_string();
            writer.as_mut().write(&[&name, &user.id]).await.map_err(e)?;
        }
    }
    writer.finish().await.map_err(e)?;
    let mut deltas: HashMap<(i32, i16), i64> = HashMap::new();
    for Imported { user, .. } in records {
        let shard = i32::try_from(shard_of(&user.id, shards)).unwrap_or(0);
        let state = i16::try_from(user.state.number()).unwrap_or(0);
        *deltas.entry((shard, state)).or_default() += 1;
    }
    for ((shard, state), n) in deltas {
        tx.execute(
            "INSERT INTO state_counts (slot, state, n) VALUES ($1, $2, $3)
             ON CONFLICT (slot, state) DO UPDATE SET n = state_counts.n + EXCLUDED.n",
            &[&shard, &state, &n],
        )
        .await
        .map_err(e)?;
    }
    Ok(())
}
