//! `zitadel.user.v2.UserService`'s metadata methods: `SetUserMetadata`, `ListUserMetadata`,
//! `DeleteUserMetadata`. Values are bytes (base64 in JSON); each change is one event of the user.

use super::{text_query, timestamp, Method};
use crate::app::{self, Core, EditMetadata, ListMetadata, RequestContext};
use crate::error::ApiError;
use crate::pb::zitadel::filter::v2 as filter;
use crate::pb::zitadel::metadata::v2 as metadata;
use crate::pb::zitadel::user::v2 as pb;

/// `SetUserMetadata` (`POST /v2/users/{userId}/metadata`): adds or replaces keys; a value
/// already set as given changes nothing.
#[derive(Debug)]
pub struct SetUserMetadata;

impl TryFrom<pb::SetUserMetadataRequest> for EditMetadata {
    type Error = ApiError;

    fn try_from(r: pb::SetUserMetadataRequest) -> Result<Self, ApiError> {
        let entries = r.metadata.into_iter().map(|m| (m.key, m.value)).collect();
        EditMetadata::set(r.user_id, entries)
    }
}

impl Method for SetUserMetadata {
    type Request = pb::SetUserMetadataRequest;
    type Response = pb::SetUserMetadataResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::SetUserMetadataRequest,
    ) -> Result<pb::SetUserMetadataResponse, ApiError> {
        let done = core.edit_metadata(ctx, r.try_into()?).await?;
        Ok(pb::SetUserMetadataResponse {
            set_date: Some(timestamp(done.changed_at)),
        })
    }

    fn set_user_id(request: &mut pb::SetUserMetadataRequest, id: String) {
        request.user_id = id;
    }
}

/// `DeleteUserMetadata` (`DELETE /v2/users/{userId}/metadata?keys=...`): every key must be set,
/// or nothing is removed.
#[derive(Debug)]
pub struct DeleteUserMetadata;

impl TryFrom<pb::DeleteUserMetadataRequest> for EditMetadata {
    type Error = ApiError;

    fn try_from(r: pb::DeleteUserMetadataRequest) -> Result<Self, ApiError> {
        EditMetadata::remove(r.user_id, r.keys)
    }
}

impl Method for DeleteUserMetadata {
    type Request = pb::DeleteUserMetadataRequest;
    type Response = pb::DeleteUserMetadataResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::DeleteUserMetadataRequest,
    ) -> Result<pb::DeleteUserMetadataResponse, ApiError> {
        let done = core.edit_metadata(ctx, r.try_into()?).await?;
        Ok(pb::DeleteUserMetadataResponse {
            deletion_date: Some(timestamp(done.changed_at)),
        })
    }

    fn set_user_id(request: &mut pb::DeleteUserMetadataRequest, id: String) {
        request.user_id = id;
    }

    fn set_query(request: &mut pb::DeleteUserMetadataRequest, key: &str, value: String) {
        if key == "keys" {
            request.keys.push(value);
        }
    }
}

/// `ListUserMetadata` (`POST /v2/users/{userId}/metadata/search`): by creation date, newest
/// first unless `pagination.asc`; filtered by key.
#[derive(Debug)]
pub struct ListUserMetadata;

impl TryFrom<pb::ListUserMetadataRequest> for ListMetadata {
    type Error = ApiError;

    fn try_from(r: pb::ListUserMetadataRequest) -> Result<Self, ApiError> {
        let page = r.pagination.unwrap_or_default();
        // Several key filters: the last one counts (there is one filter kind).
        let mut key = None;
        for f in r.filters {
            if let Some(metadata::metadata_search_filter::Filter::KeyFilter(k)) = f.filter {
                key = Some(text_query(k.key, k.method)?);
            }
        }
        Ok(ListMetadata {
            user_id: app::user_id(&r.user_id)?,
            key,
            paging: app::Paging::new(page.offset, u64::from(page.limit), page.asc),
        })
    }
}

impl Method for ListUserMetadata {
    type Request = pb::ListUserMetadataRequest;
    type Response = pb::ListUserMetadataResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::ListUserMetadataRequest,
    ) -> Result<pb::ListUserMetadataResponse, ApiError> {
        let page = core.list_metadata(ctx, r.try_into()?).await?;
        Ok(pb::ListUserMetadataResponse {
            pagination: Some(filter::PaginationResponse {
                total_result: page.total,
                applied_limit: page.limit,
            }),
            metadata: page
                .entries
                .into_iter()
                .map(|m| metadata::Metadata {
                    creation_date: Some(timestamp(m.created_at)),
                    change_date: Some(timestamp(m.changed_at)),
                    key: m.key,
                    value: m.value,
                })
                .collect(),
        })
    }

    fn set_user_id(request: &mut pb::ListUserMetadataRequest, id: String) {
        request.user_id = id;
    }
}
