//! `zitadel.user.v2.UserService`: ZITADEL's stable user API, in its own messages. A human
//! created without a password and without a verified email starts INITIAL (the core's rule),
//! and a caller may act on its own user without permission.

use super::{change_details, lifecycle_method, list_details, organization_id, text_query, Method};
use super::{timestamp, user_details};
use crate::app::{self, Core, NewProfile, Password, RequestContext, SelfService};
use crate::domain::{
    Email, Filter, HumanProfile, MachineProfile, Operation, Phone, Profile, User, UserKind,
};
use crate::domain::{SortBy, TextMatch, UserState};
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::user::v2 as pb;

fn invalid(text: impl Into<String>) -> ApiError {
    ApiError::with_text(ErrorCode::InvalidV2Request, text.into())
}

fn invalid_listing(text: impl Into<String>) -> ApiError {
    ApiError::with_text(ErrorCode::InvalidListing, text.into())
}

/// A new human's fields and the codes asked for its email and phone.
struct NewHuman {
    profile: NewProfile,
    email_code: Option<app::CodeDelivery>,
    phone_code: Option<app::CodeDelivery>,
}

/// The code a new human's email asks for: `sendCode` or `returnCode` (none otherwise).
fn email_code(
    v: &Option<pb::set_human_email::Verification>,
) -> Result<Option<app::CodeDelivery>, ApiError> {
    use pb::set_human_email::Verification as V;
    Ok(match v {
        Some(V::ReturnCode(_)) => Some(app::CodeDelivery::Return),
        Some(V::SendCode(s)) => Some(app::CodeDelivery::Send {
            url_template: super::edits::url_template(s.url_template.clone())?,
        }),
        _ => None,
    })
}

/// The code a new human's phone asks for (`sendCode` is refused when it is made: no SMS).
fn phone_code(v: &Option<pb::set_human_phone::Verification>) -> Option<app::CodeDelivery> {
    use pb::set_human_phone::Verification as V;
    match v {
        Some(V::ReturnCode(_)) => Some(app::CodeDelivery::Return),
        Some(V::SendCode(_)) => Some(app::CodeDelivery::Send { url_template: None }),
        _ => None,
    }
}

/// A human's fields and the codes asked for, from the messages `AddHumanUser` and
/// `CreateUser` share.
fn new_human(
    username: Option<String>,
    profile: Option<pb::SetHumanProfile>,
    email: Option<pb::SetHumanEmail>,
    phone: Option<pb::SetHumanPhone>,
    password: Option<pb::Password>,
    hashed: Option<pb::HashedPassword>,
) -> Result<NewHuman, ApiError> {
    let email_code = email_code(&email.as_ref().and_then(|e| e.verification.clone()))?;
    let phone_code = phone
        .as_ref()
        .filter(|p| !p.phone.is_empty())
        .and_then(|p| phone_code(&p.verification));
    let profile = profile.ok_or_else(|| invalid("profile is required"))?;
    let gender = match profile.gender {
        None => 0,
        Some(n) => pb::Gender::try_from(n)
            .map_err(|_| invalid(format!("profile.gender: unknown gender {n}")))?
            as i32,
    };
    let email = email.ok_or_else(|| invalid("email is required"))?;
    let mut human = HumanProfile {
        username: username.unwrap_or_default(),
        given_name: profile.given_name,
        family_name: profile.family_name,
        nick_name: profile.nick_name.unwrap_or_default(),
        display_name: profile.display_name.unwrap_or_default(),
        preferred_language: profile.preferred_language.unwrap_or_default(),
        gender,
        email: Some(Email {
            address: email.email,
            is_verified: matches!(
                email.verification,
                Some(pb::set_human_email::Verification::IsVerified(true))
            ),
        }),
        phone: phone.filter(|p| !p.phone.is_empty()).map(|p| Phone {
            number: p.phone,
            is_verified: matches!(
                p.verification,
                Some(pb::set_human_phone::Verification::IsVerified(true))
            ),
        }),
        ..HumanProfile::default()
    };
    let mut clear = None;
    if let Some(p) = password {
        clear = Some(Password::new(p.password)?);
        human.password_change_required = p.change_required;
    } else if let Some(h) = hashed {
        human.password_hash = Some(h.hash);
        human.password_change_required = h.change_required;
    }
    Ok(NewHuman {
        profile: NewProfile::human(human, clear)?,
        email_code,
        phone_code,
    })
}

/// A machine's fields, from `CreateUser`: a name of 1 to 200 characters, a description of at
/// most 500; the username defaults to the user's id (the core sets it).
fn machine(
    username: Option<String>,
    m: pb::create_user_request::Machine,
) -> Result<NewProfile, ApiError> {
    let name_chars = m.name.chars().count();
    if name_chars == 0 || name_chars > 200 {
        return Err(invalid("machine.name must be 1 to 200 characters"));
    }
    let description = m.description.unwrap_or_default();
    if description.chars().count() > 500 {
        return Err(invalid(
            "machine.description must be at most 500 characters",
        ));
    }
    let username = username.unwrap_or_default();
    if username.chars().count() > 200 || username.chars().any(char::is_control) {
        return Err(invalid("username must be 1 to 200 characters"));
    }
    Ok(NewProfile::Machine(MachineProfile {
        username,
        name: m.name,
        description,
        // ZITADEL's CreateUser makes every machine a bearer-token user.
        access_token_type: pb::AccessTokenType::Bearer as i32,
    }))
}

impl TryFrom<pb::AddHumanUserRequest> for app::CreateUser {
    type Error = ApiError;

    fn try_from(r: pb::AddHumanUserRequest) -> Result<Self, ApiError> {
        use pb::add_human_user_request::PasswordType;
        let (password, hashed) = match r.password_type {
            Some(PasswordType::Password(p)) => (Some(p), None),
            Some(PasswordType::HashedPassword(h)) => (None, Some(h)),
            None => (None, None),
        };
        let new = new_human(r.username, r.profile, r.email, r.phone, password, hashed)?;
        Ok(app::CreateUser {
            user_id: app::optional_user_id(r.user_id.as_deref())?,
            org: organization_id(r.organization, ErrorCode::InvalidV2Request)?,
            profile: new.profile,
            metadata: app::metadata(r.metadata.into_iter().map(|m| (m.key, m.value)).collect())?,
            email_code: new.email_code,
            phone_code: new.phone_code,
        })
    }
}

/// `AddHumanUser` (`POST /v2/users/human`).
#[derive(Debug)]
pub struct AddHumanUser;

impl Method for AddHumanUser {
    type Request = pb::AddHumanUserRequest;
    type Response = pb::AddHumanUserResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::AddHumanUserRequest,
    ) -> Result<pb::AddHumanUserResponse, ApiError> {
        let created = core.create(ctx, r.try_into()?).await?;
        Ok(pb::AddHumanUserResponse {
            details: Some(change_details(&created.user_id, &created.details)),
            user_id: created.user_id,
            email_code: created.email_code,
            phone_code: created.phone_code,
        })
    }
}

impl TryFrom<pb::CreateUserRequest> for app::CreateUser {
    type Error = ApiError;

    fn try_from(r: pb::CreateUserRequest) -> Result<Self, ApiError> {
        use pb::create_user_request::human::PasswordType;
        use pb::create_user_request::UserType;
        let h = match r.user_type {
            Some(UserType::Human(h)) => h,
            Some(UserType::Machine(m)) => {
                return Ok(app::CreateUser {
                    user_id: app::optional_user_id(r.user_id.as_deref())?,
                    org: Some(r.organization_id).filter(|o| !o.is_empty()),
                    profile: machine(r.username, m)?,
                    metadata: Vec::new(),
                    email_code: None,
                    phone_code: None,
                })
            }
            None => return Err(invalid("human or machine is required")),
        };
        let (password, hashed) = match h.password_type {
            Some(PasswordType::Password(p)) => (Some(p), None),
            Some(PasswordType::HashedPassword(h)) => (None, Some(h)),
            None => (None, None),
        };
        let new = new_human(r.username, h.profile, h.email, h.phone, password, hashed)?;
        Ok(app::CreateUser {
            user_id: app::optional_user_id(r.user_id.as_deref())?,
            org: Some(r.organization_id).filter(|o| !o.is_empty()),
            profile: new.profile,
            metadata: app::metadata(h.metadata.into_iter().map(|m| (m.key, m.value)).collect())?,
            email_code: new.email_code,
            phone_code: new.phone_code,
        })
    }
}

/// `CreateUser` (`POST /v2/users/new`): a human, or a machine user (ACTIVE at once).
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
            id: created.user_id,
            creation_date: Some(timestamp(created.details.changed_at)),
            email_code: created.email_code,
            phone_code: created.phone_code,
        })
    }
}

/// `zitadel.user.v2.User`: a v3alpha user shows without username or human profile.
pub fn user(u: &User) -> pb::User {
    let username = u.profile.username().unwrap_or_default().to_string();
    let human = match &u.profile {
        Profile::V2(h) => Some(pb::user::Type::Human(pb::HumanUser {
            profile: Some(pb::HumanProfile {
                given_name: h.given_name.clone(),
                family_name: h.family_name.clone(),
                nick_name: Some(h.nick_name.clone()).filter(|s| !s.is_empty()),
                display_name: Some(h.display_name.clone()).filter(|s| !s.is_empty()),
                preferred_language: Some(h.preferred_language.clone()).filter(|s| !s.is_empty()),
                gender: Some(h.gender).filter(|g| *g != 0),
                avatar_url: String::new(),
            }),
            email: h.email.as_ref().map(|e| pb::HumanEmail {
                email: e.address.clone(),
                is_verified: e.is_verified,
            }),
            phone: h.phone.as_ref().map(|p| pb::HumanPhone {
                phone: p.number.clone(),
                is_verified: p.is_verified,
            }),
            password_change_required: h.password_change_required,
            ..pb::HumanUser::default()
        })),
        Profile::Machine(m) => Some(pb::user::Type::Machine(pb::MachineUser {
            name: m.name.clone(),
            description: m.description.clone(),
            has_secret: u.credentials.secret_hash.is_some(),
            access_token_type: m.access_token_type,
        })),
        Profile::V3 { .. } => None,
    };
    pb::User {
        user_id: u.id.clone(),
        details: Some(user_details(u)),
        state: u.state.number(),
        login_names: if username.is_empty() {
            Vec::new()
        } else {
            vec![username.clone()]
        },
        preferred_login_name: username.clone(),
        username,
        r#type: human,
    }
}

/// `GetUserByID` (`GET /v2/users/{userId}`).
#[derive(Debug)]
pub struct GetUserById;

impl TryFrom<pb::GetUserByIdRequest> for app::GetUser {
    type Error = ApiError;

    fn try_from(r: pb::GetUserByIdRequest) -> Result<Self, ApiError> {
        Ok(app::GetUser {
            user_id: app::user_id(&r.user_id)?,
            self_service: SelfService::Allowed,
        })
    }
}

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

fn state(n: i32) -> Result<UserState, ApiError> {
    UserState::from_number(i64::from(n))
        .ok_or_else(|| invalid_listing(format!("stateQuery.state: unknown user state {n}")))
}

/// How deep `and`, `or` and `not` queries may nest, as in ZITADEL (top-level queries are at 0).
const MAX_QUERY_LEVEL: u8 = 20;

/// One `SearchQuery` at nesting `level` as a filter.
fn filter(q: pb::SearchQuery, level: u8) -> Result<Filter, ApiError> {
    use pb::search_query::Query as Q;
    if level > MAX_QUERY_LEVEL {
        return Err(ErrorCode::ListQueryTooDeep.into());
    }
    let nested = |queries: Vec<pb::SearchQuery>| {
        queries
            .into_iter()
            .map(|q| filter(q, level + 1))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match q.query {
        None => return Err(invalid_listing("each query must set one kind of query")),
        Some(Q::UserNameQuery(q)) => Filter::Username(text_query(q.user_name, q.method)?),
        Some(Q::LoginNameQuery(q)) => Filter::Username(text_query(q.login_name, q.method)?),
        Some(Q::FirstNameQuery(q)) => Filter::GivenName(text_query(q.first_name, q.method)?),
        Some(Q::LastNameQuery(q)) => Filter::FamilyName(text_query(q.last_name, q.method)?),
        Some(Q::NickNameQuery(q)) => Filter::NickName(text_query(q.nick_name, q.method)?),
        Some(Q::DisplayNameQuery(q)) => Filter::DisplayName(text_query(q.display_name, q.method)?),
        Some(Q::EmailQuery(q)) => Filter::Email(text_query(q.email_address, q.method)?),
        Some(Q::PhoneQuery(q)) => Filter::Phone(text_query(q.number, q.method)?),
        Some(Q::StateQuery(q)) => Filter::States(vec![state(q.state)?]),
        Some(Q::TypeQuery(q)) => match pb::Type::try_from(q.r#type) {
            Ok(pb::Type::Human) => Filter::Kind(UserKind::Human),
            Ok(pb::Type::Machine) => Filter::Kind(UserKind::Machine),
            // ZITADEL compares the stored type with 0, which no user has.
            Ok(pb::Type::Unspecified) => Filter::Or(Vec::new()),
            Err(_) => return Err(invalid_listing("typeQuery.type: unknown type")),
        },
        Some(Q::InUserIdsQuery(q)) => Filter::Ids(q.user_ids),
        Some(Q::InUserEmailsQuery(q)) => Filter::Emails(q.user_emails),
        Some(Q::OrganizationIdQuery(q)) => {
            Filter::Organization(TextMatch::equals(q.organization_id))
        }
        Some(Q::OrQuery(q)) => Filter::Or(nested(q.queries)?),
        Some(Q::AndQuery(q)) => Filter::And(nested(q.queries)?),
        Some(Q::NotQuery(q)) => match q.query {
            Some(inner) => Filter::Not(Box::new(filter(*inner, level + 1)?)),
            None => return Err(invalid_listing("notQuery.query is required")),
        },
    })
}

/// ZITADEL's `UserFieldName` as the column to order by.
fn sort_by(column: i32) -> Result<SortBy, ApiError> {
    use pb::UserFieldName as F;
    Ok(match F::try_from(column) {
        Ok(F::Unspecified | F::CreationDate) => SortBy::Creation,
        Ok(F::UserName) => SortBy::Username,
        Ok(F::FirstName) => SortBy::GivenName,
        Ok(F::LastName) => SortBy::FamilyName,
        Ok(F::NickName) => SortBy::NickName,
        Ok(F::DisplayName) => SortBy::DisplayName,
        Ok(F::Email) => SortBy::Email,
        Ok(F::State) => SortBy::State,
        Ok(F::Type) => SortBy::Kind,
        Err(_) => {
            return Err(invalid_listing(format!(
                "sortingColumn: unknown column {column}"
            )))
        }
    })
}

impl TryFrom<pb::ListUsersRequest> for app::ListUsers {
    type Error = ApiError;

    fn try_from(r: pb::ListUsersRequest) -> Result<Self, ApiError> {
        let query = r.query.unwrap_or_default();
        Ok(app::ListUsers {
            filter: Filter::all(
                r.queries
                    .into_iter()
                    .map(|q| filter(q, 0))
                    .collect::<Result<_, _>>()?,
            ),
            paging: app::Paging::new(query.offset, query.limit, query.asc),
            self_service: app::SelfService::Allowed,
            sort: sort_by(r.sorting_column)?,
        })
    }
}

/// `ListUsers` (`POST /v2/users`): newest first unless `query.asc`.
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
        let sorting_column = r.sorting_column;
        let page = core.list(ctx, r.try_into()?).await?;
        Ok(pb::ListUsersResponse {
            details: Some(list_details(page.total)),
            sorting_column,
            result: page.users.iter().map(user).collect(),
        })
    }
}

lifecycle_method!(
    /// `DeactivateUser` (`POST /v2/users/{userId}/deactivate`).
    DeactivateUser: pb::DeactivateUserRequest => pb::DeactivateUserResponse,
    Operation::Deactivate, SelfService::Allowed, id: user_id, change_details
);
lifecycle_method!(
    /// `ReactivateUser` (`POST /v2/users/{userId}/reactivate`).
    ReactivateUser: pb::ReactivateUserRequest => pb::ReactivateUserResponse,
    Operation::Reactivate, SelfService::Allowed, id: user_id, change_details
);
lifecycle_method!(
    /// `LockUser` (`POST /v2/users/{userId}/lock`).
    LockUser: pb::LockUserRequest => pb::LockUserResponse,
    Operation::Lock, SelfService::Allowed, id: user_id, change_details
);
lifecycle_method!(
    /// `UnlockUser` (`POST /v2/users/{userId}/unlock`).
    UnlockUser: pb::UnlockUserRequest => pb::UnlockUserResponse,
    Operation::Unlock, SelfService::Allowed, id: user_id, change_details
);
lifecycle_method!(
    /// `DeleteUser` (`DELETE /v2/users/{userId}`).
    DeleteUser: pb::DeleteUserRequest => pb::DeleteUserResponse,
    Operation::Delete, SelfService::Allowed, id: user_id, change_details
);

/// `ListAuthenticationMethodTypes` (`GET /v2/users/{userId}/authentication_methods`).
#[derive(Debug)]
pub struct ListAuthenticationMethodTypes;

impl Method for ListAuthenticationMethodTypes {
    type Request = pb::ListAuthenticationMethodTypesRequest;
    type Response = pb::ListAuthenticationMethodTypesResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::ListAuthenticationMethodTypesRequest,
    ) -> Result<pb::ListAuthenticationMethodTypesResponse, ApiError> {
        let request = app::GetUser {
            user_id: app::user_id(&r.user_id)?,
            self_service: SelfService::Allowed,
        };
        let methods = core.authentication_methods(ctx, request).await?;
        Ok(pb::ListAuthenticationMethodTypesResponse {
            details: Some(list_details(methods.len() as u64)),
            auth_method_types: methods
                .into_iter()
                .map(|m| match m {
                    app::AuthMethod::Password => pb::AuthenticationMethodType::Password as i32,
                })
                .collect(),
        })
    }

    fn set_user_id(request: &mut pb::ListAuthenticationMethodTypesRequest, id: String) {
        request.user_id = id;
    }
}

/// `ListAuthenticationFactors` (`POST /v2/users/{userId}/authentication_factors/_search`):
/// second factors need a login UI userd does not have, so a user has none; the checks are
/// those of `ListAuthenticationMethodTypes`.
#[derive(Debug)]
pub struct ListAuthenticationFactors;

impl Method for ListAuthenticationFactors {
    type Request = pb::ListAuthenticationFactorsRequest;
    type Response = pb::ListAuthenticationFactorsResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::ListAuthenticationFactorsRequest,
    ) -> Result<pb::ListAuthenticationFactorsResponse, ApiError> {
        let request = app::GetUser {
            user_id: app::user_id(&r.user_id)?,
            self_service: SelfService::Allowed,
        };
        // Answers 401 and 403 as the method types do; every user's list of factors is empty.
        core.authentication_methods(ctx, request).await?;
        Ok(pb::ListAuthenticationFactorsResponse { result: Vec::new() })
    }

    fn set_user_id(request: &mut pb::ListAuthenticationFactorsRequest, id: String) {
        request.user_id = id;
    }
}
