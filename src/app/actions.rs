//! ZITADEL's Actions v2 on the core: targets (where events go, how they are signed) and event
//! executions (which events go to which targets), instance-wide settings in the store, and the
//! parked deliveries an operator lists and sends again.
//!
//! Every write is durable in the store before it answers and replaces the routing table at
//! once, so a change committed after the answer routes by it.

use super::{Core, RequestContext};
use crate::domain::events::EVENT_TYPES;
use crate::domain::{OrgScope, Permission, Timestamp};
use crate::error::{ApiError, ErrorCode};
use crate::shard::read_error;
use crate::store::{Outgoing, Settle};
use crate::webhooks::guard::{self, Denied};
use crate::webhooks::{
    sign, target_key, EventCondition, Execution, Routes, Settings, Target, TargetKind,
};
use std::sync::Arc;

/// The routing table and the endpoint rules the core writes targets under.
#[derive(Debug, Default)]
pub struct Webhooks {
    pub routes: Arc<Routes>,
    pub deny: Vec<Denied>,
    /// The most targets the instance holds (`webhooks.max_targets`): each is read by every
    /// settings read and has a delivery task of its own.
    pub max_targets: usize,
}

/// The longest a target may take (ZITADEL's bound: 270 s).
pub const MAX_TIMEOUT_MS: u64 = 270_000;

/// A new target's fields.
#[derive(Clone, Debug)]
pub struct NewTarget {
    pub name: String,
    pub kind: TargetKind,
    pub timeout_ms: u64,
    pub endpoint: String,
    pub payload_type: i32,
}

/// A change of a target: None keeps a field.
#[derive(Clone, Debug, Default)]
pub struct TargetPatch {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<TargetKind>,
    pub timeout_ms: Option<u64>,
    pub endpoint: Option<String>,
    pub payload_type: Option<i32>,
    /// A new signing key is made (and answered).
    pub rotate_key: bool,
}

/// What an execution condition names, before it is checked.
#[derive(Clone, Debug)]
pub enum ConditionInput {
    Event(String),
    Group(String),
    All,
    /// The event condition with none of its choices set.
    EmptyEvent,
    /// A request, response or function condition (userd has no such hooks).
    Unsupported,
    /// No condition at all.
    Missing,
}

impl Core {
    /// The caller, if it holds `permission` on the instance (403 otherwise).
    async fn instance_permission(
        &self,
        ctx: &RequestContext,
        permission: Permission,
    ) -> Result<(), ApiError> {
        let caller = self.authenticate(ctx).await?;
        if caller.scope(permission) != OrgScope::Everywhere {
            return Err(ErrorCode::PermissionDenied.into());
        }
        Ok(())
    }

    /// The settings as stored now (fresh: another node may have written them).
    async fn settings(&self) -> Result<Settings, ApiError> {
        Settings::load(self.store.as_ref())
            .await
            .map_err(|e| read_error(&e))
    }

    /// Write one setting and put the new table in place (the caller holds the edit lock).
    async fn write_setting(&self, key: String, value: Option<Vec<u8>>) -> Result<(), ApiError> {
        self.store
            .put_setting(key, value)
            .await
            .map_err(|e| crate::shard::store_error(&e))?;
        let fresh = self.settings().await?;
        self.webhooks.routes.replace(fresh);
        Ok(())
    }

    fn check_endpoint(&self, endpoint: &str, invalid: ErrorCode) -> Result<(), ApiError> {
        if endpoint.is_empty() || endpoint.chars().count() > 2048 {
            return Err(invalid.into());
        }
        match guard::check_endpoint(endpoint, &self.webhooks.deny) {
            Ok(_) => Ok(()),
            Err(e) if e.contains("not allowed") => {
                Err(ApiError::with_text(ErrorCode::TargetEndpointDenied, e))
            }
            Err(e) => Err(ApiError::with_text(
                invalid,
                format!("Target URL is invalid: {e}"),
            )),
        }
    }

    pub async fn create_target(
        &self,
        ctx: &RequestContext,
        new: NewTarget,
    ) -> Result<Target, ApiError> {
        self.instance_permission(ctx, Permission::ActionTargetWrite)
            .await?;
        // Read, check and write as one (a name must stay unique).
        let _one_at_a_time = self.member_edits.lock().await;
        if new.name.trim().is_empty() {
            return Err(ErrorCode::TargetNameMissing.into());
        }
        if new.timeout_ms == 0 {
            return Err(ErrorCode::TargetTimeoutMissing.into());
        }
        self.check_endpoint(&new.endpoint, ErrorCode::TargetUrlInvalid)?;
        let settings = self.settings().await?;
        if settings.targets.values().any(|t| t.name == new.name) {
            return Err(ErrorCode::TargetNameTaken.into());
        }
        if settings.targets.len() >= self.webhooks.max_targets {
            return Err(ErrorCode::TooManyTargets.into());
        }
        let now = Timestamp::now();
        let target = Target {
            id: self.ids.next_id(),
            name: new.name,
            kind: new.kind,
            endpoint: new.endpoint,
            timeout_ms: new.timeout_ms,
            signing_key: sign::new_key().map_err(|_| ApiError::from(ErrorCode::Internal))?,
            payload_type: new.payload_type,
            created_at: now,
            changed_at: now,
        };
        self.write_setting(target_key(&target.id), Some(encode(&target)?))
            .await?;
        Ok(target)
    }

    /// Change a target; the answer is the target after (its new key if one was made).
    pub async fn update_target(
        &self,
        ctx: &RequestContext,
        patch: TargetPatch,
    ) -> Result<Target, ApiError> {
        self.instance_permission(ctx, Permission::ActionTargetWrite)
            .await?;
        let _one_at_a_time = self.member_edits.lock().await;
        if patch.id.is_empty() {
            return Err(ErrorCode::TargetIdMissing.into());
        }
        if patch.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err(ErrorCode::TargetChangeNameInvalid.into());
        }
        if patch.timeout_ms == Some(0) {
            return Err(ErrorCode::TargetChangeTimeoutInvalid.into());
        }
        if let Some(endpoint) = &patch.endpoint {
            self.check_endpoint(endpoint, ErrorCode::TargetChangeUrlInvalid)?;
        }
        let settings = self.settings().await?;
        let mut target = settings
            .targets
            .get(&patch.id)
            .cloned()
            .ok_or(ErrorCode::TargetChangeNotFound)?;
        if let Some(name) = patch.name {
            if name != target.name && settings.targets.values().any(|t| t.name == name) {
                return Err(ErrorCode::TargetNameTaken.into());
            }
            target.name = name;
        }
        let before = target.clone();
        if let Some(kind) = patch.kind {
            target.kind = kind;
        }
        if let Some(t) = patch.timeout_ms {
            target.timeout_ms = t;
        }
        if let Some(e) = patch.endpoint {
            target.endpoint = e;
        }
        if let Some(p) = patch.payload_type {
            target.payload_type = p;
        }
        if patch.rotate_key {
            target.signing_key =
                sign::new_key().map_err(|_| ApiError::from(ErrorCode::Internal))?;
        }
        // Nothing changed: nothing is written, the answer is the last change's date.
        if target == before {
            return Ok(target);
        }
        target.changed_at = Timestamp::now();
        self.write_setting(target_key(&target.id), Some(encode(&target)?))
            .await?;
        Ok(target)
    }

    /// Delete a target (a missing one too, as ZITADEL does) and drop it from every execution.
    pub async fn delete_target(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> Result<Timestamp, ApiError> {
        self.instance_permission(ctx, Permission::ActionTargetDelete)
            .await?;
        let _one_at_a_time = self.member_edits.lock().await;
        if id.is_empty() {
            return Err(ErrorCode::TargetIdMissing.into());
        }
        let settings = self.settings().await?;
        let now = Timestamp::now();
        for execution in settings.executions.values() {
            if execution.targets.contains(&id) {
                let mut x = execution.clone();
                x.targets.retain(|t| *t != id);
                x.changed_at = now;
                // An execution left without targets is removed: an empty one would still win
                // over less specific ones and swallow their events.
                let value = if x.targets.is_empty() {
                    None
                } else {
                    Some(encode(&x)?)
                };
                self.write_setting(x.condition.key(), value).await?;
            }
        }
        if settings.targets.contains_key(&id) {
            self.write_setting(target_key(&id), None).await?;
            // Nobody is left to take its deliveries.
            self.store
                .purge_outbox(id)
                .await
                .map_err(|e| crate::shard::store_error(&e))?;
        }
        Ok(now)
    }

    pub async fn get_target(&self, ctx: &RequestContext, id: String) -> Result<Target, ApiError> {
        self.instance_permission(ctx, Permission::ActionTargetRead)
            .await?;
        self.settings()
            .await?
            .targets
            .remove(&id)
            .ok_or_else(|| ErrorCode::TargetNotFound.into())
    }

    /// Every target, by id.
    pub async fn list_targets(&self, ctx: &RequestContext) -> Result<Vec<Target>, ApiError> {
        self.instance_permission(ctx, Permission::ActionTargetRead)
            .await?;
        Ok(self.settings().await?.targets.into_values().collect())
    }

    /// Set an event execution's targets (none: the execution is removed).
    pub async fn set_execution(
        &self,
        ctx: &RequestContext,
        condition: ConditionInput,
        targets: Vec<String>,
    ) -> Result<Timestamp, ApiError> {
        self.instance_permission(ctx, Permission::ActionExecutionWrite)
            .await?;
        let _one_at_a_time = self.member_edits.lock().await;
        let condition = match condition {
            ConditionInput::Missing => return Err(ErrorCode::ExecutionConditionInvalid.into()),
            ConditionInput::EmptyEvent => return Err(ErrorCode::ExecutionEventInvalid.into()),
            ConditionInput::Unsupported => return Err(ErrorCode::ExecutionKindUnsupported.into()),
            ConditionInput::Event(e) => {
                if !EVENT_TYPES.contains(&e.as_str()) {
                    return Err(ErrorCode::ExecutionEventNotFound.into());
                }
                EventCondition::Event(e)
            }
            ConditionInput::Group(g) => {
                let g = g.strip_suffix(".*").unwrap_or(&g).to_owned();
                if !EVENT_TYPES.iter().any(|t| t.starts_with(&format!("{g}."))) {
                    return Err(ErrorCode::ExecutionGroupNotFound.into());
                }
                EventCondition::Group(g)
            }
            ConditionInput::All => EventCondition::All,
        };
        let settings = self.settings().await?;
        let mut unique = targets.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != targets.len()
            || !targets.iter().all(|t| settings.targets.contains_key(t))
        {
            return Err(ErrorCode::ExecutionTargetNotFound.into());
        }
        let now = Timestamp::now();
        let existing = settings.executions.get(&condition);
        if existing.is_some_and(|x| x.targets == targets) {
            return Ok(existing.map_or(now, |x| x.changed_at));
        }
        let key = condition.key();
        if targets.is_empty() {
            self.write_setting(key, None).await?;
            return Ok(now);
        }
        let execution = Execution {
            condition,
            targets,
            created_at: existing.map_or(now, |x| x.created_at),
            changed_at: now,
        };
        self.write_setting(key, Some(encode(&execution)?)).await?;
        Ok(now)
    }

    /// Every event execution, by condition.
    pub async fn list_executions(&self, ctx: &RequestContext) -> Result<Vec<Execution>, ApiError> {
        self.instance_permission(ctx, Permission::ActionExecutionRead)
            .await?;
        Ok(self.settings().await?.executions.into_values().collect())
    }

    /// Deliveries in the outbox, pending or parked, of one target or all.
    pub async fn list_deliveries(
        &self,
        ctx: &RequestContext,
        target: Option<String>,
        parked: bool,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Outgoing>, ApiError> {
        self.instance_permission(ctx, Permission::ActionTargetRead)
            .await?;
        self.store
            .outbox(target, parked, after, limit.clamp(1, 1000))
            .await
            .map_err(|e| read_error(&e))
    }

    /// Send a parked delivery again (its attempts start over).
    pub async fn retry_delivery(
        &self,
        ctx: &RequestContext,
        target: String,
        position: u64,
    ) -> Result<Timestamp, ApiError> {
        self.instance_permission(ctx, Permission::ActionTargetWrite)
            .await?;
        let found = self
            .store
            .settle(target, position, Settle::Unpark)
            .await
            .map_err(|e| crate::shard::store_error(&e))?;
        if !found {
            return Err(ErrorCode::DeliveryNotParked.into());
        }
        Ok(Timestamp::now())
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|_| ApiError::from(ErrorCode::Internal))
}
