//! Where the HS256 key comes from: `auth.hs256_secret`, `auth.hs256_secret_file`, or a
//! development secret generated once at `<data_dir>/dev-hs256.secret` (mode 0600).
//!
//! The generated secret is 64 hex characters; those characters (as UTF-8 bytes) are the key.
//! A secret is at least 32 bytes, and a secret file (the development one included) is trusted
//! only if it is a regular file, owned by the user userd runs as, that no one else may read or
//! write: anyone who can change the key can mint any token.

use std::io::Write;
use std::path::{Path, PathBuf};

pub const DEV_SECRET_FILE: &str = "dev-hs256.secret";

/// Where the key in use came from (logged at start-up, never the key itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Config,
    File(PathBuf),
    DevelopmentSecret(PathBuf),
}

/// The HS256 key, read or generated. `create_dev_secret = false` only reads an existing one.
pub fn resolve_hs256_secret(
    secret: Option<&str>,
    secret_file: Option<&Path>,
    data_dir: &Path,
    create_dev_secret: bool,
) -> Result<(Vec<u8>, KeySource), String> {
    if let Some(secret) = secret {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "auth.hs256_secret is {} bytes long; an HS256 secret needs at least {MIN_SECRET_BYTES}",
                secret.len()
            ));
        }
        return Ok((secret.as_bytes().to_vec(), KeySource::Config));
    }
    if let Some(path) = secret_file {
        check_secret_file(path, "auth.hs256_secret_file")?;
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "auth.hs256_secret_file: cannot read {}: {e}",
                path.display()
            )
        })?;
        let trimmed = trim_end_whitespace(&bytes);
        if trimmed.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "auth.hs256_secret_file: {} holds {} bytes; an HS256 secret needs at least {MIN_SECRET_BYTES}",
                path.display(),
                trimmed.len()
            ));
        }
        return Ok((trimmed.to_vec(), KeySource::File(path.to_path_buf())));
    }
    let path = data_dir.join(DEV_SECRET_FILE);
    if std::fs::symlink_metadata(&path).is_ok() {
        check_secret_file(&path, "the development secret")?;
    }
    match std::fs::read(&path) {
        Ok(bytes) if trim_end_whitespace(&bytes).len() >= MIN_SECRET_BYTES => Ok((
            trim_end_whitespace(&bytes).to_vec(),
            KeySource::DevelopmentSecret(path),
        )),
        Ok(_) => Err(format!(
            "the development secret {} is shorter than {MIN_SECRET_BYTES} bytes: remove it and start again",
            path.display()
        )),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot read {}: {e}", path.display()))
        }
        _ if !create_dev_secret => Err(format!(
            "no key configured and no development secret at {}: start `userd serve` once, \
             or set auth.hs256_secret",
            path.display()
        )),
        _ => {
            let secret = generate_dev_secret(&path)?;
            Ok((secret, KeySource::DevelopmentSecret(path)))
        }
    }
}

/// The shortest HS256 secret accepted, in bytes (RFC 7518 asks for at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// A secret file must be a regular file (not a link), owned by the user userd runs as, with no
/// access for group or others.
fn check_secret_file(path: &Path, what: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "{what}: {} must be a regular file, not a link or anything else",
            path.display()
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "{what}: {} is owned by uid {}, not by the user userd runs as (uid {me})",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{what}: {} may be read or written by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

fn trim_end_whitespace(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

fn generate_dev_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness for a secret: {e}"))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(hex.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(hex.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_secret_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (a, src) = resolve_hs256_secret(None, None, dir.path(), true).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.iter().all(u8::is_ascii_hexdigit));
        assert!(matches!(src, KeySource::DevelopmentSecret(_)));
        let (b, _) = resolve_hs256_secret(None, None, dir.path(), true).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn secret_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join("s");
        let secret = "0123456789abcdef0123456789abcdef";
        std::fs::write(&path, format!("{secret} \n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (key, _) = resolve_hs256_secret(None, Some(&path), dir.path(), true).unwrap();
        assert_eq!(key, secret.as_bytes());
        // Readable by others, a link, or short: refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(resolve_hs256_secret(None, Some(&path), dir.path(), true).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(resolve_hs256_secret(None, Some(&link), dir.path(), true).is_err());
        std::fs::write(&path, "short").unwrap();
        assert!(resolve_hs256_secret(None, Some(&path), dir.path(), true).is_err());
        assert!(resolve_hs256_secret(Some("short"), None, dir.path(), true).is_err());
    }
}
