//! Shards: one `UserActor` per shard is the only writer of that shard's users, and a single
//! flusher thread makes their changes durable with one sled flush shared by every shard.
//!
//! Group commit: an actor stages every change waiting in its mailbox into one sled batch (the
//! mailbox is drained before the actor's own `Commit` notification runs), applies the batch, then
//! hands the waiting answers to the flusher. The flusher takes everything queued by every shard,
//! flushes once, and only then answers. No answer (not even a refusal, which may rest on a change
//! not yet flushed) leaves before the flush that covers what it saw.

mod flusher;

use crate::auth::OrgScope;
use crate::domain::{self, NewUser, Operation, Timestamp, User};
use crate::error::{self, ApiError};
use crate::store::{self, Store, StoreError};
use actix::prelude::*;
use std::collections::HashMap;
pub use tokio::sync::oneshot;

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

/// The only writer of one shard.
pub struct UserActor {
    shard: usize,
    tree: sled::Tree,
    flusher: Flusher,
    /// Changes staged since the last commit, applied as one sled batch.
    batch: sled::Batch,
    /// Records staged in `batch`, so later changes in the same batch see them.
    staged: HashMap<String, User>,
    waiting: Vec<Waiting>,
    commit_scheduled: bool,
}

impl std::fmt::Debug for UserActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserActor")
            .field("shard", &self.shard)
            .field("staged", &self.staged.len())
            .finish()
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Routes wait for their answer; a full mailbox would only add latency.
        ctx.set_mailbox_capacity(usize::MAX);
    }
}

impl UserActor {
    pub fn new(shard: usize, tree: sled::Tree, flusher: Flusher) -> Self {
        UserActor {
            shard,
            tree,
            flusher,
            batch: sled::Batch::default(),
            staged: HashMap::new(),
            waiting: Vec::new(),
            commit_scheduled: false,
        }
    }

    /// The user as the next change must see it: staged in this batch, else stored.
    fn current(&self, id: &str) -> Result<Option<User>, ApiError> {
        if let Some(user) = self.staged.get(id) {
            return Ok(Some(user.clone()));
        }
        store::get_user_in(&self.tree, id).map_err(|e| store_error(&e))
    }

    fn stage(&mut self, user: User, event: &domain::Event) -> ChangeDetails {
        store::stage_change(&mut self.batch, &user, event);
        let details = ChangeDetails {
            sequence: user.sequence,
            changed_at: user.changed_at,
            org: user.org.clone(),
        };
        self.staged.insert(user.id.clone(), user);
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
        Ok(self.stage(next, &event))
    }

    fn create(&mut self, new: NewUser) -> Reply {
        if self.current(&new.id)?.is_some() {
            return Err(error::USER_ALREADY_EXISTS.into());
        }
        let (user, event) = domain::create(new, Timestamp::now());
        Ok(self.stage(user, &event))
    }

    /// Queue `reply` for the commit that runs once the mailbox is drained.
    fn answer_after_commit(
        &mut self,
        to: oneshot::Sender<Reply>,
        reply: Reply,
        ctx: &mut Context<Self>,
    ) {
        self.waiting.push((to, reply));
        if !self.commit_scheduled {
            self.commit_scheduled = true;
            ctx.notify(Commit);
        }
    }
}

impl Handler<Create> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Create, ctx: &mut Context<Self>) {
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
        let mut waiting = std::mem::take(&mut self.waiting);
        let batch = std::mem::take(&mut self.batch);
        let had_writes = !self.staged.is_empty();
        self.staged.clear();
        if had_writes {
            if let Err(e) = self.tree.apply_batch(batch) {
                // The batch is atomic: none of its changes were applied.
                log::error!("shard {}: writing a batch failed: {e}", self.shard);
                for (_, reply) in waiting.iter_mut() {
                    if reply.is_ok() {
                        *reply = Err(error::STORE_UNAVAILABLE.into());
                    }
                }
            }
        }
        self.flusher.submit(waiting);
    }
}

/// Every shard's actor address, and the store for reads.
#[derive(Clone, Debug)]
pub struct Shards {
    pub store: Store,
    actors: Vec<Addr<UserActor>>,
}

impl Shards {
    /// Start one actor per shard, spread over `threads` arbiters (actors never block on a
    /// flush, so a few threads serve many shards).
    pub fn start(store: Store, flusher: Flusher, threads: usize) -> (Shards, Vec<Arbiter>) {
        let arbiters: Vec<Arbiter> = (0..threads.clamp(1, store.shard_count()))
            .map(|_| Arbiter::new())
            .collect();
        let actors = (0..store.shard_count())
            .filter_map(|shard| {
                let tree = store.shard_tree(shard)?.clone();
                let flusher = flusher.clone();
                let arbiter = &arbiters[shard % arbiters.len()];
                Some(UserActor::start_in_arbiter(&arbiter.handle(), move |_| {
                    UserActor::new(shard, tree, flusher)
                }))
            })
            .collect();
        (Shards { store, actors }, arbiters)
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
        self.actor_for(user_id).do_send(make(tx));
        rx.await
            .unwrap_or_else(|_| Err(error::SHUTTING_DOWN.into()))
    }

    pub fn actors(&self) -> &[Addr<UserActor>] {
        &self.actors
    }
}
