//! The v2 user endpoints (`zitadel.user.v2.UserService` over REST): AddHumanUser, GetUserByID,
//! ListUsers, Deactivate/Reactivate/Lock/UnlockUser and DeleteUser, with ZITADEL's v2 shapes.
//!
//! Two rules differ from v3alpha: a human created without a password and without a verified
//! email starts INITIAL, and a caller acting on its own user needs no permission.

use super::extract::{json_object, org_header, path_user_id, validate_user_id};
use super::ops;
use super::wire::Details;
use super::AppState;
use crate::auth::{Caller, OrgScope, Permission};
use crate::domain::{
    self, Email, HumanProfile, Operation, Phone, Profile, Timestamp, User, UserState,
};
use crate::error::{self, ApiError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

type Result<T> = std::result::Result<T, super::error::HttpError>;
type ApiResult<T> = std::result::Result<T, ApiError>;

fn bad(text: impl Into<String>) -> ApiError {
    ApiError::invalid_argument("USERD-V2-0001", text)
}

fn get_str(obj: &Map<String, Value>, key: &str, path: &str) -> ApiResult<String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(format!("{path} must be a string"))),
    }
}

fn get_bool(obj: &Map<String, Value>, key: &str, path: &str) -> ApiResult<bool> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!("{path} must be a boolean"))),
    }
}

fn get_obj<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> ApiResult<Option<&'a Map<String, Value>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(bad(format!("{path} must be an object"))),
    }
}

/// ZITADEL's `Gender` by name or number.
fn gender(value: Option<&Value>) -> ApiResult<i32> {
    const NAMES: [&str; 4] = [
        "GENDER_UNSPECIFIED",
        "GENDER_FEMALE",
        "GENDER_MALE",
        "GENDER_DIVERSE",
    ];
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(name)) => NAMES
            .iter()
            .position(|n| n == name)
            .map(|i| i as i32)
            .ok_or_else(|| bad(format!("profile.gender: unknown gender {name}"))),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| (0..4).contains(n))
            .map(|n| n as i32)
            .ok_or_else(|| bad("profile.gender: unknown gender")),
        Some(_) => Err(bad("profile.gender must be a gender name")),
    }
}

fn gender_name(n: i32) -> Option<&'static str> {
    match n {
        1 => Some("GENDER_FEMALE"),
        2 => Some("GENDER_MALE"),
        3 => Some("GENDER_DIVERSE"),
        _ => None,
    }
}

/// An `AddHumanUser` request, checked; the password still in clear text (hashed next).
pub struct AddHuman {
    pub user_id: Option<String>,
    pub org: Option<String>,
    pub human: HumanProfile,
    pub password: Option<String>,
}

/// Read an `AddHumanUserRequest` (protojson field names).
pub fn parse_add_human(body: &Map<String, Value>) -> ApiResult<AddHuman> {
    let user_id = Some(get_str(body, "userId", "userId")?).filter(|s| !s.is_empty());
    if let Some(id) = &user_id {
        validate_user_id(id)?;
    }
    let org = match get_obj(body, "organization", "organization")? {
        Some(o) => {
            if o.get("orgDomain").is_some_and(|d| !d.is_null()) && o.get("orgId").is_none() {
                return Err(bad(
                    "organization.orgDomain is not supported: use organization.orgId",
                ));
            }
            Some(get_str(o, "orgId", "organization.orgId")?).filter(|s| !s.is_empty())
        }
        None => None,
    };
    let profile = get_obj(body, "profile", "profile")?.ok_or_else(|| bad("profile is required"))?;
    let mut human = HumanProfile {
        given_name: get_str(profile, "givenName", "profile.givenName")?,
        family_name: get_str(profile, "familyName", "profile.familyName")?,
        nick_name: get_str(profile, "nickName", "profile.nickName")?,
        display_name: get_str(profile, "displayName", "profile.displayName")?,
        preferred_language: get_str(profile, "preferredLanguage", "profile.preferredLanguage")?,
        gender: gender(profile.get("gender"))?,
        ..HumanProfile::default()
    };
    for (value, name) in [
        (&human.given_name, "givenName"),
        (&human.family_name, "familyName"),
    ] {
        if value.is_empty() || value.chars().count() > 200 {
            return Err(bad(format!(
                "profile.{name} is required (1 to 200 characters)"
            )));
        }
    }
    let email = get_obj(body, "email", "email")?.ok_or_else(|| bad("email is required"))?;
    let address = get_str(email, "email", "email.email")?;
    if address.is_empty() || !address.contains('@') || address.chars().count() > 200 {
        return Err(bad("email.email is required and must be an email address"));
    }
    human.email = Some(Email {
        address,
        is_verified: get_bool(email, "isVerified", "email.isVerified")?,
    });
    if let Some(phone) = get_obj(body, "phone", "phone")? {
        let number = get_str(phone, "phone", "phone.phone")?;
        if !number.is_empty() {
            human.phone = Some(Phone {
                number,
                is_verified: get_bool(phone, "isVerified", "phone.isVerified")?,
            });
        }
    }
    human.username = get_str(body, "username", "username")?;
    if human.username.is_empty() {
        // ZITADEL falls back to the email address.
        human.username = human
            .email
            .as_ref()
            .map(|e| e.address.clone())
            .unwrap_or_default();
    }
    if human.username.chars().count() > 200 {
        return Err(bad("username must be at most 200 characters"));
    }
    let mut password = None;
    if let Some(p) = get_obj(body, "password", "password")? {
        let clear = get_str(p, "password", "password.password")?;
        if clear.is_empty() || clear.len() > 1024 {
            return Err(bad("password.password must be 1 to 1024 bytes"));
        }
        password = Some(clear);
        human.password_change_required = get_bool(p, "changeRequired", "password.changeRequired")?;
    } else if let Some(h) = get_obj(body, "hashedPassword", "hashedPassword")? {
        let hash = get_str(h, "hash", "hashedPassword.hash")?;
        if !hash.starts_with("$argon2id$") || argon2::PasswordHash::new(&hash).is_err() {
            return Err(bad(
                "hashedPassword.hash must be an Argon2id hash in PHC format",
            ));
        }
        human.password_hash = Some(hash);
        human.password_change_required =
            get_bool(h, "changeRequired", "hashedPassword.changeRequired")?;
    }
    Ok(AddHuman {
        user_id,
        org,
        human,
        password,
    })
}

/// Read a v2 `CreateUserRequest` (`organizationId`, `userId`, `username`, `human`) as the
/// same creation as `AddHumanUser`. Machine users are not served.
pub fn parse_create_user(body: &Map<String, Value>) -> ApiResult<AddHuman> {
    if body.get("machine").is_some_and(|m| !m.is_null()) {
        return Err(bad("machine users are not supported by userd"));
    }
    let human = get_obj(body, "human", "human")?.ok_or_else(|| bad("human is required"))?;
    let mut add = human.clone();
    if let Some(org) = body.get("organizationId") {
        add.insert("organization".into(), serde_json::json!({"orgId": org}));
    }
    for key in ["userId", "username"] {
        if let Some(v) = body.get(key) {
            add.insert(key.into(), v.clone());
        }
    }
    // Tolerate a password nested one level too deep (`{"password": {"password": "..."}}`).
    if let Some(Value::Object(p)) = add.get_mut("password") {
        if let Some(Value::Object(inner)) = p.get("password").cloned() {
            p.extend(inner);
        }
    }
    parse_add_human(&add)
}

/// Argon2id, with a fresh salt, off the request threads.
pub async fn hash_password(password: String) -> ApiResult<String> {
    web::block(move || {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|_| ApiError::from(error::INTERNAL))?;
        let salt = SaltString::encode_b64(&raw).map_err(|_| ApiError::from(error::INTERNAL))?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| {
                log::error!("password hashing failed: {e}");
                ApiError::from(error::INTERNAL)
            })
    })
    .await
    .map_err(|_| ApiError::from(error::INTERNAL))?
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AddHumanResponse {
    pub user_id: String,
    pub details: Details,
}

/// Everything after parsing and authentication: permission, hashing, creation.
pub async fn add_human(
    state: &AppState,
    req_org_header: Option<String>,
    caller: &Caller,
    add: AddHuman,
) -> ApiResult<AddHumanResponse> {
    let org = add
        .org
        .or(req_org_header)
        .or_else(|| caller.resource_owner.clone())
        .ok_or_else(|| ApiError::from(error::ORGANIZATION_MISSING))?;
    if !caller.scope(Permission::Write).allows(&org) {
        return Err(error::PERMISSION_DENIED.into());
    }
    let mut human = add.human;
    if let Some(password) = add.password {
        human.password_hash = Some(hash_password(password).await?);
    }
    let initial = domain::initial_state_of_human(&human);
    let (user_id, details) = ops::create(
        state,
        add.user_id,
        org,
        initial,
        Profile::V2(Box::new(human)),
    )
    .await?;
    Ok(AddHumanResponse {
        user_id,
        details: Details::from(&details),
    })
}

/// `POST /v2/users/human`
pub async fn add_human_rest(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let body = json_object(&req, payload, state.max_body_bytes).await?;
    let add = parse_add_human(&body)?;
    let caller = super::authenticate(&req, &state).await?;
    let response = add_human(&state, org_header(&req), &caller, add).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// The scope of a v2 change: a caller acting on its own user needs no permission.
pub fn v2_scope(caller: &Caller, user_id: &str, op: Operation) -> OrgScope {
    if caller.subject == user_id {
        OrgScope::Everywhere
    } else {
        caller.scope(ops::permission_for(op))
    }
}

#[derive(Serialize, Debug)]
pub struct ChangeResponse {
    pub details: Details,
}

/// A v2 state change after parsing and authentication.
pub async fn change(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    op: Operation,
) -> ApiResult<ChangeResponse> {
    let details = ops::change(state, op, user_id, v2_scope(caller, user_id, op)).await?;
    Ok(ChangeResponse {
        details: Details::from(&details),
    })
}

/// A v2 REST state change: shape, token, then the change.
pub async fn change_rest(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    op: Operation,
) -> Result<HttpResponse> {
    let user_id = path_user_id(&req)?;
    json_object(&req, payload, state.max_body_bytes).await?;
    let caller = super::authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok().json(change(&state, &caller, &user_id, op).await?))
}

// ---- Reading: zitadel.user.v2.User ----

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct HumanProfileJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    given_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    family_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    nick_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    display_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    preferred_language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gender: Option<&'static str>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct HumanEmailJson {
    email: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_verified: bool,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct HumanPhoneJson {
    phone: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_verified: bool,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct HumanJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<HumanProfileJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<HumanEmailJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<HumanPhoneJson>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    password_change_required: bool,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct UserJson {
    user_id: String,
    details: Details,
    state: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    login_names: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    preferred_login_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    human: Option<HumanJson>,
}

impl From<&User> for UserJson {
    fn from(u: &User) -> Self {
        let (username, human) = match &u.profile {
            Profile::V2(h) => (
                h.username.clone(),
                Some(HumanJson {
                    profile: Some(HumanProfileJson {
                        given_name: h.given_name.clone(),
                        family_name: h.family_name.clone(),
                        nick_name: h.nick_name.clone(),
                        display_name: h.display_name.clone(),
                        preferred_language: h.preferred_language.clone(),
                        gender: gender_name(h.gender),
                    }),
                    email: h.email.as_ref().map(|e| HumanEmailJson {
                        email: e.address.clone(),
                        is_verified: e.is_verified,
                    }),
                    phone: h.phone.as_ref().map(|p| HumanPhoneJson {
                        phone: p.number.clone(),
                        is_verified: p.is_verified,
                    }),
                    password_change_required: h.password_change_required,
                }),
            ),
            // A v3alpha user has no username or human profile in v2's terms.
            Profile::V3 { .. } => (String::new(), None),
        };
        UserJson {
            user_id: u.id.clone(),
            details: Details::from(u),
            state: u.state.name(),
            login_names: if username.is_empty() {
                Vec::new()
            } else {
                vec![username.clone()]
            },
            preferred_login_name: username.clone(),
            username,
            human,
        }
    }
}

#[derive(Serialize, Debug)]
pub struct GetUserResponse {
    pub details: Details,
    pub user: UserJson,
}

pub fn get_user(state: &AppState, caller: &Caller, user_id: &str) -> ApiResult<GetUserResponse> {
    validate_user_id(user_id)?;
    let user = ops::readable_user(state, user_id, caller, true)?;
    Ok(GetUserResponse {
        details: Details::from(&user),
        user: UserJson::from(&user),
    })
}

/// `GET /v2/users/{userId}`
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse> {
    let user_id = path_user_id(&req)?;
    super::extract::check_declared_length(&req, state.max_body_bytes)?;
    let caller = super::authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok().json(get_user(&state, &caller, &user_id)?))
}

// ---- Listing ----

/// One `SearchQuery` of a `ListUsersRequest`.
#[derive(Debug)]
enum Query {
    State(UserState),
    Org(String),
    Ids(Vec<String>),
    Username {
        name: String,
        method: TextMatch,
        ignore_case: bool,
    },
}

/// ZITADEL's `TextQueryMethod`, without the case flag.
#[derive(Debug, Clone, Copy)]
enum TextMatch {
    Equals,
    StartsWith,
    Contains,
    EndsWith,
}

/// A `TextQueryMethod` by name or number: the match and whether case is ignored.
fn text_method(value: Option<&Value>) -> ApiResult<(TextMatch, bool)> {
    const NAMES: [&str; 8] = [
        "TEXT_QUERY_METHOD_EQUALS",
        "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE",
        "TEXT_QUERY_METHOD_STARTS_WITH",
        "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE",
        "TEXT_QUERY_METHOD_CONTAINS",
        "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE",
        "TEXT_QUERY_METHOD_ENDS_WITH",
        "TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE",
    ];
    let n = match value {
        None | Some(Value::Null) => 0,
        Some(Value::String(name)) => NAMES
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| bad(format!("unknown text query method {name}")))?,
        Some(Value::Number(n)) => {
            n.as_u64()
                .filter(|n| *n < 8)
                .ok_or_else(|| bad("unknown text query method"))? as usize
        }
        Some(_) => return Err(bad("method must be a text query method")),
    };
    let matching = [
        TextMatch::Equals,
        TextMatch::StartsWith,
        TextMatch::Contains,
        TextMatch::EndsWith,
    ][n / 2];
    Ok((matching, n % 2 == 1))
}

impl std::fmt::Debug for AddHuman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("AddHuman")
            .field("user_id", &self.user_id)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl Query {
    fn keeps(&self, u: &User) -> bool {
        match self {
            Query::State(s) => u.state == *s,
            Query::Org(o) => u.org == *o,
            Query::Ids(ids) => ids.contains(&u.id),
            Query::Username {
                name,
                method,
                ignore_case,
            } => {
                let Profile::V2(h) = &u.profile else {
                    return false;
                };
                let (have, want) = if *ignore_case {
                    (h.username.to_lowercase(), name.to_lowercase())
                } else {
                    (h.username.clone(), name.clone())
                };
                match method {
                    TextMatch::Equals => have == want,
                    TextMatch::StartsWith => have.starts_with(&want),
                    TextMatch::Contains => have.contains(&want),
                    TextMatch::EndsWith => have.ends_with(&want),
                }
            }
        }
    }
}

fn uint(value: Option<&Value>, path: &str) -> ApiResult<u64> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad(format!("{path} must be a non-negative integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| bad(format!("{path} must be a non-negative integer"))),
        Some(_) => Err(bad(format!("{path} must be a non-negative integer"))),
    }
}

fn parse_query(q: &Map<String, Value>) -> ApiResult<Option<Query>> {
    if let Some(s) = get_obj(q, "stateQuery", "stateQuery")? {
        let state = match s.get("state") {
            Some(Value::String(name)) => UserState::from_name(name),
            Some(Value::Number(n)) => n.as_i64().and_then(UserState::from_number),
            _ => None,
        }
        .ok_or_else(|| bad("stateQuery.state must be a user state"))?;
        return Ok(Some(Query::State(state)));
    }
    if let Some(o) = get_obj(q, "organizationIdQuery", "organizationIdQuery")? {
        return Ok(Some(Query::Org(get_str(
            o,
            "organizationId",
            "organizationIdQuery.organizationId",
        )?)));
    }
    if let Some(i) = get_obj(q, "inUserIdsQuery", "inUserIdsQuery")? {
        let ids = match i.get("userIds") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(_) => return Err(bad("inUserIdsQuery.userIds must be a list of strings")),
        };
        return Ok(Some(Query::Ids(ids)));
    }
    if let Some(u) = get_obj(q, "userNameQuery", "userNameQuery")? {
        let (method, ignore_case) = text_method(u.get("method"))?;
        return Ok(Some(Query::Username {
            name: get_str(u, "userName", "userNameQuery.userName")?,
            method,
            ignore_case,
        }));
    }
    // Query types userd does not implement match nothing rather than everything.
    Err(bad("unsupported query: userd supports stateQuery, organizationIdQuery, inUserIdsQuery and userNameQuery"))
}

#[derive(Serialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ListDetailsJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    total_result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct ListUsersResponse {
    details: ListDetailsJson,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    result: Vec<UserJson>,
}

/// A `ListUsersRequest`, checked.
#[derive(Debug)]
pub struct ListRequest {
    paging: ops::Paging,
    queries: Vec<Query>,
}

pub fn parse_list(body: &Map<String, Value>) -> ApiResult<ListRequest> {
    let mut paging = ops::Paging {
        offset: 0,
        limit: ops::DEFAULT_LIMIT,
        asc: false,
    };
    if let Some(q) = get_obj(body, "query", "query")? {
        paging.offset = uint(q.get("offset"), "query.offset")?;
        paging.limit = match uint(q.get("limit"), "query.limit")? {
            0 => ops::DEFAULT_LIMIT,
            n => n.min(ops::MAX_LIMIT),
        };
        paging.asc = get_bool(q, "asc", "query.asc")?;
    }
    let mut queries = Vec::new();
    match body.get("queries") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for q in list {
                let Value::Object(q) = q else {
                    return Err(bad("each query must be an object"));
                };
                queries.extend(parse_query(q)?);
            }
        }
        Some(_) => return Err(bad("queries must be a list")),
    }
    Ok(ListRequest { paging, queries })
}

pub fn list_users(
    state: &AppState,
    caller: &Caller,
    request: &ListRequest,
) -> ApiResult<ListUsersResponse> {
    let page = ops::list(
        state,
        caller,
        |u| request.queries.iter().all(|q| q.keeps(u)),
        request.paging,
    )?;
    let details = if page.total == 0 {
        ListDetailsJson::default()
    } else {
        ListDetailsJson {
            total_result: Some(page.total.to_string()),
            timestamp: Some(Timestamp::now().to_rfc3339()),
        }
    };
    Ok(ListUsersResponse {
        details,
        result: page.users.iter().map(UserJson::from).collect(),
    })
}

/// `POST /v2/users`
pub async fn list(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let body = json_object(&req, payload, state.max_body_bytes).await?;
    let request = parse_list(&body)?;
    let caller: Arc<Caller> = super::authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok().json(list_users(&state, &caller, &request)?))
}
