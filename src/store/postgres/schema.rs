//! The database schema as numbered migrations, applied in order at start-up under an advisory
//! lock (so several nodes starting at once migrate once). A database whose schema is newer than
//! the binary's is refused: an older userd must not write what it does not understand.
//!
//! Text columns use the "C" collation, so comparisons and orders are bytewise, as on sled; the
//! `*_lower` columns hold the same texts lowercased by userd (Unicode's rules, as the domain's
//! filters lowercase), for case-insensitive filters whatever the database's locale.
//! Times are nanoseconds since the Unix epoch (`bigint`), as userd keeps them everywhere.

use crate::store::StoreError;
use tokio_postgres::Client;

/// The advisory lock key the migrations hold ("userd" in ASCII).
const MIGRATION_LOCK: i64 = 0x75_7365_7264;

/// Migration `n` (1-based) takes the schema from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: users (the current record, and the columns listings filter and sort on), their
    // events, usernames held by live users, and users by state (spread over slots, which
    // nodes' shards add to; the sum is the count).
    r#"
    CREATE TABLE users (
        id text COLLATE "C" PRIMARY KEY,
        org text COLLATE "C" NOT NULL,
        state smallint NOT NULL,
        kind smallint NOT NULL,
        sequence bigint NOT NULL,
        created_at bigint NOT NULL,
        changed_at bigint NOT NULL,
        username text COLLATE "C",
        email text COLLATE "C",
        phone text COLLATE "C",
        given_name text COLLATE "C",
        family_name text COLLATE "C",
        nick_name text COLLATE "C",
        display_name text COLLATE "C",
        schema_id text COLLATE "C",
        id_lower text COLLATE "C" NOT NULL,
        org_lower text COLLATE "C" NOT NULL,
        username_lower text COLLATE "C",
        email_lower text COLLATE "C",
        phone_lower text COLLATE "C",
        given_name_lower text COLLATE "C",
        family_name_lower text COLLATE "C",
        nick_name_lower text COLLATE "C",
        display_name_lower text COLLATE "C",
        record bytea NOT NULL
    );
    CREATE INDEX users_live_created ON users (created_at, id) WHERE state <> 3;
    CREATE INDEX users_live_org ON users (org, created_at, id) WHERE state <> 3;
    CREATE INDEX users_live_email ON users (email_lower) WHERE state <> 3;
    CREATE INDEX users_live_username ON users (username) WHERE state <> 3;
    CREATE TABLE events (
        user_id text COLLATE "C" NOT NULL,
        sequence bigint NOT NULL,
        created_at bigint NOT NULL,
        event bytea NOT NULL,
        PRIMARY KEY (user_id, sequence)
    );
    CREATE TABLE usernames (
        username text COLLATE "C" PRIMARY KEY,
        user_id text COLLATE "C" NOT NULL
    );
    CREATE TABLE state_counts (
        slot integer NOT NULL,
        state smallint NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (slot, state)
    );
    "#,
    // 2: the event API's order (creation time across users).
    r#"
    CREATE INDEX events_created ON events (created_at, user_id, sequence);
    "#,
    // 3: webhooks: deliveries owed to targets (written with their changes), the targets and
    // executions, and which node delivers a target's queue.
    r#"
    CREATE TABLE outbox (
        position bigserial PRIMARY KEY,
        target_id text COLLATE "C" NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        sequence bigint NOT NULL,
        at bigint NOT NULL,
        body text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_at bigint NOT NULL DEFAULT 0,
        last_error text NOT NULL DEFAULT '',
        parked boolean NOT NULL DEFAULT false
    );
    CREATE INDEX outbox_queue ON outbox (target_id, parked, position);
    CREATE TABLE settings (
        key text COLLATE "C" PRIMARY KEY,
        value bytea NOT NULL
    );
    CREATE TABLE leases (
        name text COLLATE "C" PRIMARY KEY,
        holder text NOT NULL,
        until bigint NOT NULL
    );
    "#,
];

/// The schema version this binary writes.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

fn io(e: tokio_postgres::Error) -> StoreError {
    StoreError::Io(format!("migrating the database: {e}"))
}

/// Bring the database's schema to [`VERSION`], or refuse a newer one.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(io)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(io)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS userd_schema (
            id smallint PRIMARY KEY CHECK (id = 1),
            version integer NOT NULL
        );
        INSERT INTO userd_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
    )
    .await
    .map_err(io)?;
    let row = tx
        .query_one("SELECT version FROM userd_schema WHERE id = 1", &[])
        .await
        .map_err(io)?;
    let current: i32 = row.get(0);
    if current > VERSION {
        return Err(StoreError::Mismatch(format!(
            "the database's schema is version {current}, newer than this userd's ({VERSION}): run a userd at least as new as the one that migrated it"
        )));
    }
    for (n, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        log::info!("migrating the database schema to version {}", n + 1);
        tx.batch_execute(sql).await.map_err(io)?;
    }
    if current < VERSION {
        tx.execute(
            "UPDATE userd_schema SET version = $1 WHERE id = 1",
            &[&VERSION],
        )
        .await
        .map_err(io)?;
    }
    tx.commit().await.map_err(io)
}
