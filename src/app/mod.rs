//! The application core: one typed request per operation, and the one path every surface takes
//! from it to an answer. Authentication (the token, then its subject's state) and authorization
//! are decided here, once, for every surface and protocol.
//!
//! Surfaces hand in requests that already passed their shape checks; the core then checks, in
//! the contract's order, the token (401), the target organization's permission for creates
//! (403), and sends changes to the shard that owns the user, which checks existence (404),
//! permission (403) and state (400). Reads go to the store, which only holds durable changes.

mod actions;
mod administrators;
mod credentials;
mod data_tools;
mod edit;
mod history;
mod requests;
pub mod secrets;

pub use actions::{ConditionInput, NewTarget, TargetPatch, Webhooks, MAX_TIMEOUT_MS};
pub use administrators::{
    AdminFilter, AdminSort, AdminUser, Administrator, AdministratorPage, GrantRoles,
    ListAdministrators,
};
pub use credentials::{
    AddKey, AddToken, CredentialFilter, CredentialInfo, CredentialKind, CredentialPage,
    ListCredentials, NewKey, NewToken, TimeCmp, TimeFilter,
};
pub use edit::{CodeDelivery, EditUser, Edited, NewPassword, ProofInput, UserChange};
pub use history::{page_size, UserChanges, MAX_EVENTS};
pub use requests::*;

use crate::auth::{self, Caller, Verifier};
use crate::domain::{
    self, Access, ChangeDetails, HumanProfile, NewUser, OrgScope, Permission, Profile, User,
    UserState,
};
use crate::error::{ApiError, ErrorCode};
use crate::id::IdGenerator;
use crate::shard::{read_error, store_error, Shards};
use crate::store::{Backend, ListQuery, Page};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What a request carries besides its message: from headers, whatever the protocol.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The `Authorization` header's value (None when absent; a value that is not text is
    /// passed as an empty string, which fails as an invalid token).
    pub authorization: Option<String>,
    /// `x-zitadel-orgid`, if set and not empty.
    pub org_header: Option<String>,
}

/// The core: the store, the shard actors in front of it, and who may do what.
#[derive(Debug)]
pub struct Core {
    store: Arc<dyn Backend>,
    shards: Shards,
    verifier: Verifier,
    ids: IdGenerator,
    /// Usernames claimed by creates in flight (with the store's index, names are unique).
    claims: Arc<Mutex<Claims>>,
    /// Password hashes computed at once, at most (Argon2id takes 19 MiB and tens of ms each).
    hashing: tokio::sync::Semaphore,
    /// How long a one-time code stays valid.
    pub code_lifetime_seconds: i64,
    /// Where codes to send go.
    pub notifier: crate::notify::Notifier,
    /// Edits of the members file (and of webhook settings), one at a time.
    member_edits: tokio::sync::Mutex<()>,
    /// Webhook targets and executions, and the rules for their endpoints.
    pub webhooks: Webhooks,
    /// Resets to the seed and backups, one at a time.
    resets: tokio::sync::Mutex<()>,
}

impl Core {
    pub fn new(store: Arc<dyn Backend>, shards: Shards, verifier: Verifier) -> Core {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Core {
            store,
            shards,
            verifier,
            ids: IdGenerator::new(),
            claims: Arc::default(),
            hashing: tokio::sync::Semaphore::new(cores),
            code_lifetime_seconds: 3600,
            notifier: crate::notify::Notifier::log_only(),
            member_edits: tokio::sync::Mutex::new(()),
            webhooks: Webhooks::default(),
            resets: tokio::sync::Mutex::new(()),
        }
    }

    /// The caller of a request: a valid token (401 otherwise) whose subject, if it is a userd
    /// user, is active and has not been deactivated, locked or deleted since the token was
    /// issued. The subject's durable record is read on every request.
    pub async fn authenticate(&self, ctx: &RequestContext) -> Result<Arc<Caller>, ApiError> {
        let result: Result<Arc<Caller>, ApiError> = async {
            let token = auth::bearer_token(ctx.authorization.as_deref())?;
            if auth::pat::looks_like_pat(token) {
                return self.authenticate_pat(token).await;
            }
            let caller = auth::authenticate(ctx.authorization.as_deref(), &self.verifier).await?;
            let subject = self
                .store
                .user(&caller.subject)
                .await
                .map_err(|e| read_error(&e))?;
            auth::check_subject(&caller, subject.as_ref())?;
            Ok(caller)
        }
        .await;
        if let Err(e) = &result {
            let reason = match e.code {
                ErrorCode::AuthHeaderMissing => "missing",
                ErrorCode::SubjectNotActive => "subject_not_active",
                ErrorCode::TokenRevoked => "revoked",
                ErrorCode::TokenInvalid => "invalid",
                _ => "other",
            };
            if let Some(m) = crate::metrics::get() {
                m.token_rejected(reason);
            }
        }
        result
    }

    /// Create a user: token, target organization and its permission, a free username, then
    /// the shard's check that the id is free (409).
    pub async fn create(
        &self,
        ctx: &RequestContext,
        request: CreateUser,
    ) -> Result<Created, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let mut follow_ups: Vec<domain::Edit> = request.follow_up().into_iter().collect();
        let mut codes = edit::Codes::default();
        let org = request
            .org
            .or_else(|| ctx.org_header.clone())
            .or_else(|| caller.resource_owner.clone())
            .ok_or(ErrorCode::OrganizationMissing)?;
        if org.chars().count() > MAX_ID_CHARS || org.chars().any(char::is_control) {
            return Err(ApiError::with_text(
                ErrorCode::InvalidCreate,
                "the organization id must be 1 to 200 characters without control characters",
            ));
        }
        if !caller.scope(Permission::Write).allows(&org) {
            return Err(ErrorCode::PermissionDenied.into());
        }
        let mut user_id = request.user_id;
        let mut new_profile = request.profile;
        if let NewProfile::Machine(machine) = &mut new_profile {
            if machine.username.is_empty() {
                // ZITADEL's default: a machine without a username is named by its id.
                let id = user_id.get_or_insert_with(|| self.ids.next_id());
                machine.username = id.clone();
            }
        }
        let (profile, initial_state, claim) = match new_profile {
            NewProfile::Schema {
                schema_id,
                data_json,
                contact,
            } => (
                Profile::V3 {
                    schema_id,
                    data_json,
                    contact,
                },
                UserState::Active,
                None,
            ),
            NewProfile::Human { human, password } => {
                // The name is checked before the password is hashed: a taken name costs nothing.
                let claim = match human.username.is_empty() {
                    true => None,
                    false => Some(self.claim_username(&human.username).await?),
                };
                // So is a chosen id: hashing for a create bound to answer 409 would be waste
                // an attacker could order in bulk.
                if let (Some(id), Some(_)) = (&user_id, &password) {
                    let taken = self.store.user(id).await.map_err(|e| store_error(&e))?;
                    if taken.is_some() {
                        return Err(ErrorCode::UserAlreadyExists.into());
                    }
                }
                let human = self.with_password(human, password).await?;
                let state = domain::initial_state_of_human(&human);
                // Codes asked for the new address and number, made once the rest is known good.
                let now = domain::Timestamp::now();
                let targets = [
                    (
                        domain::CodeKind::Email,
                        &request.email_code,
                        human.email.as_ref().map(|e| e.address.clone()),
                    ),
                    (domain::CodeKind::Phone, &request.phone_code, None),
                ];
                for (kind, delivery, to) in targets {
                    let Some(delivery) = delivery else { continue };
                    if let Some(code) = self.code_for(kind, to, delivery, now, &mut codes).await? {
                        follow_ups.push(domain::Edit::AddCode {
                            kind,
                            code,
                            rule: domain::CodeRule::Send,
                        });
                    }
                }
                (Profile::V2(Box::new(human)), state, claim)
            }
            NewProfile::Machine(machine) => {
                let claim = match machine.username.is_empty() {
                    true => None,
                    false => Some(self.claim_username(&machine.username).await?),
                };
                (
                    Profile::Machine(Box::new(machine)),
                    UserState::Active,
                    claim,
                )
            }
        };
        // The claim lives until the create is decided, even if this caller goes away: by then
        // the store's index holds the name (or the create failed).
        let claim = claim.map(|c| Arc::new(c) as Arc<dyn std::any::Any + Send + Sync>);
        let follow_up = match follow_ups.len() {
            0 => None,
            1 => follow_ups.pop(),
            _ => Some(domain::Edit::Batch(follow_ups)),
        };
        // A generated id that is taken (the clock stepped back) is drawn again.
        for _ in 0..8 {
            let id = user_id.clone().unwrap_or_else(|| self.ids.next_id());
            let user = NewUser {
                id: id.clone(),
                org: org.clone(),
                initial_state,
                profile: profile.clone(),
                creator_scope: caller.scope(Permission::Write),
                editor: caller.subject.clone(),
            };
            let hold = claim.clone().map(|c| Box::new(c) as crate::shard::Hold);
            match self.shards.create(user, follow_up.clone(), hold).await {
                Ok(details) => {
                    let email_code = codes.email.take();
                    let phone_code = codes.phone.take();
                    codes.deliver(&self.notifier, &id, &details.org);
                    return Ok(Created {
                        user_id: id,
                        details,
                        email_code,
                        phone_code,
                    });
                }
                Err(e) if e.code == ErrorCode::UserAlreadyExists && user_id.is_none() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ErrorCode::Internal.into())
    }

    /// A lifecycle change: token, then the shard checks existence, permission and state.
    pub async fn change(
        &self,
        ctx: &RequestContext,
        request: ChangeState,
    ) -> Result<ChangeDetails, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let access = access(&caller, request.op.permission(), request.self_service);
        self.shards
            .change(request.op, request.user_id, access)
            .await
    }

    /// Set or remove metadata: token, the entries (400), then the shard checks the user (400 if
    /// missing), the permission (`user.write` on its organization) and the edit.
    pub async fn edit_metadata(
        &self,
        ctx: &RequestContext,
        request: EditMetadata,
    ) -> Result<ChangeDetails, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let request = request.check()?;
        let access = access(&caller, request.edit.permission(), SelfService::Denied);
        self.shards
            .edit(request.edit, request.user_id, access, None)
            .await
    }

    /// A user's metadata, as ZITADEL lists it: the caller's own, or a user it may read in
    /// `user.read`'s organizations; anything else (a missing user too) lists as empty.
    pub async fn list_metadata(
        &self,
        ctx: &RequestContext,
        request: ListMetadata,
    ) -> Result<MetadataPage, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let user = self
            .live_user(&request.user_id)
            .await?
            .filter(|u| access(&caller, Permission::Read, SelfService::Allowed).allows(u));
        let Some(user) = user else {
            return Ok(MetadataPage {
                limit: request.paging.limit,
                ..MetadataPage::default()
            });
        };
        let mut entries: Vec<MetadataEntry> = user
            .metadata
            .into_iter()
            .filter(|(key, _)| request.key.as_ref().is_none_or(|m| m.matches(key)))
            .map(|(key, m)| MetadataEntry {
                key,
                value: m.value,
                created_at: m.created_at,
                changed_at: m.changed_at,
            })
            .collect();
        // By creation, newest first unless ascending; the key breaks ties.
        entries.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
        if !request.paging.asc {
            entries.reverse();
        }
        let total = entries.len() as u64;
        let entries = entries
            .into_iter()
            .skip(usize::try_from(request.paging.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(request.paging.limit).unwrap_or(usize::MAX))
            .collect();
        Ok(MetadataPage {
            total,
            limit: request.paging.limit,
            entries,
        })
    }

    /// The ways a user can authenticate, as ZITADEL lists them: the caller's own user, or one
    /// it may read (403 otherwise); a missing or deleted user has none.
    pub async fn authentication_methods(
        &self,
        ctx: &RequestContext,
        request: GetUser,
    ) -> Result<Vec<AuthMethod>, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let Some(user) = self.live_user(&request.user_id).await? else {
            return Ok(Vec::new());
        };
        if !access(&caller, Permission::Read, SelfService::Allowed).allows(&user) {
            return Err(ErrorCode::PermissionDenied.into());
        }
        Ok(match &user.profile {
            Profile::V2(human) if human.password_hash.is_some() => vec![AuthMethod::Password],
            _ => Vec::new(),
        })
    }

    /// The durable record of `id` unless it is missing or deleted (a read: a failing store
    /// answers 503 "cannot be read").
    async fn live_user(&self, id: &str) -> Result<Option<User>, ApiError> {
        Ok(self
            .store
            .user(id)
            .await
            .map_err(|e| read_error(&e))?
            .filter(domain::is_live))
    }

    /// A live user the caller may read (404 before 403).
    pub async fn get(&self, ctx: &RequestContext, request: GetUser) -> Result<User, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let user = self
            .live_user(&request.user_id)
            .await?
            .ok_or(ErrorCode::ReadNotFound)?;
        if !access(&caller, Permission::Read, request.self_service).allows(&user) {
            return Err(ErrorCode::PermissionDenied.into());
        }
        Ok(user)
    }

    /// A page of the users the caller may read that pass the filter. A caller who may read no
    /// organization gets an empty page, not 403; where self-service is allowed (v2), the
    /// caller's own user is listed too, as ZITADEL does.
    pub async fn list(&self, ctx: &RequestContext, request: ListUsers) -> Result<Page, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let scope = caller.scope(Permission::Read);
        let also = match (request.self_service, &scope) {
            (SelfService::Allowed, OrgScope::Orgs(_)) => Some(caller.subject.clone()),
            _ => None,
        };
        let query = ListQuery {
            filter: request.filter,
            scope,
            also,
            offset: request.paging.offset,
            limit: request.paging.limit,
            asc: request.paging.asc,
            sort: request.sort,
        };
        self.store.list(query).await.map_err(|e| read_error(&e))
    }

    /// Whether the store serves and every shard actor answers.
    pub async fn ready(&self) -> Result<(), &'static str> {
        if !self.store.is_ready() {
            return Err("Store cannot serve");
        }
        if !self.shards.all_answer(Duration::from_secs(2)).await {
            return Err("A shard does not answer");
        }
        Ok(())
    }

    /// Durable users by state, indexed by the state's number.
    pub fn state_counts(&self) -> [i64; 6] {
        self.store.state_counts()
    }

    /// Claim `name` for a create in flight: 409 if a live user holds it or another create in
    /// this process is claiming it. Released when the guard drops (after the create is
    /// answered, by which time the store's index holds the name if the create succeeded).
    async fn claim_username(&self, name: &str) -> Result<UsernameClaim, ApiError> {
        // Claims wait while a reset replaces the usernames under them (bounded).
        let mut waited = 0;
        let fresh = loop {
            {
                let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
                if !claims.closed {
                    break claims.names.insert(name.to_string());
                }
            }
            waited += 1;
            if waited > CLAIM_WAIT_STEPS {
                return Err(ErrorCode::StoreUnavailable.into());
            }
            tokio::time::sleep(CLAIM_WAIT_STEP).await;
        };
        if !fresh {
            return Err(ErrorCode::UserAlreadyExists.into());
        }
        let claim = UsernameClaim {
            claims: self.claims.clone(),
            name: name.to_string(),
        };
        let holder = self
            .store
            .username_holder(name)
            .await
            .map_err(|e| store_error(&e))?;
        if holder.is_some() {
            return Err(ErrorCode::UserAlreadyExists.into());
        }
        Ok(claim)
    }

    /// The human with its password hashed (Argon2id, a fresh salt), off the request threads and
    /// at most one hash per core at a time.
    async fn with_password(
        &self,
        mut human: HumanProfile,
        password: Option<Password>,
    ) -> Result<HumanProfile, ApiError> {
        let Some(password) = password else {
            return Ok(human);
        };
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| ApiError::from(ErrorCode::ShuttingDown))?;
        let hash = tokio::task::spawn_blocking(move || password.hash())
            .await
            .map_err(|_| ApiError::from(ErrorCode::Internal))??;
        human.password_hash = Some(hash);
        Ok(human)
    }
}

/// What a caller holding `permission` may touch; with `SelfService::Allowed`, its own user too.
fn access(caller: &Caller, permission: Permission, self_service: SelfService) -> Access {
    Access {
        scope: caller.scope(permission),
        own_user: match self_service {
            SelfService::Allowed => Some(caller.subject.clone()),
            SelfService::Denied => None,
        },
        editor: caller.subject.clone(),
    }
}

/// Usernames claimed by requests in flight, and whether new claims wait (a reset is
/// replacing every username).
#[derive(Debug, Default)]
struct Claims {
    names: HashSet<String>,
    closed: bool,
}

/// How long a claim waits for a reset at most: steps of this.
const CLAIM_WAIT_STEP: Duration = Duration::from_millis(5);
const CLAIM_WAIT_STEPS: u32 = 6000;

/// A username claimed by a create in flight; the claim ends when this drops.
struct UsernameClaim {
    claims: Arc<Mutex<Claims>>,
    name: String,
}

impl Drop for UsernameClaim {
    fn drop(&mut self) {
        self.claims
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .names
            .remove(&self.name);
    }
}
