//! Real issuers' keys: PEM public keys and JWKS over HTTP (rotation, refresh failure, unknown
//! kids), algorithm confusion, subject state, and the role table from config.

use crate::helpers::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn key_path(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn jwk(name: &str) -> Value {
    let parts: Value =
        serde_json::from_str(&std::fs::read_to_string(key_path("jwks-parts.json")).unwrap())
            .unwrap();
    parts[name].clone()
}

/// Sign `claims` with the private key `file` (PEM) as `alg`, with an optional `kid`.
fn sign_with(file: &str, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let pem = std::fs::read(key_path(file)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => unreachable!(),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn admin_claims() -> Value {
    claims("admin", &[("IAM_OWNER", None)])
}

async fn status_with(app: &TestApp, token: &str) -> u16 {
    app.send(
        reqwest::Method::GET,
        "/v3alpha/users/probe",
        Some(token),
        None,
    )
    .await
    .status
}

/// A JWKS endpoint on 127.0.0.1 whose answer the test changes, counting its requests.
struct JwksServer {
    url: String,
    answer: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    /// Served from its own thread, so it answers while the test waits for userd to start.
    async fn start(keys: &[Value]) -> JwksServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new((200u16, json!({"keys": keys}).to_string())));
        let hits = Arc::new(AtomicUsize::new(0));
        let (a, h) = (answer.clone(), hits.clone());
        std::thread::spawn(move || {
            for socket in listener.incoming() {
                let Ok(mut socket) = socket else { return };
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf);
                h.fetch_add(1, Ordering::SeqCst);
                let (status, body) = a.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes());
            }
        });
        JwksServer { url, answer, hits }
    }

    fn serve(&self, keys: &[Value]) {
        *self.answer.lock().unwrap() = (200, json!({"keys": keys}).to_string());
    }

    fn fail(&self) {
        *self.answer.lock().unwrap() = (500, "oops".into());
    }
}

#[tokio::test]
async fn pem_keys_accept_their_own_algorithm_only() {
    let pems = format!(
        "[\"{}\", \"{}\", \"{}\"]",
        key_path("rsa-a.pub.pem"),
        key_path("ec.pub.pem"),
        key_path("ed.pub.pem")
    );
    let app = spawn_app_with(&[
        ("USERD_AUTH__HS256_SECRET", ""),
        ("USERD_AUTH__PUBLIC_KEY_PEM_FILE", &pems),
    ])
    .await;
    let c = admin_claims();
    for (file, alg) in [
        ("rsa-a.pem", Algorithm::RS256),
        ("ec.pem", Algorithm::ES256),
        ("ed.pem", Algorithm::EdDSA),
    ] {
        assert_eq!(
            status_with(&app, &sign_with(file, alg, None, &c)).await,
            404,
            "{alg:?} accepted"
        );
    }
    // Not configured: the HS256 secret, another RSA key.
    assert_eq!(status_with(&app, &sign(&c)).await, 401);
    assert_eq!(
        status_with(&app, &sign_with("rsa-b.pem", Algorithm::RS256, None, &c)).await,
        401
    );
    // Algorithm confusion: HS256 "signed" with the public key's PEM bytes.
    let public_pem = std::fs::read(key_path("rsa-a.pub.pem")).unwrap();
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &c,
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    assert_eq!(status_with(&app, &confused).await, 401);
    // An ES256 signature relabelled as RS256.
    let es = sign_with("ec.pem", Algorithm::ES256, None, &c);
    let mut parts: Vec<String> = es.split('.').map(str::to_string).collect();
    let header_json = json!({"alg": "RS256", "typ": "JWT"}).to_string();
    parts[0] = b64url(header_json.as_bytes());
    assert_eq!(status_with(&app, &parts.join(".")).await, 401);
    // `userd token --key` mints what the server accepts, for each algorithm.
    for file in ["rsa-a.pem", "ec.pem", "ed.pem"] {
        let out = std::process::Command::new(userd_bin())
            .args(["token", "--role", "IAM_OWNER", "--key", &key_path(file)])
            .current_dir(app.data_dir().parent().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap();
        assert_eq!(status_with(&app, token.trim()).await, 404, "{file}");
    }
}

#[tokio::test]
async fn jwks_over_http_rotates_survives_failures_and_limits_refreshes() {
    let jwks = JwksServer::start(&[jwk("rsa-a"), jwk("ec")]).await;
    let app = spawn_app_with(&[
        ("USERD_AUTH__HS256_SECRET", ""),
        ("USERD_AUTH__JWKS_URL", &jwks.url),
        ("USERD_AUTH__JWKS_REFRESH_SECONDS", "1"),
    ])
    .await;
    let c = admin_claims();
    let a = sign_with("rsa-a.pem", Algorithm::RS256, Some("rsa-a"), &c);
    let b = sign_with("rsa-b.pem", Algorithm::RS256, Some("rsa-b"), &c);
    let ec = sign_with("ec.pem", Algorithm::ES256, Some("ec-1"), &c);
    assert_eq!(status_with(&app, &a).await, 404);
    assert_eq!(status_with(&app, &ec).await, 404);
    // Unknown kid: refused (after at most one refresh).
    assert_eq!(status_with(&app, &b).await, 401);
    // A key signed by rsa-b but claiming rsa-a's kid.
    let forged = sign_with("rsa-b.pem", Algorithm::RS256, Some("rsa-a"), &c);
    assert_eq!(status_with(&app, &forged).await, 401);

    // Rotation: the issuer now publishes rsa-b only.
    jwks.serve(&[jwk("rsa-b")]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        status_with(&app, &b).await,
        404,
        "new key accepted after the refresh"
    );
    assert_eq!(status_with(&app, &a).await, 401, "rotated-out key refused");
    assert_eq!(status_with(&app, &ec).await, 401);

    // A failing refresh keeps the last good key set.
    jwks.fail();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(status_with(&app, &b).await, 404, "last good keys kept");
    assert_eq!(status_with(&app, &a).await, 401);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_refreshes_at_most_once_per_interval() {
    let jwks = JwksServer::start(&[jwk("rsa-a")]).await;
    let app = spawn_app_with(&[
        ("USERD_AUTH__HS256_SECRET", ""),
        ("USERD_AUTH__JWKS_URL", &jwks.url),
        ("USERD_AUTH__JWKS_REFRESH_SECONDS", "60"),
    ])
    .await;
    let at_start = jwks.hits.load(Ordering::SeqCst);
    assert!(at_start >= 1, "fetched at start-up");
    let c = admin_claims();
    for i in 0..50 {
        let t = sign_with("rsa-b.pem", Algorithm::RS256, Some(&format!("kid-{i}")), &c);
        assert_eq!(status_with(&app, &t).await, 401);
    }
    let refreshes = jwks.hits.load(Ordering::SeqCst) - at_start;
    assert!(refreshes <= 1, "{refreshes} refreshes for 50 unknown kids");
    // The one allowed refresh picks up a key published meanwhile only once the interval ends:
    // meanwhile rsa-a still works.
    let a = sign_with("rsa-a.pem", Algorithm::RS256, Some("rsa-a"), &c);
    assert_eq!(status_with(&app, &a).await, 404);
}

#[tokio::test]
async fn start_up_fails_when_no_key_can_be_loaded() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        (
            "USERD_AUTH__JWKS_URL",
            "http://127.0.0.1:9/none.json".to_string(),
        ),
        (
            "USERD_AUTH__JWKS_FILE",
            "/nonexistent/jwks.json".to_string(),
        ),
        (
            "USERD_AUTH__PUBLIC_KEY_PEM_FILE",
            key_path("jwks-parts.json"),
        ),
    ] {
        let out = std::process::Command::new(userd_bin())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env(var, &value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("key"), "{var}: {err}");
    }
}

#[tokio::test]
async fn a_jwks_file_is_read_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({"keys": [jwk("ed")]}).to_string()).unwrap();
    let app = spawn_app_with(&[
        ("USERD_AUTH__HS256_SECRET", ""),
        ("USERD_AUTH__JWKS_FILE", file.to_str().unwrap()),
    ])
    .await;
    let c = admin_claims();
    assert_eq!(
        status_with(
            &app,
            &sign_with("ed.pem", Algorithm::EdDSA, Some("ed-1"), &c)
        )
        .await,
        404
    );
    assert_eq!(
        status_with(
            &app,
            &sign_with("rsa-a.pem", Algorithm::RS256, Some("ed-1"), &c)
        )
        .await,
        401
    );
}

#[tokio::test]
async fn a_subject_that_is_not_active_is_refused_and_old_tokens_stay_dead() {
    let app = spawn_app().await;
    let admin = admin_token();
    app.create_user("subj", "org-a").await;
    app.create_user("target", "org-a").await;
    let as_subject = |iat: f64| {
        let mut c = claims("subj", &[("IAM_OWNER", None)]);
        c["iat"] = json!(iat);
        sign(&c)
    };
    let before = as_subject(now_secs_f64());
    assert_eq!(app.get("/v3alpha/users/target", &before).await.status, 200);
    for (down, up) in [
        ("deactivate", Some("reactivate")),
        ("lock", Some("unlock")),
        ("delete", None),
    ] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(app.change("subj", down, &admin).await.status, 200);
        let r = app.get("/v3alpha/users/target", &before).await;
        assert_error(&r, 401, 16, None);
        if down != "delete" {
            assert!(
                r.body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("User is not active"),
                "{:?}",
                r.body
            );
        }
        // Nothing changes for a refused subject.
        let r = app.change("target", "lock", &before).await;
        assert_error(&r, 401, 16, None);
        if let Some(up) = up {
            assert_eq!(app.change("subj", up, &admin).await.status, 200);
            // The token from before the deactivation stays dead...
            let r = app.get("/v3alpha/users/target", &before).await;
            assert_error(&r, 401, 16, None);
            // ...and one minted now works.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let fresh = as_subject(now_secs_f64());
            assert_eq!(
                app.get("/v3alpha/users/target", &fresh).await.status,
                200,
                "after {up}"
            );
        }
    }
    assert_eq!(
        app.state_of("target").await,
        Some(("USER_STATE_ACTIVE".into(), 1))
    );
}

#[tokio::test]
async fn the_role_table_can_be_overridden_in_config() {
    let app = spawn_app_with(&[(
        "USERD_AUTHZ__ROLE_PERMISSIONS",
        "{ORG_OWNER = [\"user.read\"], SUPPORT = [\"user.read\", \"user.write\"]}",
    )])
    .await;
    app.create_user("o", "org-a").await;
    let owner = org_token("ORG_OWNER", "org-a");
    assert_eq!(app.get("/v3alpha/users/o", &owner).await.status, 200);
    assert_eq!(app.change("o", "lock", &owner).await.status, 403);
    let support = org_token("SUPPORT", "org-a");
    assert_eq!(app.change("o", "lock", &support).await.status, 200);
    assert_eq!(app.change("o", "delete", &support).await.status, 403);
    // Other roles keep the default.
    assert_eq!(
        app.change("o", "delete", &org_token("ORG_USER_MANAGER", "org-a"))
            .await
            .status,
        200
    );

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(userd_bin())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env(
            "USERD_AUTHZ__ROLE_PERMISSIONS",
            "{ORG_OWNER = [\"user.fly\"]}",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("user.fly"));
}
