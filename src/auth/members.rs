//! Roles of userd's own users (machine users with personal access tokens): from
//! `[[authz.members]]` in the configuration, plus `<data_dir>/members.toml`, which
//! `userd member` edits while the server runs and the server reads again when it changes.
//!
//! The file is replaced atomically (written aside, synced, renamed), so a reader sees the old
//! list or the new one. A file that does not parse is logged and the last good list stays.

use crate::config::Member;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// What tells one version of the file from another: each write is a new file (a rename), so
/// the inode changes even when the clock's tick does not.
type Version = (SystemTime, u64, u64);

/// A user's role claim in the JWT claim's shape: role → {org → ""} (empty for instance roles).
pub type RoleClaim = HashMap<String, serde_json::Value>;

/// The members file's contents.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    #[serde(default)]
    pub members: Vec<Member>,
}

/// Where the members file of a data directory is.
pub fn file_in(data_dir: &Path) -> PathBuf {
    data_dir.join("members.toml")
}

/// Read the members file (none yet: no members).
pub fn read(path: &Path) -> Result<MemberFile, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MemberFile::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
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
}

impl Members {
    /// The configuration's members and, if given, those of the file (read now).
    pub fn new(configured: Vec<Member>, file: Option<PathBuf>) -> Members {
        let members = Members {
            current: RwLock::new(Arc::new(claims(&configured))),
            configured,
            file,
            seen: RwLock::new(None),
        };
        members.reload_if_changed();
        members
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
                all.extend(file.members);
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
            members: vec![Member {
                user_id: "b".into(),
                roles: vec!["ORG_OWNER:acme".into()],
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
}
