//! RPC paths (`/zitadel.user.v2.UserService/<Method>`), as ZITADEL's SDKs call them: Connect
//! unary with JSON bodies. Each method parses its request message (protojson), authenticates,
//! and runs the same operation as the REST route; only the codec and the error form differ.
//!
//! Connect errors are `{"code": "failed_precondition", "message": "..."}` with Connect's HTTP
//! status for the code (`http::error::connect_status`).

use super::error::{connect_error_body, connect_status};
use super::extract::read_body;
use super::{v2, AppState};
use crate::domain::Operation;
use crate::error::{self, ApiError};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

/// The services served on RPC paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    UserV2,
}

impl Service {
    pub fn from_path(name: &str) -> Option<Service> {
        match name {
            "zitadel.user.v2.UserService" => Some(Service::UserV2),
            _ => None,
        }
    }
}

fn user_id_of(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("userId") {
        None | Some(Value::Null) => Err(error::USER_ID_MISSING.into()),
        Some(Value::String(id)) => {
            super::extract::validate_user_id(id)?;
            Ok(id.clone())
        }
        Some(_) => Err(ApiError::invalid_argument(
            error::USER_ID_INVALID.id,
            "userId must be a string",
        )),
    }
}

fn to_value(v: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::from(error::INTERNAL))
}

/// Run one method of `service` on a JSON request message: shape, then token, then the rest.
pub async fn call(
    state: &AppState,
    req: &HttpRequest,
    service: Service,
    method: &str,
    body: Map<String, Value>,
) -> Result<Value, ApiError> {
    match (service, method) {
        (Service::UserV2, "AddHumanUser") => {
            let add = v2::parse_add_human(&body)?;
            let caller = super::authenticate(req, state).await?;
            to_value(v2::add_human(state, super::extract::org_header(req), &caller, add).await?)
        }
        (Service::UserV2, "CreateUser") => {
            let add = v2::parse_create_user(&body)?;
            let caller = super::authenticate(req, state).await?;
            let created = v2::add_human(state, None, &caller, add).await?;
            to_value(serde_json::json!({
                "id": created.user_id,
                "creationDate": created.details.change_date,
            }))
        }
        (Service::UserV2, "GetUserByID") => {
            let id = user_id_of(&body)?;
            let caller = super::authenticate(req, state).await?;
            to_value(v2::get_user(state, &caller, &id)?)
        }
        (Service::UserV2, "ListUsers") => {
            let list = v2::parse_list(&body)?;
            let caller = super::authenticate(req, state).await?;
            to_value(v2::list_users(state, &caller, &list)?)
        }
        (Service::UserV2, name) => {
            let op = match name {
                "DeactivateUser" => Operation::Deactivate,
                "ReactivateUser" => Operation::Reactivate,
                "LockUser" => Operation::Lock,
                "UnlockUser" => Operation::Unlock,
                "DeleteUser" => Operation::Delete,
                _ => return Err(error::UNKNOWN_METHOD.into()),
            };
            let id = user_id_of(&body)?;
            let caller = super::authenticate(req, state).await?;
            to_value(v2::change(state, &caller, &id, op).await?)
        }
    }
}

fn connect_error(e: &ApiError) -> HttpResponse {
    HttpResponse::build(connect_status(e))
        .content_type("application/json")
        .body(connect_error_body(e))
}

/// `POST /{service}/{method}` with a Connect unary JSON request.
pub async fn connect_unary(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let service = req
        .match_info()
        .get("service")
        .unwrap_or_default()
        .to_string();
    let method = req
        .match_info()
        .get("method")
        .unwrap_or_default()
        .to_string();
    let Some(service) = Service::from_path(&service) else {
        return connect_error(&error::UNKNOWN_METHOD.into());
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let bytes = match read_body(&req, payload, state.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return connect_error(&e),
    };
    if content_type != "application/json" && !content_type.is_empty() {
        return connect_error(&ApiError::with_text(
            error::UNSUPPORTED_CONTENT_TYPE,
            format!("Content type {content_type} is not supported on this path"),
        ));
    }
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return connect_error(&ApiError::with_text(
                    error::BODY_NOT_JSON,
                    "Request message must be a JSON object",
                ))
            }
            Err(e) => {
                return connect_error(&ApiError::with_text(
                    error::BODY_NOT_JSON,
                    format!("Request body is not valid JSON: {e}"),
                ))
            }
        }
    };
    match call(&state, &req, service, &method, body).await {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(e) => connect_error(&e),
    }
}
