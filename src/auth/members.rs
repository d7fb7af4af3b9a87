//! Memberships of userd's users (ZITADEL's "administrators"): from `[[authz.members]]` in the
//! configuration, plus `<data_dir>/members.toml`, which `userd member` and the administrator API
//! edit while the server runs, and which the server reads again when it changes.
//!
//! A membership is one user's roles on one resource, the instance (`IAM_*` roles) or one
//! organization (`ROLE:ORG_ID`). Every edit of the file holds `members.lock` (an OS file lock,
//! so the CLI and the server never lose each other's edits) and replaces the file atomically
//! (written aside, synced, renamed), so a reader sees the old list or the new one. A file that
//! does not parse is logged and the last good list stays.

use crate::config::Member;
use crate::domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// What tells one version of the file from another: each write is a new file (a rename), so
/// the inode changes even when the clock's tick does not.
type Version = (SystemTime, u64, u64);

/// A user's role claim in the JWT claim's shape: role → {org → ""} (empty for instance roles).
pub type RoleClaim = HashMap<String, serde_json::Value>;

/// Where a membership's roles hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Instance,
    Org(String),
}

impl Resource {
    /// A role name on this resource as the file writes it (`NAME` or `NAME:ORG_ID`).
    pub fn role_text(&self, name: &str) -> String {
        match self {
            Resource::Instance => name.to_string(),
            Resource::Org(org) => format!("{name}:{org}"),
        }
    }
}

/// A written role's name and resource.
pub fn split_role(role: &str) -> (&str, Resource) {
    match role.split_once(':') {
        Some((name, org)) => (name, Resource::Org(org.to_string())),
        None => (role, Resource::Instance),
    }
}

/// One entry of the members file: a user's roles (`NAME` or `NAME:ORG_ID`), with when they
/// were granted and last changed (absent in files written before userd recorded them).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    pub user_id: String,
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<String>,
}

/// The members file's contents.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    #[serde(default)]
    pub members: Vec<MemberEntry>,
}

impl MemberFile {
    /// `user_id`'s role names on `resource`, in the order granted.
    pub fn roles_on(&self, user_id: &str, resource: &Resource) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for entry in self.members.iter().filter(|e| e.user_id == user_id) {
            for (name, on) in entry.roles.iter().map(|r| split_role(r)) {
                if on == *resource && !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        }
        names
    }

    /// Make `names` the whole of `user_id`'s roles on `resource` (none: the membership ends).
    /// The membership keeps its first grant date; a change is dated `now`.
    pub fn set_roles(
        &mut self,
        user_id: &str,
        resource: &Resource,
        names: &[String],
        now: Timestamp,
    ) {
        if self.roles_on(user_id, resource) == names {
            return;
        }
        let mut created: Option<Timestamp> = None;
        for entry in self.members.iter_mut().filter(|e| e.user_id == user_id) {
            let before = entry.roles.len();
            entry.roles.retain(|r| split_role(r).1 != *resource);
            if entry.roles.len() != before {
                let at = entry.created.as_deref().and_then(Timestamp::parse_rfc3339);
                created = match (created, at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        self.members.retain(|e| !e.roles.is_empty());
        if !names.is_empty() {
            self.members.push(MemberEntry {
                user_id: user_id.to_string(),
                roles: names.iter().map(|n| resource.role_text(n)).collect(),
                created: Some(created.unwrap_or(now).to_rfc3339()),
                changed: Some(now.to_rfc3339()),
            });
        }
    }
}

/// One user's roles on one resource, from the configuration and the file together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub user_id: String,
    pub resource: Resource,
    pub roles: Vec<String>,
    /// When the file's entry was first granted (None for configured memberships and entries
    /// from before dates were recorded).
    pub created: Option<Timestamp>,
    pub changed: Option<Timestamp>,
    /// Whether the configuration grants any of the roles (the API cannot take those away).
    pub configured: bool,
}

/// Every membership of `configured` and `file`, one per user and resource, ordered by both.
pub fn memberships(configured: &[Member], file: &MemberFile) -> Vec<Membership> {
    let mut out: BTreeMap<(String, Resource), Membership> = BTreeMap::new();
    let from_config = configured
        .iter()
        .map(|m| (&m.user_id, &m.roles, None, None, true));
    let from_file = file.members.iter().map(|e| {
        let at = |t: &Option<String>| t.as_deref().and_then(Timestamp::parse_rfc3339);
        (&e.user_id, &e.roles, at(&e.created), at(&e.changed), false)
    });
    for (user_id, roles, created, changed, configured) in from_config.chain(from_file) {
        for (name, resource) in roles.iter().map(|r| split_role(r)) {
            let membership = out
                .entry((user_id.clone(), resource.clone()))
                .or_insert_with(|| Membership {
                    user_id: user_id.clone(),
                    resource,
                    roles: Vec::new(),
                    created,
                    changed,
                    configured,
                });
            if !membership.roles.iter().any(|n| n == name) {
                membership.roles.push(name.to_string());
            }
            membership.configured |= configured;
            membership.created = earliest(membership.created, created);
            membership.changed = membership.changed.max(changed);
        }
    }
    out.into_values().collect()
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Where the members file of a data directory is.
pub fn file_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The members file's name in the data directory.
pub const FILE_NAME: &str = "members.toml";

/// Read the members file (none yet: no members).
pub fn read(path: &Path) -> Result<MemberFile, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MemberFile::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Edit the members file under its lock: read it, let `edit` decide (its error leaves the file
/// as it was), and write it back if it changed. Blocking IO: call it off the request threads.
/// The outer error is the file's (IO), the inner one `edit`'s.
pub fn update<R, E>(
    path: &Path,
    edit: impl FnOnce(&mut MemberFile) -> Result<R, E>,
) -> Result<Result<R, E>, String> {
    let lock_path = path.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let before = read(path)?;
    let mut file = before.clone();
    let outcome = edit(&mut file);
    if outcome.is_ok() && file != before {
        write(path, &file)?;
    }
    // Dropping `lock` closes the file, which releases the lock.
    Ok(outcome)
}

/// Replace the members file with `file`, atomically.
pub fn write(path: &Path, file: &MemberFile) -> Result<(), String> {
    use std::io::Write;
    let text = toml::to_string(file).map_err(|e| e.to_string())?;
    let aside = path.with_extension("toml.new");
    let mut out = std::fs::File::create(&aside)
        .map_err(|e| format!("cannot write {}: {e}", aside.display()))?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", aside.display()))?;
    std::fs::rename(&aside, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    // The rename is durable once the directory is.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// A role as written: `ROLE` (an instance role) or `ROLE:ORG_ID` (see `config::check_member_role`).
pub fn check_role(role: &str) -> Result<(), String> {
    crate::config::check_member_role(role)
}

/// The claims of `members`, merged per user.
fn claims(members: &[Member]) -> HashMap<String, RoleClaim> {
    let mut out: HashMap<String, RoleClaim> = HashMap::new();
    for member in members {
        let claim = out.entry(member.user_id.clone()).or_default();
        for role in &member.roles {
            let (name, org) = match role.split_once(':') {
                Some((name, org)) => (name, Some(org)),
                None => (role.as_str(), None),
            };
            let entry = claim
                .entry(name.to_string())
                .or_insert_with(|| serde_json::json!({}));
            if let (Some(org), Some(map)) = (org, entry.as_object_mut()) {
                map.insert(org.to_string(), serde_json::Value::String(String::new()));
            }
        }
    }
    out
}

/// The members the server knows: the configuration's and the file's.
#[derive(Debug)]
pub struct Members {
    configured: Vec<Member>,
    file: Option<PathBuf>,
    current: RwLock<Arc<HashMap<String, RoleClaim>>>,
    /// The file's version when it was last read.
    seen: RwLock<Option<Version>>,
    /// One reload at a time, so an older read never replaces a newer one.
    reloading: std::sync::Mutex<()>,
}

impl Members {
    /// The configuration's members and, if given, those of the file (read now).
    pub fn new(configured: Vec<Member>, file: Option<PathBuf>) -> Members {
        let members = Members {
            current: RwLock::new(Arc::new(claims(&configured))),
            configured,
            file,
            seen: RwLock::new(None),
            reloading: std::sync::Mutex::new(()),
        };
        members.reload_if_changed();
        members
    }

    /// The members of the configuration (which the file cannot take away).
    pub fn configured(&self) -> &[Member] {
        &self.configured
    }

    /// The members file, when the server has a data directory.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// `user_id`'s role claim, if it has one.
    pub fn claim(&self, user_id: &str) -> Option<RoleClaim> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        current.get(user_id).cloned()
    }

    /// Read the file again if it changed since it was last read (blocking IO: call it off the
    /// request threads).
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.file else { return };
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let modified = std::fs::metadata(path)
            .and_then(|m| Ok((m.modified()?, m.ino(), m.len())))
            .ok();
        let seen = *self
            .seen
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if modified == seen && seen.is_some() {
            return;
        }
        match read(path) {
            Ok(file) => {
                let mut all = self.configured.clone();
                all.extend(file.members.into_iter().map(|e| Member {
                    user_id: e.user_id,
                    roles: e.roles,
                }));
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(claims(&all));
                *self
                    .seen
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = modified;
            }
            Err(e) => log::warn!("members file not applied, keeping the last good one: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_adds_to_the_configuration_and_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_in(dir.path());
        let configured = vec![Member {
            user_id: "a".into(),
            roles: vec!["IAM_OWNER".into()],
        }];
        let members = Members::new(configured, Some(path.clone()));
        assert!(members.claim("a").is_some());
        assert!(members.claim("b").is_none());
        let file = MemberFile {
            members: vec![MemberEntry {
                user_id: "b".into(),
                roles: vec!["ORG_OWNER:acme".into()],
                ..MemberEntry::default()
            }],
        };
        write(&path, &file).unwrap();
        members.reload_if_changed();
        let b = members.claim("b").unwrap();
        assert_eq!(b["ORG_OWNER"], serde_json::json!({"acme": ""}));
        std::fs::write(&path, "not toml [").unwrap();
        members.reload_if_changed();
        assert!(
            members.claim("b").is_some(),
            "a bad file keeps the last good list"
        );
        assert!(check_role("ORG_OWNER:acme").is_ok());
        assert!(check_role("IAM_OWNER").is_ok());
        assert!(check_role("org_owner").is_err());
        assert!(check_role("ORG_OWNER:").is_err());
        assert!(
            check_role("ORG_OWNER").is_err(),
            "an organization role names its organization"
        );
        assert!(
            check_role("IAM_OWNER:acme").is_err(),
            "an instance role has no organization"
        );
    }

    #[test]
    fn roles_are_set_per_user_and_resource_and_keep_their_first_grant_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_in(dir.path());
        let acme = Resource::Org("acme".into());
        let (t1, t2) = (Timestamp(1_000_000_000), Timestamp(2_000_000_000));
        // An older file mixes resources in one entry.
        write(
            &path,
            &MemberFile {
                members: vec![MemberEntry {
                    user_id: "u".into(),
                    roles: vec!["IAM_OWNER".into(), "ORG_OWNER:acme".into()],
                    ..MemberEntry::default()
                }],
            },
        )
        .unwrap();
        let names = vec!["ORG_OWNER".to_string(), "ORG_OWNER_VIEWER".to_string()];
        let done: Result<(), ()> = update(&path, |f| {
            f.set_roles("u", &acme, &names, t1);
            Ok(())
        })
        .unwrap();
        assert!(done.is_ok());
        let refused: Result<(), &str> = update(&path, |f| {
            f.set_roles("u", &acme, &[], t2);
            Err("no")
        })
        .unwrap();
        assert!(refused.is_err());
        let file = read(&path).unwrap();
        assert_eq!(
            file.roles_on("u", &acme),
            names,
            "a refused edit writes nothing"
        );
        assert_eq!(file.roles_on("u", &Resource::Instance), vec!["IAM_OWNER"]);
        let configured = vec![Member {
            user_id: "c".into(),
            roles: vec!["IAM_OWNER".into()],
        }];
        let all = memberships(&configured, &file);
        assert_eq!(all.len(), 3);
        let on_acme = all.iter().find(|m| m.resource == acme).unwrap();
        assert_eq!((on_acme.created, on_acme.changed), (Some(t1), Some(t1)));
        assert!(all.iter().any(|m| m.user_id == "c" && m.configured));
        let mut file = file;
        file.set_roles("u", &acme, &["ORG_OWNER".to_string()], t2);
        let on_acme = memberships(&[], &file)
            .into_iter()
            .find(|m| m.resource == acme)
            .unwrap();
        assert_eq!(on_acme.roles, vec!["ORG_OWNER"]);
        assert_eq!((on_acme.created, on_acme.changed), (Some(t1), Some(t2)));
        file.set_roles("u", &acme, &[], t2);
        assert!(file.roles_on("u", &acme).is_empty());
        assert_eq!(file.members.len(), 1, "the instance roles stay");
    }
}
