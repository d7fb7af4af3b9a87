//! The HTTP surface: routes (REST from `rest::OPERATIONS`, RPC paths, operations endpoints),
//! request ids, and the JSON answers for unknown routes (404) and wrong methods (405). Handlers
//! reach data only through the core (`app`); protocols are codecs around it.
//!
//! Routing comes first: whatever the token, an unknown path answers 404 code 5 and a wrong method
//! on a known path 405 code 12. Every failure answers ZITADEL's JSON error body.

mod body;
pub mod connection;
pub mod console;
pub mod error;
pub mod openapi;
pub mod rest;
pub mod rpc;

use crate::app::Core;
use crate::error::ErrorCode;
use actix_web::{web, HttpResponse};
use error::HttpError;
use std::sync::Arc;

tokio::task_local! {
    /// The id of the request being handled (from `x-request-id`, or made up): it goes into the
    /// response header, every error body and every log line of the request.
    pub static REQUEST_ID: Arc<str>;
}

/// The current request's id, if a request is being handled on this task.
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// A caller's `x-request-id` if it is usable (1 to 128 visible ASCII characters), else a new one.
pub fn request_id_for(header: Option<&str>) -> Arc<str> {
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
    pub core: Arc<Core>,
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    pub admission: Admission,
    /// The console's development sign-in, when the development secret is the key in use.
    pub dev_sign_in: Option<crate::auth::DevSignIn>,
    /// `server.dev_mode`: `POST /debug/reset` is served.
    pub dev_mode: bool,
    /// What `POST /debug/reset` loads (none: no users).
    pub seed_file: Option<std::path::PathBuf>,
    /// `USERD_CONSOLE_DIR`: serve the console's files from this directory as they are now,
    /// rather than the copies compiled in (for working on the console).
    pub console_dir: Option<std::path::PathBuf>,
}

/// At most `limit` requests served at once; the next is refused at once (429 with
/// `Retry-After`), so overload never queues without bound and what is admitted stays fast.
#[derive(Debug)]
pub struct Admission {
    in_flight: std::sync::atomic::AtomicUsize,
    limit: usize,
}

/// A request's place among those being served; given back when dropped.
#[derive(Debug)]
pub struct Admitted<'a>(&'a Admission);

impl Admission {
    pub fn new(limit: usize) -> Admission {
        Admission {
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            limit,
        }
    }

    pub fn admit(&self) -> Result<Admitted<'_>, crate::error::ApiError> {
        use std::sync::atomic::Ordering;
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= self.limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(ErrorCode::Overloaded.into());
        }
        Ok(Admitted(self))
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

async fn not_found() -> Result<HttpResponse, HttpError> {
    Err(ErrorCode::RouteNotFound.into())
}

async fn method_not_allowed() -> Result<HttpResponse, HttpError> {
    Err(ErrorCode::MethodNotAllowed.into())
}

/// A path whose other methods answer 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Register every route. The `{userId}` segment may be empty so that `//reactivate` answers
/// 400 "User ID missing" rather than 404.
///
/// actix-web tries routes in order, each a regular expression once it has a parameter, so a
/// path's cost grows with the routes before it. RPC paths come first (their expression fails on
/// a REST path at its second byte), and REST paths sharing their first two segments sit in one
/// scope, which is a plain prefix comparison: a request meets a few expressions, not dozens.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(r"/{service:zitadel\.[A-Za-z0-9_.]+}/{method}").route(web::post().to(rpc::rpc)),
    );
    // Fixed paths, before the scopes that would take `/userd/v1/backup`.
    cfg.service(resource("/debug/healthz").route(web::get().to(healthz)))
        .service(resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(resource("/docs").route(web::get().to(docs)))
        .service(resource("/debug/ready").route(web::get().to(ready)))
        .service(resource("/debug/metrics").route(web::get().to(metrics)))
        .service(resource("/debug/reset").route(web::post().to(reset)))
        .service(resource("/userd/v1/backup").route(web::post().to(backup)));
    #[cfg(feature = "fault-injection")]
    cfg.service(resource("/debug/faults").route(web::post().to(set_faults)));
    // In the table's order: fixed paths such as `/v3alpha/users/search` before
    // `/v3alpha/users/{userId}`.
    let mut prefixes: Vec<&str> = Vec::new();
    for op in rest::OPERATIONS {
        let prefix = scope_prefix(op.path);
        if !prefixes.contains(&prefix) {
            prefixes.push(prefix);
        }
    }
    for prefix in prefixes {
        let mut paths: Vec<&str> = Vec::new();
        for op in rest::OPERATIONS {
            if scope_prefix(op.path) == prefix && !paths.contains(&op.path) {
                paths.push(op.path);
            }
        }
        let mut scope = web::scope(prefix).default_service(web::to(not_found));
        for path in paths {
            let pattern = path
                .get(prefix.len()..)
                .unwrap_or_default()
                .replace("{userId}", "{userId:[^/]*}");
            let mut resource = resource(&pattern);
            for op in rest::OPERATIONS.iter().filter(|op| op.path == path) {
                resource = resource.route(op.route());
            }
            scope = scope.service(resource);
        }
        cfg.service(scope);
    }
    console::routes(cfg);
    cfg.default_service(web::to(not_found));
}

/// The scope a REST path is served in: its first two segments (`/v2/users`).
fn scope_prefix(path: &str) -> &str {
    let end = path
        .match_indices('/')
        .nth(2)
        .map_or(path.len(), |(at, _)| at);
    path.get(..end).unwrap_or(path)
}

/// `POST /debug/faults {"write": bool, "flush": bool}` (test builds only): make the store's
/// writes and/or flushes fail until cleared.
#[cfg(feature = "fault-injection")]
async fn set_faults(body: web::Bytes) -> Result<HttpResponse, HttpError> {
    #[derive(serde::Deserialize, serde::Serialize, Default)]
    struct Faults {
        #[serde(default)]
        write: bool,
        #[serde(default)]
        flush: bool,
    }
    let faults: Faults = body::json_message(&body)?;
    crate::store::faults::set(faults.write, faults.flush);
    log::warn!(
        "injected faults: write={} flush={}",
        faults.write,
        faults.flush
    );
    Ok(HttpResponse::Ok().json(faults))
}

/// `POST /debug/reset` (with `server.dev_mode` only, from this machine): every user replaced by
/// the seed's, durable before the answer `{"users": N, "duplicates": N}`. Without dev mode the
/// path does not exist.
async fn reset(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    if !state.dev_mode {
        return Err(ErrorCode::RouteNotFound.into());
    }
    console::from_this_machine(&req)?;
    let users = match state.seed_file.clone() {
        None => Vec::new(),
        Some(path) => web::block(move || {
            let file = std::fs::File::open(&path)
                .map_err(|e| format!("cannot read the seed {}: {e}", path.display()))?;
            crate::import::read_all(std::io::BufReader::new(file))
                .map_err(|why| format!("the seed {}: {why}", path.display()))
        })
        .await
        .map_err(|_| ErrorCode::Internal)?
        .map_err(|why| crate::error::ApiError::with_text(ErrorCode::SeedInvalid, why))?,
    };
    let counts = state.core.reset(users).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "users": counts.imported,
        "duplicates": counts.duplicates,
    })))
}

/// `POST /userd/v1/backup` (instance owners): the whole store as one moment of it, streamed in
/// `userd backup`'s format while the server keeps serving.
async fn backup(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let snapshot = state.core.backup(&body::context(&req)).await?;
    let chunks = futures_util::stream::try_unfold(snapshot.file, |mut file| async move {
        let (file, chunk) = web::block(move || {
            use std::io::Read;
            let mut chunk = vec![0u8; 256 * 1024];
            let n = file.read(&mut chunk)?;
            chunk.truncate(n);
            Ok::<_, std::io::Error>((file, chunk))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok::<_, std::io::Error>((!chunk.is_empty()).then(|| (web::Bytes::from(chunk), file)))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("x-userd-backup-entries", snapshot.entries.to_string()))
        .streaming(chunks))
}

/// `/openapi.json`
async fn openapi_json() -> HttpResponse {
    // Built once; `Bytes` clones share the buffer, so a flood of fetches allocates nothing.
    static DOCUMENT: std::sync::OnceLock<web::Bytes> = std::sync::OnceLock::new();
    HttpResponse::Ok().content_type("application/json").body(
        DOCUMENT
            .get_or_init(|| web::Bytes::from(openapi::document().to_string()))
            .clone(),
    )
}

/// `/docs`
async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(openapi::docs_page())
}

/// `/debug/metrics`: Prometheus' text format.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = crate::metrics::get()
        .map(|m| m.render(state.core.state_counts()))
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

/// `/debug/healthz`: the process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "SERVING"}))
}

/// `/debug/ready`: the store serves and every shard's actor answers.
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    state
        .core
        .ready()
        .await
        .map_err(|why| crate::error::ApiError::with_text(ErrorCode::StoreUnavailable, why))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "SERVING"})))
}
