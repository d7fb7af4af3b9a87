//! `zitadel.resources.user.v3alpha.ZITADELUsers`: the v3alpha service of ZITADEL's SDKs. The
//! same operations as the seed's service, in this service's shapes: `id` for the user, details
//! with `id`, `created`, `changed` and `owner`, `ActivateUser` for reactivate, and a `State`
//! without INITIAL (such users show as unspecified). userd keeps no user schemas, so
//! `schemaTypeFilter` is refused rather than silently matching nothing.

use super::{lifecycle_method, timestamp, Method};
use crate::app::{self, Core, NewProfile, RequestContext, SelfService};
use crate::domain::{ChangeDetails, Contact, Email, Filter, Operation, Phone, Profile, SortBy};
use crate::domain::{TextMatch, TextMethod, Timestamp, User, UserState};
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::object::v3alpha as object;
use crate::pb::zitadel::resources::object::v3alpha as resource;
use crate::pb::zitadel::resources::user::v3alpha as pb;
use crate::pb::JsonStruct;

fn details(
    id: &str,
    created: Option<Timestamp>,
    changed: Timestamp,
    org: &str,
) -> resource::Details {
    resource::Details {
        id: id.to_string(),
        created: created.map(timestamp),
        changed: Some(timestamp(changed)),
        owner: Some(object::Owner {
            r#type: object::OwnerType::Org as i32,
            id: org.to_string(),
        }),
    }
}

fn change_details(id: &str, d: &ChangeDetails) -> resource::Details {
    details(id, None, d.changed_at, &d.org)
}

impl TryFrom<pb::CreateUserRequest> for app::CreateUser {
    type Error = ApiError;

    fn try_from(r: pb::CreateUserRequest) -> Result<Self, ApiError> {
        let user = r.user.unwrap_or_default();
        // An org domain is not served; the header or the token's organization applies.
        let org = match r.organization.and_then(|o| o.property) {
            Some(object::organization::Property::OrgId(id)) => Some(id).filter(|s| !s.is_empty()),
            _ => None,
        };
        let c = user.contact.unwrap_or_default();
        let contact = Contact {
            email: c.email.map(|e| Email {
                address: e.address,
                is_verified: matches!(
                    e.verification,
                    Some(pb::set_email::Verification::IsVerified(true))
                ),
            }),
            phone: c.phone.map(|p| Phone {
                number: p.number,
                is_verified: matches!(
                    p.verification,
                    Some(pb::set_phone::Verification::IsVerified(true))
                ),
            }),
        };
        Ok(app::CreateUser {
            user_id: app::optional_user_id(user.user_id.as_deref())?,
            org,
            profile: NewProfile::schema(user.schema_id, user.data.map(|d| d.to_json()), contact)?,
            metadata: Vec::new(),
            email_code: None,
            phone_code: None,
        })
    }
}

/// `CreateUser`.
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
        let d = &created.details;
        Ok(pb::CreateUserResponse {
            details: Some(details(
                &created.user_id,
                Some(d.changed_at),
                d.changed_at,
                &d.org,
            )),
            email_code: None,
            phone_code: None,
        })
    }
}

/// This service's `State` has no INITIAL: such users show as unspecified.
fn state(state: UserState) -> i32 {
    match state {
        UserState::Initial => UserState::Unspecified.number(),
        other => other.number(),
    }
}

/// `zitadel.resources.user.v3alpha.GetUser`.
fn user(u: &User) -> pb::GetUser {
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
    let (schema, data) = match &u.profile {
        Profile::V3 {
            schema_id,
            data_json,
            ..
        } => (
            Some(pb::GetSchema {
                id: schema_id.clone(),
                ..pb::GetSchema::default()
            }),
            Some(JsonStruct::from_json(data_json)),
        ),
        Profile::V2(_) | Profile::Machine(_) => (None, None),
    };
    pb::GetUser {
        details: Some(details(&u.id, Some(u.created_at), u.changed_at, &u.org)),
        schema,
        data,
        contact,
        authenticators: None,
        state: state(u.state),
    }
}

impl TryFrom<pb::GetUserRequest> for app::GetUser {
    type Error = ApiError;

    fn try_from(r: pb::GetUserRequest) -> Result<Self, ApiError> {
        Ok(app::GetUser {
            user_id: app::user_id(&r.id)?,
            self_service: SelfService::Denied,
        })
    }
}

/// `GetUser`.
#[derive(Debug)]
pub struct GetUser;

impl Method for GetUser {
    type Request = pb::GetUserRequest;
    type Response = pb::GetUserResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::GetUserRequest,
    ) -> Result<pb::GetUserResponse, ApiError> {
        let found = core.get(ctx, r.try_into()?).await?;
        Ok(pb::GetUserResponse {
            user: Some(user(&found)),
        })
    }
}

fn invalid_filter(text: impl Into<String>) -> ApiError {
    ApiError::with_text(ErrorCode::UnsupportedFilter, text.into())
}

/// A text filter from `TextFilterMethod`.
fn text(value: String, method: i32) -> Result<TextMatch, ApiError> {
    use resource::TextFilterMethod as M;
    let method = M::try_from(method)
        .map_err(|_| invalid_filter(format!("unknown text filter method {method}")))?;
    let (method, ignore_case) = match method {
        M::Equals => (TextMethod::Equals, false),
        M::EqualsIgnoreCase => (TextMethod::Equals, true),
        M::StartsWith => (TextMethod::StartsWith, false),
        M::StartsWithIgnoreCase => (TextMethod::StartsWith, true),
        M::Contains => (TextMethod::Contains, false),
    };
    Ok(TextMatch {
        value,
        method,
        ignore_case,
    })
}

/// One filter of the tree.
fn filter(f: pb::SearchFilter) -> Result<Filter, ApiError> {
    use pb::search_filter::Filter as F;
    let all = |queries: Vec<pb::SearchFilter>| -> Result<Vec<Filter>, ApiError> {
        queries.into_iter().map(filter).collect()
    };
    Ok(match f.filter {
        None => {
            return Err(invalid_filter(
                "each filter must set exactly one kind of filter",
            ))
        }
        Some(F::OrFilter(o)) => Filter::Or(all(o.queries)?),
        Some(F::AndFilter(a)) => Filter::And(all(a.queries)?),
        Some(F::NotFilter(n)) => match n.query {
            Some(q) => Filter::Not(Box::new(filter(*q)?)),
            None => return Err(invalid_filter("notFilter.query is required")),
        },
        Some(F::UserIdFilter(t)) => Filter::Id(text(t.id, t.method)?),
        Some(F::OrganizationIdFilter(t)) => Filter::Organization(text(t.id, t.method)?),
        Some(F::UsernameFilter(t)) => Filter::Username(text(t.username, t.method)?),
        Some(F::EmailFilter(t)) => Filter::Email(text(t.address, t.method)?),
        Some(F::PhoneFilter(t)) => Filter::Phone(text(t.number, t.method)?),
        Some(F::StateFilter(s)) => match pb::State::try_from(s.state) {
            // Unspecified is how this service shows INITIAL users.
            Ok(pb::State::UserStateUnspecified) => {
                Filter::States(vec![UserState::Unspecified, UserState::Initial])
            }
            Ok(other) => Filter::States(
                UserState::from_number(i64::from(other as i32))
                    .into_iter()
                    .collect(),
            ),
            Err(_) => {
                return Err(invalid_filter(
                    "stateFilter.state must be a user state such as USER_STATE_ACTIVE",
                ))
            }
        },
        Some(F::SchemaIdFilter(s)) => Filter::SchemaId(s.id),
        Some(F::SchemaTypeFilter(_)) => {
            return Err(invalid_filter(
                "schemaTypeFilter is not supported: userd keeps no user schemas",
            ))
        }
    })
}

impl TryFrom<pb::SearchUsersRequest> for app::ListUsers {
    type Error = ApiError;

    fn try_from(r: pb::SearchUsersRequest) -> Result<Self, ApiError> {
        let query = r.query.unwrap_or_default();
        Ok(app::ListUsers {
            filter: Filter::all(
                r.filters
                    .into_iter()
                    .map(filter)
                    .collect::<Result<_, _>>()?,
            ),
            paging: app::Paging::new(query.offset, query.limit, !query.desc),
            self_service: app::SelfService::Denied,
            sort: match pb::FieldName::try_from(r.sorting_column) {
                Ok(pb::FieldName::Id) => SortBy::Id,
                Ok(pb::FieldName::ChangeDate) => SortBy::Changed,
                Ok(pb::FieldName::Email) => SortBy::Email,
                Ok(pb::FieldName::Phone) => SortBy::Phone,
                Ok(pb::FieldName::State) => SortBy::State,
                // Schema ids and types are not kept apart from creation: creation order.
                _ => SortBy::Creation,
            },
        })
    }
}

/// `SearchUsers`: oldest first unless `query.desc`.
#[derive(Debug)]
pub struct SearchUsers;

impl Method for SearchUsers {
    type Request = pb::SearchUsersRequest;
    type Response = pb::SearchUsersResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::SearchUsersRequest,
    ) -> Result<pb::SearchUsersResponse, ApiError> {
        let request = app::ListUsers::try_from(r)?;
        let applied_limit = request.paging.limit;
        let page = core.list(ctx, request).await?;
        Ok(pb::SearchUsersResponse {
            details: Some(resource::ListDetails {
                applied_limit,
                total_result: page.total,
                timestamp: Some(timestamp(Timestamp::now())),
            }),
            result: page.users.iter().map(user).collect(),
        })
    }
}

lifecycle_method!(
    /// `DeactivateUser`.
    DeactivateUser: pb::DeactivateUserRequest => pb::DeactivateUserResponse,
    Operation::Deactivate, SelfService::Denied, id: id, change_details
);
lifecycle_method!(
    /// `ActivateUser`: reactivate, INACTIVE to ACTIVE.
    ActivateUser: pb::ActivateUserRequest => pb::ActivateUserResponse,
    Operation::Reactivate, SelfService::Denied, id: id, change_details
);
lifecycle_method!(
    /// `LockUser`.
    LockUser: pb::LockUserRequest => pb::LockUserResponse,
    Operation::Lock, SelfService::Denied, id: id, change_details
);
lifecycle_method!(
    /// `UnlockUser`.
    UnlockUser: pb::UnlockUserRequest => pb::UnlockUserResponse,
    Operation::Unlock, SelfService::Denied, id: id, change_details
);
lifecycle_method!(
    /// `DeleteUser`.
    DeleteUser: pb::DeleteUserRequest => pb::DeleteUserResponse,
    Operation::Delete, SelfService::Denied, id: id, change_details
);
