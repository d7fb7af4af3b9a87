//! Configuration: built-in defaults, then `config.toml`, then `USERD_<SECTION>__<KEY>` variables,
//! then flags, each overriding the one before.
//!
//! Unknown keys and values of the wrong type stop start-up with a message that names the key and
//! where it came from. Variables that start with `USERD_` but have no `__` are not configuration.
//! Config depends on nothing above the domain: it owns [`Durability`], and role permissions are
//! parsed here once, at load.

use crate::domain::Permission;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// When an acknowledged change is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// 200 only after the change is on disk (the store's commit log was synced).
    Fsync,
    /// 200 at once; the store flushes every `flush_interval_ms`.
    Periodic,
}

/// Role name to the permissions it grants, from `[authz.role_permissions]`.
pub type RolePermissions = HashMap<String, Vec<Permission>>;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub authz: AuthzConfig,
    pub log: LogConfig,
    pub notify: NotifyConfig,
    pub webhooks: WebhooksConfig,
}

/// `[webhooks]`: how events are delivered to Actions targets.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// The `instanceID` of event payloads.
    pub instance_id: String,
    /// Attempts per delivery before it is parked.
    pub max_attempts: u32,
    /// The most targets the instance holds.
    pub max_targets: usize,
    /// The wait after the first failed attempt; it doubles with each failure.
    pub backoff_initial_ms: u64,
    /// The longest wait between attempts.
    pub backoff_max_ms: u64,
    /// The most bytes of a target's answer that are read.
    pub max_response_bytes: u64,
    /// Hosts and networks (`169.254.0.0/16`, `fe80::/10`, `metadata.google.internal`) no target
    /// may point at, or resolve to.
    pub deny: Vec<String>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            instance_id: "userd".into(),
            max_attempts: 8,
            max_targets: 1000,
            backoff_initial_ms: 1000,
            backoff_max_ms: 300_000,
            max_response_bytes: 65_536,
            // Cloud metadata services and link-local addresses.
            deny: [
                "169.254.0.0/16",
                "fe80::/10",
                "fd00:ec2::254/128",
                "100.100.100.200/32",
                "metadata.google.internal",
                "metadata",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// One-time codes (email and phone verification, password reset) and their delivery.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// How long a code stays valid (ZITADEL's default: one hour).
    pub code_lifetime_seconds: u64,
    /// Where email codes and reset links are mailed; without it they are written to the log.
    pub smtp: Option<SmtpConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            code_lifetime_seconds: 3600,
            smtp: None,
        }
    }
}

/// `[notify.smtp]`: a mail server to submit messages to.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "SmtpConfig::default_port")]
    pub port: u16,
    /// `starttls` (the default), `tls` (implicit TLS, port 465) or `none` (local relays only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// The sender, e.g. `userd <noreply@example.com>`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password (preferred: it stays out of the configuration).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "SmtpConfig::default_timeout")]
    pub timeout_seconds: u64,
}

impl SmtpConfig {
    fn default_port() -> u16 {
        587
    }

    fn default_timeout() -> u64 {
        10
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    #[default]
    Starttls,
    Tls,
    None,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    pub max_body_bytes: usize,
    pub shutdown_timeout_seconds: u64,
    /// Open connections at most (HTTP/1.1 and HTTP/2 together); more wait in the kernel's
    /// accept queue.
    pub max_connections: usize,
    /// Requests being served at once at most; more are answered 429 at once.
    pub max_in_flight: usize,
    /// HTTP/2 streams open at once per connection.
    pub http2_max_streams: u32,
    /// A request body must arrive within this many seconds.
    pub body_timeout_seconds: u64,
    /// Development tools on the HTTP surface (`POST /debug/reset`); refused unless `bind` is a
    /// loopback address.
    pub dev_mode: bool,
    /// The users of `serve --seed` (which sets it) and of `POST /debug/reset`, in `userd
    /// import`'s format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            max_body_bytes: 65_536,
            shutdown_timeout_seconds: 10,
            max_connections: 10_000,
            max_in_flight: 1024,
            http2_max_streams: 100,
            body_timeout_seconds: 10,
            dev_mode: false,
            seed_file: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sled` (embedded, in `data_dir`) or `postgres` (`[storage.postgres]`).
    pub backend: StorageBackend,
    pub data_dir: PathBuf,
    /// Fixed when the store is created, and recorded in it.
    pub shards: u32,
    pub durability: Durability,
    pub flush_interval_ms: u64,
    /// sled's page cache, in megabytes.
    pub cache_mb: u64,
    /// Threads the shard actors run on; 0 means half the cores (at least one).
    pub actor_threads: usize,
    /// How long one listing that no index serves may scan before it is refused.
    pub scan_budget_ms: u64,
    /// Threads that run such scans (at a low priority), at most this many at once.
    pub scan_threads: usize,
    /// The database of the `postgres` backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresConfig>,
}

/// Where users are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Sled,
    Postgres,
}

/// `[storage.postgres]`: the database the `postgres` backend uses.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// Connections per node.
    pub pool_size: usize,
    /// How long a request waits for a connection, a statement or a commit before it answers
    /// 503.
    pub timeout_ms: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: String::new(),
            pool_size: 16,
            timeout_ms: 5_000,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: StorageBackend::Sled,
            data_dir: PathBuf::from("data"),
            shards: 16,
            durability: Durability::Fsync,
            flush_interval_ms: 500,
            cache_mb: 32,
            actor_threads: 0,
            scan_budget_ms: 10_000,
            scan_threads: 1,
            postgres: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub issuer: String,
    #[serde(deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    pub leeway_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hs256_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hs256_secret_file: Option<PathBuf>,
    /// One PEM public key file, or a list of them (several keys at once, for rotation).
    #[serde(
        deserialize_with = "paths_one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub public_key_pem_file: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    pub jwks_refresh_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "http://localhost:8080".into(),
            audience: vec!["userd".into()],
            leeway_seconds: 30,
            hs256_secret: None,
            hs256_secret_file: None,
            public_key_pem_file: Vec::new(),
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_seconds: 300,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzConfig {
    /// Role name to permission names; replaces the default for the roles it names.
    pub role_permissions: BTreeMap<String, Vec<String>>,
    /// Roles of userd's own users (machine users signing in with personal access tokens).
    pub members: Vec<Member>,
    /// `role_permissions`, parsed when the configuration is loaded.
    #[serde(skip)]
    pub parsed: RolePermissions,
}

/// A member's role as written: an instance role (`IAM_*`) alone, or another role with the
/// organization it holds in (`ORG_OWNER:acme`); names are upper case.
pub fn check_member_role(role: &str) -> Result<(), String> {
    let (name, org) = match role.split_once(':') {
        Some((name, org)) => (name, Some(org)),
        None => (role, None),
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let instance = name.starts_with("IAM_");
    match (name_ok, instance, org) {
        (true, true, None) => Ok(()),
        (true, false, Some(org)) if !org.is_empty() => Ok(()),
        (true, true, Some(_)) => Err(format!(
            "role `{role}`: {name} is an instance role and takes no organization"
        )),
        _ => Err(format!(
            "role `{role}`: expected IAM_ROLE, or ROLE:ORG_ID for an organization role"
        )),
    }
}

/// `[[authz.members]]`: a user of userd and its roles, each `ROLE` (an instance role) or
/// `ROLE:ORG_ID`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub user_id: String,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// An env_logger filter; `RUST_LOG` overrides it.
    pub level: String,
    /// `text`, or `json` for one JSON object per line.
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn paths_one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    Ok(one_or_many(d)?.into_iter().map(PathBuf::from).collect())
}

/// Keys whose values are strings even when they look like numbers or booleans.
const STRING_KEYS: &[&str] = &[
    "server.bind",
    "server.seed_file",
    "storage.data_dir",
    "storage.durability",
    "storage.backend",
    "webhooks.instance_id",
    "storage.postgres.url",
    "auth.issuer",
    "auth.hs256_secret",
    "auth.hs256_secret_file",
    "auth.jwks_file",
    "auth.jwks_url",
    "log.level",
    "log.format",
];

/// Tables of settings whose keys variables may set one by one
/// (`USERD_STORAGE__POSTGRES__URL`).
const NESTED_TABLES: &[&str] = &["storage.postgres", "notify.smtp"];

/// Keys that exist but have no default (so the serialized defaults do not show them).
const OPTIONAL_KEYS: &[&str] = &[
    "server.seed_file",
    "auth.hs256_secret",
    "auth.hs256_secret_file",
    "auth.public_key_pem_file",
    "auth.jwks_file",
    "auth.jwks_url",
    "authz.role_permissions",
    "notify.smtp",
    "storage.postgres",
];

/// Settings given on the command line; they win over everything else.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// Load the configuration from `flags`, the environment `env` and the config file.
pub fn load(
    flags: &Flags,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, String> {
    let mut table = toml::Table::new();

    let file = match &flags.config {
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from("config.toml")).filter(|p| p.is_file()),
    };
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let parsed: toml::Table = text
            .parse()
            .map_err(|e| format!("config file {}: {e}", path.display()))?;
        let origin = format!("in {}", path.display());
        for (section, value) in parsed {
            let toml::Value::Table(keys) = value else {
                return Err(format!(
                    "unknown configuration key `{section}` {origin}: expected a [section]"
                ));
            };
            for (key, value) in keys {
                set(&mut table, &section, &key, value, &origin)?;
            }
        }
    }

    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("USERD_") && k.contains("__"))
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let rest = &name["USERD_".len()..];
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        // `USERD_STORAGE__POSTGRES__URL`: one key of a table within the section.
        let (key, subkey) = match key.split_once("__") {
            Some((key, subkey)) => (key.to_string(), Some(subkey.to_string())),
            None => (key, None),
        };
        if subkey.is_some() && !NESTED_TABLES.contains(&format!("{section}.{key}").as_str()) {
            return Err(format!(
                "unknown configuration key `{section}.{key}.{}` from {name}",
                subkey.unwrap_or_default()
            ));
        }
        let full = match &subkey {
            Some(sub) => format!("{section}.{key}.{sub}"),
            None => format!("{section}.{key}"),
        };
        let value = if STRING_KEYS.contains(&full.as_str()) {
            toml::Value::String(raw)
        } else {
            parse_env_value(&raw)
        };
        let value = match subkey {
            Some(sub) => toml::Value::Table(toml::Table::from_iter([(sub, value)])),
            None => value,
        };
        set(&mut table, &section, &key, value, &format!("from {name}"))?;
    }

    if let Some(bind) = &flags.bind {
        set(
            &mut table,
            "server",
            "bind",
            bind.clone().into(),
            "from --bind",
        )?;
    }
    if let Some(dir) = &flags.data_dir {
        let dir = dir.to_string_lossy().into_owned();
        set(
            &mut table,
            "storage",
            "data_dir",
            dir.into(),
            "from --data-dir",
        )?;
    }

    let mut config = Config::deserialize(toml::Value::Table(table))
        .map_err(|e| format!("invalid configuration: {e}"))?;
    validate(&config)?;
    config.authz.parsed = parse_role_permissions(&config.authz.role_permissions)?;
    Ok(config)
}

/// Whether `bind` (`host:port`) listens on a loopback address only.
pub fn is_loopback_bind(bind: &str) -> bool {
    if let Ok(addr) = bind.trim().parse::<std::net::SocketAddr>() {
        return addr.ip().is_loopback();
    }
    bind.trim()
        .rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
}

/// A variable's value as TOML (numbers, booleans, arrays), else as a plain string.
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Put one key into `table` after checking that it exists and that its value has the right type.
fn set(
    table: &mut toml::Table,
    section: &str,
    key: &str,
    value: toml::Value,
    origin: &str,
) -> Result<(), String> {
    let full = format!("{section}.{key}");
    let defaults =
        toml::Value::try_from(Config::default()).unwrap_or(toml::Value::Table(toml::Table::new()));
    let known_section = defaults.get(section).is_some();
    let known = known_section
        && (defaults.get(section).and_then(|s| s.get(key)).is_some()
            || OPTIONAL_KEYS.contains(&full.as_str()));
    if !known {
        return Err(format!("unknown configuration key `{full}` {origin}"));
    }
    // Check this one value against the defaults, so an error names exactly this key.
    let mut probe = toml::Table::new();
    let mut inner = toml::Table::new();
    inner.insert(key.to_string(), value.clone());
    probe.insert(section.to_string(), toml::Value::Table(inner));
    Config::deserialize(toml::Value::Table(probe)).map_err(|e| {
        format!(
            "bad value for configuration key `{full}` {origin}: {}",
            e.message()
        )
    })?;
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = entry {
        // A settings table given in parts (a file's and a variable's keys) keeps every part;
        // other values, tables of roles included, replace what was there.
        match (t.get_mut(key), value) {
            (Some(toml::Value::Table(old)), toml::Value::Table(new))
                if NESTED_TABLES.contains(&full.as_str()) =>
            {
                old.extend(new)
            }
            (_, value) => {
                t.insert(key.to_string(), value);
            }
        }
    }
    Ok(())
}

fn validate(config: &Config) -> Result<(), String> {
    let fail =
        |key: &str, why: &str| Err(format!("bad value for configuration key `{key}`: {why}"));
    for member in &config.authz.members {
        for role in &member.roles {
            check_member_role(role)
                .map_err(|e| format!("bad value for configuration key `authz.members`: {e}"))?;
        }
    }
    if config.server.bind.trim().is_empty() {
        return fail("server.bind", "must be an address such as 127.0.0.1:8080");
    }
    if config.server.dev_mode && !is_loopback_bind(&config.server.bind) {
        return fail(
            "server.dev_mode",
            &format!(
                "development tools are served on a loopback address only, and server.bind is {}",
                config.server.bind
            ),
        );
    }
    if config.server.max_body_bytes == 0 {
        return fail("server.max_body_bytes", "must be at least 1");
    }
    for (key, value) in [
        ("server.max_connections", config.server.max_connections),
        ("server.max_in_flight", config.server.max_in_flight),
        (
            "server.http2_max_streams",
            config.server.http2_max_streams as usize,
        ),
        (
            "server.body_timeout_seconds",
            config.server.body_timeout_seconds as usize,
        ),
    ] {
        if value == 0 {
            return fail(key, "must be at least 1");
        }
    }
    if !(1..=4096).contains(&config.storage.shards) {
        return fail("storage.shards", "must be between 1 and 4096");
    }
    if config.storage.flush_interval_ms == 0 {
        return fail("storage.flush_interval_ms", "must be at least 1");
    }
    if config.storage.data_dir.as_os_str().is_empty() {
        return fail("storage.data_dir", "must not be empty");
    }
    if config.auth.issuer.is_empty() {
        return fail("auth.issuer", "must not be empty");
    }
    if config.auth.audience.is_empty() || config.auth.audience.iter().any(String::is_empty) {
        return fail("auth.audience", "must hold at least one non-empty audience");
    }
    if config.storage.scan_threads == 0 {
        return fail("storage.scan_threads", "must be at least 1");
    }
    if config.storage.scan_budget_ms == 0 {
        return fail("storage.scan_budget_ms", "must be at least 1");
    }
    Ok(())
}

/// `[authz.role_permissions]` as permissions; an unknown permission name is an error.
fn parse_role_permissions(
    names: &BTreeMap<String, Vec<String>>,
) -> Result<RolePermissions, String> {
    names
        .iter()
        .map(|(role, names)| {
            let perms = names
                .iter()
                .map(|n| {
                    Permission::from_name(n).ok_or_else(|| {
                        format!(
                            "bad value for configuration key `authz.role_permissions.{role}`: \
                             unknown permission `{n}` (known: user.read, user.write, user.delete)"
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((role.clone(), perms))
        })
        .collect()
}

impl Config {
    /// The data directory, as given (relative paths are relative to the working directory).
    pub fn data_dir(&self) -> &Path {
        &self.storage.data_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with_file(text: &str) -> (tempfile::TempDir, Flags) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("userd.toml");
        std::fs::write(&path, text).unwrap();
        let flags = Flags {
            config: Some(path),
            ..Flags::default()
        };
        (dir, flags)
    }

    #[test]
    fn precedence_is_flags_env_file_defaults() {
        let (_d, mut flags) =
            with_file("[server]\nbind = \"127.0.0.1:1\"\nworkers = 3\n[storage]\nshards = 8\n");
        let c = load(
            &flags,
            env(&[
                ("USERD_SERVER__BIND", "127.0.0.1:2"),
                ("USERD_STORAGE__SHARDS", "4"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:2");
        assert_eq!(c.server.workers, 3);
        assert_eq!(c.storage.shards, 4);
        assert_eq!(c.server.max_body_bytes, 65_536);
        flags.bind = Some("127.0.0.1:3".into());
        let c = load(&flags, env(&[("USERD_SERVER__BIND", "127.0.0.1:2")])).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:3");
    }

    #[test]
    fn the_postgres_table_takes_a_files_keys_and_variables_one_by_one() {
        let (_d, flags) =
            with_file("[storage]\nbackend = \"postgres\"\n[storage.postgres]\npool_size = 3\n");
        let c = load(
            &flags,
            env(&[("USERD_STORAGE__POSTGRES__URL", "postgres://u@127.0.0.1:1/d")]),
        )
        .unwrap();
        assert_eq!(c.storage.backend, StorageBackend::Postgres);
        let pg = c.storage.postgres.unwrap();
        assert_eq!(pg.url, "postgres://u@127.0.0.1:1/d");
        assert_eq!(pg.pool_size, 3);
        assert_eq!(pg.timeout_ms, 5_000);
        let e = load(&flags, env(&[("USERD_STORAGE__POSTGRES__PORT", "1")])).unwrap_err();
        assert!(e.contains("storage.postgres"), "{e}");
        // Only settings tables are set key by key: a role table stays whole.
        let e = load(
            &flags,
            env(&[("USERD_AUTHZ__ROLE_PERMISSIONS__ORG_OWNER", "[]")]),
        )
        .unwrap_err();
        assert!(e.contains("authz.role_permissions.org_owner"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let (_d, flags) = with_file("[server]\nbindd = \"x\"\n");
        let e = load(&flags, env(&[])).unwrap_err();
        assert!(e.contains("server.bindd"), "{e}");
        let (_d, flags) = with_file("[storage]\nshards = \"many\"\n");
        let e = load(&flags, env(&[])).unwrap_err();
        assert!(e.contains("storage.shards"), "{e}");
        let (_d, flags) = with_file("");
        let e = load(&flags, env(&[("USERD_SERVER__NOPE", "1")])).unwrap_err();
        assert!(
            e.contains("server.nope") && e.contains("USERD_SERVER__NOPE"),
            "{e}"
        );
        let e = load(&flags, env(&[("USERD_STORAGE__DURABILITY", "sometimes")])).unwrap_err();
        assert!(e.contains("storage.durability"), "{e}");
        let e = load(&flags, env(&[("USERD_STORAGE__SHARDS", "0")])).unwrap_err();
        assert!(e.contains("storage.shards"), "{e}");
        // Not configuration: no double underscore.
        assert!(load(&flags, env(&[("USERD_NOPE", "1")])).is_ok());
    }

    #[test]
    fn role_permission_overrides_are_checked() {
        let (_d, flags) = with_file("[authz.role_permissions]\nORG_OWNER = [\"user.read\"]\n");
        let c = load(&flags, env(&[])).unwrap();
        assert_eq!(c.authz.parsed["ORG_OWNER"], vec![Permission::Read]);
        let (_d, flags) = with_file("[authz.role_permissions]\nORG_OWNER = [\"user.fly\"]\n");
        let e = load(&flags, env(&[])).unwrap_err();
        assert!(e.contains("user.fly"), "{e}");
    }

    #[test]
    fn audience_accepts_one_string_from_the_environment() {
        let (_d, flags) = with_file("");
        let c = load(&flags, env(&[("USERD_AUTH__AUDIENCE", "api")])).unwrap();
        assert_eq!(c.auth.audience, vec!["api".to_string()]);
        let c = load(&flags, env(&[("USERD_AUTH__AUDIENCE", "[\"a\", \"b\"]")])).unwrap();
        assert_eq!(c.auth.audience.len(), 2);
    }
}
