//! `userd export` (records, or whole histories with `--history`) into `userd import` on another
//! instance: every live user reads the same there, over v2 and v3alpha, and on the PostgreSQL
//! pass the data set also moves from PostgreSQL to sled and back.

use crate::helpers::*;
use serde_json::{json, Value};

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Users of every kind and state, with metadata, a password and credentials.
async fn populate(app: &TestApp) -> Vec<String> {
    let admin = admin_token();
    for (id, org) in [("v3a", "org-x"), ("v3b", "org-y")] {
        app.create_user(id, org).await;
    }
    let human = json!({
        "userId": "ada", "username": "ada-l", "organization": {"orgId": "org-x"},
        "profile": {"givenName": "Ada", "familyName": "Lovelace", "displayName": "Countess"},
        "email": {"email": "ada@example.com", "isVerified": true},
        "phone": {"phone": "+41791234567"},
        "password": {"password": "Secr3t-password!", "changeRequired": false},
        "metadata": [{"key": "team", "value": b64("blue")}, {"key": "floor", "value": b64("3")}],
    });
    let r = app.post("/v2/users/human", &admin, Some(&human)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .post(
            "/v2/users/human",
            &admin,
            Some(
                &json!({"userId": "bob", "username": "bob", "organization": {"orgId": "org-y"},
                         "profile": {"givenName": "Bob", "familyName": "B"},
                         "email": {"email": "bob@example.com"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .post(
            "/v2/users/new",
            &admin,
            Some(&json!({"userId": "bot", "organizationId": "org-x",
                         "machine": {"name": "Bot", "description": "builds"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let expires = chrono::DateTime::from_timestamp(now_secs() + 86_400, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = app
        .post(
            "/v2/users/bot/pats",
            &admin,
            Some(&json!({"expirationDate": expires})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        app.post("/v2/users/bot/secret", &admin, None).await.status,
        200
    );
    // States, changes after creation, and a deleted user (not exported).
    assert_eq!(app.change("v3a", "deactivate", &admin).await.status, 200);
    assert_eq!(app.change("bob", "lock", &admin).await.status, 200);
    app.create_user("gone", "org-x").await;
    assert_eq!(app.change("gone", "delete", &admin).await.status, 200);
    let r = app
        .post(
            "/v2/users/ada/metadata",
            &admin,
            Some(&json!({"metadata": [{"key": "team", "value": b64("red")}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    ["v3a", "v3b", "ada", "bob", "bot"]
        .map(String::from)
        .to_vec()
}

/// What a user reads as through the API: v2 and v3alpha, metadata, tokens and history.
async fn reading(app: &TestApp, id: &str) -> Value {
    let admin = admin_token();
    let v2 = app.get(&format!("/v2/users/{id}"), &admin).await;
    let v3 = app.get(&format!("/v3alpha/users/{id}"), &admin).await;
    let metadata = app
        .post(
            &format!("/v2/users/{id}/metadata/search"),
            &admin,
            Some(&json!({})),
        )
        .await;
    let pats = app
        .post(
            "/v2/users/pats/search",
            &admin,
            Some(&json!({"filters": [{"userIdFilter": {"id": id}}]})),
        )
        .await;
    let history = app
        .post(
            &format!("/management/v1/users/{id}/changes/_search"),
            &admin,
            Some(&json!({"query": {"asc": true}})),
        )
        .await;
    for r in [&v2, &v3, &metadata, &pats, &history] {
        assert_eq!(r.status, 200, "{id}: {:?}", r.body);
    }
    json!({"v2": v2.body, "v3": v3.body, "metadata": metadata.body["metadata"],
           "pats": pats.body["result"], "history": history.body["result"]})
}

/// `reading` without what a record-only export renews: sequences, change dates, histories.
fn without_history(mut value: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in ["sequence", "changeDate", "changedDate", "history"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

/// Run `userd export` against `app` (running), into a file.
fn export(app: &TestApp, history: bool, file: &std::path::Path) {
    let mut cmd = app.command();
    cmd.arg("export")
        .arg("--data-dir")
        .arg(app.data_dir())
        .args(["--url", &app.address, "--token", &admin_token(), "--out"])
        .arg(file);
    if history {
        cmd.arg("--history");
    }
    let out = cmd.output().expect("userd export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A stopped instance in a new directory, `userd import file` into it, then started (with
/// `env` naming its backend).
async fn imported(file: &std::path::Path, env: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(userd_bin())
        .arg("import")
        .arg(file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("USERD_STORAGE__SHARDS", "4")
        .envs(env.iter().copied())
        .output()
        .expect("userd import");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    spawn_app_in(dir, env).await
}

#[tokio::test]
async fn export_then_import_moves_every_live_user_between_instances_and_backends() {
    let source = spawn_app().await;
    let ids = populate(&source).await;
    let files = tempfile::tempdir().unwrap();
    let (full, records) = (
        files.path().join("full.jsonl"),
        files.path().join("records.jsonl"),
    );
    export(&source, true, &full);
    export(&source, false, &records);
    let lines = std::fs::read_to_string(&full).unwrap();
    assert_eq!(lines.lines().count(), ids.len(), "live users only");
    assert!(!lines.contains("\"gone\""));

    let mut before = Vec::new();
    for id in &ids {
        before.push(reading(&source, id).await);
    }
    // What is compared is there to compare.
    let ada = &before[2];
    assert_eq!(ada["metadata"].as_array().map_or(0, Vec::len), 2, "{ada}");
    assert!(ada["history"].as_array().map_or(0, Vec::len) >= 3, "{ada}");
    assert_eq!(
        ada["v2"]["user"]["human"]["email"]["isVerified"],
        json!(true),
        "{ada}"
    );
    assert_eq!(
        before[4]["pats"].as_array().map_or(0, Vec::len),
        1,
        "{}",
        before[4]
    );
    assert_eq!(before[3]["v2"]["user"]["state"], json!("USER_STATE_LOCKED"));
    // Into sled (from whichever backend this pass runs on), and on the PostgreSQL pass also
    // into a fresh database.
    let sled = [("USERD_STORAGE__BACKEND", "sled")];
    let mut targets: Vec<Vec<(String, String)>> = vec![sled
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()];
    if let Some(url) = fresh_database().await {
        targets.push(vec![
            ("USERD_STORAGE__BACKEND".into(), "postgres".into()),
            ("USERD_STORAGE__POSTGRES__URL".into(), url),
        ]);
    }
    for target in &targets {
        let env: Vec<(&str, &str)> = target
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let copy = imported(&full, &env).await;
        for (id, expected) in ids.iter().zip(&before) {
            assert_eq!(
                &reading(&copy, id).await,
                expected,
                "{id} with its history, {env:?}"
            );
        }
        assert_eq!(copy.state_of("gone").await, None);
        // The copy works on: the machine's token, the human's password and username rules.
        assert_eq!(
            copy.change("bob", "unlock", &admin_token()).await.status,
            200
        );
        let taken = copy
            .post(
                "/v2/users/human",
                &admin_token(),
                Some(
                    &json!({"username": "ada-l", "organization": {"orgId": "org-x"},
                             "profile": {"givenName": "A", "familyName": "B"},
                             "email": {"email": "x@example.com"}}),
                ),
            )
            .await;
        assert_error(&taken, 409, 6, None);
    }
    // Records only: the same users, as they are, with a short history.
    let copy = imported(&records, &sled).await;
    for (id, expected) in ids.iter().zip(&before) {
        let got = reading(&copy, id).await;
        assert_eq!(
            without_history(got.clone()),
            without_history(expected.clone()),
            "{id} as a record"
        );
        assert!(
            got["history"].as_array().map_or(0, Vec::len) <= 4,
            "{id}: a short history: {}",
            got["history"]
        );
    }
    let mut copy = copy;
    copy.kill();
    let (ok, report) = copy.check();
    assert!(ok, "{report}");
}
