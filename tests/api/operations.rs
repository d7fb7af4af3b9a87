//! Operating userd: Prometheus metrics that move as expected, request ids in headers, error
//! bodies and log lines, and JSON logs.

use crate::helpers::*;
use serde_json::json;
use std::collections::HashMap;

/// Parse the text format into `name{labels}` → value.
fn scrape(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn metrics(app: &TestApp) -> HashMap<String, f64> {
    let r = app
        .client
        .get(format!("{}/debug/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    scrape(&r.text().await.unwrap())
}

fn sum_matching(m: &HashMap<String, f64>, prefix: &str, needles: &[&str]) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix) && needles.iter().all(|n| k.contains(n)))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_move_as_expected() {
    let mut app = spawn_app().await;
    let admin = admin_token();
    for id in ["m-a", "m-b", "m-c", "m-d"] {
        app.create_user(id, "org-a").await;
    }
    app.change("m-a", "deactivate", &admin).await;
    app.change("m-b", "lock", &admin).await;
    app.change("m-c", "delete", &admin).await;
    app.change("m-a", "deactivate", &admin).await; // refused: already inactive
    app.send(reqwest::Method::GET, "/v3alpha/users/m-d", None, None)
        .await;
    app.send(
        reqwest::Method::GET,
        "/v3alpha/users/m-d",
        Some("garbage"),
        None,
    )
    .await;

    let m = metrics(&app).await;
    let users = |state: &str| m[&format!("userd_users{{state=\"USER_STATE_{state}\"}}")];
    assert_eq!(
        (
            users("ACTIVE"),
            users("INACTIVE"),
            users("LOCKED"),
            users("DELETED")
        ),
        (1.0, 1.0, 1.0, 1.0)
    );
    assert_eq!(
        sum_matching(
            &m,
            "userd_http_requests_total",
            &["/deactivate", "status=\"200\""]
        ),
        1.0
    );
    assert_eq!(
        sum_matching(
            &m,
            "userd_http_requests_total",
            &["/deactivate", "status=\"400\""]
        ),
        1.0
    );
    assert_eq!(
        sum_matching(
            &m,
            "userd_http_requests_total",
            &["route=\"/v3alpha/users\"", "status=\"201\""]
        ),
        4.0
    );
    assert_eq!(m["userd_token_rejections_total{reason=\"missing\"}"], 1.0);
    assert_eq!(m["userd_token_rejections_total{reason=\"invalid\"}"], 1.0);
    assert!(
        sum_matching(
            &m,
            "userd_http_request_duration_seconds_count",
            &["/deactivate"]
        ) >= 2.0
    );
    assert!(
        m["userd_commit_batch_size_count"] >= 7.0,
        "every change went through a batch"
    );
    assert!(m["userd_flush_duration_seconds_count"] >= 1.0);
    assert_eq!(
        sum_matching(&m, "userd_shard_mailbox_depth", &[]),
        0.0,
        "nothing waiting"
    );
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("userd_shard_mailbox_depth"))
            .count(),
        4
    );

    // After a crash the state gauges are rebuilt from the store.
    app.restart();
    let m = metrics(&app).await;
    assert_eq!(m["userd_users{state=\"USER_STATE_ACTIVE\"}"], 1.0);
    assert_eq!(m["userd_users{state=\"USER_STATE_DELETED\"}"], 1.0);

    // A clean stop saves them, and the next start takes them instead of counting.
    app.signal("-TERM");
    assert!(app
        .wait_exit(std::time::Duration::from_secs(15))
        .is_some_and(|s| s.success()));
    app.start_again();
    let m = metrics(&app).await;
    assert_eq!(m["userd_users{state=\"USER_STATE_ACTIVE\"}"], 1.0);
    assert_eq!(m["userd_users{state=\"USER_STATE_DELETED\"}"], 1.0);
    // Taken means gone: a change and a crash later, the start counts again.
    app.create_user("after", "org-a").await;
    app.restart();
    let m = metrics(&app).await;
    assert_eq!(m["userd_users{state=\"USER_STATE_ACTIVE\"}"], 2.0);
}

#[tokio::test]
async fn request_ids_are_echoed_in_headers_bodies_and_logs() {
    let app = spawn_app_with(&[("USERD_LOG__LEVEL", "info")]).await;
    let r = app
        .client
        .post(format!("{}/v3alpha/users/ghost/reactivate", app.address))
        .bearer_auth(admin_token())
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-abc-123");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["details"][0]["@type"],
        json!("type.googleapis.com/zitadel.v1.ErrorDetail")
    );
    assert_eq!(
        body["details"][1],
        json!({"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "req-abc-123"})
    );
    // Without one, userd makes one up.
    let r = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    let made_up = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(made_up.len() >= 16);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["details"][1]["requestId"], json!(made_up));
    // A header that is not a usable id is replaced.
    let r = app
        .client
        .get(format!("{}/nope", app.address))
        .header("x-request-id", "x".repeat(300))
        .send()
        .await
        .unwrap();
    assert_ne!(
        r.headers()["x-request-id"].to_str().unwrap(),
        "x".repeat(300)
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log = app.log();
    let line = log
        .lines()
        .find(|l| l.contains("/v3alpha/users/ghost/reactivate"))
        .expect("request logged");
    assert!(
        line.contains("req-abc-123") && line.contains(" 404 "),
        "{line}"
    );
    assert!(
        !log.contains("Bearer") && !log.contains(&admin_token()),
        "tokens are never logged"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let app = spawn_app_with(&[("USERD_LOG__LEVEL", "info"), ("USERD_LOG__FORMAT", "json")]).await;
    app.create_user("j", "org-a").await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log = app.log();
    let mut request_lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["msg"].is_string() && v["ts"].is_string());
        if v["msg"]
            .as_str()
            .unwrap()
            .starts_with("POST /v3alpha/users 201")
        {
            assert!(v["request_id"].is_string());
            request_lines += 1;
        }
    }
    assert_eq!(request_lines, 1, "{log}");
}

#[tokio::test]
async fn openapi_and_docs_describe_exactly_what_is_served() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        json!("bearer")
    );
    let reactivate = &doc["paths"]["/v3alpha/users/{userId}/reactivate"]["post"];
    assert_eq!(
        reactivate["responses"]["200"]["description"],
        json!("User successfully reactivated")
    );
    assert_eq!(
        reactivate["responses"]["403"]["description"],
        json!("Returned when the user does not have permission to access the resource.")
    );
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths
            .values()
            .map(|m| m.as_object().unwrap().len())
            .sum::<usize>(),
        87
    );
    // Every documented operation is routed: without a token it answers 401, not 404 or 405.
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            let url = format!(
                "{}{}",
                app.address,
                path.replace("{userId}", "someone")
                    .replace("{tokenId}", "1")
            );
            // A body each method reads as well-formed (fields are checked before the token).
            let body = if path.ends_with("/email") {
                "{\"email\": \"a@b.c\"}"
            } else if path.ends_with("/phone") && method == "post" {
                "{\"phone\": \"+41791234567\", \"returnCode\": {}}"
            } else if path.ends_with("/verify") {
                "{\"verificationCode\": \"ABC123\"}"
            } else if path.ends_with("/password") {
                "{\"newPassword\": {\"password\": \"Abcdefg1!\"}}"
            } else if path.ends_with("/resend") || path.ends_with("/send") {
                "{\"returnCode\": {}}"
            } else {
                "{\"schemaId\": \"s\", \"data\": {}, \"profile\": {\"givenName\": \"a\", \"familyName\": \"b\"}, \"email\": {\"email\": \"a@b.c\"}, \"machine\": {\"name\": \"m\"}}"
            };
            let r = app
                .client
                .request(method.to_uppercase().parse().unwrap(), url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{method} {path}");
        }
    }
    let r = app
        .client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("/v3alpha/users/{userId}/reactivate") && html.contains("/openapi.json"));
}
