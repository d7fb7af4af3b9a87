//! `server.dev_mode` and `POST /debug/reset`: the store returns to the seed in one step while
//! a load runs. Every answer of the load is right either for the store before a reset or for
//! the seed after it, and a reset's answer means durable (a kill -9 right after keeps it).

use crate::helpers::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const SEEDED: usize = 16;

fn write_seed(dir: &std::path::Path) -> String {
    let seed = dir.join("seed.jsonl");
    let lines: Vec<String> = (0..SEEDED)
        .map(|i| {
            json!({"userId": format!("seed{i}"), "organization": {"orgId": "org-r"},
                   "schemaId": "person", "data": {"i": i}})
            .to_string()
        })
        .collect();
    std::fs::write(&seed, lines.join("\n")).unwrap();
    seed.to_string_lossy().into_owned()
}

/// The status of a POST to `path` with one extra header.
async fn post_with(app: &TestApp, path: &str, header: &str, value: &str) -> u16 {
    app.client
        .post(format!("{}{path}", app.address))
        .header(header, value)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn reset(app: &TestApp) -> Reply {
    app.send(reqwest::Method::POST, "/debug/reset", None, None)
        .await
}

/// Every user listed, as `(id, state)`, sorted.
async fn all_users(app: &TestApp) -> Vec<(String, String)> {
    let r = app
        .post(
            "/v3alpha/users/search",
            &admin_token(),
            Some(&json!({"query": {"limit": 1000}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut users: Vec<(String, String)> = r.body["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| {
                    (
                        u["userId"].as_str().unwrap_or_default().to_string(),
                        u["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    users.sort();
    users
}

/// The seed's users, all active at sequence 1, and nothing else.
async fn assert_is_seed(app: &TestApp) {
    let expected: Vec<(String, String)> = {
        let mut v: Vec<_> = (0..SEEDED)
            .map(|i| (format!("seed{i}"), "USER_STATE_ACTIVE".to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(all_users(app).await, expected);
    for i in [0, SEEDED - 1] {
        assert_eq!(
            app.state_of(&format!("seed{i}")).await,
            Some(("USER_STATE_ACTIVE".into(), 1))
        );
    }
    let history = app
        .post(
            "/management/v1/users/seed0/changes/_search",
            &admin_token(),
            Some(&json!({})),
        )
        .await;
    assert_eq!(history.status, 200, "{:?}", history.body);
    assert_eq!(
        history.body["result"].as_array().map_or(0, Vec::len),
        1,
        "only the creation: {:?}",
        history.body
    );
}

/// One worker toggles one seeded user, checking each answer against what it knows: the
/// sequence goes on from its last answer, or a reset came between and it starts over from the
/// seed (active, sequence 1).
async fn toggle(app: Arc<TestApp>, id: String, stop: Arc<AtomicBool>) -> (u64, u64) {
    let token = admin_token();
    let (mut active, mut sequence) = (true, 1u64);
    let (mut answered, mut resets_seen) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let action = if active { "deactivate" } else { "reactivate" };
        let r = app.change(&id, action, &token).await;
        answered += 1;
        match r.status {
            200 => {
                let got: u64 = r.body["details"]["sequence"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("a sequence");
                if got != sequence + 1 {
                    // Only a reset explains another sequence: the seed's user, changed once.
                    assert!(
                        active && got == 2,
                        "{id}: {action} answered sequence {got} after {sequence}"
                    );
                    resets_seen += 1;
                }
                sequence = got;
                active = !active;
            }
            400 => {
                // Reactivating a user a reset made active again.
                assert!(!active, "{id}: {action} refused: {:?}", r.body);
                assert_error(&r, 400, 9, Some("COMMAND-s5qqcz97hf"));
                (active, sequence) = (true, 1);
                resets_seen += 1;
            }
            other => panic!("{id}: {action} answered {other}: {:?}", r.body),
        }
    }
    (answered, resets_seen)
}

#[tokio::test]
async fn reset_returns_to_the_seed_under_load_and_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path());
    let app = spawn_app_in(
        dir,
        &[("--seed", &seed), ("USERD_SERVER__DEV_MODE", "true")],
    )
    .await;
    assert_is_seed(&app).await;

    // Changes, then a reset: back to the seed.
    app.create_user("extra", "org-r").await;
    assert_eq!(
        app.change("seed0", "deactivate", &admin_token())
            .await
            .status,
        200
    );
    assert_eq!(
        app.change("seed1", "delete", &admin_token()).await.status,
        200
    );
    let r = reset(&app).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["users"], json!(SEEDED));
    assert_is_seed(&app).await;

    // Resets while eight workers toggle users: every answer is right for one side of a reset.
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|i| tokio::spawn(toggle(app.clone(), format!("seed{i}"), stop.clone())))
        .collect();
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let r = reset(&app).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut resets_seen) = (0, 0);
    for w in workers {
        let (a, r) = w.await.expect("worker");
        answered += a;
        resets_seen += r;
    }
    eprintln!("{answered} toggles answered across 5 resets; workers saw {resets_seen} resets");
    assert!(answered > 50, "the load ran: {answered}");
    assert!(resets_seen >= 8, "every worker met a reset: {resets_seen}");

    // A reset with no load: the seed exactly, and still after kill -9 right after the answer.
    assert_eq!(reset(&app).await.status, 200);
    let mut app = Arc::try_unwrap(app).ok().expect("workers are done");
    app.restart();
    assert_is_seed(&app).await;
    if !on_postgres() {
        app.kill();
        let (ok, report) = app.check();
        assert!(ok, "{report}");
    }
}

#[tokio::test]
async fn reset_is_served_in_dev_mode_only_and_to_this_machine_only() {
    // Without dev mode the path does not exist.
    let app = spawn_app().await;
    assert_error(&reset(&app).await, 404, 5, None);
    drop(app);

    let app = spawn_app_with(&[("USERD_SERVER__DEV_MODE", "true")]).await;
    app.create_user("gone", "org-r").await;
    // From another site's page: refused, and nothing changes.
    assert_eq!(
        post_with(&app, "/debug/reset", "origin", "https://example.com").await,
        403
    );
    assert_eq!(
        post_with(&app, "/debug/reset", "host", "rebind.example.com").await,
        403
    );
    // From a page on another local port, or through a forwarding proxy: refused too.
    assert_eq!(
        post_with(&app, "/debug/reset", "origin", "http://localhost:3000").await,
        403
    );
    assert_eq!(
        post_with(&app, "/debug/reset", "x-forwarded-for", "203.0.113.9").await,
        403
    );
    assert!(app.state_of("gone").await.is_some());
    // No seed: a reset leaves no user.
    let r = reset(&app).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["users"], json!(0));
    assert_eq!(app.state_of("gone").await, None);
    assert!(all_users(&app).await.is_empty());

    // Dev mode with a bind that is not loopback: the server refuses to start.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(userd_bin())
        .args(["serve", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("USERD_SERVER__DEV_MODE", "true")
        .env("USERD_AUTH__HS256_SECRET", SECRET)
        .env_remove("USERD_STORAGE__BACKEND")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.dev_mode"), "{err}");
}

#[tokio::test]
async fn development_sign_in_is_offered_with_the_development_secret_only() {
    // With the test secret configured: not offered, refused.
    let app = spawn_app().await;
    let offered = app
        .send(reqwest::Method::GET, "/ui/sign-in", None, None)
        .await;
    assert_eq!(offered.body, json!({"devSignIn": false}));
    let r = app
        .send(reqwest::Method::POST, "/ui/sign-in", None, None)
        .await;
    assert_error(&r, 403, 7, Some("USERD-DEV-0001"));
    drop(app);

    // No key configured: the development secret is in use, and this machine may sign in.
    let app = spawn_app_with(&[("USERD_AUTH__HS256_SECRET", "")]).await;
    let offered = app
        .send(reqwest::Method::GET, "/ui/sign-in", None, None)
        .await;
    assert_eq!(offered.body, json!({"devSignIn": true}));
    let r = app
        .send(reqwest::Method::POST, "/ui/sign-in", None, None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().expect("a token").to_string();
    assert_eq!(r.body["expiresIn"], json!(900));
    // The token is an instance owner's.
    let created = app
        .post(
            "/v2/users/human",
            &token,
            Some(
                &json!({"organization": {"orgId": "acme"}, "username": "dev-made",
                         "profile": {"givenName": "D", "familyName": "M"},
                         "email": {"email": "d@example.com"}}),
            ),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    // Not through a forwarding proxy (every client would look local), nor for another site's
    // page.
    assert_eq!(
        post_with(&app, "/ui/sign-in", "forwarded", "for=203.0.113.9").await,
        403
    );
    assert_eq!(
        post_with(&app, "/ui/sign-in", "origin", "http://evil.example").await,
        403
    );

    // The console's page is served with its policy.
    let page = app
        .client
        .get(format!("{}/ui/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let policy = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(page.text().await.unwrap().contains("console.js"));
}
