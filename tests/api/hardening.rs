//! Holding under hostile input, through the real binary: secrets and files only the server's
//! user can touch, JWT `crit` headers, duplicate credentials, oversized gRPC messages.

use crate::helpers::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Start `userd serve` with `env` on a fresh data directory in `dir`: the exit status (if it
/// stopped within a few seconds) and what it printed to stderr.
fn try_start(dir: &std::path::Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(userd_bin());
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .env("USERD_STORAGE__SHARDS", "4")
        .env_remove("USERD_AUTH__HS256_SECRET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            let out = child.wait_with_output().unwrap();
            return (false, String::from_utf8_lossy(&out.stderr).into_owned());
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let _ = child.kill();
    let _ = child.wait();
    (true, String::new())
}

#[test]
fn secrets_must_be_long_private_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hs256.secret");
    let secret = "a-secret-of-at-least-thirty-two-bytes";
    std::fs::write(&file, secret).unwrap();
    let path = file.to_string_lossy().into_owned();
    // Readable by others: refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (up, err) = try_start(dir.path(), &[("USERD_AUTH__HS256_SECRET_FILE", &path)]);
    assert!(!up && err.contains("chmod 600"), "{err}");
    // Private: accepted.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (up, err) = try_start(dir.path(), &[("USERD_AUTH__HS256_SECRET_FILE", &path)]);
    assert!(up, "{err}");
    // A link to it: refused.
    let link = dir.path().join("link.secret");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let (up, err) = try_start(
        dir.path(),
        &[("USERD_AUTH__HS256_SECRET_FILE", &link.to_string_lossy())],
    );
    assert!(!up && err.contains("regular file"), "{err}");
    // Too short, in a file or in the configuration.
    std::fs::write(&file, "short").unwrap();
    let (up, err) = try_start(dir.path(), &[("USERD_AUTH__HS256_SECRET_FILE", &path)]);
    assert!(!up && err.contains("at least 32"), "{err}");
    let (up, err) = try_start(dir.path(), &[("USERD_AUTH__HS256_SECRET", "short")]);
    assert!(!up && err.contains("at least 32"), "{err}");
    // The development secret is held to the same rules: a world-readable one is not trusted.
    let dev_dir = tempfile::tempdir().unwrap();
    let (up, err) = try_start(dev_dir.path(), &[]);
    assert!(up, "{err}");
    let dev = dev_dir.path().join("data").join("dev-hs256.secret");
    assert_eq!(
        std::fs::metadata(&dev).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (up, err) = try_start(dev_dir.path(), &[]);
    assert!(!up && err.contains("development secret"), "{err}");
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_the_servers_alone() {
    if sled_only("the_data_directory_and_its_files_are_the_servers_alone") {
        return;
    }
    let mut app = spawn_app().await;
    app.create_user("private", "org-a").await;
    app.kill();
    let dir = app.data_dir();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{:?} has mode {mode:o}", entry.path());
    }
}

#[tokio::test]
async fn critical_header_extensions_and_two_credentials_are_refused() {
    let app = spawn_app().await;
    app.create_user("target", "org-a").await;
    // A token with `crit`: no extension is understood, so it never verifies.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.crit = Some(vec!["exp".into()]);
    let critical = jsonwebtoken::encode(
        &header,
        &claims("admin", &[("IAM_OWNER", None)]),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_error(
        &app.get("/v3alpha/users/target", &critical).await,
        401,
        16,
        Some("AUTH-7fs1e"),
    );
    // Two Authorization headers, even both valid: refused.
    let r = app
        .client
        .get(format!("{}/v3alpha/users/target", app.address))
        .header("authorization", format!("Bearer {}", admin_token()))
        .header("authorization", format!("Bearer {}", admin_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        app.get("/v3alpha/users/target", &admin_token())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn oversized_grpc_web_messages_are_resource_exhausted() {
    let app = spawn_app().await;
    let mut body = vec![0u8, 0, 1, 0x20, 0];
    body.extend(std::iter::repeat_n(0u8, 70_000));
    let r = app
        .client
        .post(format!(
            "{}/zitadel.user.v2.UserService/LockUser",
            app.address
        ))
        .header("content-type", "application/grpc-web+proto")
        .bearer_auth(admin_token())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("grpc-status: 8"), "{text}");
}
