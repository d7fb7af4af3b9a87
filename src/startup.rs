//! Building the running server from a [`Config`]: open the store, start the shard actors and the
//! core, bind the listener (port 0 picks a free port), and assemble the actix-web app.
//!
//! Must run inside an actix system (shard actors live on arbiters of that system).

use crate::app::Core;
use crate::auth::verifier_from_config;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::shard::Shards;
use crate::store::sled::{Options, SledStore};
use crate::store::{Backend, StoreError};
use actix::Arbiter;
use actix_server::Server;
use actix_service::{
    fn_factory, fn_service, map_config, IntoServiceFactory, Service, ServiceFactory,
    ServiceFactoryExt,
};
use actix_web::body::BoxBody;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A bound, not yet awaited server and what it needs to shut down cleanly.
pub struct Application {
    pub port: u16,
    pub address: String,
    server: Server,
    store: Arc<dyn Backend>,
    arbiters: Vec<Arbiter>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The store the configuration names, opened (its commit log replayed).
pub fn open_store(config: &Config) -> Result<Arc<dyn Backend>, String> {
    if config.storage.backend == crate::config::StorageBackend::Postgres {
        return open_postgres(config).map(|s| Arc::new(s) as Arc<dyn Backend>);
    }
    let options = Options {
        shards: config.storage.shards,
        durability: config.storage.durability,
        flush_interval_ms: config.storage.flush_interval_ms,
        cache_bytes: config.storage.cache_mb.saturating_mul(1024 * 1024),
        scan_threads: config.storage.scan_threads,
        scan_budget: Duration::from_millis(config.storage.scan_budget_ms),
    };
    // A store this process just closed (a seed before serving) keeps its lock for a moment
    // while sled's threads stop: wait that out, then give up.
    let mut attempts = 0;
    loop {
        match SledStore::open(config.data_dir(), options.clone()) {
            Err(StoreError::Locked(_)) if attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => {
                return other
                    .map(|s| Arc::new(s) as Arc<dyn Backend>)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The PostgreSQL store of `[storage.postgres]` (connected, its schema migrated).
pub fn open_postgres(config: &Config) -> Result<crate::store::postgres::PostgresStore, String> {
    let pg = config.storage.postgres.clone().unwrap_or_default();
    if pg.url.trim().is_empty() {
        return Err(
            "storage.backend = \"postgres\" needs storage.postgres.url (USERD_STORAGE__POSTGRES__URL)"
                .into(),
        );
    }
    crate::store::postgres::PostgresStore::open(&crate::store::postgres::Options {
        url: pg.url,
        pool_size: pg.pool_size,
        timeout: Duration::from_millis(pg.timeout_ms.max(1)),
        shards: config.storage.shards,
        durability: config.storage.durability,
        scan_budget: Duration::from_millis(config.storage.scan_budget_ms),
    })
    .map_err(|e| e.to_string())
}

impl Application {
    pub async fn build(config: &Config) -> Result<Application, String> {
        let verifier = verifier_from_config(config, true)?;
        // `userd member` edits the members file while the server runs: read it again when it
        // changes (off the request threads; the thread ends with the process).
        let members = verifier.members();
        std::thread::Builder::new()
            .name("userd-members".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                members.reload_if_changed();
            })
            .map_err(|e| format!("cannot start the members watcher: {e}"))?;
        let store = open_store(config)?;

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = if config.server.workers == 0 {
            cores
        } else {
            config.server.workers
        };
        // Actors do little per change besides encoding it: on a small machine, sharing one
        // thread beats spreading them over the cores the HTTP workers need (measured on 2 cores:
        // one actor thread served 36k durable toggles/s, two 30k to 33k).
        let actor_threads = match config.storage.actor_threads {
            0 => (cores / 2).max(1),
            n => n,
        };
        // Executions set before this start apply to the first change.
        let settings = crate::webhooks::Settings::load(store.as_ref())
            .await
            .map_err(|e| format!("cannot read the webhook settings: {e}"))?;
        let routes = Arc::new(crate::webhooks::Routes::new(
            settings,
            config.webhooks.instance_id.clone(),
        ));
        let deny = crate::webhooks::guard::deny_list(&config.webhooks.deny)?;
        crate::webhooks::delivery::start(
            store.clone(),
            routes.clone(),
            config.webhooks.clone(),
            deny.clone(),
        )
        .map_err(|e| format!("cannot start the webhook delivery: {e}"))?;
        let (shards, arbiters) = Shards::start(store.clone(), actor_threads, routes.clone());
        let mut core = Core::new(store.clone(), shards, verifier);
        core.webhooks = crate::app::Webhooks {
            routes,
            deny,
            max_targets: config.webhooks.max_targets,
        };
        core.code_lifetime_seconds =
            i64::try_from(config.notify.code_lifetime_seconds).unwrap_or(i64::MAX);
        core.notifier = crate::notify::Notifier::new(config.notify.smtp.as_ref())?;
        let core = Arc::new(core);

        let listener = TcpListener::bind(&config.server.bind)
            .map_err(|e| format!("cannot bind server.bind = {}: {e}", config.server.bind))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;

        let state = web::Data::new(AppState {
            core,
            max_body_bytes: config.server.max_body_bytes,
            body_timeout: Duration::from_secs(config.server.body_timeout_seconds),
            admission: http::Admission::new(config.server.max_in_flight),
            // Never offered on an address other machines reach.
            dev_sign_in: crate::config::is_loopback_bind(&config.server.bind)
                .then(|| crate::auth::DevSignIn::from_config(config))
                .flatten(),
            dev_mode: config.server.dev_mode,
            seed_file: config.server.seed_file.clone(),
            console_dir: std::env::var_os("USERD_CONSOLE_DIR").map(std::path::PathBuf::from),
        });
        let limits = http::connection::Limits {
            max_concurrent_streams: config.server.http2_max_streams,
            body_timeout: Duration::from_secs(config.server.body_timeout_seconds),
            ..http::connection::Limits::default()
        };
        let max_connections = connection_limit(config.server.max_connections);
        let server = serve(
            listener,
            state,
            workers,
            Limits {
                h2: limits,
                connections_per_worker: max_connections.div_ceil(workers.max(1)),
            },
            config.server.shutdown_timeout_seconds,
        )
        .map_err(|e| format!("cannot listen on {local}: {e}"))?;

        Ok(Application {
            port: local.port(),
            address: local.to_string(),
            server,
            store,
            arbiters,
        })
    }

    /// Serve until the server stops (SIGINT/SIGTERM stop it gracefully: in-flight requests are
    /// answered), then make the store durable and quick to open, and stop the shard actors.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        actix_rt::spawn(async move {
            stop_signal().await;
            log::info!("stopping: answering the requests in flight");
            handle.stop(true).await;
        });
        let result = self.server.await;
        // Every change is answered; closing checkpoints the store and saves the counts, which
        // saves a full count at the next start.
        if let Err(e) = self.store.close() {
            log::error!("closing the store failed: {e}");
        }
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        log::info!("stopped");
        result
    }
}

/// The actix-web app: every route, behind the request log.
fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .wrap(middleware::from_fn(log_request))
        .configure(http::routes)
}

/// The connection bounds of the listener.
#[derive(Clone, Copy, Debug)]
struct Limits {
    h2: http::connection::Limits,
    connections_per_worker: usize,
}

/// `wanted` connections, or fewer if the process may not open that many files: the soft
/// open-file limit is raised to the hard one first, and 256 descriptors stay for the store.
fn connection_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            log::warn!("cannot raise the open-file limit: {e}");
        }
    }
    let files = getrlimit(Resource::Nofile)
        .current
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let usable = files.saturating_sub(256).max(16);
    if wanted > usable {
        log::warn!(
            "server.max_connections = {wanted} is more than the open-file limit allows: {usable}"
        );
    }
    wanted.min(usable)
}

/// The server on `listener`: per connection, HTTP/1.1 goes to actix-http and HTTP/2 (prior
/// knowledge, which is how gRPC clients connect) to `http::connection`, both into [`app`].
fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    workers: usize,
    limits: Limits,
    shutdown_timeout_seconds: u64,
) -> std::io::Result<Server> {
    let builder = Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    let local = listener.local_addr()?;
    let server = builder
        .workers(workers)
        .max_concurrent_connections(limits.connections_per_worker)
        .shutdown_timeout(shutdown_timeout_seconds)
        // SIGINT and SIGTERM both stop gracefully (see `run_until_stopped`).
        .disable_signals()
        .listen("userd", listener, move || {
            let state = state.clone();
            let shutdown = shutdown.clone();
            fn_factory(move || {
                let state = state.clone();
                let shutdown = shutdown.clone();
                async move {
                    let h1_shutdown = shutdown.clone();
                    let http1 = actix_http::HttpService::build()
                        .keep_alive(Duration::from_secs(5))
                        .client_request_timeout(Duration::from_secs(5))
                        .client_disconnect_timeout(Duration::from_secs(1))
                        .local_addr(local)
                        .graceful_shutdown_signal(move || {
                            let signal = h1_shutdown.clone();
                            async move { signal.notified().await }
                        })
                        .finish(map_config(
                            app(state.clone())
                                .into_factory()
                                .map_err(|e: actix_web::Error| e.error_response()),
                            |_| AppConfig::default(),
                        ))
                        .tcp()
                        .new_service(())
                        .await?;
                    let http2 = Rc::new(
                        app(state)
                            .into_factory()
                            .new_service(AppConfig::default())
                            .await?,
                    );
                    let http1 = Rc::new(http1);
                    Ok::<_, ()>(fn_service(move |io: actix_rt::net::TcpStream| {
                        let http1 = http1.clone();
                        let http2 = http2.clone();
                        let shutdown = shutdown.clone();
                        async move {
                            let _ = io.set_nodelay(true);
                            match http::connection::is_http2(&io).await {
                                Ok(true) => {
                                    http::connection::serve_http2(
                                        io,
                                        http2,
                                        limits.h2,
                                        Some(shutdown),
                                    )
                                    .await;
                                    Ok(())
                                }
                                Ok(false) => http1.call(io).await.map_err(|e| {
                                    log::debug!("HTTP/1 connection ended with {e}");
                                }),
                                Err(_) => Ok(()),
                            }
                        }
                    }))
                }
            })
        })?
        .run();
    Ok(server)
}

/// Resolve on the first SIGINT or SIGTERM.
async fn stop_signal() {
    use actix_rt::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = actix_rt::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(e) => {
            log::warn!("cannot watch SIGTERM ({e}); stopping on SIGINT only");
            let _ = actix_rt::signal::ctrl_c().await;
        }
    }
}

/// One line per request at info: method, path, status, microseconds. Never headers (tokens).
async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_line =
        log::log_enabled!(log::Level::Info).then(|| (req.method().clone(), req.path().to_owned()));
    let request_id = http::request_id_for(
        req.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    // Handlers turn their errors into responses inside this scope, so error bodies carry the id.
    let mut res = http::REQUEST_ID
        .scope(request_id.clone(), next.call(req))
        .await?
        .map_into_boxed_body();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            value,
        );
    }
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res.request().match_pattern();
    if let Some(m) = crate::metrics::get() {
        m.request(route.as_deref().unwrap_or("unmatched"), status, elapsed);
    }
    if let Some((method, path)) = request_line {
        http::REQUEST_ID.sync_scope(request_id, || {
            log::info!("{method} {path} {status} {}us", elapsed.as_micros())
        });
    }
    Ok(res)
}
