//! `zitadel.user.v3alpha.UserService`: the seed's service, in the message shapes of the REST
//! contract (`proto/zitadel/user/v3alpha/user_service.proto`). No caller acts on itself without
//! permission here.

use super::{change_details, lifecycle_method, list_details, user_details, Method};
use crate::app::{self, Core, NewProfile, RequestContext, SelfService};
use crate::domain::{
    Contact, Email, Filter, Operation, Phone, Profile, TextMatch, User, UserState,
};
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::object::v2 as object;
use crate::pb::zitadel::user::v3alpha as pb;
use crate::pb::JsonStruct;

/// A create's contact data.
fn contact(c: Option<pb::SetContact>) -> Contact {
    let c = c.unwrap_or_default();
    Contact {
        email: c.email.map(|e| Email {
            address: e.address,
            is_verified: e.is_verified,
        }),
        phone: c.phone.map(|p| Phone {
            number: p.number,
            is_verified: p.is_verified,
        }),
    }
}

/// A create request as the core's: flat, or with the user nested under `user` (whose fields
/// win), as ZITADEL's `CreateUserRequest` has it.
impl TryFrom<pb::CreateUserRequest> for app::CreateUser {
    type Error = ApiError;

    fn try_from(r: pb::CreateUserRequest) -> Result<Self, ApiError> {
        let nested = r.user.unwrap_or_default();
        let user_id = nested.user_id.or(r.user_id).filter(|id| !id.is_empty());
        let schema_id = Some(nested.schema_id)
            .filter(|s| !s.is_empty())
            .unwrap_or(r.schema_id);
        let data = nested.data.or(r.data).map(|d| d.to_json());
        let contact = contact(nested.contact.or(r.contact));
        // An org domain is not served here; the header or the token's organization applies.
        let org = match r.organization.and_then(|o| o.org) {
            Some(object::organization::Org::OrgId(id)) => Some(id).filter(|id| !id.is_empty()),
            _ => None,
        };
        Ok(app::CreateUser {
            user_id: app::optional_user_id(user_id.as_deref())?,
            org,
            profile: NewProfile::schema(schema_id, data, contact)?,
            metadata: Vec::new(),
            email_code: None,
            phone_code: None,
        })
    }
}

/// `CreateUser` (`POST /v3alpha/users`): the user starts ACTIVE with sequence 1.
#[derive(Debug)]
pub struct CreateUser;

impl Method for CreateUser {
    type Request = pb::CreateUserRequest;
    type Response = pb::CreateUserResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::CreateUserRequest,
    ) -> Result<pb::CreateUserResponse, ApiError> {
        let created = core.create(ctx, r.try_into()?).await?;
        Ok(pb::CreateUserResponse {
            details: Some(change_details(&created.user_id, &created.details)),
            user_id: created.user_id,
        })
    }
}

/// `zitadel.user.v3alpha.User`: a v2 human shows its email and phone as contact, and no schema
/// or data.
pub fn user(u: &User) -> pb::User {
    let contact = u.profile.contact();
    let contact = (contact.email.is_some() || contact.phone.is_some()).then(|| pb::Contact {
        email: contact.email.map(|e| pb::Email {
            address: e.address,
            is_verified: e.is_verified,
        }),
        phone: contact.phone.map(|p| pb::Phone {
            number: p.number,
            is_verified: p.is_verified,
        }),
    });
    let (schema_id, data) = match &u.profile {
        Profile::V3 {
            schema_id,
            data_json,
            ..
        } => (schema_id.clone(), Some(JsonStruct::from_json(data_json))),
        Profile::V2(_) | Profile::Machine(_) => (String::new(), None),
    };
    pb::User {
        user_id: u.id.clone(),
        details: Some(user_details(u)),
        contact,
        state: u.state.number(),
        data,
        schema_id,
    }
}

impl TryFrom<pb::GetUserByIdRequest> for app::GetUser {
    type Error = ApiError;

    fn try_from(r: pb::GetUserByIdRequest) -> Result<Self, ApiError> {
        Ok(app::GetUser {
            user_id: app::user_id(&r.user_id)?,
            self_service: SelfService::Denied,
        })
    }
}

/// `GetUserByID` (`GET /v3alpha/users/{userId}`).
#[derive(Debug)]
pub struct GetUserById;

impl Method for GetUserById {
    type Request = pb::GetUserByIdRequest;
    type Response = pb::GetUserByIdResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::GetUserByIdRequest,
    ) -> Result<pb::GetUserByIdResponse, ApiError> {
        let found = core.get(ctx, r.try_into()?).await?;
        Ok(pb::GetUserByIdResponse {
            details: Some(user_details(&found)),
            user: Some(user(&found)),
        })
    }

    fn set_user_id(request: &mut pb::GetUserByIdRequest, id: String) {
        request.user_id = id;
    }
}

/// One search filter; every filter must hold.
fn filter(f: pb::SearchFilter) -> Result<Option<Filter>, ApiError> {
    use pb::search_filter::Filter as F;
    Ok(match f.filter {
        // A filter of a kind userd does not know constrains nothing.
        None => None,
        Some(F::StateFilter(s)) => Some(Filter::States(vec![UserState::from_number(i64::from(
            s.state,
        ))
        .ok_or_else(|| {
            ApiError::with_text(
                ErrorCode::InvalidListing,
                "stateFilter.state must be a user state such as USER_STATE_ACTIVE",
            )
        })?])),
        Some(F::OrganizationIdFilter(o)) => {
            Some(Filter::Organization(TextMatch::equals(o.organization_id)))
        }
    })
}

impl TryFrom<pb::ListUsersRequest> for app::ListUsers {
    type Error = ApiError;

    fn try_from(r: pb::ListUsersRequest) -> Result<Self, ApiError> {
        let query = r.query.unwrap_or_default();
        let mut filters = Vec::new();
        for f in r.filters {
            filters.extend(filter(f)?);
        }
        Ok(app::ListUsers {
            filter: Filter::all(filters),
            paging: app::Paging::new(query.offset, query.limit, query.asc),
            self_service: app::SelfService::Denied,
            sort: crate::domain::SortBy::Creation,
        })
    }
}

/// `ListUsers`, also `SearchUsers` (`POST /v3alpha/users/search`): newest first unless
/// `query.asc`.
#[derive(Debug)]
pub struct ListUsers;

impl Method for ListUsers {
    type Request = pb::ListUsersRequest;
    type Response = pb::ListUsersResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::ListUsersRequest,
    ) -> Result<pb::ListUsersResponse, ApiError> {
        let page = core.list(ctx, r.try_into()?).await?;
        Ok(pb::ListUsersResponse {
            details: Some(list_details(page.total)),
            result: page.users.iter().map(user).collect(),
        })
    }
}

lifecycle_method!(
    /// `DeactivateUser` (`POST /v3alpha/users/{userId}/deactivate`).
    DeactivateUser: pb::DeactivateUserRequest => pb::DeactivateUserResponse,
    Operation::Deactivate, SelfService::Denied, id: user_id, change_details
);
lifecycle_method!(
    /// `ReactivateUser` (`POST /v3alpha/users/{userId}/reactivate`): the seed's endpoint.
    ReactivateUser: pb::ReactivateUserRequest => pb::ReactivateUserResponse,
    Operation::Reactivate, SelfService::Denied, id: user_id, change_details
);
lifecycle_method!(
    /// `LockUser` (`POST /v3alpha/users/{userId}/lock`).
    LockUser: pb::LockUserRequest => pb::LockUserResponse,
    Operation::Lock, SelfService::Denied, id: user_id, change_details
);
lifecycle_method!(
    /// `UnlockUser` (`POST /v3alpha/users/{userId}/unlock`).
    UnlockUser: pb::UnlockUserRequest => pb::UnlockUserResponse,
    Operation::Unlock, SelfService::Denied, id: user_id, change_details
);
lifecycle_method!(
    /// `DeleteUser` (`DELETE /v3alpha/users/{userId}`).
    DeleteUser: pb::DeleteUserRequest => pb::DeleteUserResponse,
    Operation::Delete, SelfService::Denied, id: user_id, change_details
);
