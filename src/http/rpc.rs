//! RPC paths (`/zitadel.user.v2.UserService/<Method>`), as ZITADEL's SDKs call them: Connect
//! unary (JSON and binary), gRPC-Web (binary and base64 text). Each method parses its request
//! message as protojson, authenticates, and runs the same operation as the REST route; a binary
//! request is decoded with the generated prost type and read as its protojson, and the JSON
//! answer is encoded back the same way. Only codecs and error forms differ between protocols.
//!
//! Connect errors are `{"code": "failed_precondition", "message": "..."}` with Connect's HTTP
//! status for the code (`http::error::connect_status`); gRPC-Web errors are HTTP 200 with a
//! trailer frame holding `grpc-status` and `grpc-message`.

use super::error::{connect_error_body, connect_status};
use super::extract::read_body;
use super::{v2, v3alpha, AppState};
use crate::domain::Operation;
use crate::error::{self, ApiError};
use crate::pb::zitadel::resources::user::v3alpha as pb3;
use crate::pb::zitadel::user::v2 as pb2;
use crate::pb::zitadel::user::v3alpha as pb3a;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use prost::Message;
use serde_json::{Map, Value};

/// The services served on RPC paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    UserV2,
    /// `zitadel.user.v3alpha.UserService`: the seed's service; its messages are the REST ones.
    UserV3Alpha,
    /// `zitadel.resources.user.v3alpha.ZITADELUsers`: the v3alpha service of ZITADEL's SDKs.
    UserResources,
}

impl Service {
    pub fn from_path(name: &str) -> Option<Service> {
        match name {
            "zitadel.user.v2.UserService" => Some(Service::UserV2),
            "zitadel.user.v3alpha.UserService" => Some(Service::UserV3Alpha),
            "zitadel.resources.user.v3alpha.ZITADELUsers" => Some(Service::UserResources),
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

/// The lifecycle operation a method name stands for (the same names in v2 and v3alpha).
fn operation_of(method: &str) -> Option<Operation> {
    match method {
        "DeactivateUser" => Some(Operation::Deactivate),
        "ReactivateUser" => Some(Operation::Reactivate),
        "LockUser" => Some(Operation::Lock),
        "UnlockUser" => Some(Operation::Unlock),
        "DeleteUser" => Some(Operation::Delete),
        _ => None,
    }
}

fn to_value(v: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::from(error::INTERNAL))
}

/// `zitadel.resources.user.v3alpha.ZITADELUsers`: the same operations, in that service's shapes
/// (`id` for the user, `details` with `id`, `created`, `changed` and `owner`; ActivateUser is
/// reactivate).
mod resources {
    use super::{to_value, Meta};
    use crate::domain::{Operation, Profile, Timestamp, User, UserState};
    use crate::error::{self, ApiError};
    use crate::http::{ops, v3alpha, AppState};
    use serde_json::{json, Map, Value};

    fn id_of(body: &Map<String, Value>) -> Result<String, ApiError> {
        match body.get("id") {
            Some(Value::String(id)) => {
                crate::http::extract::validate_user_id(id)?;
                Ok(id.clone())
            }
            None | Some(Value::Null) => Err(error::USER_ID_MISSING.into()),
            Some(_) => Err(ApiError::invalid_argument(
                error::USER_ID_INVALID.id,
                "id must be a string",
            )),
        }
    }

    fn details(id: &str, created: Option<Timestamp>, changed: Timestamp, org: &str) -> Value {
        let mut d = json!({
            "id": id,
            "changed": changed.to_rfc3339(),
            "owner": {"type": "OWNER_TYPE_ORG", "id": org},
        });
        if let Some(created) = created {
            d["created"] = json!(created.to_rfc3339());
        }
        d
    }

    /// This service's `State` has no INITIAL: such users show as unspecified.
    fn state_name(state: UserState) -> &'static str {
        match state {
            UserState::Initial => UserState::Unspecified.name(),
            other => other.name(),
        }
    }

    fn user(u: &User) -> Value {
        let mut out = json!({
            "details": details(&u.id, Some(u.created_at), u.changed_at, &u.org),
            "state": state_name(u.state),
        });
        if let Profile::V3 {
            schema_id,
            data_json,
            ..
        } = &u.profile
        {
            out["schema"] = json!({"id": schema_id});
            out["data"] = serde_json::from_str(data_json).unwrap_or(json!({}));
        }
        let contact = u.profile.contact();
        let mut c = Map::new();
        if let Some(e) = contact.email {
            c.insert(
                "email".into(),
                json!({"address": e.address, "isVerified": e.is_verified}),
            );
        }
        if let Some(p) = contact.phone {
            c.insert(
                "phone".into(),
                json!({"number": p.number, "isVerified": p.is_verified}),
            );
        }
        if !c.is_empty() {
            out["contact"] = Value::Object(c);
        }
        out
    }

    fn uint(value: Option<&Value>) -> Result<u64, ApiError> {
        match value {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                ApiError::invalid_argument(
                    "USERD-SEARCH-0001",
                    "query values must be non-negative integers",
                )
            }),
            Some(Value::String(s)) => s.parse().map_err(|_| {
                ApiError::invalid_argument(
                    "USERD-SEARCH-0001",
                    "query values must be non-negative integers",
                )
            }),
            Some(_) => Err(ApiError::invalid_argument(
                "USERD-SEARCH-0001",
                "query values must be non-negative integers",
            )),
        }
    }

    pub(super) async fn call(
        state: &AppState,
        meta: &Meta,
        method: &str,
        body: Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let auth = || crate::http::authenticate_header(meta.authorization.as_deref(), state);
        match method {
            "CreateUser" => {
                let create = v3alpha::parse_create(&body)?;
                let caller = auth().await?;
                let created =
                    v3alpha::create_user(state, meta.org.clone(), &caller, create).await?;
                let changed = created.details.change_date.clone();
                to_value(json!({"details": {
                    "id": created.user_id,
                    "created": changed,
                    "changed": changed,
                    "owner": {"type": "OWNER_TYPE_ORG", "id": created.details.resource_owner},
                }}))
            }
            "GetUser" => {
                let id = id_of(&body)?;
                let caller = auth().await?;
                let found = ops::readable_user(state, &id, &caller, false)?;
                to_value(json!({"user": user(&found)}))
            }
            "SearchUsers" => {
                let query = body
                    .get("query")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let filter = crate::http::resource_filter::parse_filters(body.get("filters"))?;
                let limit = match uint(query.get("limit"))? {
                    0 => ops::DEFAULT_LIMIT,
                    n => n.min(ops::MAX_LIMIT),
                };
                let paging = ops::Paging {
                    offset: uint(query.get("offset"))?,
                    limit,
                    asc: !query.get("desc").and_then(Value::as_bool).unwrap_or(false),
                };
                let caller = auth().await?;
                let page = ops::list(
                    state,
                    &caller,
                    |u| filter.as_ref().is_none_or(|f| f.keeps(u)),
                    paging,
                )?;
                to_value(json!({
                    "details": {"appliedLimit": limit.to_string(), "totalResult": page.total.to_string(), "timestamp": Timestamp::now().to_rfc3339()},
                    "result": page.users.iter().map(user).collect::<Vec<_>>(),
                }))
            }
            _ => {
                let op = match method {
                    "DeactivateUser" => Operation::Deactivate,
                    "ActivateUser" => Operation::Reactivate,
                    "LockUser" => Operation::Lock,
                    "UnlockUser" => Operation::Unlock,
                    "DeleteUser" => Operation::Delete,
                    _ => return Err(error::UNKNOWN_METHOD.into()),
                };
                let id = id_of(&body)?;
                let caller = auth().await?;
                let done =
                    ops::change(state, op, &id, caller.scope(ops::permission_for(op))).await?;
                to_value(json!({"details": details(&id, None, done.changed_at, &done.org)}))
            }
        }
    }
}

/// What a call needs from its protocol's headers.
#[derive(Debug, Default)]
pub struct Meta {
    pub authorization: Option<String>,
    /// `x-zitadel-orgid`.
    pub org: Option<String>,
}

impl Meta {
    fn of(req: &HttpRequest) -> Meta {
        Meta {
            authorization: req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or("\u{0}").to_string()),
            org: super::extract::org_header(req),
        }
    }
}

/// Run one method of `service` on a JSON request message: shape, then token, then the rest.
pub async fn call(
    state: &AppState,
    meta: &Meta,
    service: Service,
    method: &str,
    body: Map<String, Value>,
) -> Result<Value, ApiError> {
    let auth = || super::authenticate_header(meta.authorization.as_deref(), state);
    match (service, method) {
        (Service::UserV2, "AddHumanUser") => {
            let add = v2::parse_add_human(&body)?;
            let caller = auth().await?;
            to_value(v2::add_human(state, meta.org.clone(), &caller, add).await?)
        }
        (Service::UserV2, "CreateUser") => {
            let add = v2::parse_create_user(&body)?;
            let caller = auth().await?;
            let created = v2::add_human(state, None, &caller, add).await?;
            to_value(serde_json::json!({
                "id": created.user_id,
                "creationDate": created.details.change_date,
            }))
        }
        (Service::UserV2, "GetUserByID") => {
            let id = user_id_of(&body)?;
            let caller = auth().await?;
            to_value(v2::get_user(state, &caller, &id)?)
        }
        (Service::UserV2, "ListUsers") => {
            let list = v2::parse_list(&body)?;
            let caller = auth().await?;
            to_value(v2::list_users(state, &caller, &list)?)
        }
        (Service::UserV3Alpha, "CreateUser") => {
            let create = v3alpha::parse_create(&body)?;
            let caller = auth().await?;
            to_value(v3alpha::create_user(state, meta.org.clone(), &caller, create).await?)
        }
        (Service::UserV3Alpha, "GetUserByID") => {
            let id = user_id_of(&body)?;
            let caller = auth().await?;
            to_value(v3alpha::get_user(state, &caller, &id)?)
        }
        // ZITADEL named the method ListUsers (on POST /v3alpha/users/search); both are served.
        (Service::UserV3Alpha, "SearchUsers" | "ListUsers") => {
            let query = v3alpha::parse_search(&body)?;
            let caller = auth().await?;
            to_value(v3alpha::search_users(state, &caller, &query)?)
        }
        (Service::UserV3Alpha, name) => {
            let op = operation_of(name).ok_or_else(|| ApiError::from(error::UNKNOWN_METHOD))?;
            let id = user_id_of(&body)?;
            let caller = auth().await?;
            to_value(v3alpha::change(state, &caller, &id, op).await?)
        }
        (Service::UserResources, method) => resources::call(state, meta, method, body).await,
        (Service::UserV2, name) => {
            let op = operation_of(name).ok_or_else(|| ApiError::from(error::UNKNOWN_METHOD))?;
            let id = user_id_of(&body)?;
            let caller = auth().await?;
            to_value(v2::change(state, &caller, &id, op).await?)
        }
    }
}

/// The binary codec of each method: request bytes to protojson, protojson answer to bytes.
macro_rules! binary_codec {
    ($($service:ident, $name:literal => $req:ty, $resp:ty;)*) => {
        pub(crate) fn request_to_json(service: Service, method: &str, bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
            let bad = |e: String| ApiError::with_text(error::BODY_NOT_JSON, format!("Request message does not decode: {e}"));
            let value = match (service, method) {
                $((Service::$service, $name) => {
                    let message = <$req>::decode(bytes).map_err(|e| bad(e.to_string()))?;
                    serde_json::to_value(&message).map_err(|e| bad(e.to_string()))?
                })*
                _ => return Err(error::UNKNOWN_METHOD.into()),
            };
            match value {
                Value::Object(map) => Ok(map),
                _ => Ok(Map::new()),
            }
        }

        pub(crate) fn response_to_binary(service: Service, method: &str, value: Value) -> Result<Vec<u8>, ApiError> {
            let internal = |e: String| {
                log::error!("answer of {method} does not encode: {e}");
                ApiError::from(error::INTERNAL)
            };
            match (service, method) {
                $((Service::$service, $name) => {
                    let message: $resp = serde_json::from_value(value).map_err(|e| internal(e.to_string()))?;
                    Ok(message.encode_to_vec())
                })*
                _ => Err(error::UNKNOWN_METHOD.into()),
            }
        }
    };
}

binary_codec! {
    UserResources, "CreateUser" => pb3::CreateUserRequest, pb3::CreateUserResponse;
    UserResources, "GetUser" => pb3::GetUserRequest, pb3::GetUserResponse;
    UserResources, "SearchUsers" => pb3::SearchUsersRequest, pb3::SearchUsersResponse;
    UserResources, "DeactivateUser" => pb3::DeactivateUserRequest, pb3::DeactivateUserResponse;
    UserResources, "ActivateUser" => pb3::ActivateUserRequest, pb3::ActivateUserResponse;
    UserResources, "LockUser" => pb3::LockUserRequest, pb3::LockUserResponse;
    UserResources, "UnlockUser" => pb3::UnlockUserRequest, pb3::UnlockUserResponse;
    UserResources, "DeleteUser" => pb3::DeleteUserRequest, pb3::DeleteUserResponse;
    UserV2, "AddHumanUser" => pb2::AddHumanUserRequest, pb2::AddHumanUserResponse;
    UserV2, "CreateUser" => pb2::CreateUserRequest, pb2::CreateUserResponse;
    UserV2, "GetUserByID" => pb2::GetUserByIdRequest, pb2::GetUserByIdResponse;
    UserV2, "ListUsers" => pb2::ListUsersRequest, pb2::ListUsersResponse;
    UserV2, "DeactivateUser" => pb2::DeactivateUserRequest, pb2::DeactivateUserResponse;
    UserV2, "ReactivateUser" => pb2::ReactivateUserRequest, pb2::ReactivateUserResponse;
    UserV2, "LockUser" => pb2::LockUserRequest, pb2::LockUserResponse;
    UserV2, "UnlockUser" => pb2::UnlockUserRequest, pb2::UnlockUserResponse;
    UserV2, "DeleteUser" => pb2::DeleteUserRequest, pb2::DeleteUserResponse;
    UserV3Alpha, "CreateUser" => pb3a::CreateUserRequest, pb3a::CreateUserResponse;
    UserV3Alpha, "GetUserByID" => pb3a::GetUserByIdRequest, pb3a::GetUserByIdResponse;
    UserV3Alpha, "ListUsers" => pb3a::ListUsersRequest, pb3a::ListUsersResponse;
    UserV3Alpha, "SearchUsers" => pb3a::ListUsersRequest, pb3a::ListUsersResponse;
    UserV3Alpha, "DeactivateUser" => pb3a::DeactivateUserRequest, pb3a::DeactivateUserResponse;
    UserV3Alpha, "ReactivateUser" => pb3a::ReactivateUserRequest, pb3a::ReactivateUserResponse;
    UserV3Alpha, "LockUser" => pb3a::LockUserRequest, pb3a::LockUserResponse;
    UserV3Alpha, "UnlockUser" => pb3a::UnlockUserRequest, pb3a::UnlockUserResponse;
    UserV3Alpha, "DeleteUser" => pb3a::DeleteUserRequest, pb3a::DeleteUserResponse;
}

/// The wire protocol of a request, from its content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    ConnectJson,
    ConnectProto,
    GrpcWeb,
    GrpcWebText,
    /// Native gRPC: HTTP/2 only; `connection.rs` sends its status as trailers.
    Grpc,
}

fn protocol_of(content_type: &str) -> Option<Protocol> {
    match content_type {
        "" | "application/json" => Some(Protocol::ConnectJson),
        "application/proto" => Some(Protocol::ConnectProto),
        "application/grpc-web" | "application/grpc-web+proto" => Some(Protocol::GrpcWeb),
        "application/grpc-web-text" | "application/grpc-web-text+proto" => {
            Some(Protocol::GrpcWebText)
        }
        "application/grpc" | "application/grpc+proto" => Some(Protocol::Grpc),
        _ => None,
    }
}

/// A gRPC length-prefixed message: flag byte, 4-byte big-endian length, message.
pub(crate) fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(flag);
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// The message of the first data frame of a gRPC(-Web) request body.
pub(crate) fn unframe(body: &[u8]) -> Result<&[u8], ApiError> {
    let bad = |text: &str| ApiError::with_text(error::BODY_NOT_JSON, text.to_string());
    if body.is_empty() {
        return Ok(&[]);
    }
    let header = body
        .get(..5)
        .ok_or_else(|| bad("gRPC frame header is truncated"))?;
    if header[0] & 1 != 0 {
        return Err(bad("compressed gRPC messages are not supported"));
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    body.get(5..5 + len)
        .ok_or_else(|| bad("gRPC frame is truncated"))
}

/// `grpc-message` is percent-encoded (the gRPC spec's rule).
pub(crate) fn grpc_message(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, &GRPC_MESSAGE_ESCAPES).to_string()
}

const GRPC_MESSAGE_ESCAPES: percent_encoding::AsciiSet = percent_encoding::CONTROLS.add(b'%');

/// The gRPC status, message and body (the framed answer, or nothing on an error) of a call.
fn grpc_outcome(result: Result<Vec<u8>, ApiError>) -> (i32, String, Vec<u8>) {
    match result {
        Ok(bytes) => (0, String::new(), frame(0, &bytes)),
        Err(e) => (e.code.number(), e.message(), Vec::new()),
    }
}

/// A gRPC-Web answer: the message frame (on success) and the trailer frame.
fn grpc_web_response(result: Result<Vec<u8>, ApiError>, text: bool) -> HttpResponse {
    let (status, message, mut body) = grpc_outcome(result);
    let trailers = format!(
        "grpc-status: {status}\r\ngrpc-message: {}\r\n",
        grpc_message(&message)
    );
    body.extend(frame(0x80, trailers.as_bytes()));
    let (content_type, body) = if text {
        use base64::Engine as _;
        (
            "application/grpc-web-text+proto",
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .into_bytes(),
        )
    } else {
        ("application/grpc-web+proto", body)
    };
    HttpResponse::Ok().content_type(content_type).body(body)
}

/// A native gRPC answer: the message frame with `grpc-status` and `grpc-message` headers, which
/// `connection.rs` sends as HTTP/2 trailers after it; an error has no message, so its status
/// stays in the headers (gRPC's "Trailers-Only" answer).
fn grpc_response(result: Result<Vec<u8>, ApiError>) -> HttpResponse {
    let (status, message, body) = grpc_outcome(result);
    HttpResponse::Ok()
        .content_type("application/grpc+proto")
        .insert_header(("grpc-status", status.to_string()))
        .insert_header(("grpc-message", grpc_message(&message)))
        .body(body)
}

fn connect_error(e: &ApiError) -> HttpResponse {
    HttpResponse::build(connect_status(e))
        .content_type("application/json")
        .body(connect_error_body(e))
}

/// `POST /{service}/{method}`: Connect unary (JSON or binary) or gRPC-Web, by content type.
pub async fn rpc(
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
    let protocol = protocol_of(&content_type);
    let grpc_web = matches!(protocol, Some(Protocol::GrpcWeb | Protocol::GrpcWebText));
    let text = protocol == Some(Protocol::GrpcWebText);
    let fail = |e: ApiError| match protocol {
        Some(Protocol::Grpc) => grpc_response(Err(e)),
        _ if grpc_web => grpc_web_response(Err(e), text),
        _ => connect_error(&e),
    };
    let Some(protocol) = protocol else {
        return connect_error(&ApiError::with_text(
            error::UNSUPPORTED_CONTENT_TYPE,
            format!("Content type {content_type} is not supported on this path"),
        ));
    };
    if protocol == Protocol::Grpc && req.version() != actix_web::http::Version::HTTP_2 {
        // gRPC's status travels in HTTP/2 trailers; HTTP/1.1 has no place for it.
        let e = ApiError::with_text(
            error::UNSUPPORTED_CONTENT_TYPE,
            "gRPC needs HTTP/2 (prior knowledge, h2c); over HTTP/1.1 use Connect or gRPC-Web",
        );
        return HttpResponse::UnsupportedMediaType()
            .insert_header(("grpc-status", "12"))
            .insert_header(("grpc-message", grpc_message(&e.message())))
            .content_type("application/json")
            .body(connect_error_body(&e));
    }
    let Some(service) = Service::from_path(&service) else {
        // No such service: an unknown route, as on every other path.
        return actix_web::ResponseError::error_response(&super::error::HttpError(
            error::ROUTE_NOT_FOUND.into(),
        ));
    };
    let bytes = match read_body(&req, payload, state.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let request = match protocol {
        Protocol::ConnectJson => json_request(&bytes),
        Protocol::ConnectProto => request_to_json(service, &method, &bytes),
        Protocol::GrpcWebText => {
            use base64::Engine as _;
            let clean: Vec<u8> = bytes
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            match base64::engine::general_purpose::STANDARD.decode(&clean) {
                Ok(raw) => unframe(&raw).and_then(|m| request_to_json(service, &method, m)),
                Err(_) => Err(ApiError::with_text(
                    error::BODY_NOT_JSON,
                    "gRPC-Web text body is not base64",
                )),
            }
        }
        Protocol::GrpcWeb | Protocol::Grpc => {
            unframe(&bytes).and_then(|m| request_to_json(service, &method, m))
        }
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let answer = call(&state, &Meta::of(&req), service, &method, request).await;
    match protocol {
        Protocol::ConnectJson => match answer {
            Ok(value) => HttpResponse::Ok().json(value),
            Err(e) => connect_error(&e),
        },
        Protocol::ConnectProto => {
            match answer.and_then(|v| response_to_binary(service, &method, v)) {
                Ok(bytes) => HttpResponse::Ok()
                    .content_type("application/proto")
                    .body(bytes),
                Err(e) => connect_error(&e),
            }
        }
        Protocol::Grpc => {
            grpc_response(answer.and_then(|v| response_to_binary(service, &method, v)))
        }
        Protocol::GrpcWeb | Protocol::GrpcWebText => grpc_web_response(
            answer.and_then(|v| response_to_binary(service, &method, v)),
            text,
        ),
    }
}

/// A Connect JSON request message; an empty body is the empty message.
fn json_request(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::with_text(
            error::BODY_NOT_JSON,
            "Request message must be a JSON object",
        )),
        Err(e) => Err(ApiError::with_text(
            error::BODY_NOT_JSON,
            format!("Request body is not valid JSON: {e}"),
        )),
    }
}
