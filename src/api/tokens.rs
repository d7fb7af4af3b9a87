//! `zitadel.user.v2.UserService`'s personal access token methods: `AddPersonalAccessToken`,
//! `RemovePersonalAccessToken`, `ListPersonalAccessTokens`. A token is shown once, in the
//! answer that issues it; listings show everything but the secret.

use super::{timestamp, Method};
use crate::app::{self, AddToken, Core, ListTokens, RequestContext, TokenFilter};
use crate::domain::Timestamp;
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::filter::v2 as filter;
use crate::pb::zitadel::user::v2 as pb;

fn time_of(t: &crate::pb::Timestamp) -> Timestamp {
    Timestamp(
        t.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(t.nanos)),
    )
}

/// `AddPersonalAccessToken` (`POST /v2/users/{userId}/pats`): machines only.
#[derive(Debug)]
pub struct AddPersonalAccessToken;

impl Method for AddPersonalAccessToken {
    type Request = pb::AddPersonalAccessTokenRequest;
    type Response = pb::AddPersonalAccessTokenResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::AddPersonalAccessTokenRequest,
    ) -> Result<pb::AddPersonalAccessTokenResponse, ApiError> {
        // No expiration reads as the epoch, which has passed (as in ZITADEL).
        let expires_at = r.expiration_date.as_ref().map_or(Timestamp(0), time_of);
        let request = AddToken {
            user_id: app::user_id(&r.user_id)?,
            expires_at,
        };
        let issued = core.add_token(ctx, request).await?;
        Ok(pb::AddPersonalAccessTokenResponse {
            creation_date: Some(timestamp(issued.created_at)),
            token_id: issued.token_id,
            token: issued.token,
        })
    }

    fn set_user_id(request: &mut pb::AddPersonalAccessTokenRequest, id: String) {
        request.user_id = id;
    }
}

/// `RemovePersonalAccessToken` (`DELETE /v2/users/{userId}/pats/{tokenId}`).
#[derive(Debug)]
pub struct RemovePersonalAccessToken;

impl Method for RemovePersonalAccessToken {
    type Request = pb::RemovePersonalAccessTokenRequest;
    type Response = pb::RemovePersonalAccessTokenResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::RemovePersonalAccessTokenRequest,
    ) -> Result<pb::RemovePersonalAccessTokenResponse, ApiError> {
        let user_id = app::user_id(&r.user_id)?;
        if r.token_id.is_empty() || r.token_id.chars().count() > 200 {
            return Err(ApiError::with_text(
                ErrorCode::InvalidV2Request,
                "tokenId must be 1 to 200 characters",
            ));
        }
        let done = core.remove_token(ctx, user_id, r.token_id).await?;
        Ok(pb::RemovePersonalAccessTokenResponse {
            deletion_date: Some(timestamp(done.changed_at)),
        })
    }

    fn set_user_id(request: &mut pb::RemovePersonalAccessTokenRequest, id: String) {
        request.user_id = id;
    }

    fn set_path(request: &mut pb::RemovePersonalAccessTokenRequest, name: &str, value: String) {
        if name == "tokenId" {
            request.token_id = value;
        }
    }
}

/// `ListPersonalAccessTokens` (`POST /v2/users/pats/search`): the tokens of the user named by
/// `userIdFilter`, newest first unless `pagination.asc`.
#[derive(Debug)]
pub struct ListPersonalAccessTokens;

/// Whether `t` passes a timestamp filter.
fn passes(t: Timestamp, f: &filter::TimestampFilter) -> bool {
    use filter::TimestampFilterMethod as M;
    let at = f.timestamp.as_ref().map_or(Timestamp(0), time_of);
    match M::try_from(f.method).unwrap_or(M::Equals) {
        M::Equals => t == at,
        M::After => t > at,
        M::AfterOrEquals => t >= at,
        M::Before => t < at,
        M::BeforeOrEquals => t <= at,
    }
}

impl Method for ListPersonalAccessTokens {
    type Request = pb::ListPersonalAccessTokensRequest;
    type Response = pb::ListPersonalAccessTokensResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::ListPersonalAccessTokensRequest,
    ) -> Result<pb::ListPersonalAccessTokensResponse, ApiError> {
        use pb::personal_access_tokens_search_filter::Filter as F;
        let mut token_filter = TokenFilter::default();
        let mut created = Vec::new();
        let mut expires = Vec::new();
        for f in r.filters {
            match f.filter {
                Some(F::UserIdFilter(id)) => token_filter.user_id = Some(id.id),
                Some(F::TokenIdFilter(id)) => token_filter.token_id = Some(id.id),
                Some(F::OrganizationIdFilter(id)) => token_filter.org = Some(id.id),
                Some(F::CreatedDateFilter(t)) => created.push(t),
                Some(F::ExpirationDateFilter(t)) => expires.push(t),
                None => {
                    return Err(ApiError::with_text(
                        ErrorCode::InvalidListing,
                        "each filter must set one kind of filter",
                    ))
                }
            }
        }
        let page = r.pagination.unwrap_or_default();
        let request = ListTokens {
            filter: token_filter,
            paging: app::Paging::new(page.offset, u64::from(page.limit), page.asc),
        };
        let mut found = core.list_tokens(ctx, request).await?;
        if !created.is_empty() || !expires.is_empty() {
            found.tokens.retain(|(_, _, t)| {
                created.iter().all(|f| passes(t.created_at, f))
                    && expires.iter().all(|f| passes(t.expires_at, f))
            });
            found.total = found.tokens.len() as u64;
        }
        Ok(pb::ListPersonalAccessTokensResponse {
            pagination: Some(filter::PaginationResponse {
                total_result: found.total,
                applied_limit: found.limit,
            }),
            result: found
                .tokens
                .into_iter()
                .map(|(user_id, org, t)| pb::PersonalAccessToken {
                    creation_date: Some(timestamp(t.created_at)),
                    change_date: Some(timestamp(t.created_at)),
                    id: t.id,
                    user_id,
                    organization_id: org,
                    expiration_date: Some(timestamp(t.expires_at)),
                })
                .collect(),
        })
    }
}
