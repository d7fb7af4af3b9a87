//! Shards: one `UserActor` per shard is the only writer of that shard's users. It decides every
//! change with the pure state machine in `domain` and hands its groups to the store.
//!
//! Group commit: each message is decided as it arrives, on its user as the decisions before it
//! left it (this group's, else the group in flight's, else the durable record), and staged;
//! once the mailbox is drained and nothing is in flight, the staged changes are committed as one
//! group. A shard has at most one group in flight, so deciding overlaps the commit before it.
//! Every answer, refusals included, leaves only once what it saw is durable: with its group's
//! commit, or at once when nothing it saw was pending. If a group does not commit, the
//! decisions staged on top of it are void and answer 503 too. A store whose reads are
//! asynchronous makes the actor read first and decide at launch instead.

use crate::domain::{self, Access, ChangeDetails, Edit, NewUser, Operation, Timestamp, User};
use crate::error::{ApiError, ErrorCode};
use crate::store::{self, Backend, Change, CommitError, Group, StoreError};
use crate::webhooks::Routes;
use actix::prelude::*;
use futures_util::FutureExt;
use std::collections::HashMap;
use std::sync::Arc;
pub use tokio::sync::oneshot;

pub type Reply = Result<ChangeDetails, ApiError>;

/// How many times a group that met another writer's change is decided again.
const CONFLICT_RETRIES: u32 = 3;

/// Map a store failure to the wire: unreadable data is an internal error (logged with its key),
/// anything else means the store cannot serve right now.
pub fn store_error(e: &StoreError) -> ApiError {
    log_store_error(e);
    match e {
        StoreError::Corrupt { .. } => ErrorCode::Internal.into(),
        StoreError::OverBudget | StoreError::Busy => ErrorCode::ListingTooExpensive.into(),
        _ => ErrorCode::StoreUnavailable.into(),
    }
}

/// The answer to a read (not on a change's path) that the store failed.
pub fn read_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::Io(_) | StoreError::Locked(_) => {
            log_store_error(e);
            ErrorCode::StoreReadUnavailable.into()
        }
        _ => store_error(e),
    }
}

/// Log a store failure: every one that names data (a value that does not decode), and IO
/// failures at most once a second (while the disk fails, each request would add a line).
fn log_store_error(e: &StoreError) {
    match e {
        StoreError::Io(_) | StoreError::Locked(_) => {
            if let Some(held_back) = STORE_ERROR_LOG.allow() {
                log::error!("{e} ({held_back} more store errors in the last second)");
            }
        }
        _ => log::error!("{e}"),
    }
}

static STORE_ERROR_LOG: LogLimit = LogLimit::new();

/// At most one line a second about groups the store refused: while it cannot write (a full
/// disk), every group fails, and one line each would flood the log.
static FAILED_GROUP_LOG: LogLimit = LogLimit::new();

/// Lets a log line through at most once a second, counting the ones held back.
struct LogLimit {
    last_second: std::sync::atomic::AtomicU64,
    held_back: std::sync::atomic::AtomicU64,
}

impl LogLimit {
    const fn new() -> LogLimit {
        LogLimit {
            last_second: std::sync::atomic::AtomicU64::new(0),
            held_back: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Some(lines held back since the last one let through), or None to hold this one back.
    fn allow(&self) -> Option<u64> {
        use std::sync::atomic::Ordering;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_second.load(Ordering::Relaxed);
        if now != last
            && self
                .last_second
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held_back.swap(0, Ordering::Relaxed));
        }
        self.held_back.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// What a message asks of the actor.
#[derive(Debug, Clone)]
enum Request {
    Change {
        op: Operation,
        user_id: String,
        access: Access,
    },
    /// A new user, and an edit to make on it at once (its metadata, an email code: more events).
    Create(NewUser, Option<Edit>),
    Edit {
        edit: Edit,
        user_id: String,
        access: Access,
    },
}

impl Request {
    fn user_id(&self) -> &str {
        match self {
            Request::Change { user_id, .. } | Request::Edit { user_id, .. } => user_id,
            Request::Create(user, _) => &user.id,
        }
    }
}

/// Something a request keeps alive until it is decided (and committed), whatever happens to
/// the caller meanwhile: a claim on a username, say.
pub type Hold = Box<dyn std::any::Any + Send>;

/// A request waiting to be decided, where its answer goes, and how often it met a conflict.
struct Pending {
    request: Request,
    reply: oneshot::Sender<Reply>,
    attempts: u32,
    /// Dropped with the request, after its answer was sent.
    _hold: Option<Hold>,
}

macro_rules! lifecycle_messages {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pub user_id: String,
            /// Whom the caller may act on (checked after the user is found).
            pub access: Access,
            /// Where the answer goes once the change is durable.
            pub reply: oneshot::Sender<Reply>,
        }

        impl Message for $name {
            type Result = ();
        }

        impl Handler<$name> for UserActor {
            type Result = ();

            fn handle(&mut self, msg: $name, ctx: &mut Context<Self>) {
                let request = Request::Change { op: $op, user_id: msg.user_id, access: msg.access };
                self.queue(request, msg.reply, None, ctx);
            }
        }
    )*};
}

lifecycle_messages! {
    /// ACTIVE or LOCKED to INACTIVE.
    Deactivate => Operation::Deactivate;
    /// INACTIVE to ACTIVE.
    Reactivate => Operation::Reactivate;
    /// ACTIVE or INITIAL to LOCKED.
    Lock => Operation::Lock;
    /// LOCKED to ACTIVE.
    Unlock => Operation::Unlock;
    /// Any live state to DELETED.
    Delete => Operation::Delete;
}

/// Edit a user's data (its metadata, ...).
#[derive(Debug)]
pub struct EditUser {
    pub edit: Edit,
    pub user_id: String,
    /// Whom the caller may act on (checked after the user is found).
    pub access: Access,
    pub reply: oneshot::Sender<Reply>,
    /// Kept until the edit is decided and durable (a claim on a new username).
    pub hold: Option<Hold>,
}

impl Message for EditUser {
    type Result = ();
}

impl Handler<EditUser> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: EditUser, ctx: &mut Context<Self>) {
        let request = Request::Edit {
            edit: msg.edit,
            user_id: msg.user_id,
            access: msg.access,
        };
        self.queue(request, msg.reply, msg.hold, ctx);
    }
}

/// Create a user. The caller has already checked the permission on `user.org`.
pub struct Create {
    pub user: NewUser,
    /// An edit made right after the creation (events of its own).
    pub follow_up: Option<Edit>,
    pub reply: oneshot::Sender<Reply>,
    /// Kept until the creation is decided and durable.
    pub hold: Option<Hold>,
}

impl std::fmt::Debug for Create {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Create")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Message for Create {
    type Result = ();
}

impl Handler<Create> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Create, ctx: &mut Context<Self>) {
        self.queue(
            Request::Create(msg.user, msg.follow_up),
            msg.reply,
            msg.hold,
            ctx,
        );
    }
}

/// Answers once the actor has drained its mailbox: used by readiness checks.
#[derive(Debug)]
pub struct Ping;

impl Message for Ping {
    type Result = usize;
}

impl Handler<Ping> for UserActor {
    type Result = usize;

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> usize {
        self.shard
    }
}

/// Stop deciding requests: what is decided already is committed, and `quiet` answers once
/// nothing is in flight. Later requests wait in order until [`Resume`].
#[derive(Debug)]
pub struct Pause {
    pub quiet: oneshot::Sender<()>,
}

impl Message for Pause {
    type Result = ();
}

impl Handler<Pause> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Pause, ctx: &mut Context<Self>) {
        self.pause = Some(PauseState {
            quiet: Some(msg.quiet),
        });
        self.launch(ctx);
    }
}

/// Decide again: requests that waited are decided on the store as it is now.
#[derive(Debug)]
pub struct Resume;

impl Message for Resume {
    type Result = ();
}

impl Handler<Resume> for UserActor {
    type Result = ();

    fn handle(&mut self, _: Resume, ctx: &mut Context<Self>) {
        self.pause = None;
        // Records staged before the pause describe the store before it was replaced.
        self.staged.records.clear();
        self.launch(ctx);
    }
}

/// Self-notification that runs after the mailbox is drained.
struct Launch;

impl Message for Launch {
    type Result = ();
}

impl Handler<Launch> for UserActor {
    type Result = ();

    fn handle(&mut self, _: Launch, ctx: &mut Context<Self>) {
        self.launch_scheduled = false;
        self.launch(ctx);
    }
}

/// From the store, through the group's completion: the group in flight is decided. If it did
/// not commit, what was decided on top of it is void too; requests that met another writer's
/// change come back to be decided again.
struct Committed {
    outcome: GroupOutcome,
    retry: Vec<Pending>,
}

/// How a group ended, for the requests decided on top of it meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupOutcome {
    Committed,
    /// Nothing applied, and the store may be failing: those requests answer 503 unless some
    /// of the group are tried again.
    Failed,
    /// Nothing applied because another writer came first: those requests are decided again.
    DecideAgain,
}

impl Message for Committed {
    type Result = ();
}

impl Handler<Committed> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Committed, ctx: &mut Context<Self>) {
        self.in_flight = None;
        let mut again = msg.retry;
        if msg.outcome != GroupOutcome::Committed {
            // Decided on records that never became durable.
            let staged = std::mem::take(&mut self.staged);
            let decide_again = msg.outcome == GroupOutcome::DecideAgain || !again.is_empty();
            for (p, _) in staged.decided {
                if !decide_again {
                    let _ = p.reply.send(Err(ErrorCode::StoreUnavailable.into()));
                } else {
                    again.push(p);
                }
            }
        }
        if !again.is_empty() {
            self.mailbox.requeue(again.len());
            again.append(&mut self.undecided);
            self.undecided = again;
        }
        self.launch(ctx);
    }
}

/// The next group: decided requests, the records as their decisions left them, the changes.
#[derive(Default)]
struct Staged {
    records: Records,
    changes: Vec<Change>,
    decided: Vec<(Pending, Reply)>,
}

/// The only writer of one shard.
pub struct UserActor {
    shard: usize,
    store: Arc<dyn Backend>,
    /// Which targets each event goes to (the deliveries join the group's commit).
    routes: Arc<Routes>,
    /// Requests waiting for their users to be read (from a store that answers asynchronously,
    /// or queued behind such a read), in arrival order.
    undecided: Vec<Pending>,
    /// Decided requests, committed as one group once nothing is in flight.
    staged: Staged,
    /// The records the group in flight leaves, not durable yet (None: nothing in flight).
    in_flight: Option<HashMap<String, User>>,
    /// An asynchronous read for `undecided` is running.
    reading: bool,
    launch_scheduled: bool,
    /// Messages sent to this actor and not yet decided.
    mailbox: Arc<Mailbox>,
    /// Set while the store is being replaced under the shards (a reset): nothing is decided.
    pause: Option<PauseState>,
}

/// A pause in progress: who waits for this shard to be quiet (nothing decided left to commit),
/// until it has been told.
struct PauseState {
    quiet: Option<oneshot::Sender<()>>,
}

/// How many requests may wait for one shard's actor: beyond it a request is refused at once
/// (`Overloaded`). The in-flight bound at the door normally keeps every mailbox far below this;
/// it holds even when callers leave and their messages stay queued.
pub const MAILBOX_CAPACITY: usize = 4096;

/// The count of requests sent to one actor and not yet decided, bounded by its capacity and
/// mirrored into the mailbox metric.
#[derive(Debug)]
struct Mailbox {
    depth: std::sync::atomic::AtomicUsize,
    capacity: usize,
    gauge: Option<prometheus::IntGauge>,
}

impl Mailbox {
    fn new(capacity: usize, gauge: Option<prometheus::IntGauge>) -> Mailbox {
        Mailbox {
            depth: std::sync::atomic::AtomicUsize::new(0),
            capacity,
            gauge,
        }
    }

    /// Take a place, or false when the mailbox is full.
    fn try_enter(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.depth.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        if let Some(gauge) = &self.gauge {
            gauge.inc();
        }
        true
    }

    /// Requests that were decided once and wait again (their group failed and is retried):
    /// they already held places, so the capacity does not apply.
    fn requeue(&self, count: usize) {
        self.depth
            .fetch_add(count, std::sync::atomic::Ordering::AcqRel);
        if let Some(gauge) = &self.gauge {
            gauge.add(count as i64);
        }
    }

    fn leave(&self) {
        self.depth.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        if let Some(gauge) = &self.gauge {
            gauge.dec();
        }
    }
}

impl std::fmt::Debug for UserActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserActor")
            .field("shard", &self.shard)
            .field("undecided", &self.undecided.len())
            .field("staged", &self.staged.decided.len())
            .field("in_flight", &self.in_flight.is_some())
            .finish()
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;
}

type Records = HashMap<String, Result<Option<User>, ApiError>>;

impl UserActor {
    fn queue(
        &mut self,
        request: Request,
        reply: oneshot::Sender<Reply>,
        hold: Option<Hold>,
        ctx: &mut Context<Self>,
    ) {
        let p = Pending {
            request,
            reply,
            attempts: 0,
            _hold: hold,
        };
        // Decided at once when its user can be read now (after anything queued before it).
        if self.undecided.is_empty() && !self.reading && self.pause.is_none() {
            if let Some(record) = self.read_now(p.request.user_id()) {
                self.stage(p, record);
            } else {
                self.undecided.push(p);
            }
        } else {
            self.undecided.push(p);
        }
        if !self.launch_scheduled {
            self.launch_scheduled = true;
            ctx.notify(Launch);
        }
    }

    /// The record a decision must see, if it can be had without waiting: as this group left
    /// it, else as the group in flight leaves it, else the durable one.
    fn read_now(&self, id: &str) -> Option<Result<Option<User>, ApiError>> {
        if let Some(record) = self.staged.records.get(id) {
            return Some(record.clone());
        }
        if let Some(user) = self.in_flight.as_ref().and_then(|f| f.get(id)) {
            return Some(Ok(Some(user.clone())));
        }
        self.store
            .user_at_once(id)
            .map(|r| r.map_err(|e| store_error(&e)))
    }

    /// Decide `p` on `record` (its user as the decision must see it) into the next group.
    fn stage(&mut self, p: Pending, record: Result<Option<User>, ApiError>) {
        self.mailbox.leave();
        let staged = &mut self.staged;
        staged
            .records
            .entry(p.request.user_id().to_string())
            .or_insert(record);
        let reply = decide_one(
            &p.request,
            &mut staged.records,
            Timestamp::now(),
            &mut staged.changes,
        );
        staged.decided.push((p, reply));
    }

    /// With nothing in flight: decide what waits for a read (reading first), then commit the
    /// next group.
    fn launch(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight.is_some() || self.reading {
            return;
        }
        if let Some(pause) = &mut self.pause {
            // What was decided before the pause is committed; nothing more is decided.
            if let Some(quiet) = pause.quiet.take() {
                self.submit(ctx);
                if self.in_flight.is_none() {
                    let _ = quiet.send(());
                } else if let Some(pause) = &mut self.pause {
                    pause.quiet = Some(quiet);
                }
            }
            return;
        }
        if self.undecided.is_empty() {
            return self.submit(ctx);
        }
        let mut ids: Vec<String> = self
            .undecided
            .iter()
            .map(|p| p.request.user_id().to_string())
            .filter(|id| !self.staged.records.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let store = self.store.clone();
        let mut read = Box::pin(async move {
            let mut records = Records::with_capacity(ids.len());
            for id in ids {
                let record = store.user(&id).await.map_err(|e| store_error(&e));
                records.insert(id, record);
            }
            records
        });
        match read.as_mut().now_or_never() {
            Some(records) => self.decide_read(records, ctx),
            None => {
                self.reading = true;
                ctx.wait(actix::fut::wrap_future(read).map(
                    move |records, actor: &mut Self, ctx| {
                        actor.reading = false;
                        actor.decide_read(records, ctx);
                    },
                ));
            }
        }
    }

    /// Decide every request that waited for `records`, in order, then commit. Requests that
    /// arrived during the read for users it did not read wait for the next one; while paused,
    /// every request waits.
    fn decide_read(&mut self, records: Records, ctx: &mut Context<Self>) {
        let mut waiting = Vec::new();
        for p in std::mem::take(&mut self.undecided) {
            let id = p.request.user_id();
            let record = records
                .get(id)
                .cloned()
                .or_else(|| self.staged.records.get(id).cloned());
            match record {
                Some(record) if self.pause.is_none() => self.stage(p, record),
                _ => waiting.push(p),
            }
        }
        self.undecided = waiting;
        self.submit(ctx);
        if self.pause.is_some() || !self.undecided.is_empty() {
            // Read for the requests left (or answer a pause) once nothing is in flight.
            self.launch(ctx);
        }
    }

    /// Commit what is staged as one group; with nothing to write, answer at once (nothing is
    /// in flight, so every record a decision saw was durable).
    fn submit(&mut self, ctx: &mut Context<Self>) {
        let staged = std::mem::take(&mut self.staged);
        if staged.decided.is_empty() {
            return;
        }
        if let Some(m) = crate::metrics::get() {
            m.batch_size.observe(staged.decided.len() as f64);
        }
        if staged.changes.is_empty() {
            for (p, reply) in staged.decided {
                let _ = p.reply.send(reply);
            }
            return;
        }
        self.in_flight = Some(
            staged
                .changes
                .iter()
                .map(|c| (c.after.id.clone(), c.after.clone()))
                .collect(),
        );
        let me = ctx.address();
        let decided = staged.decided;
        let deliveries = self.routes.deliveries(&staged.changes);
        let group = Group {
            shard: self.shard,
            changes: staged.changes,
            deliveries,
        };
        self.store.commit(
            group,
            Box::new(move |outcome| {
                let mut retry = Vec::new();
                let mut failed = Vec::new();
                let group_outcome = match &outcome {
                    Ok(()) => GroupOutcome::Committed,
                    Err(CommitError::Conflict(_) | CommitError::NameTaken(_)) => {
                        GroupOutcome::DecideAgain
                    }
                    Err(_) => GroupOutcome::Failed,
                };
                match outcome {
                    Ok(()) => {
                        for (p, reply) in decided {
                            // A caller that went away no longer needs its answer.
                            let _ = p.reply.send(reply);
                        }
                    }
                    Err(CommitError::Conflict(ids)) => {
                        log::debug!("users {ids:?} moved under a group: deciding it again");
                        // Nothing of the group applied: every request is decided again, on
                        // fresh reads.
                        for (mut p, _) in decided {
                            p.attempts += 1;
                            if p.attempts > CONFLICT_RETRIES {
                                failed.push((p, ErrorCode::StoreUnavailable));
                            } else {
                                retry.push(p);
                            }
                        }
                    }
                    Err(CommitError::NameTaken(ids)) => {
                        // Another node's user took the name first: those requests answer as a
                        // taken name does; the others are decided again.
                        for (mut p, _) in decided {
                            if ids.iter().any(|id| id == p.request.user_id()) {
                                failed.push((p, ErrorCode::UserAlreadyExists));
                            } else {
                                p.attempts += 1;
                                retry.push(p);
                            }
                        }
                    }
                    Err(CommitError::Unavailable(e)) => {
                        if let Some(suppressed) = FAILED_GROUP_LOG.allow() {
                            log::error!(
                                "a group of {} answers was not committed: {e} ({suppressed} more such groups in the last second)",
                                decided.len()
                            );
                        }
                        failed.extend(
                            decided
                                .into_iter()
                                .map(|(p, _)| (p, ErrorCode::StoreUnavailable)),
                        );
                    }
                    Err(CommitError::Unknown(e)) => {
                        log::error!(
                            "a group of {} answers may or may not be committed: {e}",
                            decided.len()
                        );
                        failed.extend(
                            decided
                                .into_iter()
                                .map(|(p, _)| (p, ErrorCode::StoreOutcomeUnknown)),
                        );
                    }
                }
                // The actor first, so that a caller retrying at once meets a shard that knows.
                me.do_send(Committed {
                    outcome: group_outcome,
                    retry,
                });
                for (p, code) in failed {
                    let _ = p.reply.send(Err(code.into()));
                }
            }),
        );
    }
}

/// Decide one request on the records read (updated with the group's earlier changes).
fn decide_one(
    request: &Request,
    records: &mut Records,
    now: Timestamp,
    changes: &mut Vec<Change>,
) -> Reply {
    let current = records
        .get(request.user_id())
        .cloned()
        .unwrap_or(Ok(None))?;
    match request {
        // Exists (404), then permission (403), then state (400): a caller without permission
        // never learns a user's state.
        Request::Change { op, access, .. } => {
            let user = match current {
                Some(user) if domain::is_live(&user) => user,
                _ => return Err(domain::not_found_error(*op).into()),
            };
            if !access.allows(&user) {
                return Err(ErrorCode::PermissionDenied.into());
            }
            // Keep a user's change dates in order even if the clock steps back.
            let at = now.max(user.changed_at);
            let mut event =
                domain::decide(*op, &user, at).map_err(|e| ApiError::from(e.error_code()))?;
            event.editor.clone_from(&access.editor);
            Ok(stage_events(user, vec![event], records, changes))
        }
        Request::Edit { edit, access, .. } => {
            let user = match current {
                Some(user) if domain::is_live(&user) => user,
                _ => return Err(edit.not_found().into()),
            };
            if !access.allows(&user) {
                return Err(ErrorCode::PermissionDenied.into());
            }
            let mut events = domain::decide_edit(edit, &user, now).map_err(ApiError::from)?;
            for event in &mut events {
                event.editor.clone_from(&access.editor);
            }
            // No events: nothing changes, and the answer is the user as it is.
            Ok(stage_events(user, events, records, changes))
        }
        Request::Create(new, follow_up) => {
            if current.is_some() {
                return Err(ErrorCode::UserAlreadyExists.into());
            }
            let (user, event) = domain::create(new.clone(), now);
            // Decided in full before anything is staged: a refused follow-up refuses the create.
            let mut follow_ups = match follow_up {
                None => Vec::new(),
                Some(edit) => domain::decide_edit(edit, &user, now).map_err(ApiError::from)?,
            };
            for event in &mut follow_ups {
                event.editor.clone_from(&new.editor);
            }
            records.insert(user.id.clone(), Ok(Some(user.clone())));
            changes.push(Change {
                before: None,
                event,
                after: user.clone(),
            });
            Ok(stage_events(user, follow_ups, records, changes))
        }
    }
}

/// Stage `events` (decided in order on `user`, its record as the decision saw it) one after
/// the other: the record each leaves is what later decisions of this group see, and the
/// changes join the group. Answers the details after the last (the user's, with none).
fn stage_events(
    mut user: User,
    events: Vec<domain::Event>,
    records: &mut Records,
    changes: &mut Vec<Change>,
) -> ChangeDetails {
    for event in events {
        let next = domain::apply(&user, &event);
        changes.push(Change {
            before: Some(user),
            event,
            after: next.clone(),
        });
        user = next;
    }
    let details = ChangeDetails::of(&user);
    records.insert(user.id.clone(), Ok(Some(user)));
    details
}

/// Every shard's actor address.
#[derive(Clone, Debug)]
pub struct Shards {
    actors: Vec<Addr<UserActor>>,
    mailboxes: Vec<Arc<Mailbox>>,
}

impl Shards {
    /// Start one actor per shard of `store`, spread over `threads` arbiters (actors never block
    /// on a commit, so a few threads serve many shards).
    pub fn start(
        store: Arc<dyn Backend>,
        threads: usize,
        routes: Arc<Routes>,
    ) -> (Shards, Vec<Arbiter>) {
        let shard_count = store.shard_count();
        let arbiters: Vec<Arbiter> = (0..threads.clamp(1, shard_count.max(1)))
            .map(|_| Arbiter::new())
            .collect();
        let mut actors = Vec::with_capacity(shard_count);
        let mut mailboxes = Vec::with_capacity(shard_count);
        for (shard, arbiter) in (0..shard_count).zip(arbiters.iter().cycle()) {
            let mailbox = Arc::new(Mailbox::new(
                MAILBOX_CAPACITY,
                crate::metrics::get().map(|m| m.shard_mailbox(shard)),
            ));
            let actor = UserActor {
                shard,
                store: store.clone(),
                routes: routes.clone(),
                undecided: Vec::new(),
                staged: Staged::default(),
                in_flight: None,
                reading: false,
                launch_scheduled: false,
                mailbox: mailbox.clone(),
                pause: None,
            };
            actors.push(UserActor::start_in_arbiter(&arbiter.handle(), move |_| {
                actor
            }));
            mailboxes.push(mailbox);
        }
        (Shards { actors, mailboxes }, arbiters)
    }

    fn shard_of(&self, user_id: &str) -> usize {
        store::shard_of(user_id, self.actors.len())
    }

    /// Send what `make` builds to the actor that owns `user_id` and wait for the answer, which
    /// the store's completion sends straight back to this task.
    async fn request<M>(
        &self,
        user_id: &str,
        make: impl FnOnce(oneshot::Sender<Reply>) -> M,
    ) -> Reply
    where
        M: Message<Result = ()> + Send + 'static,
        UserActor: Handler<M>,
    {
        let (tx, rx) = oneshot::channel();
        let shard = self.shard_of(user_id);
        let (Some(actor), Some(mailbox)) = (self.actors.get(shard), self.mailboxes.get(shard))
        else {
            return Err(ErrorCode::Internal.into());
        };
        if !mailbox.try_enter() {
            return Err(ErrorCode::Overloaded.into());
        }
        // `do_send` ignores actix's own capacity; the place taken above is the bound.
        actor.do_send(make(tx));
        rx.await
            .unwrap_or_else(|_| Err(ErrorCode::ShuttingDown.into()))
    }

    /// `op` on `user_id`, for a caller with `access`.
    pub async fn change(&self, op: Operation, user_id: String, access: Access) -> Reply {
        let id = user_id.clone();
        match op {
            Operation::Deactivate => {
                self.request(&id, |reply| Deactivate {
                    user_id,
                    access,
                    reply,
                })
                .await
            }
            Operation::Reactivate => {
                self.request(&id, |reply| Reactivate {
                    user_id,
                    access,
                    reply,
                })
                .await
            }
            Operation::Lock => {
                self.request(&id, |reply| Lock {
                    user_id,
                    access,
                    reply,
                })
                .await
            }
            Operation::Unlock => {
                self.request(&id, |reply| Unlock {
                    user_id,
                    access,
                    reply,
                })
                .await
            }
            Operation::Delete => {
                self.request(&id, |reply| Delete {
                    user_id,
                    access,
                    reply,
                })
                .await
            }
        }
    }

    /// Create `user` (its id not yet taken, or 409), keeping `hold` alive until the creation is
    /// decided and durable, even if the caller stops waiting.
    /// Edit a user's data; the shard checks existence, then `access`, then the edit. `hold`
    /// lives until the edit is decided and durable, even if the caller stops waiting.
    pub async fn edit(
        &self,
        edit: Edit,
        user_id: String,
        access: Access,
        hold: Option<Hold>,
    ) -> Reply {
        let id = user_id.clone();
        self.request(&id, |reply| EditUser {
            edit,
            user_id,
            access,
            reply,
            hold,
        })
        .await
    }

    pub async fn create(
        &self,
        user: NewUser,
        follow_up: Option<Edit>,
        hold: Option<Hold>,
    ) -> Reply {
        let id = user.id.clone();
        self.request(&id, |reply| Create {
            user,
            follow_up,
            reply,
            hold,
        })
        .await
    }

    /// Pause every shard (see [`Pause`]) and wait until all are quiet; they decide again when
    /// the guard is dropped.
    pub async fn pause(&self) -> Paused {
        let mut waits = Vec::with_capacity(self.actors.len());
        for actor in &self.actors {
            let (quiet, wait) = oneshot::channel();
            actor.do_send(Pause { quiet });
            waits.push(wait);
        }
        let paused = Paused {
            actors: self.actors.clone(),
        };
        for wait in waits {
            // A stopped actor decides nothing either.
            let _ = wait.await;
        }
        paused
    }

    /// Whether every actor answers within `timeout`.
    pub async fn all_answer(&self, timeout: std::time::Duration) -> bool {
        for actor in &self.actors {
            match tokio::time::timeout(timeout, actor.send(Ping)).await {
                Ok(Ok(_)) => {}
                _ => return false,
            }
        }
        true
    }
}

/// Every shard paused; dropping it lets them decide again.
#[derive(Debug)]
pub struct Paused {
    actors: Vec<Addr<UserActor>>,
}

impl Drop for Paused {
    fn drop(&mut self) {
        for actor in &self.actors {
            actor.do_send(Resume);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LogLimit;
    use std::sync::atomic::Ordering;

    #[test]
    fn log_limit_lets_one_line_through_a_second_and_counts_the_rest() {
        let limit = LogLimit::new();
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), None);
        assert_eq!(limit.allow(), None);
        // A second later (the clock moved past the recorded second).
        limit.last_second.store(0, Ordering::Relaxed);
        assert_eq!(limit.allow(), Some(2));
        assert_eq!(limit.allow(), None);
    }
}
