//! The operations every surface shares (v3alpha and v2 REST, and the RPC protocols in front of
//! them): send a change to the owning shard, create a user, read one, list many.
//!
//! Surfaces differ only in how they parse requests and shape answers; the rules live here and
//! in the shard actors, once.

use super::AppState;
use crate::auth::{Caller, OrgScope, Permission};
use crate::domain::{self, NewUser, Operation, Profile, User, UserState};
use crate::error::{self, ApiError};
use crate::shard::{self, ChangeDetails, Create};

/// The permission an operation needs.
pub fn permission_for(op: Operation) -> Permission {
    match op {
        Operation::Delete => Permission::Delete,
        _ => Permission::Write,
    }
}

/// Send `op` on `user_id` to the shard that owns it; the actor checks existence, then
/// `scope`, then the state.
pub async fn change(
    state: &AppState,
    op: Operation,
    user_id: &str,
    scope: OrgScope,
) -> Result<ChangeDetails, ApiError> {
    let user_id = user_id.to_string();
    let shards = &state.shards;
    let id = user_id.as_str();
    match op {
        Operation::Deactivate => {
            shards
                .request(id, |reply| shard::Deactivate {
                    user_id: user_id.clone(),
                    scope,
                    reply,
                })
                .await
        }
        Operation::Reactivate => {
            shards
                .request(id, |reply| shard::Reactivate {
                    user_id: user_id.clone(),
                    scope,
                    reply,
                })
                .await
        }
        Operation::Lock => {
            shards
                .request(id, |reply| shard::Lock {
                    user_id: user_id.clone(),
                    scope,
                    reply,
                })
                .await
        }
        Operation::Unlock => {
            shards
                .request(id, |reply| shard::Unlock {
                    user_id: user_id.clone(),
                    scope,
                    reply,
                })
                .await
        }
        Operation::Delete => {
            shards
                .request(id, |reply| shard::Delete {
                    user_id: user_id.clone(),
                    scope,
                    reply,
                })
                .await
        }
    }
}

/// Create a user with `client_id` (or a generated id) in `org`; the caller's permission on
/// `org` must already be checked. A generated id that is taken (the clock stepped back) is
/// drawn again.
pub async fn create(
    state: &AppState,
    client_id: Option<String>,
    org: String,
    initial_state: UserState,
    profile: Profile,
) -> Result<(String, ChangeDetails), ApiError> {
    let username = match &profile {
        Profile::V2(human) if !human.username.is_empty() => Some(human.username.clone()),
        _ => None,
    };
    // Held until the create is answered: no other create in this process claims the name.
    let _pending = match &username {
        Some(name) => Some(PendingUsername::take(state, name)?),
        None => None,
    };
    for _ in 0..8 {
        let id = client_id.clone().unwrap_or_else(|| state.ids.next_id());
        if let Some(name) = &username {
            claim_username(state, name, &id)?;
        }
        let user = NewUser {
            id: id.clone(),
            org: org.clone(),
            initial_state,
            profile: profile.clone(),
        };
        let created = state
            .shards
            .request(&id, |reply| Create { user, reply })
            .await;
        if created.is_err() {
            if let Some(name) = &username {
                // Best effort: a claim left behind points at a user that does not exist, and
                // such a claim is free for the next create.
                let _ = state.shards.store.swap_username(name, Some(&id), None);
            }
        }
        match created {
            Ok(details) => return Ok((id, details)),
            Err(e) if e.id == error::USER_ALREADY_EXISTS.id && client_id.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(error::INTERNAL.into())
}

/// A username some create in this process is claiming right now.
struct PendingUsername<'a> {
    state: &'a AppState,
    name: String,
}

impl<'a> PendingUsername<'a> {
    fn take(state: &'a AppState, name: &str) -> Result<Self, ApiError> {
        let mut pending = state
            .pending_usernames
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !pending.insert(name.to_string()) {
            return Err(error::USER_ALREADY_EXISTS.into());
        }
        Ok(PendingUsername {
            state,
            name: name.to_string(),
        })
    }
}

impl Drop for PendingUsername<'_> {
    fn drop(&mut self) {
        self.state
            .pending_usernames
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.name);
    }
}

/// Claim `name` for the user `id` about to be created. Usernames are unique across the
/// instance, as under ZITADEL's default domain policy; a name whose holder no longer exists
/// (deleted, or never created because its create failed) is free again. The caller holds the
/// name's `PendingUsername`, so nothing else in the process moves the claim meanwhile (and only
/// one process opens a store).
fn claim_username(state: &AppState, name: &str, id: &str) -> Result<(), ApiError> {
    let store = &state.shards.store;
    let holder = store
        .username_holder(name)
        .map_err(|e| shard::store_error(&e))?;
    if let Some(holder) = &holder {
        let live = store
            .get_user(holder)
            .map_err(|e| shard::store_error(&e))?
            .is_some_and(|u| domain::is_live(&u));
        if live {
            return Err(error::USER_ALREADY_EXISTS.into());
        }
    }
    match store.swap_username(name, holder.as_deref(), Some(id)) {
        Ok(true) => Ok(()),
        Ok(false) => Err(error::USER_ALREADY_EXISTS.into()),
        Err(e) => Err(shard::store_error(&e)),
    }
}

/// A live user the caller may read (404 before 403). `self_allowed`: the caller may read its
/// own user without permission (v2's rule).
pub fn readable_user(
    state: &AppState,
    id: &str,
    caller: &Caller,
    self_allowed: bool,
) -> Result<User, ApiError> {
    let user = state
        .shards
        .store
        .get_user(id)
        .map_err(|e| shard::store_error(&e))?
        .filter(domain::is_live)
        .ok_or_else(|| ApiError::from(error::READ_NOT_FOUND))?;
    let own = self_allowed && caller.subject == user.id;
    if !own && !caller.scope(Permission::Read).allows(&user.org) {
        return Err(error::PERMISSION_DENIED.into());
    }
    Ok(user)
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    pub total: usize,
    pub users: Vec<User>,
}

/// Ordering and paging of a listing.
#[derive(Clone, Copy, Debug)]
pub struct Paging {
    pub offset: u64,
    pub limit: u64,
    pub asc: bool,
}

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// Every live user the caller may read that passes `keep`, newest first unless `asc` (the id
/// breaks ties so pages are stable), then the page `paging` asks for.
pub fn list(
    state: &AppState,
    caller: &Caller,
    keep: impl Fn(&User) -> bool,
    paging: Paging,
) -> Result<Page, ApiError> {
    let scope = caller.scope(Permission::Read);
    let store = &state.shards.store;
    let mut found = Vec::new();
    for shard in 0..store.shard_count() {
        for user in store.shard_users(shard) {
            let user = user.map_err(|e| shard::store_error(&e))?;
            if domain::is_live(&user) && scope.allows(&user.org) && keep(&user) {
                found.push(user);
            }
        }
    }
    found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    if !paging.asc {
        found.reverse();
    }
    let total = found.len();
    let users = found
        .into_iter()
        .skip(usize::try_from(paging.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(paging.limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Page { total, users })
}
