//! Store failures (injected with the `fault-injection` feature): a failed write or flush answers
//! 503 code 14 for every change of its batch, applies none of them, keeps reads working, and the
//! server recovers when the fault clears.
#![cfg(feature = "fault-injection")]

use crate::helpers::*;
use serde_json::json;
use std::collections::HashMap;

async fn set_faults(app: &TestApp, write: bool, flush: bool) {
    let r = app
        .send(
            reqwest::Method::POST,
            "/debug/faults",
            None,
            Some(&json!({"write": write, "flush": flush})),
        )
        .await;
    assert_eq!(r.status, 200);
}

/// Fire `action` at every user at once; the statuses by user.
async fn burst(app: &TestApp, users: &[String], action: &str) -> HashMap<String, u16> {
    let admin = admin_token();
    let mut tasks = Vec::new();
    for id in users {
        let client = app.client.clone();
        let url = format!("{}/v3alpha/users/{id}/{action}", app.address);
        let token = admin.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            if status == 503 {
                assert_eq!(body["code"], json!(14), "{body}");
            }
            (id, status)
        }));
    }
    let mut out = HashMap::new();
    for t in tasks {
        let (id, status) = t.await.unwrap();
        out.insert(id, status);
    }
    out
}

async fn check_faults(write: bool, flush: bool) {
    let mut app = spawn_app().await;
    let users: Vec<String> = (0..32).map(|i| format!("f{i}")).collect();
    for id in &users {
        app.create_user(id, "org-a").await;
    }
    set_faults(&app, write, flush).await;
    let statuses = burst(&app, &users, "deactivate").await;
    assert!(statuses.values().all(|s| *s == 503), "{statuses:?}");
    // Reads keep working and show nothing of the failed changes.
    for id in &users {
        assert_eq!(
            app.state_of(id).await,
            Some(("USER_STATE_ACTIVE".into(), 1))
        );
    }
    // Creates fail the same way, and leave no user behind.
    let r = app
        .post(
            "/v3alpha/users",
            &admin_token(),
            Some(&json!({"userId": "ghost", "organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}})),
        )
        .await;
    assert_error(&r, 503, 14, None);
    assert_eq!(app.state_of("ghost").await, None);
    // Readiness says what writes do.
    assert_eq!(app.get("/debug/ready", &admin_token()).await.status, 503);
    // The fault clears: readiness follows by itself (the idle log is probed), and everything
    // works again, with gap-free sequences.
    set_faults(&app, false, false).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.get("/debug/ready", &admin_token()).await.status != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let statuses = burst(&app, &users, "deactivate").await;
    assert!(statuses.values().all(|s| *s == 200), "{statuses:?}");
    app.create_user("ghost", "org-a").await;
    for id in &users {
        assert_eq!(
            app.state_of(id).await,
            Some(("USER_STATE_INACTIVE".into(), 2))
        );
    }
    app.kill();
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    app.start_again();
    for id in &users {
        assert_eq!(
            app.state_of(id).await,
            Some(("USER_STATE_INACTIVE".into(), 2))
        );
    }
}

#[tokio::test]
async fn a_failed_write_answers_503_and_applies_nothing() {
    if sled_only("a_failed_write_answers_503_and_applies_nothing") {
        return;
    }
    check_faults(true, false).await;
}

#[tokio::test]
async fn a_failed_flush_answers_503_and_applies_nothing() {
    if sled_only("a_failed_flush_answers_503_and_applies_nothing") {
        return;
    }
    check_faults(false, true).await;
}

#[tokio::test]
async fn a_flush_failing_under_load_never_answers_200_for_a_lost_change() {
    let mut app = spawn_app().await;
    let users: Vec<String> = (0..64).map(|i| format!("l{i}")).collect();
    for id in &users {
        app.create_user(id, "org-a").await;
    }
    // Toggle everyone repeatedly while the flush fault comes and goes.
    let admin = admin_token();
    let mut tasks = Vec::new();
    for id in users.clone() {
        let client = app.client.clone();
        let base = app.address.clone();
        let token = admin.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = 1u64;
            let mut active = true;
            for _ in 0..40 {
                let action = if active { "deactivate" } else { "reactivate" };
                let r = client
                    .post(format!("{base}/v3alpha/users/{id}/{action}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                match r.status().as_u16() {
                    200 => {
                        let body: serde_json::Value = r.json().await.unwrap();
                        let seq: u64 = body["details"]["sequence"]
                            .as_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        assert_eq!(seq, acked + 1, "{id}: gap-free after failures");
                        acked = seq;
                        active = !active;
                    }
                    503 => {}
                    other => panic!("{id}: {other}"),
                }
            }
            (id, acked, active)
        }));
    }
    for round in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        set_faults(&app, false, round % 2 == 0).await;
    }
    set_faults(&app, false, false).await;
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    app.kill();
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    app.start_again();
    for (id, acked, active) in results {
        let state = if active {
            "USER_STATE_ACTIVE"
        } else {
            "USER_STATE_INACTIVE"
        };
        assert_eq!(
            app.state_of(&id).await,
            Some((state.to_string(), acked)),
            "{id}"
        );
    }
}

#[tokio::test]
async fn readers_never_see_a_change_whose_commit_failed() {
    if sled_only("readers_never_see_a_change_whose_commit_failed") {
        return;
    }
    // Readers poll the user through a read, a listing and the subject check of the user's own
    // token while deactivations fail at the sync; none may ever see the user inactive.
    let app = spawn_app().await;
    let admin = admin_token();
    let added = app
        .post(
            "/v2/users/human",
            &admin,
            Some(&json!({
                "userId": "watched", "username": "watched", "organization": {"orgId": "org-a"},
                "profile": {"givenName": "W", "familyName": "W"},
                "email": {"email": "w@example.com"}, "password": {"password": "Pw-123456"}
            })),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    let mut own = claims("watched", &[]);
    own["iat"] = json!(now_secs_f64());
    let own = sign(&own);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for kind in 0..3 {
        let client = app.client.clone();
        let base = app.address.clone();
        let (admin, own, stop) = (admin.clone(), own.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u32;
            let mut saw = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = match kind {
                    0 => client.get(format!("{base}/v3alpha/users/watched")).bearer_auth(&admin),
                    1 => client
                        .post(format!("{base}/v3alpha/users/search"))
                        .bearer_auth(&admin)
                        .json(&json!({"filters": [{"stateFilter": {"state": "USER_STATE_INACTIVE"}}]})),
                    _ => client.get(format!("{base}/v2/users/watched")).bearer_auth(&own),
                };
                let r = r.send().await.unwrap();
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                reads += 1;
                let inactive = body["user"]["state"] == json!("USER_STATE_INACTIVE")
                    || body["result"].as_array().is_some_and(|a| !a.is_empty())
                    || status == 401;
                if status != 200 || inactive {
                    saw.push((status, body));
                }
            }
            (reads, saw)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    set_faults(&app, false, true).await;
    for _ in 0..20 {
        let r = app.change("watched", "deactivate", &admin).await;
        assert_error(&r, 503, 14, None);
    }
    set_faults(&app, false, false).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let (reads, saw) = reader.await.unwrap();
        assert!(reads > 10, "the reader kept reading");
        assert!(saw.is_empty(), "a reader saw an undone change: {saw:?}");
    }
    assert_eq!(
        app.state_of("watched").await,
        Some(("USER_STATE_ACTIVE".into(), 1))
    );
}
