//! `zitadel.user.v2.UserService`'s credential methods: personal access tokens
//! (`AddPersonalAccessToken`, `RemovePersonalAccessToken`, `ListPersonalAccessTokens`), keys
//! (`AddKey`, `RemoveKey`, `ListKeys`) and client secrets (`AddSecret`, `RemoveSecret`). A
//! secret or private key is shown once, in the answer that makes it; listings show neither.

use super::{time_of, timestamp, timestamp_filter, Method};
use crate::app::{
    self, AddToken, Core, CredentialFilter, CredentialInfo, CredentialKind, ListCredentials,
    RequestContext,
};
use crate::domain::{Edit, Timestamp};
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::filter::v2 as filter;
use crate::pb::zitadel::user::v2 as pb;

/// An expiration date: none reads as the epoch, which has passed (as in ZITADEL).
fn expiration(t: Option<&crate::pb::Timestamp>) -> Timestamp {
    t.map_or(Timestamp(0), time_of)
}

fn credential_id(id: String, field: &str) -> Result<String, ApiError> {
    if id.is_empty() || id.chars().count() > 200 {
        return Err(ApiError::with_text(
            ErrorCode::InvalidV2Request,
            format!("{field} must be 1 to 200 characters"),
        ));
    }
    Ok(id)
}

/// A timestamp filter as the core's (an unknown method compares for equality).
fn time_filter(f: &filter::TimestampFilter) -> app::TimeFilter {
    timestamp_filter(f).unwrap_or(app::TimeFilter {
        cmp: app::TimeCmp::Equals,
        at: f.timestamp.as_ref().map_or(Timestamp(0), time_of),
    })
}

/// The filters of a token or key listing, in one shape.
#[derive(Default)]
struct Filters {
    ids: CredentialFilter,
}

/// One filter of either listing (they have the same five kinds).
enum OneFilter {
    Id(String),
    User(String),
    Org(String),
    Created(filter::TimestampFilter),
    Expires(filter::TimestampFilter),
}

impl Filters {
    fn add(&mut self, f: Option<OneFilter>) -> Result<(), ApiError> {
        match f {
            Some(OneFilter::Id(id)) => self.ids.id = Some(id),
            Some(OneFilter::User(id)) => self.ids.user_id = Some(id),
            Some(OneFilter::Org(id)) => self.ids.org = Some(id),
            Some(OneFilter::Created(t)) => self.ids.created.push(time_filter(&t)),
            Some(OneFilter::Expires(t)) => self.ids.expires.push(time_filter(&t)),
            None => {
                return Err(ApiError::with_text(
                    ErrorCode::InvalidListing,
                    "each filter must set one kind of filter",
                ))
            }
        }
        Ok(())
    }

    /// Run the listing.
    async fn list(
        self,
        core: &Core,
        ctx: &RequestContext,
        kind: CredentialKind,
        page: Option<filter::PaginationRequest>,
    ) -> Result<(filter::PaginationResponse, Vec<CredentialInfo>), ApiError> {
        let page = page.unwrap_or_default();
        let request = ListCredentials {
            filter: self.ids,
            paging: app::Paging::new(page.offset, u64::from(page.limit), page.asc),
        };
        let found = core.list_credentials(ctx, kind, request).await?;
        let pagination = filter::PaginationResponse {
            total_result: found.total,
            applied_limit: found.limit,
        };
        Ok((pagination, found.items))
    }
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
        let request = AddToken {
            user_id: app::user_id(&r.user_id)?,
            expires_at: expiration(r.expiration_date.as_ref()),
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
        let edit = Edit::RemoveToken(credential_id(r.token_id, "tokenId")?);
        let done = core.remove_credential(ctx, user_id, edit).await?;
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

/// `AddKey` (`POST /v2/users/{userId}/keys`): an uploaded RSA public key, or a generated pair
/// whose private key comes back once in `keyContent`.
#[derive(Debug)]
pub struct AddKey;

impl Method for AddKey {
    type Request = pb::AddKeyRequest;
    type Response = pb::AddKeyResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::AddKeyRequest,
    ) -> Result<pb::AddKeyResponse, ApiError> {
        let request = app::AddKey {
            user_id: app::user_id(&r.user_id)?,
            expires_at: expiration(r.expiration_date.as_ref()),
            public_key_pem: Some(r.public_key).filter(|k| !k.is_empty()),
        };
        let added = core.add_key(ctx, request).await?;
        Ok(pb::AddKeyResponse {
            creation_date: Some(timestamp(added.created_at)),
            key_id: added.key_id,
            key_content: added.key_content,
        })
    }

    fn set_user_id(request: &mut pb::AddKeyRequest, id: String) {
        request.user_id = id;
    }
}

/// `RemoveKey` (`DELETE /v2/users/{userId}/keys/{keyId}`).
#[derive(Debug)]
pub struct RemoveKey;

impl Method for RemoveKey {
    type Request = pb::RemoveKeyRequest;
    type Response = pb::RemoveKeyResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::RemoveKeyRequest,
    ) -> Result<pb::RemoveKeyResponse, ApiError> {
        let user_id = app::user_id(&r.user_id)?;
        let edit = Edit::RemoveKey(credential_id(r.key_id, "keyId")?);
        let done = core.remove_credential(ctx, user_id, edit).await?;
        Ok(pb::RemoveKeyResponse {
            deletion_date: Some(timestamp(done.changed_at)),
        })
    }

    fn set_user_id(request: &mut pb::RemoveKeyRequest, id: String) {
        request.user_id = id;
    }

    fn set_path(request: &mut pb::RemoveKeyRequest, name: &str, value: String) {
        if name == "keyId" {
            request.key_id = value;
        }
    }
}

/// Declares a listing of tokens or keys: its filters have the same five kinds and its items
/// the same fields, under other names.
macro_rules! credential_listing {
    ($(#[$doc:meta])* $name:ident: $req:ty => $resp:ty, $filter:path, $id_filter:ident,
     $kind:expr, $item:ident, $field:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl Method for $name {
            type Request = $req;
            type Response = $resp;

            async fn call(core: &Core, ctx: &RequestContext, r: $req) -> Result<$resp, ApiError> {
                use $filter as F;
                let mut filters = Filters::default();
                for f in r.filters {
                    filters.add(f.filter.map(|f| match f {
                        F::$id_filter(id) => OneFilter::Id(id.id),
                        F::UserIdFilter(id) => OneFilter::User(id.id),
                        F::OrganizationIdFilter(id) => OneFilter::Org(id.id),
                        F::CreatedDateFilter(t) => OneFilter::Created(t),
                        F::ExpirationDateFilter(t) => OneFilter::Expires(t),
                    }))?;
                }
                let (pagination, items) = filters.list(core, ctx, $kind, r.pagination).await?;
                Ok(<$resp>::default()).map(|mut response| {
                    response.pagination = Some(pagination);
                    response.$field = items
                        .into_iter()
                        .map(|c| pb::$item {
                            creation_date: Some(timestamp(c.created_at)),
                            change_date: Some(timestamp(c.created_at)),
                            id: c.id,
                            user_id: c.user_id,
                            organization_id: c.org,
                            expiration_date: Some(timestamp(c.expires_at)),
                        })
                        .collect();
                    response
                })
            }
        }
    };
}

credential_listing!(
    /// `ListPersonalAccessTokens` (`POST /v2/users/pats/search`): the tokens of the user named
    /// by `userIdFilter`, newest first unless `pagination.asc`.
    ListPersonalAccessTokens: pb::ListPersonalAccessTokensRequest => pb::ListPersonalAccessTokensResponse,
    pb::personal_access_tokens_search_filter::Filter, TokenIdFilter,
    CredentialKind::Tokens, PersonalAccessToken, result
);

credential_listing!(
    /// `ListKeys` (`POST /v2/users/keys/search`): the keys of the user named by `userIdFilter`.
    ListKeys: pb::ListKeysRequest => pb::ListKeysResponse,
    pb::keys_search_filter::Filter, KeyIdFilter,
    CredentialKind::Keys, Key, result
);

/// `AddSecret` (`POST /v2/users/{userId}/secret`): a machine's client secret, replacing any.
#[derive(Debug)]
pub struct AddSecret;

impl Method for AddSecret {
    type Request = pb::AddSecretRequest;
    type Response = pb::AddSecretResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::AddSecretRequest,
    ) -> Result<pb::AddSecretResponse, ApiError> {
        let (client_secret, created_at) = core.add_secret(ctx, app::user_id(&r.user_id)?).await?;
        Ok(pb::AddSecretResponse {
            creation_date: Some(timestamp(created_at)),
            client_secret,
        })
    }

    fn set_user_id(request: &mut pb::AddSecretRequest, id: String) {
        request.user_id = id;
    }
}

/// `RemoveSecret` (`DELETE /v2/users/{userId}/secret`).
#[derive(Debug)]
pub struct RemoveSecret;

impl Method for RemoveSecret {
    type Request = pb::RemoveSecretRequest;
    type Response = pb::RemoveSecretResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::RemoveSecretRequest,
    ) -> Result<pb::RemoveSecretResponse, ApiError> {
        let user_id = app::user_id(&r.user_id)?;
        let done = core
            .remove_credential(ctx, user_id, Edit::RemoveSecret)
            .await?;
        Ok(pb::RemoveSecretResponse {
            deletion_date: Some(timestamp(done.changed_at)),
        })
    }

    fn set_user_id(request: &mut pb::RemoveSecretRequest, id: String) {
        request.user_id = id;
    }
}
