//! Personal access tokens through the core: issuing one for a machine (shown once, kept as a
//! hash), removing, listing, and accepting one as a bearer token.
//!
//! A token is checked against its user's durable record on every request, like a JWT's
//! subject: a machine that is not ACTIVE, or was deactivated, locked or deleted after the token
//! was issued, has its tokens refused.

use super::{access, Core, RequestContext, SelfService};
use crate::auth::{pat, Caller};
use crate::domain::{self, AccessToken, Edit, Permission, Timestamp, UserState};
use crate::error::{ApiError, ErrorCode};
use crate::shard::read_error;
use std::sync::Arc;

/// Issue a token for machine `user_id`, valid until `expires_at`.
#[derive(Clone, Debug)]
pub struct AddToken {
    pub user_id: String,
    pub expires_at: Timestamp,
}

/// What issuing answers: the token, shown this once.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub token_id: String,
    pub token: String,
    pub created_at: Timestamp,
}

/// Which tokens a listing shows; every filter given must hold.
#[derive(Clone, Debug, Default)]
pub struct TokenFilter {
    pub user_id: Option<String>,
    pub token_id: Option<String>,
    pub org: Option<String>,
}

/// List the tokens of one user (the filter must name it: tokens have no index of their own).
#[derive(Clone, Debug)]
pub struct ListTokens {
    pub filter: TokenFilter,
    pub paging: super::Paging,
}

/// A page of tokens (their secrets never leave) with the count of all that pass the filter.
#[derive(Clone, Debug, Default)]
pub struct TokenPage {
    pub total: u64,
    pub limit: u64,
    /// (user id, organization, token).
    pub tokens: Vec<(String, String, AccessToken)>,
}

impl Core {
    /// The caller a personal access token stands for: its machine is live and ACTIVE, the token
    /// is one of its own, unexpired, and issued after the machine's latest deactivate, lock or
    /// delete.
    pub(super) async fn authenticate_pat(&self, token: &str) -> Result<Arc<Caller>, ApiError> {
        let parts = pat::parse(token).ok_or(ErrorCode::TokenInvalid)?;
        let user = self
            .store
            .user(&parts.user_id)
            .await
            .map_err(|e| read_error(&e))?
            .filter(domain::is_live)
            .ok_or(ErrorCode::TokenInvalid)?;
        let stored = user
            .credentials
            .tokens
            .iter()
            .find(|t| t.id == parts.token_id)
            .filter(|t| pat::matches(&parts.secret, &t.secret_hash))
            .ok_or(ErrorCode::TokenInvalid)?;
        if stored.expires_at <= Timestamp::now() {
            return Err(ErrorCode::TokenInvalid.into());
        }
        if user.state != UserState::Active {
            return Err(ErrorCode::SubjectNotActive.into());
        }
        if user.revoked_at.is_some_and(|r| r >= stored.created_at) {
            return Err(ErrorCode::TokenRevoked.into());
        }
        Ok(Arc::new(self.verifier.member_caller(
            &user.id,
            &user.org,
            stored.created_at,
        )))
    }

    /// Issue a personal access token: for the caller's own machine or one it may write.
    pub async fn add_token(
        &self,
        ctx: &RequestContext,
        request: AddToken,
    ) -> Result<NewToken, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let now = Timestamp::now();
        if request.expires_at <= now {
            return Err(ErrorCode::ExpireBeforeNow.into());
        }
        let token_id = self.ids.next_id();
        let (token, secret_hash) = pat::issue(&request.user_id, &token_id)?;
        let stored = AccessToken {
            id: token_id.clone(),
            secret_hash,
            created_at: now,
            expires_at: request.expires_at,
        };
        let can = access(&caller, Permission::Write, SelfService::Allowed);
        let done = self
            .shards
            .edit(Edit::AddToken(stored), request.user_id, can)
            .await?;
        Ok(NewToken {
            token_id,
            token,
            created_at: done.changed_at,
        })
    }

    /// Remove a personal access token (404 if the user has no such token).
    pub async fn remove_token(
        &self,
        ctx: &RequestContext,
        user_id: String,
        token_id: String,
    ) -> Result<domain::ChangeDetails, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let can = access(&caller, Permission::Write, SelfService::Allowed);
        self.shards
            .edit(Edit::RemoveToken(token_id), user_id, can)
            .await
    }

    /// The tokens of the user the filter names, if the caller may read that user (its own, or
    /// `user.read` on its organization); none otherwise. Newest first unless ascending.
    pub async fn list_tokens(
        &self,
        ctx: &RequestContext,
        request: ListTokens,
    ) -> Result<TokenPage, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let Some(user_id) = request.filter.user_id.clone() else {
            return Err(ApiError::with_text(
                ErrorCode::InvalidListing,
                "filters must include a userIdFilter: tokens are listed per user",
            ));
        };
        let user = self
            .live_user(&user_id)
            .await?
            .filter(|u| access(&caller, Permission::Read, SelfService::Allowed).allows(u))
            .filter(|u| request.filter.org.as_ref().is_none_or(|o| *o == u.org));
        let Some(user) = user else {
            return Ok(TokenPage {
                limit: request.paging.limit,
                ..TokenPage::default()
            });
        };
        let mut tokens: Vec<AccessToken> = user
            .credentials
            .tokens
            .into_iter()
            .filter(|t| {
                request
                    .filter
                    .token_id
                    .as_ref()
                    .is_none_or(|id| *id == t.id)
            })
            .collect();
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        if !request.paging.asc {
            tokens.reverse();
        }
        let total = tokens.len() as u64;
        let tokens = tokens
            .into_iter()
            .skip(usize::try_from(request.paging.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(request.paging.limit).unwrap_or(usize::MAX))
            .map(|t| (user.id.clone(), user.org.clone(), t))
            .collect();
        Ok(TokenPage {
            total,
            limit: request.paging.limit,
            tokens,
        })
    }
}
