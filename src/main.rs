//! The `userd` command: `serve` runs the server; `check`, `import`, `member` and `token` are
//! its operator's tools.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use userd::auth::{mint, resolve_hs256_secret, SigningKey, TokenRequest};
use userd::config::{self, Config, Flags, LogFormat};
use userd::domain::Timestamp;
use userd::startup::Application;

#[derive(Parser)]
#[command(
    name = "userd",
    version,
    about = "A user-lifecycle server that speaks ZITADEL's user API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Config file (default: ./config.toml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on, overriding server.bind (port 0 picks a free port).
        #[arg(long)]
        bind: Option<String>,
        /// Data directory, overriding storage.data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Users to load on a first start (a store that never held a user), in `userd
        /// import`'s format; ignored on every later start. Also what `POST /debug/reset`
        /// returns the store to (server.seed_file).
        #[arg(long)]
        seed: Option<PathBuf>,
    },
    /// Verify a data directory offline: replay every user's events against its record, check
    /// sequences, shard placement and that every value decodes. Exits non-zero on problems.
    Check {
        /// Data directory (default: storage.data_dir of the configuration).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// How many problems to list.
        #[arg(long, default_value_t = 20)]
        max_problems: usize,
    },
    /// Load users from JSON lines of v3alpha create bodies (FILE, or - for stdin) straight into
    /// the store; the server must be stopped. Existing ids are reported as duplicates and left
    /// alone; bad lines are reported by number and skipped.
    Import {
        /// A file of JSON lines, or - for standard input.
        file: PathBuf,
        /// Organization for lines without organization.orgId.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy a running server's whole store into DEST, a new directory, while it keeps serving
    /// (POST /userd/v1/backup with an instance owner's token), then run `check` on the copy.
    Backup {
        /// The directory to create (it must not exist).
        dest: PathBuf,
        #[command(flatten)]
        server: RunningServer,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Write every live user in the import format (JSON lines) to standard output or --out, so
    /// that `userd import` loads them into another userd, on either backend. From a stopped
    /// server's data directory, from PostgreSQL, or (when the server holds the data directory)
    /// from a backup of the running server (see `backup` for --url and --token).
    Export {
        /// Each user's whole history; without it, a short history that rebuilds the user as it
        /// is (its creation in its current state, then its metadata and credentials).
        #[arg(long)]
        history: bool,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        server: RunningServer,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Put a backup in place of the data directory of a stopped server. The backup is checked
    /// first; the data directory it replaces is kept beside it, renamed.
    Restore {
        /// A directory written by `userd backup`.
        src: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Give a user of userd (a machine with personal access tokens) roles, or take them away,
    /// in <data_dir>/members.toml; a running server applies the change within a second or two.
    Member {
        #[command(subcommand)]
        action: MemberAction,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Print an HS256 token signed with the configured (or development) secret.
    Token {
        /// The token's subject.
        #[arg(long, default_value = "userd-dev")]
        sub: String,
        /// A role, optionally for one organization: ROLE or ROLE:ORG. Repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// The caller's own organization (the resource owner claim).
        #[arg(long)]
        org: Option<String>,
        /// Lifetime: 3600, 90s, 30m, 1h or 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Sign with this PEM private key (RSA, EC P-256 or Ed25519) instead of the HS256 secret.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Algorithm for --key (default: RS256, ES256 or EdDSA by key type).
        #[arg(long)]
        alg: Option<String>,
        /// `kid` header for --key.
        #[arg(long)]
        kid: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// How the data tools reach a running server.
#[derive(clap::Args)]
struct RunningServer {
    /// The server (default: http:// and server.bind of the configuration).
    #[arg(long)]
    url: Option<String>,
    /// An instance owner's bearer token (default: USERD_TOKEN, else one minted with the
    /// configured or development HS256 secret).
    #[arg(long)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum MemberAction {
    /// Add roles: ROLE (an instance role, e.g. IAM_OWNER) or ROLE:ORG_ID.
    Add { user_id: String, roles: Vec<String> },
    /// Remove the given roles, or every role of the user when none is given.
    Remove { user_id: String, roles: Vec<String> },
    /// Print every member of the file and the configuration.
    List,
}

/// mimalloc: sled allocates and frees a great deal per write, and glibc's allocator showed up
/// as a quarter of the write path's time in profiles (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Everything userd creates (the data directory, the store's files, the development secret)
    // is for the user it runs as only: the store holds password hashes, emails and phones.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            bind,
            data_dir,
            seed,
        } => serve(
            Flags {
                config,
                bind,
                data_dir,
            },
            seed.as_deref(),
        ),
        Command::Check {
            data_dir,
            config,
            max_problems,
        } => check(
            Flags {
                config,
                bind: None,
                data_dir,
            },
            max_problems,
        ),
        Command::Import {
            file,
            org,
            data_dir,
            config,
        } => import(
            Flags {
                config,
                bind: None,
                data_dir,
            },
            &file,
            org.as_deref(),
        ),
        Command::Backup {
            dest,
            server,
            config,
            data_dir,
        } => backup(
            Flags {
                config,
                bind: None,
                data_dir,
            },
            &dest,
            server,
        ),
        Command::Export {
            history,
            out,
            server,
            config,
            data_dir,
        } => export(
            Flags {
                config,
                bind: None,
                data_dir,
            },
            history,
            out.as_deref(),
            server,
        ),
        Command::Restore {
            src,
            config,
            data_dir,
        } => restore(
            Flags {
                config,
                bind: None,
                data_dir,
            },
            &src,
        ),
        Command::Member {
            action,
            config,
            data_dir,
        } => member(
            Flags {
                config,
                bind: None,
                data_dir,
            },
            action,
        ),
        Command::Token {
            sub,
            roles,
            org,
            ttl,
            key,
            alg,
            kid,
            config,
            data_dir,
        } => token(
            Flags {
                config,
                bind: None,
                data_dir,
            },
            TokenArgs {
                sub,
                roles,
                org,
                ttl,
                key,
                alg,
                kid,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("userd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(flags: &Flags) -> Result<Config, String> {
    config::load(flags, std::env::vars())
}

fn serve(flags: Flags, seed: Option<&std::path::Path>) -> Result<(), String> {
    let mut config = load_config(&flags)?;
    init_logging(&config);
    if let Some(seed) = seed {
        config.server.seed_file = Some(seed.to_path_buf());
    }
    if let Some(seed) = &config.server.seed_file {
        seed_first_start(&config, seed)?;
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let app = Application::build(&config).await?;
        log::info!(
            "userd listening on http://{} (data in {}, {} shards, durability {:?})",
            app.address,
            config.data_dir().display(),
            config.storage.shards,
            config.storage.durability
        );
        // Scripts and tests read the bound address from this line.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "listening on http://{}", app.address);
        let _ = out.flush();
        app.run_until_stopped()
            .await
            .map_err(|e| format!("server error: {e}"))
    })
}

/// `serve --seed FILE`: import FILE into a store that never held a user (every state count,
/// deleted users' included, is zero), before serving; otherwise leave the store alone.
fn seed_first_start(config: &Config, file: &std::path::Path) -> Result<(), String> {
    let store = userd::startup::open_store(config)?;
    if store.state_counts().iter().sum::<i64>() > 0 {
        log::info!(
            "--seed {}: the store has held users already, so it is not seeded",
            file.display()
        );
        // Serving opens the store again (waiting out the lock this one leaves).
        return Ok(());
    }
    let input = std::fs::File::open(file)
        .map_err(|e| format!("cannot read the seed {}: {e}", file.display()))?;
    let report =
        userd::import::import(store.as_ref(), std::io::BufReader::new(input), None, |_| {})
            .map_err(|e| format!("seeding from {} failed: {e}", file.display()))?;
    if report.bad_count > 0 {
        let (line, why) = report.bad.first().cloned().unwrap_or_default();
        return Err(format!(
            "the seed {} has {} bad lines (line {line}: {why})",
            file.display(),
            report.bad_count
        ));
    }
    log::info!(
        "seeded {} users from {} ({} duplicates skipped)",
        report.imported,
        file.display(),
        report.duplicates
    );
    Ok(())
}

fn import(flags: Flags, file: &std::path::Path, org: Option<&str>) -> Result<(), String> {
    use std::io::{BufRead, BufReader, IsTerminal};
    let config = load_config(&flags)?;
    let store = userd::startup::open_store(&config)?;
    let from_stdin = file.as_os_str() == "-";
    // Count lines first (a file only), so the progress bar can show an ETA.
    let total = if from_stdin {
        None
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        Some(BufReader::new(f).split(b'\n').count() as u64)
    };
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} lines  {per_sec}  ETA {eta}")
    {
        bar.set_style(style);
    }
    let started = std::time::Instant::now();
    let input: Box<dyn BufRead> = if from_stdin {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(
            std::fs::File::open(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?,
        ))
    };
    let report = userd::import::import(store.as_ref(), input, org, |n| bar.set_position(n))
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    for (line, why) in &report.bad {
        eprintln!("line {line}: {why}");
    }
    println!(
        "imported {} users ({} duplicates, {} bad lines) in {secs:.2} s ({:.0} users/s)",
        report.imported,
        report.duplicates,
        report.bad_count,
        report.imported as f64 / secs.max(1e-9)
    );
    if report.bad_count > 0 {
        return Err(format!("{} bad lines", report.bad_count));
    }
    Ok(())
}

fn check(flags: Flags, max_problems: usize) -> Result<(), String> {
    let config = load_config(&flags)?;
    let report = if config.storage.backend == userd::config::StorageBackend::Postgres {
        let store = userd::startup::open_postgres(&config)?;
        userd::store::Backend::check(&store, max_problems).map_err(|e| e.to_string())?
    } else {
        let store = userd::store::sled::SledStore::open_existing(config.data_dir(), 64 << 20)
            .map_err(|e| e.to_string())?;
        userd::store::Backend::check(&store, max_problems).map_err(|e| e.to_string())?
    };
    println!("{report}");
    if report.is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{} problems in {}",
            report.problem_count,
            config.data_dir().display()
        ))
    }
}

fn backup(flags: Flags, dest: &std::path::Path, server: RunningServer) -> Result<(), String> {
    let config = load_config(&flags)?;
    let started = std::time::Instant::now();
    let summary = fetch_backup(&config, dest, server)?;
    let store =
        userd::store::sled::SledStore::open_existing(dest, 64 << 20).map_err(|e| e.to_string())?;
    let report = userd::store::Backend::check(&store, 20).map_err(|e| e.to_string())?;
    userd::store::Backend::close(&store).map_err(|e| e.to_string())?;
    if !report.is_ok() {
        return Err(format!(
            "the backup in {} fails check:\n{report}",
            dest.display()
        ));
    }
    println!(
        "backup of {} entries ({} bytes) written to {} in {:.2} s; check passed",
        summary.entries,
        summary.bytes,
        dest.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Ask the running server (`url`, default from server.bind) for a backup and write it into
/// `dest`, with `token` or one minted with the configured or development HS256 secret.
fn fetch_backup(
    config: &Config,
    dest: &std::path::Path,
    server: RunningServer,
) -> Result<userd::store::sled::backup::Summary, String> {
    let RunningServer { url, token } = server;
    let url = url.unwrap_or_else(|| {
        // A server bound to every address answers on loopback too.
        let bind = config.server.bind.replace("0.0.0.0:", "127.0.0.1:");
        format!("http://{bind}")
    });
    let token = match token.or_else(|| std::env::var("USERD_TOKEN").ok()) {
        Some(token) => token,
        None => {
            let (secret, _) = resolve_hs256_secret(
                config.auth.hs256_secret.as_deref(),
                config.auth.hs256_secret_file.as_deref(),
                config.data_dir(),
                false,
            )
            .map_err(|e| format!("{e}; pass an instance owner's token with --token"))?;
            let request = TokenRequest {
                subject: "userd-backup".into(),
                roles: vec![("IAM_OWNER".into(), None)],
                resource_owner: None,
                ttl_seconds: 300,
            };
            mint(
                &SigningKey::hs256(&secret),
                &config.auth.issuer,
                &config.auth.audience,
                &request,
                Timestamp::now(),
            )?
        }
    };
    let endpoint = format!("{}/userd/v1/backup", url.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(&endpoint)
        .header("authorization", &format!("Bearer {token}"))
        .send_empty()
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = response.status();
    let mut body = response.into_body();
    if status != 200 {
        let text = body.read_to_string().unwrap_or_default();
        return Err(format!("{endpoint} answered {status}: {text}"));
    }
    userd::store::sled::backup::restore_into(body.into_reader(), dest).map_err(|e| e.to_string())
}

fn export(
    flags: Flags,
    history: bool,
    out: Option<&std::path::Path>,
    server: RunningServer,
) -> Result<(), String> {
    use userd::store::{Backend, StoreError};
    let config = load_config(&flags)?;
    let started = std::time::Instant::now();
    // Where the users are read: the store itself, or a backup of the running server's.
    let mut fetched: Option<PathBuf> = None;
    let store: Box<dyn Backend> =
        if config.storage.backend == userd::config::StorageBackend::Postgres {
            Box::new(userd::startup::open_postgres(&config)?)
        } else {
            match userd::store::sled::SledStore::open_existing(config.data_dir(), 64 << 20) {
                Ok(store) => Box::new(store),
                Err(StoreError::Locked(_)) => {
                    let dir = std::env::temp_dir().join(format!(
                        "userd-export.{}.{}",
                        std::process::id(),
                        Timestamp::now().0
                    ));
                    fetched = Some(dir.clone());
                    fetch_backup(&config, &dir, server)?;
                    Box::new(
                        userd::store::sled::SledStore::open_existing(&dir, 64 << 20)
                            .map_err(|e| e.to_string())?,
                    )
                }
                Err(e) => return Err(e.to_string()),
            }
        };
    let outcome = (|| {
        let sink: Box<dyn Write> = match out {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        let mut sink = std::io::BufWriter::with_capacity(1 << 20, sink);
        let count = store
            .export(&mut |user| {
                let line = userd::import::export_line(&user, history).map_err(StoreError::Io)?;
                writeln!(sink, "{line}").map_err(|e| StoreError::Io(format!("writing: {e}")))
            })
            .map_err(|e| e.to_string())?;
        sink.flush().map_err(|e| format!("writing: {e}"))?;
        Ok::<u64, String>(count)
    })();
    let _ = store.close();
    drop(store);
    if let Some(dir) = fetched {
        let _ = std::fs::remove_dir_all(dir);
    }
    let count = outcome?;
    eprintln!(
        "exported {count} users{} in {:.2} s",
        if history { " with their histories" } else { "" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn restore(flags: Flags, src: &std::path::Path) -> Result<(), String> {
    let config = load_config(&flags)?;
    if config.storage.backend == userd::config::StorageBackend::Postgres {
        return Err(
            "restore puts a sled backup in place; restore PostgreSQL with its own tools".into(),
        );
    }
    let data_dir = config.data_dir().to_path_buf();
    let parent = data_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let stamp = Timestamp::now().unix_seconds();
    // Copied beside the data directory, checked, then renamed into place.
    let incoming = parent.join(format!("{name}.restoring.{stamp}"));
    let previous = parent.join(format!("{name}.before-restore.{stamp}"));
    let outcome = place_backup(src, &incoming, &data_dir, &previous);
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(&incoming);
    }
    outcome?;
    println!("restored {} into {}", src.display(), data_dir.display());
    if previous.exists() {
        println!("the data it replaced is in {}", previous.display());
    }
    Ok(())
}

/// Copy `src` to `incoming`, check it, and swap it with `data_dir` (kept as `previous`).
fn place_backup(
    src: &std::path::Path,
    incoming: &std::path::Path,
    data_dir: &std::path::Path,
    previous: &std::path::Path,
) -> Result<(), String> {
    copy_dir(src, incoming)?;
    let store = userd::store::sled::SledStore::open_existing(incoming, 64 << 20)
        .map_err(|e| format!("{}: {e}", src.display()))?;
    let report = userd::store::Backend::check(&store, 20).map_err(|e| e.to_string())?;
    userd::store::Backend::close(&store).map_err(|e| e.to_string())?;
    drop(store);
    if !report.is_ok() {
        return Err(format!(
            "the backup {} fails check:\n{report}",
            src.display()
        ));
    }
    if !data_dir.exists() {
        return std::fs::rename(incoming, data_dir)
            .map_err(|e| format!("cannot move the backup into {}: {e}", data_dir.display()));
    }
    if held_by_a_server(data_dir) {
        return Err(format!(
            "{} is in use by a running userd: stop the server first",
            data_dir.display()
        ));
    }
    // The development secret stays with the data directory, so tokens stay valid.
    let secret = data_dir.join(userd::auth::DEV_SECRET_FILE);
    if secret.is_file() && !incoming.join(userd::auth::DEV_SECRET_FILE).exists() {
        std::fs::copy(&secret, incoming.join(userd::auth::DEV_SECRET_FILE))
            .map_err(|e| format!("cannot keep the development secret: {e}"))?;
    }
    std::fs::rename(data_dir, previous)
        .map_err(|e| format!("cannot move {} aside: {e}", data_dir.display()))?;
    if let Err(e) = std::fs::rename(incoming, data_dir) {
        // Put the data directory back as it was.
        let _ = std::fs::rename(previous, data_dir);
        return Err(format!(
            "cannot move the backup into {}: {e}",
            data_dir.display()
        ));
    }
    Ok(())
}

/// Whether a process holds the store's lock in `data_dir` (a running server), tested without
/// opening the store.
fn held_by_a_server(data_dir: &std::path::Path) -> bool {
    use rustix::fs::{flock, FlockOperation};
    let Ok(file) = std::fs::File::open(data_dir.join("db")) else {
        return false;
    };
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            let _ = flock(&file, FlockOperation::Unlock);
            false
        }
        Err(_) => true,
    }
}

/// Copy the directory `from` (files and directories) to `to`, which must not exist.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// env_logger with userd's line format: text or JSON, with the request id of the request being
/// handled (if any) on every line.
fn init_logging(config: &Config) {
    let json = config.log.format == LogFormat::Json;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(&config.log.level))
        .format(move |out, record| {
            let ts = Timestamp::now().to_rfc3339();
            let request_id = userd::http::current_request_id();
            if json {
                let mut line = serde_json::json!({
                    "ts": ts,
                    "level": record.level().as_str(),
                    "target": record.target(),
                    "msg": record.args().to_string(),
                });
                if let (Some(id), Some(map)) = (request_id, line.as_object_mut()) {
                    map.insert(
                        "request_id".into(),
                        serde_json::Value::String(id.to_string()),
                    );
                }
                writeln!(out, "{line}")
            } else {
                match request_id {
                    Some(id) => writeln!(
                        out,
                        "[{ts} {} {}] [{id}] {}",
                        record.level(),
                        record.target(),
                        record.args()
                    ),
                    None => writeln!(
                        out,
                        "[{ts} {} {}] {}",
                        record.level(),
                        record.target(),
                        record.args()
                    ),
                }
            }
        })
        .init();
}

/// Parse `3600`, `90s`, `30m`, `1h` or `7d` into seconds.
fn parse_ttl(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("--ttl {text}: expected a number with s, m, h or d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("--ttl {text}: unit must be s, m, h or d")),
    };
    Ok(n.saturating_mul(scale))
}

fn member(flags: Flags, action: MemberAction) -> Result<(), String> {
    use userd::auth::members::{self, Resource};
    let config = load_config(&flags)?;
    let path = members::file_in(config.data_dir());
    let now = userd::domain::Timestamp::now();
    // The roles named on the command line, per resource.
    let by_resource = |roles: &[String]| {
        let mut out: Vec<(Resource, Vec<String>)> = Vec::new();
        for (name, resource) in roles.iter().map(|r| members::split_role(r)) {
            match out.iter_mut().find(|(r, _)| *r == resource) {
                Some((_, names)) => names.push(name.to_string()),
                None => out.push((resource, vec![name.to_string()])),
            }
        }
        out
    };
    match action {
        MemberAction::Add { user_id, roles } => {
            if roles.is_empty() {
                return Err("name at least one role: ROLE or ROLE:ORG_ID".into());
            }
            for role in &roles {
                members::check_role(role)?;
            }
            std::fs::create_dir_all(config.data_dir())
                .map_err(|e| format!("cannot create {}: {e}", config.data_dir().display()))?;
            members::update(&path, |file| {
                for (resource, added) in by_resource(&roles) {
                    let mut names = file.roles_on(&user_id, &resource);
                    for name in added {
                        if !names.contains(&name) {
                            names.push(name);
                        }
                    }
                    file.set_roles(&user_id, &resource, &names, now);
                }
                Ok::<(), String>(())
            })??;
        }
        MemberAction::Remove { user_id, roles } => {
            if !path.exists() {
                return Err(format!("{user_id} is not a member in {}", path.display()));
            }
            members::update(&path, |file| {
                if !file.members.iter().any(|m| m.user_id == user_id) {
                    return Err(format!("{user_id} is not a member in {}", path.display()));
                }
                if roles.is_empty() {
                    file.members.retain(|m| m.user_id != user_id);
                }
                for (resource, removed) in by_resource(&roles) {
                    let mut names = file.roles_on(&user_id, &resource);
                    names.retain(|n| !removed.contains(n));
                    file.set_roles(&user_id, &resource, &names, now);
                }
                Ok(())
            })??;
        }
        MemberAction::List => {
            let file = members::read(&path)?;
            let mut out = std::io::stdout().lock();
            let configured = config
                .authz
                .members
                .iter()
                .map(|m| (&m.user_id, &m.roles, "config"));
            let listed = file.members.iter().map(|m| (&m.user_id, &m.roles, "file"));
            for (user_id, roles, source) in configured.chain(listed) {
                writeln!(out, "{user_id}\t{}\t{source}", roles.join(","))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

struct TokenArgs {
    sub: String,
    roles: Vec<String>,
    org: Option<String>,
    ttl: String,
    key: Option<PathBuf>,
    alg: Option<String>,
    kid: Option<String>,
}

fn token(flags: Flags, args: TokenArgs) -> Result<(), String> {
    let config = load_config(&flags)?;
    let key = match &args.key {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("--key: cannot read {}: {e}", path.display()))?;
            SigningKey::from_pem(&pem, args.alg.as_deref(), args.kid.clone())
                .map_err(|e| format!("--key {}: {e}", path.display()))?
        }
        None => {
            let (secret, _) = resolve_hs256_secret(
                config.auth.hs256_secret.as_deref(),
                config.auth.hs256_secret_file.as_deref(),
                config.data_dir(),
                true,
            )?;
            SigningKey::hs256(&secret)
        }
    };
    let org = args.org;
    let roles = args
        .roles
        .into_iter()
        .map(|r| match r.split_once(':') {
            Some((role, o)) => (role.to_string(), Some(o.to_string())),
            // An org role without an org applies to --org.
            None if !r.starts_with("IAM_") => (r, org.clone()),
            None => (r, None),
        })
        .collect();
    let request = TokenRequest {
        subject: args.sub,
        roles,
        resource_owner: org,
        ttl_seconds: parse_ttl(&args.ttl)?,
    };
    let token = mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        &request,
        Timestamp::now(),
    )?;
    println!("{token}");
    Ok(())
}
