//! The v3alpha user endpoints (`zitadel.user.v3alpha.UserService` over REST).
//!
//! Every handler checks in the contract's order: request shape (400/413/415), token (401), then
//! the actor checks existence (404), permission (403) and state (400) atomically. Handlers hold
//! no state of their own: changes go to the shard's actor, reads go straight to sled.

use super::extract::{json_object, org_header, path_user_id, validate_user_id};
use super::ops;
use super::wire::*;
use super::AppState;
use crate::auth::{Caller, Permission};
use crate::domain::{Contact, Email, Operation, Phone, Profile, Timestamp, UserState};
use crate::error::{self, ApiError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

type Result<T> = std::result::Result<T, super::error::HttpError>;

/// Shape, then token: what every state change checks before it reaches the actor.
async fn change_request(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> std::result::Result<(String, std::sync::Arc<Caller>), ApiError> {
    let user_id = path_user_id(req)?;
    // The body is optional and ignored: the path's id wins over any `userId` in it.
    json_object(req, payload, state.max_body_bytes).await?;
    let caller = super::authenticate(req, state).await?;
    Ok((user_id, caller))
}

/// Shape, token, then the shard's checks and the change.
/// A v3alpha REST state change: shape, token, then the change.
pub async fn change_handler(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    op: Operation,
) -> Result<HttpResponse> {
    let (user_id, caller) = change_request(&req, payload, &state).await?;
    Ok(HttpResponse::Ok().json(change(&state, &caller, &user_id, op).await?))
}

/// A create body, checked.
#[derive(Debug)]
pub struct CreateBody {
    pub user_id: Option<String>,
    pub org: Option<String>,
    pub schema_id: String,
    pub data_json: String,
    pub contact: Contact,
}

fn bad(text: impl Into<String>) -> ApiError {
    ApiError::invalid_argument("USERD-CREATE-0001", text)
}

fn optional_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> std::result::Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("{path} must be a string"))),
    }
}

fn optional_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> std::result::Result<Option<&'a Map<String, Value>>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(bad(format!("{path} must be an object"))),
    }
}

fn optional_bool(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> std::result::Result<bool, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!("{path} must be a boolean"))),
    }
}

/// Read a create body: flat (`{"schemaId", "data", ...}`) or with the user nested under `user`
/// as ZITADEL's `CreateUserRequest` has it.
pub fn parse_create(body: &Map<String, Value>) -> std::result::Result<CreateBody, ApiError> {
    let user = optional_object(body, "user", "user")?.unwrap_or(body);
    let user_id = optional_string(user, "userId", "userId")?
        .or(optional_string(body, "userId", "userId")?)
        .filter(|id| !id.is_empty());
    if let Some(id) = &user_id {
        validate_user_id(id)?;
    }
    let org = match optional_object(body, "organization", "organization")? {
        Some(o) => optional_string(o, "orgId", "organization.orgId")?.filter(|s| !s.is_empty()),
        None => None,
    };
    let schema_id = optional_string(user, "schemaId", "schemaId")?.unwrap_or_default();
    let n = schema_id.chars().count();
    if n == 0 || n > 200 {
        return Err(bad("schemaId is required and must be 1 to 200 characters"));
    }
    let data_json = match user.get("data") {
        Some(data @ Value::Object(_)) => {
            serde_json::to_string(data).map_err(|e| bad(e.to_string()))?
        }
        None | Some(Value::Null) => return Err(bad("data is required and must be a JSON object")),
        Some(_) => return Err(bad("data must be a JSON object")),
    };
    let mut contact = Contact::default();
    if let Some(c) = optional_object(user, "contact", "contact")? {
        if let Some(e) = optional_object(c, "email", "contact.email")? {
            let address =
                optional_string(e, "address", "contact.email.address")?.unwrap_or_default();
            if address.is_empty() {
                return Err(bad(
                    "contact.email.address is required when contact.email is set",
                ));
            }
            contact.email = Some(Email {
                address,
                is_verified: optional_bool(e, "isVerified", "contact.email.isVerified")?,
            });
        }
        if let Some(p) = optional_object(c, "phone", "contact.phone")? {
            let number = optional_string(p, "number", "contact.phone.number")?.unwrap_or_default();
            if number.is_empty() {
                return Err(bad(
                    "contact.phone.number is required when contact.phone is set",
                ));
            }
            contact.phone = Some(Phone {
                number,
                is_verified: optional_bool(p, "isVerified", "contact.phone.isVerified")?,
            });
        }
    }
    Ok(CreateBody {
        user_id,
        org,
        schema_id,
        data_json,
        contact,
    })
}

/// `POST /v3alpha/users`
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let body = json_object(&req, payload, state.max_body_bytes).await?;
    let body = parse_create(&body)?;
    let caller = super::authenticate(&req, &state).await?;
    let created = create_user(&state, org_header(&req), &caller, body).await?;
    Ok(HttpResponse::Created().json(created))
}

/// A create after parsing and authentication: the target organization, its permission, the
/// creation.
pub async fn create_user(
    state: &AppState,
    org_header: Option<String>,
    caller: &Caller,
    body: CreateBody,
) -> std::result::Result<CreateResponse, ApiError> {
    let org = body
        .org
        .or(org_header)
        .or_else(|| caller.resource_owner.clone())
        .ok_or_else(|| ApiError::from(error::ORGANIZATION_MISSING))?;
    if !caller.scope(Permission::Write).allows(&org) {
        return Err(error::PERMISSION_DENIED.into());
    }
    let profile = Profile::V3 {
        schema_id: body.schema_id,
        data_json: body.data_json,
        contact: body.contact,
    };
    let (user_id, details) =
        ops::create(state, body.user_id, org, UserState::Active, profile).await?;
    Ok(CreateResponse {
        user_id,
        details: Details::from(&details),
    })
}

/// A read after authentication.
pub fn get_user(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
) -> std::result::Result<GetUserResponse, ApiError> {
    super::extract::validate_user_id(user_id)?;
    let user = ops::readable_user(state, user_id, caller, false)?;
    Ok(GetUserResponse {
        details: Details::from(&user),
        user: UserJson::from(&user),
    })
}

/// A change after authentication.
pub async fn change(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    op: Operation,
) -> std::result::Result<ChangeResponse, ApiError> {
    let scope = caller.scope(ops::permission_for(op));
    let details = ops::change(state, op, user_id, scope).await?;
    Ok(ChangeResponse {
        details: Details::from(&details),
    })
}

/// `GET /v3alpha/users/{userId}`
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse> {
    let user_id = path_user_id(&req)?;
    super::extract::check_declared_length(&req, state.max_body_bytes)?;
    let caller = super::authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok().json(get_user(&state, &caller, &user_id)?))
}

/// A search request, checked.
#[derive(Debug)]
pub struct SearchQuery {
    offset: u64,
    limit: u64,
    asc: bool,
    states: Vec<UserState>,
    orgs: Vec<String>,
}

fn uint(value: Option<&Value>, path: &str) -> std::result::Result<u64, ApiError> {
    let bad = || {
        ApiError::invalid_argument(
            "USERD-SEARCH-0001",
            format!("{path} must be a non-negative integer"),
        )
    };
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(bad),
        Some(Value::String(s)) => s.parse::<u64>().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

pub fn parse_search(body: &Map<String, Value>) -> std::result::Result<SearchQuery, ApiError> {
    let bad = |text: String| ApiError::invalid_argument("USERD-SEARCH-0001", text);
    let mut q = SearchQuery {
        offset: 0,
        limit: ops::DEFAULT_LIMIT,
        asc: false,
        states: Vec::new(),
        orgs: Vec::new(),
    };
    match body.get("query") {
        None | Some(Value::Null) => {}
        Some(Value::Object(query)) => {
            q.offset = uint(query.get("offset"), "query.offset")?;
            q.limit = match uint(query.get("limit"), "query.limit")? {
                0 => ops::DEFAULT_LIMIT,
                n => n.min(ops::MAX_LIMIT),
            };
            q.asc = match query.get("asc") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("query.asc must be a boolean".into())),
            };
        }
        Some(_) => return Err(bad("query must be an object".into())),
    }
    let filters = match body.get("filters") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(f)) => f,
        Some(_) => return Err(bad("filters must be an array".into())),
    };
    for filter in filters {
        let Value::Object(filter) = filter else {
            return Err(bad("each filter must be an object".into()));
        };
        if let Some(f) = filter.get("stateFilter") {
            let state = match f.get("state") {
                Some(Value::String(name)) => UserState::from_name(name),
                Some(Value::Number(n)) => n.as_i64().and_then(UserState::from_number),
                _ => None,
            }
            .ok_or_else(|| {
                bad("stateFilter.state must be a user state such as USER_STATE_ACTIVE".into())
            })?;
            q.states.push(state);
        }
        if let Some(f) = filter.get("organizationIdFilter") {
            match f.get("organizationId") {
                Some(Value::String(org)) => q.orgs.push(org.clone()),
                _ => {
                    return Err(bad(
                        "organizationIdFilter.organizationId must be a string".into()
                    ))
                }
            }
        }
    }
    Ok(q)
}

/// `POST /v3alpha/users/search`
pub async fn search(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let body = json_object(&req, payload, state.max_body_bytes).await?;
    let query = parse_search(&body)?;
    let caller = super::authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok().json(search_users(&state, &caller, &query)?))
}

/// A search after parsing and authentication.
pub fn search_users(
    state: &AppState,
    caller: &Caller,
    query: &SearchQuery,
) -> std::result::Result<SearchResponse, ApiError> {
    let page = ops::list(
        state,
        caller,
        |user| {
            query.states.iter().all(|s| *s == user.state)
                && query.orgs.iter().all(|o| *o == user.org)
        },
        ops::Paging {
            offset: query.offset,
            limit: query.limit,
            asc: query.asc,
        },
    )?;
    let details = if page.total == 0 {
        ListDetails::default()
    } else {
        ListDetails {
            total_result: Some(page.total.to_string()),
            timestamp: Some(Timestamp::now().to_rfc3339()),
        }
    };
    let result = page.users.iter().map(UserJson::from).collect();
    Ok(SearchResponse { details, result })
}
