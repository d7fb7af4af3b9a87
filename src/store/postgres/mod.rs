//! The PostgreSQL backend: users, their events and usernames in one database that several userd
//! nodes share. Each group is one transaction that moves every user only from the sequence its
//! change expects (a conditional update plus the event's insert), so two nodes never both move
//! one user; a conflict is answered as [`CommitError::Conflict`] and the shard decides again.
//!
//! All database IO runs on the store's own thread (a single-threaded tokio runtime), whatever
//! runtime the caller is on. A 200 leaves only after `COMMIT` returned; a database that cannot
//! be reached answers within the configured timeout and makes the store not ready until a probe
//! succeeds again.

mod admin;
mod history;
mod outbox;
mod query;
mod schema;

use super::{
    Backend, Change, CheckReport, CommitDone, CommitError, EventQuery, Group, ImportCounts,
    Imported, ListQuery, Outgoing, Page, Settle, StoreError, StoredEvent,
};
use crate::config::Durability;
use crate::domain::{is_live, User};
use crate::store::sled::layout;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::BoxFuture;
use query::{seq, Sql, UserRow, COLUMNS};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// How to open the store.
#[derive(Clone, Debug)]
pub struct Options {
    /// `postgres://user:password@host:port/database` (or key=value pairs).
    pub url: String,
    pub pool_size: usize,
    /// How long a request may wait for a connection, a statement or a commit.
    pub timeout: Duration,
    pub shards: u32,
    pub durability: Durability,
    /// How long a listing may run before it is refused.
    pub scan_budget: Duration,
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    runtime: tokio::runtime::Handle,
    shards: usize,
    durability: Durability,
    timeout: Duration,
    scan_budget: Duration,
    counts: Arc<[AtomicI64; 6]>,
    ready: Arc<AtomicBool>,
    /// Where this node's shards start among the counts' slots.
    count_base: u32,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

fn db_error(e: &tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(code) if *code == SqlState::QUERY_CANCELED => StoreError::OverBudget,
        _ => StoreError::Io(format!("database: {e}")),
    }
}

fn pool_error(e: &deadpool_postgres::PoolError) -> StoreError {
    StoreError::Io(format!("database connection: {e}"))
}

/// Whether a failed statement means another writer moved a user first.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// Start the store's runtime on its own thread.
fn start_runtime() -> Result<tokio::runtime::Handle, StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Io(format!("cannot start the database runtime: {e}")))?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("userd-postgres".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .map_err(|e| StoreError::Io(format!("cannot start the database thread: {e}")))?;
    Ok(handle)
}

/// Run `work` on the store's runtime and wait for it from any thread (blocking it).
fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv()
        .map_err(|_| StoreError::Io("the database thread stopped".into()))?
}

/// `work` within `limit`, else unavailable.
async fn within<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(StoreError::Io(format!(
            "database did not answer within {limit:?}"
        )))
    })
}

impl PostgresStore {
    /// Connect, migrate the schema, and read the users-by-state counts.
    pub fn open(options: &Options) -> Result<PostgresStore, StoreError> {
        let mut pg: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| StoreError::Mismatch(format!("storage.postgres.url: {e}")))?;
        pg.connect_timeout(options.timeout);
        // The server stops a statement, or a wait for a row lock, past the timeout: a request
        // that gave up never leaves its connection busy for the next one.
        let ms = options.timeout.as_millis().max(1);
        let limits = format!("-c statement_timeout={ms} -c lock_timeout={ms}");
        let merged = match pg.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {limits}"),
            _ => limits,
        };
        pg.options(&merged);
        if pg.get_application_name().is_none() {
            pg.application_name("userd");
        }
        let manager = Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let runtime = start_runtime()?;
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| StoreError::Io(format!("database pool: {e}")))?;
        let store = PostgresStore {
            pool,
            runtime,
            shards: usize::try_from(options.shards.max(1)).unwrap_or(1),
            durability: options.durability,
            timeout: options.timeout,
            scan_budget: options.scan_budget,
            counts: Arc::new(std::array::from_fn(|_| AtomicI64::new(0))),
            ready: Arc::new(AtomicBool::new(false)),
            count_base: {
                let mut bytes = [0u8; 4];
                // Without randomness the nodes share slots, which is slower, not wrong.
                let _ = getrandom::fill(&mut bytes);
                u32::from_le_bytes(bytes) % COUNT_SLOTS
            },
        };
        let pool = store.pool.clone();
        block_on(&store.runtime, async move {
            let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
            schema::migrate(&mut client).await
        })?;
        store.refresh_counts_now()?;
        store.ready.store(true, Ordering::SeqCst);
        store.start_probe();
        Ok(store)
    }

    /// Read the users-by-state counts (the sum over every shard's rows, so every node's
    /// commits count).
    fn refresh_counts_now(&self) -> Result<(), StoreError> {
        let (pool, counts) = (self.pool.clone(), self.counts.clone());
        block_on(&self.runtime, read_counts(pool, counts))
    }

    /// Every second: check the database answers (readiness) and refresh the counts.
    fn start_probe(&self) {
        let (pool, counts, ready, limit) = (
            self.pool.clone(),
            self.counts.clone(),
            self.ready.clone(),
            self.timeout,
        );
        self.runtime.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let ok = within(limit, read_counts(pool.clone(), counts.clone())).await;
                if let Err(e) = &ok {
                    if ready.load(Ordering::SeqCst) {
                        log::error!("database not reachable: {e}");
                    }
                } else if !ready.load(Ordering::SeqCst) {
                    log::info!("database reachable again");
                }
                ready.store(ok.is_ok(), Ordering::SeqCst);
            }
        });
    }

    /// Run `work` with a connection on the store's runtime, within the timeout.
    fn run<T, F, Fut>(&self, work: F) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run_within(self.timeout, work)
    }

    /// Run `work` with a connection on the store's runtime, within `limit`.
    fn run_within<T, F, Fut>(
        &self,
        limit: Duration,
        work: F,
    ) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let task = self.runtime.spawn(within(limit, async move {
            let client = pool.get().await.map_err(|e| pool_error(&e))?;
            work(client).await
        }));
        Box::pin(async move {
            task.await
                .map_err(|_| StoreError::Io("the database task failed".into()))?
        })
    }
}

async fn read_counts(pool: Pool, counts: Arc<[AtomicI64; 6]>) -> Result<(), StoreError> {
    let client = pool.get().await.map_err(|e| pool_error(&e))?;
    let rows = client
        .query(
            "SELECT state, sum(n)::bigint FROM state_counts GROUP BY state",
            &[],
        )
        .await
        .map_err(|e| db_error(&e))?;
    let mut fresh = [0i64; 6];
    for row in rows {
        let (state, n): (i16, i64) = (row.get(0), row.get(1));
        if let Some(slot) = usize::try_from(state).ok().and_then(|i| fresh.get_mut(i)) {
            *slot = n;
        }
    }
    for (slot, n) in counts.iter().zip(fresh) {
        slot.store(n, Ordering::Relaxed);
    }
    Ok(())
}

/// How many rows per state the users-by-state counts are spread over.
const COUNT_SLOTS: u32 = 1024;

/// The counts row a shard of this node adds to: nodes start at random places among the slots,
/// so two nodes' shards seldom wait for each other's row locks.
fn count_slot(base: u32, shard: usize) -> i32 {
    let shard = u32::try_from(shard).unwrap_or(0);
    i32::try_from(base.wrapping_add(shard) % COUNT_SLOTS).unwrap_or(0)
}

/// The username a live user holds, if any.
fn held_username(user: Option<&User>) -> Option<&str> {
    user.filter(|u| is_live(u))
        .and_then(|u| u.profile.username())
}

/// How a group's transaction ended short of a commit.
enum Outcome {
    Conflict(Vec<String>),
    NameTaken(Vec<String>),
    /// The database or the connection to it failed: the store is not ready until a probe
    /// succeeds.
    Failed(StoreError),
    /// The database refused one statement (the group is not applied; the store is fine).
    Rejected(StoreError),
    /// The database was asked to commit and did not say whether it did.
    Unknown(StoreError),
}

impl Outcome {
    fn of(e: &tokio_postgres::Error) -> Outcome {
        if is_conflict(e) {
            Outcome::Conflict(Vec::new())
        } else if e.code().is_some() {
            Outcome::Rejected(db_error(e))
        } else {
            Outcome::Failed(db_error(e))
        }
    }
}

/// One group in one transaction. Ok(()) once `COMMIT` returned.
async fn commit_group(
    client: &mut deadpool_postgres::Object,
    group: &Group,
    durability: Durability,
    commit_sent: &AtomicBool,
    count_base: u32,
) -> Result<BTreeMap<i16, i64>, Outcome> {
    let failed = |e: tokio_postgres::Error| Outcome::of(&e);
    let insert_user = client
        .prepare_cached(&format!(
            "INSERT INTO users ({COLUMNS}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
            (1..=query::COLUMN_COUNT)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await
        .map_err(failed)?;
    let update_user = client
        .prepare_cached(&format!(
            "UPDATE users SET ({COLUMNS}) = ({}) WHERE id = $1 AND sequence = ${}",
            (1..=query::COLUMN_COUNT)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", "),
            query::COLUMN_COUNT + 1
        ))
        .await
        .map_err(failed)?;
    let insert_event = client
        .prepare_cached(
            "INSERT INTO events (user_id, sequence, created_at, event) VALUES ($1, $2, $3, $4)",
        )
        .await
        .map_err(failed)?;
    let free_name = client
        .prepare_cached("DELETE FROM usernames WHERE username = $1 AND user_id = $2")
        .await
        .map_err(failed)?;
    let claim_name = client
        .prepare_cached(
            "INSERT INTO usernames (username, user_id) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING",
        )
        .await
        .map_err(failed)?;
    let count = client
        .prepare_cached(
            "INSERT INTO state_counts (slot, state, n) VALUES ($1, $2, $3) ON CONFLICT (slot, state) DO UPDATE SET n = state_counts.n + EXCLUDED.n",
        )
        .await
        .map_err(failed)?;

    let tx = client.transaction().await.map_err(failed)?;
    if durability == Durability::Periodic {
        tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
            .await
            .map_err(failed)?;
    }
    let mut moved: Vec<String> = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    // Ordered, so that every node locks the state-count rows in the same order.
    let mut deltas: BTreeMap<i16, i64> = BTreeMap::new();
    for change in &group.changes {
        let Change {
            before,
            event,
            after,
        } = change;
        let row = UserRow::of(after);
        let params = row.params();
        let rows = match before {
            None => tx.execute(&insert_user, &params).await,
            Some(b) => {
                let expected = seq(b.sequence);
                let mut with_expected = params.clone();
                with_expected.push(&expected);
                tx.execute(&update_user, &with_expected).await
            }
        }
        .map_err(failed)?;
        if rows == 0 {
            moved.push(after.id.clone());
            continue;
        }
        tx.execute(
            &insert_event,
            &[
                &query::column_text(&after.id),
                &seq(event.sequence),
                &event.at.0,
                &layout::encode(event),
            ],
        )
        .await
        .map_err(|e| match Outcome::of(&e) {
            Outcome::Conflict(_) => Outcome::Conflict(vec![after.id.clone()]),
            other => other,
        })?;
        let (old, new) = (held_username(before.as_ref()), held_username(Some(after)));
        if old != new {
            if let Some(old) = old.map(query::column_text) {
                tx.execute(&free_name, &[&old, &query::column_text(&after.id)])
                    .await
                    .map_err(failed)?;
            }
            if let Some(new) = new.map(query::column_text) {
                let claimed = tx
                    .execute(&claim_name, &[&new, &query::column_text(&after.id)])
                    .await
                    .map_err(failed)?;
                if claimed == 0 {
                    taken.push(after.id.clone());
                }
            }
        }
        let state = |u: &User| i16::try_from(u.state.number()).unwrap_or(0);
        if let Some(b) = before {
            *deltas.entry(state(b)).or_default() -= 1;
        }
        *deltas.entry(state(after)).or_default() += 1;
    }
    // Dropping the transaction rolls it back.
    if !moved.is_empty() {
        return Err(Outcome::Conflict(moved));
    }
    if !taken.is_empty() {
        return Err(Outcome::NameTaken(taken));
    }
    if !group.deliveries.is_empty() {
        // The outbox, in the same transaction: positions come from a sequence, so a user's
        // deliveries queue in its changes' order (each commits after the one before).
        let insert_delivery = tx
            .prepare_cached(
                "INSERT INTO outbox (target_id, user_id, sequence, at, body) VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .map_err(failed)?;
        for d in &group.deliveries {
            tx.execute(
                &insert_delivery,
                &[
                    &query::column_text(&d.target),
                    &query::column_text(&d.user_id),
                    &seq(d.sequence),
                    &d.at.0,
                    &d.body,
                ],
            )
            .await
            .map_err(failed)?;
        }
    }
    let slot = count_slot(count_base, group.shard);
    deltas.retain(|_, d| *d != 0);
    for (state, delta) in &deltas {
        tx.execute(&count, &[&slot, state, delta])
            .await
            .map_err(failed)?;
    }
    commit_sent.store(true, Ordering::SeqCst);
    tx.commit().await.map_err(|e| match Outcome::of(&e) {
        // The connection failed after COMMIT was sent.
        Outcome::Failed(e) => Outcome::Unknown(e),
        other => other,
    })?;
    Ok(deltas)
}

impl Backend for PostgresStore {
    fn shard_count(&self) -> usize {
        self.shards
    }

    fn user<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        let id = query::column_text(id);
        self.run(move |client| async move {
            let statement = client
                .prepare_cached("SELECT record FROM users WHERE id = $1")
                .await
                .map_err(|e| db_error(&e))?;
            let row = client
                .query_opt(&statement, &[&id])
                .await
                .map_err(|e| db_error(&e))?;
            match row {
                Some(row) => {
                    let bytes: Vec<u8> = row.get(0);
                    layout::decode_user(id.as_bytes(), &bytes).map(Some)
                }
                None => Ok(None),
            }
        })
    }

    fn username_holder<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let name = query::column_text(username);
        self.run(move |client| async move {
            let statement = client
                .prepare_cached("SELECT user_id FROM usernames WHERE username = $1")
                .await
                .map_err(|e| db_error(&e))?;
            let row = client
                .query_opt(&statement, &[&name])
                .await
                .map_err(|e| db_error(&e))?;
            Ok(row.map(|r| r.get::<_, String>(0)))
        })
    }

    fn commit(&self, group: Group, done: CommitDone) {
        let (pool, limit, durability, ready, counts, count_base) = (
            self.pool.clone(),
            self.timeout,
            self.durability,
            self.ready.clone(),
            self.counts.clone(),
            self.count_base,
        );
        self.runtime.spawn(async move {
            let started = std::time::Instant::now();
            let commit_sent = AtomicBool::new(false);
            let outcome = tokio::time::timeout(limit, async {
                let mut client = pool
                    .get()
                    .await
                    .map_err(|e| Outcome::Failed(pool_error(&e)))?;
                commit_group(&mut client, &group, durability, &commit_sent, count_base).await
            })
            .await;
            let result = match outcome {
                Ok(Ok(deltas)) => {
                    if let Some(m) = crate::metrics::get() {
                        m.flush_seconds.observe(started.elapsed().as_secs_f64());
                    }
                    // This node's view at once; the probe adds every node's each second.
                    for (state, delta) in deltas {
                        if let Some(slot) = usize::try_from(state).ok().and_then(|i| counts.get(i))
                        {
                            slot.fetch_add(delta, Ordering::Relaxed);
                        }
                    }
                    Ok(())
                }
                Ok(Err(Outcome::Conflict(ids))) => Err(CommitError::Conflict(if ids.is_empty() {
                    group.changes.iter().map(|c| c.after.id.clone()).collect()
                } else {
                    ids
                })),
                Ok(Err(Outcome::NameTaken(ids))) => Err(CommitError::NameTaken(ids)),
                Ok(Err(Outcome::Failed(e))) => {
                    ready.store(false, Ordering::SeqCst);
                    Err(CommitError::Unavailable(e))
                }
                Ok(Err(Outcome::Rejected(e))) => {
                    log::error!("the database refused a group: {e}");
                    Err(CommitError::Unavailable(e))
                }
                Ok(Err(Outcome::Unknown(e))) => {
                    ready.store(false, Ordering::SeqCst);
                    Err(CommitError::Unknown(e))
                }
                Err(_) => {
                    ready.store(false, Ordering::SeqCst);
                    let e = StoreError::Io(format!("database did not answer within {limit:?}"));
                    if commit_sent.load(Ordering::SeqCst) {
                        // The commit may or may not have reached the database.
                        Err(CommitError::Unknown(e))
                    } else {
                        Err(CommitError::Unavailable(e))
                    }
                }
            };
            done(result);
        });
    }

    fn list(&self, query: ListQuery) -> BoxFuture<'static, Result<Page, StoreError>> {
        let budget = self.scan_budget;
        // The server stops each of the two statements at the budget; the wait covers both.
        let limit = self.timeout + budget * 2;
        self.run_within(limit, move |mut client| async move {
            let mut sql = Sql::default();
            let predicate = sql.listing(&query);
            let order = query::order_by(query.sort, query.asc);
            let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
            let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
            let tx = snapshot(&mut client).await?;
            tx.batch_execute(&format!(
                "SET LOCAL statement_timeout = {}",
                budget.as_millis().max(1)
            ))
            .await
            .map_err(|e| db_error(&e))?;
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = sql
                .params
                .iter()
                .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let total: i64 = tx
                .query_one(
                    &format!("SELECT count(*) FROM users WHERE {predicate}"),
                    &params,
                )
                .await
                .map_err(|e| db_error(&e))?
                .get(0);
            let rows = tx
                .query(
                    &format!(
                        "SELECT id, record FROM users WHERE {predicate} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
                    ),
                    &params,
                )
                .await
                .map_err(|e| db_error(&e))?;
            let mut users = Vec::with_capacity(rows.len());
            for row in rows {
                let (id, bytes): (String, Vec<u8>) = (row.get(0), row.get(1));
                users.push(layout::decode_user(id.as_bytes(), &bytes)?);
            }
            Ok(Page {
                total: u64::try_from(total).unwrap_or(0),
                users,
            })
        })
    }

    fn events(
        &self,
        query: EventQuery,
    ) -> BoxFuture<'static, Result<Vec<StoredEvent>, StoreError>> {
        let budget = self.scan_budget;
        self.run_within(self.timeout + budget, move |client| async move {
            history::search(&client, &query, budget).await
        })
    }

    fn outbox(
        &self,
        target: Option<String>,
        parked: bool,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Outgoing>, StoreError>> {
        self.run(
            move |client| async move { outbox::list(&client, target, parked, after, limit).await },
        )
    }

    fn settle(
        &self,
        target: String,
        position: u64,
        settle: Settle,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.run(
            move |client| async move { outbox::settle(&client, &target, position, settle).await },
        )
    }

    fn settings(&self) -> BoxFuture<'static, Result<super::SettingEntries, StoreError>> {
        self.run(|client| async move { outbox::settings(&client).await })
    }

    fn put_setting(
        &self,
        key: String,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.run(move |client| async move { outbox::put_setting(&client, &key, value).await })
    }

    fn purge_outbox(&self, target: String) -> BoxFuture<'static, Result<(), StoreError>> {
        self.run(move |client| async move { outbox::purge(&client, &target).await })
    }

    fn lease(
        &self,
        name: String,
        holder: String,
        length: Duration,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.run(move |client| async move { outbox::lease(&client, &name, &holder, length).await })
    }

    fn state_counts(&self) -> [i64; 6] {
        std::array::from_fn(|i| self.counts.get(i).map_or(0, |c| c.load(Ordering::Relaxed)))
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn check(&self, max_problems: usize) -> Result<CheckReport, StoreError> {
        let (pool, shards) = (self.pool.clone(), self.shards);
        block_on(&self.runtime, async move {
            let client = pool.get().await.map_err(|e| pool_error(&e))?;
            admin::check(&client, shards, max_problems).await
        })
    }

    fn import(&self, users: Vec<Imported>) -> Result<ImportCounts, StoreError> {
        let (pool, shards) = (self.pool.clone(), self.shards);
        let counts = block_on(&self.runtime, async move {
            let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
            admin::import(&mut client, users, shards).await
        })?;
        self.refresh_counts_now()?;
        Ok(counts)
    }

    fn export(
        &self,
        visit: &mut dyn FnMut(Imported) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        // Read on the store's runtime, handed over a bounded channel to this thread.
        let (tx, rx) = std::sync::mpsc::sync_channel(256);
        let pool = self.pool.clone();
        self.runtime.spawn(async move {
            let outcome = match pool.get().await {
                Ok(mut client) => admin::export(&mut client, &tx).await,
                Err(err) => Err(pool_error(&err)),
            };
            if let Err(err) = outcome {
                let _ = tx.send(Err(err));
            }
        });
        let mut visited = 0;
        for item in rx {
            visit(item?)?;
            visited += 1;
        }
        Ok(visited)
    }

    fn close(&self) -> Result<(), StoreError> {
        self.pool.close();
        Ok(())
    }

    fn reset(&self, users: Vec<Imported>) -> BoxFuture<'static, Result<ImportCounts, StoreError>> {
        let (shards, counts, pool) = (self.shards, self.counts.clone(), self.pool.clone());
        // Loading a large seed takes longer than one request's timeout; it is still bounded.
        let limit = self.timeout.max(RESET_TIMEOUT);
        self.run_within(limit, move |mut client| async move {
            let done = admin::reset(&mut client, users, shards).await?;
            drop(client);
            // The reset is committed: a failed refresh only delays the counts (the probe
            // refreshes them every second).
            if let Err(e) = read_counts(pool, counts).await {
                log::warn!("counts not refreshed after the reset: {e}");
            }
            Ok(done)
        })
    }
}

/// A read-only transaction that sees one moment of the database throughout.
async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| db_error(&e))
}

/// How long a reset may take at most.
const RESET_TIMEOUT: Duration = Duration::from_secs(600);
