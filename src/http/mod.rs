//! The HTTP surface: routes, request logging, and the JSON answers for unknown routes (404) and
//! wrong methods (405).
//!
//! Routing comes first: whatever the token, an unknown path answers 404 code 5 and a wrong method
//! on a known path 405 code 12. Every failure answers ZITADEL's JSON error body.

pub mod connection;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod ops;
pub mod resource_filter;
pub mod rpc;
pub mod v2;
pub mod v3alpha;
pub mod wire;

use crate::auth::{self, Caller, Verifier};
use crate::domain::Operation;
use crate::error::{self as errors, ApiError};
use crate::id::IdGenerator;
use crate::shard::{Ping, Shards};
use actix_web::{web, HttpRequest, HttpResponse};
use error::HttpError;
use std::time::Duration;

tokio::task_local! {
    /// The id of the request being handled (from `x-request-id`, or made up): it goes into the
    /// response header, every error body and every log line of the request.
    pub static REQUEST_ID: std::sync::Arc<str>;
}

/// The current request's id, if a request is being handled on this task.
pub fn current_request_id() -> Option<std::sync::Arc<str>> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// A caller's `x-request-id` if it is usable (1 to 128 visible ASCII characters), else a new one.
pub fn request_id_for(header: Option<&str>) -> std::sync::Arc<str> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    if let Some(h) = header
        .filter(|h| !h.is_empty() && h.len() <= 128 && h.bytes().all(|b| b.is_ascii_graphic()))
    {
        return h.into();
    }
    let prefix = *PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        let _ = getrandom::fill(&mut b);
        u32::from_le_bytes(b)
    });
    format!("{prefix:08x}{:016x}", NEXT.fetch_add(1, Ordering::Relaxed)).into()
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub shards: Shards,
    pub verifier: Verifier,
    pub ids: IdGenerator,
    pub max_body_bytes: usize,
    /// v2 usernames being claimed by a create in flight (see `ops::create`).
    pub pending_usernames: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Authenticate a request: a valid token (401 otherwise) whose subject, if it is a userd user,
/// is active and has not been deactivated, locked or deleted since the token was issued. The
/// subject is read from the store on every request, so a change is visible to the next one.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
) -> Result<std::sync::Arc<Caller>, ApiError> {
    let header = match req.headers().get(actix_web::http::header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::from(errors::TOKEN_INVALID))?,
        ),
    };
    authenticate_header(header, state).await
}

/// [`authenticate`] for an `Authorization` header value from any protocol.
pub async fn authenticate_header(
    header: Option<&str>,
    state: &AppState,
) -> Result<std::sync::Arc<Caller>, ApiError> {
    let result: Result<std::sync::Arc<Caller>, ApiError> = async {
        let caller = auth::authenticate(header, &state.verifier).await?;
        let subject = state
            .shards
            .store
            .get_user(&caller.subject)
            .map_err(|e| crate::shard::store_error(&e))?;
        auth::check_subject(&caller, subject.as_ref())?;
        Ok(caller)
    }
    .await;
    if let Err(e) = &result {
        let reason = match e.id.as_ref() {
            id if id == errors::AUTH_HEADER_MISSING.id
                && e.text == errors::AUTH_HEADER_MISSING.text =>
            {
                "missing"
            }
            id if id == errors::SUBJECT_NOT_ACTIVE.id => "subject_not_active",
            id if id == errors::TOKEN_REVOKED.id => "revoked",
            id if id == errors::TOKEN_INVALID.id => "invalid",
            _ => "other",
        };
        crate::metrics::get().token_rejected(reason);
    }
    result
}

async fn not_found() -> Result<HttpResponse, HttpError> {
    Err(errors::ROUTE_NOT_FOUND.into())
}

async fn method_not_allowed() -> Result<HttpResponse, HttpError> {
    Err(errors::METHOD_NOT_ALLOWED.into())
}

/// A path whose other methods answer 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Register every route. The `{userId}` segment may be empty so that `//reactivate` answers
/// 400 "User ID missing" rather than 404.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // The REST operations come from the table `/openapi.json` is built from, in its order
    // (fixed paths such as `/v3alpha/users/search` before `/v3alpha/users/{userId}`).
    let mut paths: Vec<&str> = Vec::new();
    for op in openapi::OPERATIONS {
        if !paths.contains(&op.path) {
            paths.push(op.path);
        }
    }
    for path in paths {
        let pattern = path.replace("{userId}", "{userId:[^/]*}");
        let mut resource = resource(&pattern);
        for op in openapi::OPERATIONS.iter().filter(|op| op.path == path) {
            if let Some(route) = rest_route(op.id) {
                resource = resource.route(route);
            }
        }
        cfg.service(resource);
    }
    cfg.service(resource("/debug/healthz").route(web::get().to(healthz)))
        .service(resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(resource("/docs").route(web::get().to(docs)))
        .service(resource("/debug/ready").route(web::get().to(ready)))
        .service(resource("/debug/metrics").route(web::get().to(metrics)))
        .service(
            resource(r"/{service:zitadel\.[A-Za-z0-9_.]+}/{method}")
                .route(web::post().to(rpc::rpc)),
        );
    #[cfg(feature = "fault-injection")]
    cfg.service(resource("/debug/faults").route(web::post().to(set_faults)));
    cfg.default_service(web::to(not_found));
}

/// `POST /debug/faults {"write": bool, "flush": bool}` (test builds only): make the store's
/// writes and/or flushes fail until cleared.
#[cfg(feature = "fault-injection")]
async fn set_faults(body: web::Bytes) -> Result<HttpResponse, HttpError> {
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| HttpError(ApiError::with_text(errors::BODY_NOT_JSON, e.to_string())))?;
    let write = v["write"].as_bool().unwrap_or(false);
    let flush = v["flush"].as_bool().unwrap_or(false);
    crate::store::faults::set(write, flush);
    log::warn!("injected faults: write={write} flush={flush}");
    Ok(HttpResponse::Ok().json(serde_json::json!({"write": write, "flush": flush})))
}

/// The v3alpha REST handler of a state change.
fn v3alpha_change(
    op: Operation,
) -> impl Fn(HttpRequest, web::Payload, web::Data<AppState>) -> ChangeFuture + Clone + 'static {
    move |req, payload, state| Box::pin(v3alpha::change_handler(req, payload, state, op))
}

/// The v2 REST handler of a state change.
fn v2_change(
    op: Operation,
) -> impl Fn(HttpRequest, web::Payload, web::Data<AppState>) -> ChangeFuture + Clone + 'static {
    move |req, payload, state| Box::pin(v2::change_rest(req, payload, state, op))
}

type ChangeFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>>>>;

/// The handler of a REST operation of [`openapi::OPERATIONS`].
fn rest_route(id: &str) -> Option<actix_web::Route> {
    Some(match id {
        "CreateUser" => web::post().to(v3alpha::create),
        "SearchUsers" => web::post().to(v3alpha::search),
        "GetUserByID" => web::get().to(v3alpha::get),
        "DeleteUser" => web::delete().to(v3alpha_change(Operation::Delete)),
        "DeactivateUser" => web::post().to(v3alpha_change(Operation::Deactivate)),
        "ReactivateUser" => web::post().to(v3alpha_change(Operation::Reactivate)),
        "LockUser" => web::post().to(v3alpha_change(Operation::Lock)),
        "UnlockUser" => web::post().to(v3alpha_change(Operation::Unlock)),
        "AddHumanUser" => web::post().to(v2::add_human_rest),
        "ListUsers" => web::post().to(v2::list),
        "GetUserByIDV2" => web::get().to(v2::get),
        "DeleteUserV2" => web::delete().to(v2_change(Operation::Delete)),
        "DeactivateUserV2" => web::post().to(v2_change(Operation::Deactivate)),
        "ReactivateUserV2" => web::post().to(v2_change(Operation::Reactivate)),
        "LockUserV2" => web::post().to(v2_change(Operation::Lock)),
        "UnlockUserV2" => web::post().to(v2_change(Operation::Unlock)),
        _ => return None,
    })
}

/// `/openapi.json`
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}

/// `/docs`
async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(openapi::docs_page())
}

/// `/debug/metrics`: Prometheus' text format.
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::get().render())
}

/// `/debug/healthz`: the process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "SERVING"}))
}

/// `/debug/ready`: the store can be read and every shard's actor answers.
async fn ready(_req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let unavailable = |why: &str| HttpError(ApiError::with_text(errors::STORE_UNAVAILABLE, why));
    if !state.shards.store.is_readable() {
        return Err(unavailable("Store cannot be read"));
    }
    for actor in state.shards.actors() {
        match tokio::time::timeout(Duration::from_secs(2), actor.send(Ping)).await {
            Ok(Ok(_)) => {}
            _ => return Err(unavailable("A shard does not answer")),
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "SERVING"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_has_a_handler() {
        for op in openapi::OPERATIONS {
            assert!(rest_route(op.id).is_some(), "{} has no handler", op.id);
        }
    }
}
