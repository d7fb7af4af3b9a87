//! Reading the history: the instance's event search (`events.read`, held only instance-wide)
//! and one user's changes (`user.read` on its organization). Both read the durable history
//! through the store; neither changes anything.

use super::{Core, RequestContext};
use crate::domain::{OrgScope, Permission};
use crate::error::{ApiError, ErrorCode};
use crate::shard::read_error;
use crate::store::{EventQuery, StoredEvent};

/// The most events one search answers (ZITADEL's limit for the event API).
pub const MAX_EVENTS: usize = 1000;

/// One user's changes: those after `after_sequence`, at most `limit` (0: the most).
#[derive(Clone, Debug)]
pub struct UserChanges {
    pub user_id: String,
    pub after_sequence: u64,
    pub limit: usize,
    pub asc: bool,
}

/// A page size as ZITADEL's event API takes it: 0 or past the most means the most.
pub fn page_size(limit: u64) -> usize {
    usize::try_from(limit)
        .ok()
        .filter(|n| (1..=MAX_EVENTS).contains(n))
        .unwrap_or(MAX_EVENTS)
}

impl Core {
    /// Whether the caller holds `events.read` on the instance (403 otherwise).
    pub async fn may_read_events(&self, ctx: &RequestContext) -> Result<(), ApiError> {
        let caller = self.authenticate(ctx).await?;
        if caller.scope(Permission::EventsRead) != OrgScope::Everywhere {
            return Err(ErrorCode::PermissionDenied.into());
        }
        Ok(())
    }

    /// The instance's events that pass `query` (its scope is set here): for callers holding
    /// `events.read` on the instance.
    pub async fn search_events(
        &self,
        ctx: &RequestContext,
        mut query: EventQuery,
    ) -> Result<Vec<StoredEvent>, ApiError> {
        self.may_read_events(ctx).await?;
        query.scope = OrgScope::Everywhere;
        query.limit = query.limit.clamp(1, MAX_EVENTS);
        self.store.events(query).await.map_err(|e| read_error(&e))
    }

    /// A user's changes, deleted users' included: for callers who may read its organization.
    pub async fn user_changes(
        &self,
        ctx: &RequestContext,
        request: UserChanges,
    ) -> Result<Vec<StoredEvent>, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let user = self
            .store
            .user(&request.user_id)
            .await
            .map_err(|e| read_error(&e))?
            .ok_or(ErrorCode::ReadNotFound)?;
        let scope = caller.scope(Permission::Read);
        if !scope.allows(&user.org) {
            return Err(ErrorCode::PermissionDenied.into());
        }
        let query = EventQuery {
            user_id: Some(request.user_id),
            org: None,
            editor: None,
            types: Vec::new(),
            after_sequence: request.after_sequence,
            since: None,
            until: None,
            scope,
            asc: request.asc,
            limit: page_size(request.limit as u64),
        };
        self.store.events(query).await.map_err(|e| read_error(&e))
    }
}
