//! Test harness: every test drives the real `userd` binary, bound to port 0 on 127.0.0.1 with a
//! temporary data directory, over HTTP.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

pub const SECRET: &str = "userd-test-secret-0123456789abcdef";
pub const ISSUER: &str = "http://localhost:8080";
pub const AUDIENCE: &str = "userd";

/// A running userd process and its data directory.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    child: Option<Child>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Now as fractional Unix seconds (millisecond precision), for `iat`.
pub fn now_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// base64url without padding, for hand-made tokens.
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sign `claims` with the test secret (HS256).
pub fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// Valid claims for `sub` with ZITADEL's role claim built from `(role, org)` pairs.
pub fn claims(sub: &str, roles: &[(&str, Option<&str>)]) -> Value {
    let mut role_claim = serde_json::Map::new();
    for (role, org) in roles {
        let entry = role_claim
            .entry(role.to_string())
            .or_insert_with(|| json!({}));
        if let Some(org) = org {
            entry[*org] = json!(format!("{org}.example.com"));
        }
    }
    let now = now_secs();
    json!({
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "urn:zitadel:iam:org:project:roles": role_claim,
        "urn:zitadel:iam:user:resourceowner:id": "org-a",
    })
}

/// A token with instance-wide rights.
pub fn admin_token() -> String {
    sign(&claims("admin", &[("IAM_OWNER", None)]))
}

/// A token with `role` in `org` only.
pub fn org_token(role: &str, org: &str) -> String {
    sign(&claims("someone", &[(role, Some(org))]))
}

pub fn userd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_userd")
}

/// Start userd on `dir` with the test secret, 4 shards and extra `USERD_*` settings.
fn start(dir: &Path, env: &[(String, String)]) -> (Child, String) {
    let mut cmd = Command::new(userd_bin());
    cmd.arg("serve")
        .arg("--bind")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(dir)
        .env("USERD_AUTH__HS256_SECRET", SECRET)
        .env("USERD_STORAGE__SHARDS", "4")
        .env("USERD_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("userd.log"))
                .expect("log file"),
        ));
    for (k, _) in std::env::vars() {
        if k.starts_with("USERD_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    // An empty value removes a variable (for example the default HS256 secret); a name that
    // starts with `--` is a flag of `serve` instead (`--seed FILE`).
    for (k, v) in env {
        if k.starts_with("--") {
            cmd.arg(k).arg(v);
        } else if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().expect("spawn userd");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut line).expect("read listening line");
    let address = match line.trim().strip_prefix("listening on ") {
        Some(a) => a.to_string(),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(dir.join("userd.log")).unwrap_or_default();
            panic!("userd did not start: {line:?} {err}");
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    (child, address)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(env: &[(&str, &str)]) -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("tempdir"), env).await
}

/// The PostgreSQL server the suite runs against instead of sled (`scripts/test.sh` starts one
/// and sets `USERD_TEST_POSTGRES_URL` for the suite's second pass).
pub fn postgres_url() -> Option<String> {
    std::env::var("USERD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether this pass runs on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_url().is_some()
}

/// For tests of sled's own files and mechanisms: true (and a note) on the PostgreSQL pass,
/// where the test does not apply.
pub fn sled_only(what: &str) -> bool {
    if on_postgres() {
        eprintln!("sled only, skipped on PostgreSQL: {what}");
    }
    on_postgres()
}

/// A fresh database on the test PostgreSQL server, as a URL.
pub async fn fresh_database() -> Option<String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let base = postgres_url()?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("userd_test_{}_{n}", std::process::id());
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = driver.await;
    let (prefix, _) = base.rsplit_once('/').expect("a URL ending in /DATABASE");
    Some(format!("{prefix}/{name}"))
}

/// Start userd in `dir` (its data directory is `dir/data`, which may be prepared first). On the
/// PostgreSQL pass, each app gets a database of its own unless `env` names a backend.
pub async fn spawn_app_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> TestApp {
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !env.iter().any(|(k, _)| k == "USERD_STORAGE__BACKEND") {
        if let Some(url) = fresh_database().await {
            env.push(("USERD_STORAGE__BACKEND".into(), "postgres".into()));
            env.push(("USERD_STORAGE__POSTGRES__URL".into(), url));
            env.push(("USERD_STORAGE__POSTGRES__POOL_SIZE".into(), "4".into()));
        }
    }
    let (child, address) = start(dir.path(), &env);
    TestApp {
        address,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
        child: Some(child),
        dir,
        env,
    }
}

/// A response's status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl TestApp {
    /// What the server logged so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("userd.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's process id (None once it was killed or exited).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// A memory figure of the server from `/proc/PID/status`, in KiB: `VmRSS` (now) or `VmHWM`
    /// (the peak so far).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let pid = self.pid().expect("server running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
    }

    /// How many sockets the server holds open.
    pub fn open_sockets(&self) -> usize {
        let pid = self.pid().expect("server running");
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fd dir")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }

    /// `host:port` of the server, for raw TCP clients.
    pub fn socket_address(&self) -> String {
        self.address.trim_start_matches("http://").to_string()
    }

    /// Kill the process with SIGKILL and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Send a signal by `kill`'s flag (`-TERM`, `-INT`).
    pub fn signal(&self, flag: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(flag)
                .arg(child.id().to_string())
                .status()
                .expect("kill -TERM");
            assert!(status.success());
        }
    }

    /// Wait for the process to exit by itself, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let started = std::time::Instant::now();
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Start again on the same data directory (after `kill` or an exit).
    pub fn start_again(&mut self) {
        let (child, address) = start(self.dir.path(), &self.env);
        self.child = Some(child);
        self.address = address;
    }

    /// Run `userd check` on the data directory (the server must not be running).
    pub fn check(&self) -> (bool, String) {
        let out = self
            .command()
            .arg("check")
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("userd check");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// A `userd` command line in the app's directory, with the app's storage settings.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(userd_bin());
        cmd.current_dir(self.dir.path());
        for (k, v) in &self.env {
            if k.starts_with("USERD_STORAGE__") {
                cmd.env(k, v);
            }
        }
        cmd
    }

    /// SIGKILL, then start again on the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body }
    }

    pub async fn post(&self, path: &str, token: &str, body: Option<&Value>) -> Reply {
        self.send(reqwest::Method::POST, path, Some(token), body)
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Create a v3alpha user with `id` in `org` as an instance admin; asserts 201.
    pub async fn create_user(&self, id: &str, org: &str) -> Reply {
        let reply = self
            .post(
                "/v3alpha/users",
                &admin_token(),
                Some(&json!({
                    "userId": id,
                    "organization": {"orgId": org},
                    "schemaId": "person",
                    "data": {"name": id},
                })),
            )
            .await;
        assert_eq!(reply.status, 201, "create {id}: {:?}", reply.body);
        reply
    }

    /// `POST /v3alpha/users/{id}/{action}` (or DELETE for "delete") with `token`.
    pub async fn change(&self, id: &str, action: &str, token: &str) -> Reply {
        if action == "delete" {
            return self
                .send(
                    reqwest::Method::DELETE,
                    &format!("/v3alpha/users/{id}"),
                    Some(token),
                    None,
                )
                .await;
        }
        self.post(&format!("/v3alpha/users/{id}/{action}"), token, None)
            .await
    }

    /// The user's state name and sequence as read through the API (None when 404).
    pub async fn state_of(&self, id: &str) -> Option<(String, u64)> {
        let r = self
            .get(&format!("/v3alpha/users/{id}"), &admin_token())
            .await;
        if r.status == 404 {
            return None;
        }
        assert_eq!(r.status, 200, "{:?}", r.body);
        let state = r.body["user"]["state"].as_str().expect("state").to_string();
        let seq = r.body["details"]["sequence"]
            .as_str()
            .expect("sequence string")
            .parse()
            .expect("sequence number");
        Some((state, seq))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Assert an error reply: HTTP status, gRPC code and (when given) ZITADEL's error id.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: i64, id: Option<&str>) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.body["code"], json!(code), "{:?}", reply.body);
    assert!(reply.body["message"].is_string(), "{:?}", reply.body);
    assert!(reply.body["details"].is_array(), "{:?}", reply.body);
    if let Some(id) = id {
        assert_eq!(
            reply.body["details"][0]["id"],
            json!(id),
            "{:?}",
            reply.body
        );
        assert_eq!(
            reply.body["details"][0]["@type"],
            json!("type.googleapis.com/zitadel.v1.ErrorDetail")
        );
        let message = reply.body["message"].as_str().unwrap_or_default();
        assert!(message.ends_with(&format!("({id})")), "{message}");
    }
}
