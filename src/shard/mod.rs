//! Shards: one `UserActor` per shard is the only writer of that shard's users, and a single
//! flusher thread makes their changes durable with one sled flush shared by every shard.
//!
//! Group commit: an actor stages every change waiting in its mailbox (the mailbox is drained
//! before the actor's own `Commit` notification runs), writes them (one sled insert per change),
//! and hands the answers to the flusher, which takes the groups of every shard, flushes once,
//! and only then answers.
//!
//! Each shard has at most one group in flight: while its flush runs, new changes are decided and
//! staged in memory, and written when the flush returns. So a failed flush only ever has one
//! group per shard to undo (removing its change keys puts each user back where it was), and the
//! changes staged on top of it fail with it: none of them is applied, none is answered 200. With
//! nothing in flight, every state the actor reads is durable, so refusals are answered at once.

mod flusher;

use crate::auth::OrgScope;
use crate::domain::{self, NewUser, Operation, Timestamp, User, UserState};
use crate::error::{self, ApiError};
use crate::store::{self, Store, StoreError};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
pub use tokio::sync::oneshot;

use flusher::FlushJob;
pub use flusher::{Durability, Flusher};

/// What every accepted change answers: the user's new sequence, the event's time and the
/// user's organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeDetails {
    pub sequence: u64,
    pub changed_at: Timestamp,
    pub org: String,
}

pub type Reply = Result<ChangeDetails, ApiError>;

/// An answer waiting for the flush that covers it.
pub(crate) type Waiting = (oneshot::Sender<Reply>, Reply);

/// Map a store failure to the wire: unreadable data is an internal error (logged with its key),
/// anything else means the store cannot serve writes right now.
pub fn store_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::Corrupt { .. } => {
            log::error!("{e}");
            error::INTERNAL.into()
        }
        _ => {
            log::error!("{e}");
            error::STORE_UNAVAILABLE.into()
        }
    }
}

macro_rules! lifecycle_messages {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pub user_id: String,
            /// Organizations in which the caller holds the permission this operation needs.
            pub scope: OrgScope,
            /// Where the answer goes once the change is durable.
            pub reply: oneshot::Sender<Reply>,
        }

        impl Message for $name {
            type Result = ();
        }

        impl Handler<$name> for UserActor {
            type Result = ();

            fn handle(&mut self, msg: $name, ctx: &mut Context<Self>) {
                self.mailbox.fetch_sub(1, Ordering::Relaxed);
                let reply = self.change($op, &msg.user_id, &msg.scope);
                self.answer_after_commit(msg.reply, reply, ctx);
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

/// Create a user. The caller has already checked the permission on `user.org`.
#[derive(Debug)]
pub struct Create {
    pub user: NewUser,
    pub reply: oneshot::Sender<Reply>,
}

impl Message for Create {
    type Result = ();
}

/// Answers once the actor has drained its mailbox: used by readiness checks.
#[derive(Debug)]
pub struct Ping;

impl Message for Ping {
    type Result = usize;
}

/// Self-notification that runs after the mailbox is drained.
struct Commit;

impl Message for Commit {
    type Result = ();
}

/// From the flusher: the flush covering this shard's batch in flight returned. On failure the
/// batch's answers come back, to be sent after the batch is undone.
pub(crate) struct Flushed {
    pub(crate) failed: Option<Vec<Waiting>>,
}

impl Message for Flushed {
    type Result = ();
}

/// A user's state before a change (None: the change created it) and after.
pub(crate) type StateMove = (Option<UserState>, UserState);

/// Changes decided since the last write, kept in memory.
#[derive(Default)]
struct Staged {
    /// The events and records to insert, in order.
    writes: Vec<(Vec<u8>, Vec<u8>)>,
    /// What takes them back.
    undo: store::Undo,
    /// Records as staged, so later changes in the same batch see them.
    users: HashMap<String, User>,
    /// State moves of the staged changes (None: a creation), counted once durable.
    moves: Vec<StateMove>,
    waiting: Vec<Waiting>,
}

/// The only writer of one shard.
pub struct UserActor {
    shard: usize,
    tree: sled::Tree,
    store: Store,
    flusher: Flusher,
    durability: Durability,
    staged: Staged,
    /// The undo list of the group written to sled whose flush has not returned yet.
    in_flight: Option<store::Undo>,
    /// Messages sent to this actor and not yet handled (a metric).
    mailbox: &'static AtomicI64,
    commit_scheduled: bool,
    /// Where the flusher reports back (set when the actor starts).
    me: Option<Recipient<Flushed>>,
}

impl std::fmt::Debug for UserActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserActor")
            .field("shard", &self.shard)
            .field("staged", &self.staged.waiting.len())
            .field("in_flight", &self.in_flight.is_some())
            .finish()
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Routes use `do_send`, which the mailbox capacity does not limit.
        self.me = Some(ctx.address().recipient());
    }
}

/// Count durable state moves in the users-by-state gauges.
pub(crate) fn count_moves(moves: &[StateMove]) {
    let metrics = crate::metrics::get();
    for (from, to) in moves {
        metrics.user_moved(*from, *to);
    }
}

fn answer_all(waiting: Vec<Waiting>, with: impl Fn() -> ApiError) {
    for (tx, _) in waiting {
        let _ = tx.send(Err(with()));
    }
}

impl UserActor {
    pub fn new(
        shard: usize,
        store: Store,
        flusher: Flusher,
        durability: Durability,
        mailbox: &'static AtomicI64,
    ) -> Option<Self> {
        Some(UserActor {
            mailbox,
            shard,
            tree: store.shard_tree(shard)?.clone(),
            store,
            flusher,
            durability,
            staged: Staged::default(),
            in_flight: None,
            commit_scheduled: false,
            me: None,
        })
    }

    /// The user as the next change must see it: staged, else stored.
    fn current(&self, id: &str) -> Result<Option<User>, ApiError> {
        if let Some(user) = self.staged.users.get(id) {
            return Ok(Some(user.clone()));
        }
        store::get_user_in(&self.tree, id).map_err(|e| store_error(&e))
    }

    /// Stage `user`'s new record and `event`; `before` is the record before this change.
    fn stage(&mut self, before: Option<&User>, user: User, event: &domain::Event) -> ChangeDetails {
        let staged = &mut self.staged;
        let first_in_group = !staged.users.contains_key(&user.id);
        store::stage_change(
            &mut staged.writes,
            Some(&mut staged.undo),
            &user,
            event,
            first_in_group.then_some(before),
        );
        staged.moves.push((before.map(|b| b.state), user.state));
        let details = ChangeDetails {
            sequence: user.sequence,
            changed_at: user.changed_at,
            org: user.org.clone(),
        };
        staged.users.insert(user.id.clone(), user);
        details
    }

    /// Exists (404), then permission (403), then state (400): a caller without permission never
    /// learns a user's state.
    fn change(&mut self, op: Operation, id: &str, scope: &OrgScope) -> Reply {
        let user = match self.current(id)? {
            Some(user) if domain::is_live(&user) => user,
            _ => return Err(domain::not_found_error(op).into()),
        };
        if !scope.allows(&user.org) {
            return Err(error::PERMISSION_DENIED.into());
        }
        // Keep a user's change dates in order even if the clock steps back.
        let now = Timestamp::now().max(user.changed_at);
        let event = domain::decide(op, &user, now).map_err(|e| ApiError::from(e.error_def()))?;
        let next = domain::apply(&user, &event);
        Ok(self.stage(Some(&user), next, &event))
    }

    fn create(&mut self, new: NewUser) -> Reply {
        if self.current(&new.id)?.is_some() {
            return Err(error::USER_ALREADY_EXISTS.into());
        }
        let (user, event) = domain::create(new, Timestamp::now());
        Ok(self.stage(None, user, &event))
    }

    /// Queue `reply` for the commit that runs once the mailbox is drained.
    fn answer_after_commit(
        &mut self,
        to: oneshot::Sender<Reply>,
        reply: Reply,
        ctx: &mut Context<Self>,
    ) {
        self.staged.waiting.push((to, reply));
        if !self.commit_scheduled {
            self.commit_scheduled = true;
            ctx.notify(Commit);
        }
    }

    /// Write what is staged as one batch and hand it to the flusher; with nothing to write,
    /// answer at once (nothing is in flight, so every state read was durable).
    fn launch(&mut self) {
        if self.in_flight.is_some() || self.staged.waiting.is_empty() {
            return;
        }
        let staged = std::mem::take(&mut self.staged);
        if staged.users.is_empty() {
            self.flusher.answer(staged.waiting);
            return;
        }
        if let Err(e) = self.store.write(&self.tree, &staged.writes) {
            // Take back whatever was written: none of the changes is applied.
            self.store.undo(&self.tree, &staged.undo);
            log::error!("shard {}: writing a batch failed: {e}", self.shard);
            answer_all(staged.waiting, || error::STORE_UNAVAILABLE.into());
            return;
        }
        crate::metrics::get()
            .batch_size
            .observe(staged.waiting.len() as f64);
        match self.durability {
            Durability::Periodic => {
                count_moves(&staged.moves);
                self.flusher.answer(staged.waiting)
            }
            Durability::Fsync => match &self.me {
                Some(me) => {
                    self.in_flight = Some(staged.undo);
                    self.flusher.submit(FlushJob {
                        waiting: staged.waiting,
                        moves: staged.moves,
                        shard: me.clone(),
                    });
                }
                // Not reachable: the actor runs only after `started`.
                None => answer_all(staged.waiting, || error::INTERNAL.into()),
            },
        }
    }
}

impl Handler<Create> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Create, ctx: &mut Context<Self>) {
        self.mailbox.fetch_sub(1, Ordering::Relaxed);
        let reply = self.create(msg.user);
        self.answer_after_commit(msg.reply, reply, ctx);
    }
}

impl Handler<Ping> for UserActor {
    type Result = usize;

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> usize {
        self.shard
    }
}

impl Handler<Commit> for UserActor {
    type Result = ();

    fn handle(&mut self, _: Commit, _: &mut Context<Self>) {
        self.commit_scheduled = false;
        // With a batch in flight, what is staged waits for its flush.
        self.launch();
    }
}

impl Handler<Flushed> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Flushed, _: &mut Context<Self>) {
        let in_flight = self.in_flight.take();
        if let Some(failed) = msg.failed {
            if let Some(undo) = in_flight {
                self.store.undo(&self.tree, &undo);
            }
            answer_all(failed, || error::STORE_UNAVAILABLE.into());
            // What was staged meanwhile was decided on top of the undone batch.
            let staged = std::mem::take(&mut self.staged);
            answer_all(staged.waiting, || error::STORE_UNAVAILABLE.into());
        }
        self.launch();
    }
}

/// Every shard's actor address, and the store for reads.
#[derive(Clone, Debug)]
pub struct Shards {
    pub store: Store,
    actors: Vec<Addr<UserActor>>,
    mailboxes: Vec<&'static AtomicI64>,
}

impl Shards {
    /// Start one actor per shard, spread over `threads` arbiters (actors never block on a
    /// flush, so a few threads serve many shards).
    pub fn start(
        store: Store,
        flusher: Flusher,
        durability: Durability,
        threads: usize,
    ) -> (Shards, Vec<Arbiter>) {
        let arbiters: Vec<Arbiter> = (0..threads.clamp(1, store.shard_count()))
            .map(|_| Arbiter::new())
            .collect();
        let mailboxes: Vec<&'static AtomicI64> = (0..store.shard_count())
            .map(|_| crate::metrics::get().register_shard())
            .collect();
        let actors = (0..store.shard_count())
            .filter_map(|shard| {
                let actor = UserActor::new(
                    shard,
                    store.clone(),
                    flusher.clone(),
                    durability,
                    mailboxes.get(shard)?,
                )?;
                let arbiter = &arbiters[shard % arbiters.len()];
                Some(UserActor::start_in_arbiter(&arbiter.handle(), move |_| {
                    actor
                }))
            })
            .collect();
        (
            Shards {
                store,
                actors,
                mailboxes,
            },
            arbiters,
        )
    }

    /// The actor that owns `user_id`.
    pub fn actor_for(&self, user_id: &str) -> &Addr<UserActor> {
        &self.actors[self.store.shard_of(user_id)]
    }

    /// Send the message `make` builds to the actor that owns `user_id`, and wait for the answer,
    /// which the flusher (or, on failure, the actor) sends straight back to this task.
    pub async fn request<M>(
        &self,
        user_id: &str,
        make: impl FnOnce(oneshot::Sender<Reply>) -> M,
    ) -> Reply
    where
        M: Message<Result = ()> + Send + 'static,
        UserActor: Handler<M>,
    {
        let (tx, rx) = oneshot::channel();
        let shard = self.store.shard_of(user_id);
        if let Some(depth) = self.mailboxes.get(shard) {
            depth.fetch_add(1, Ordering::Relaxed);
        }
        self.actor_for(user_id).do_send(make(tx));
        rx.await
            .unwrap_or_else(|_| Err(error::SHUTTING_DOWN.into()))
    }

    pub fn actors(&self) -> &[Addr<UserActor>] {
        &self.actors
    }
}
