//! v2 user metadata over REST (and Connect JSON): set, list, delete, each change one event with
//! the next sequence; ZITADEL's errors; `user.write` for changes even on one's own user; lists
//! of a user the caller may not read are empty; and everything survives a restart.

use crate::helpers::*;
use base64::Engine as _;
use serde_json::{json, Value};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn set(app: &TestApp, id: &str, token: &str, entries: &[(&str, &str)]) -> Reply {
    let metadata: Vec<Value> = entries
        .iter()
        .map(|(k, v)| json!({"key": k, "value": b64(v)}))
        .collect();
    app.post(
        &format!("/v2/users/{id}/metadata"),
        token,
        Some(&json!({"metadata": metadata})),
    )
    .await
}

async fn list(app: &TestApp, id: &str, token: &str, body: Value) -> Reply {
    app.post(
        &format!("/v2/users/{id}/metadata/search"),
        token,
        Some(&body),
    )
    .await
}

async fn delete(app: &TestApp, id: &str, token: &str, keys: &[&str]) -> Reply {
    let query: Vec<String> = keys.iter().map(|k| format!("keys={k}")).collect();
    app.send(
        reqwest::Method::DELETE,
        &format!("/v2/users/{id}/metadata?{}", query.join("&")),
        Some(token),
        None,
    )
    .await
}

/// (key, decoded value) of a list answer, in order.
fn entries(reply: &Reply) -> Vec<(String, String)> {
    reply.body["metadata"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let value = base64::engine::general_purpose::STANDARD
                .decode(m["value"].as_str().unwrap_or_default())
                .expect("base64 value");
            (
                m["key"].as_str().unwrap_or_default().to_string(),
                String::from_utf8(value).expect("utf-8 value"),
            )
        })
        .collect()
}

#[tokio::test]
async fn metadata_is_set_listed_and_deleted_with_one_event_each() {
    let mut app = spawn_app().await;
    app.create_user("m1", "org-a").await;
    let admin = admin_token();

    let r = set(&app, "m1", &admin, &[("plan", "pro"), ("region", "eu")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["setDate"].is_string(), "{:?}", r.body);
    assert_eq!(app.state_of("m1").await.map(|s| s.1), Some(2));

    let r = list(&app, "m1", &admin, json!({"pagination": {"asc": true}})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["pagination"]["totalResult"], json!("2"));
    assert_eq!(
        entries(&r),
        vec![
            ("plan".to_string(), "pro".to_string()),
            ("region".to_string(), "eu".to_string())
        ]
    );
    let first = &r.body["metadata"][0];
    assert!(first["creationDate"].is_string() && first["changeDate"].is_string());

    // The same value again changes nothing (no event); a new value is one more event.
    assert_eq!(
        set(&app, "m1", &admin, &[("plan", "pro")]).await.status,
        200
    );
    assert_eq!(app.state_of("m1").await.map(|s| s.1), Some(2));
    assert_eq!(
        set(&app, "m1", &admin, &[("plan", "team")]).await.status,
        200
    );
    assert_eq!(app.state_of("m1").await.map(|s| s.1), Some(3));

    // Filter by key, and page.
    let r = list(
        &app,
        "m1",
        &admin,
        json!({"filters": [{"keyFilter": {"key": "PL", "method": "TEXT_FILTER_METHOD_STARTS_WITH_IGNORE_CASE"}}]}),
    )
    .await;
    assert_eq!(entries(&r), vec![("plan".to_string(), "team".to_string())]);
    let r = list(
        &app,
        "m1",
        &admin,
        json!({"pagination": {"limit": 1, "offset": 1, "asc": true}}),
    )
    .await;
    assert_eq!(r.body["pagination"]["totalResult"], json!("2"));
    assert_eq!(r.body["pagination"]["appliedLimit"], json!("1"));
    assert_eq!(entries(&r), vec![("region".to_string(), "eu".to_string())]);

    // Deleting a key that is not set removes nothing.
    let r = delete(&app, "m1", &admin, &["plan", "nope"]).await;
    assert_error(&r, 404, 5, Some("META-2nnds"));
    assert_eq!(app.state_of("m1").await.map(|s| s.1), Some(3));
    let r = delete(&app, "m1", &admin, &["plan"]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["deletionDate"].is_string());
    assert_eq!(app.state_of("m1").await.map(|s| s.1), Some(4));

    // Durable, and the history checks out.
    app.restart();
    let r = list(&app, "m1", &admin, json!({})).await;
    assert_eq!(entries(&r), vec![("region".to_string(), "eu".to_string())]);
    app.kill();
    let (clean, report) = app.check();
    assert!(clean, "{report}");
}

#[tokio::test]
async fn metadata_errors_are_zitadels_and_change_nothing() {
    let app = spawn_app().await;
    app.create_user("m2", "org-a").await;
    let admin = admin_token();

    assert_error(
        &set(&app, "m2", &admin, &[]).await,
        400,
        9,
        Some("META-9mm2d"),
    );
    assert_error(
        &set(&app, "m2", &admin, &[("", "x")]).await,
        400,
        3,
        Some("META-2m00f"),
    );
    assert_error(
        &set(&app, "m2", &admin, &[("k", "")]).await,
        400,
        3,
        Some("META-2m00f"),
    );
    assert_error(
        &delete(&app, "m2", &admin, &[]).await,
        400,
        9,
        Some("META-9mm2d"),
    );
    assert_error(
        &set(&app, "nobody", &admin, &[("k", "v")]).await,
        400,
        9,
        Some("COMMAND-uXHNj"),
    );
    // One user's metadata is bounded in all (256 KiB): six values of 40,000 bytes fit.
    let big = "x".repeat(40_000);
    for i in 0..6 {
        let key = format!("big{i}");
        assert_eq!(
            set(&app, "m2", &admin, &[(key.as_str(), big.as_str())])
                .await
                .status,
            200
        );
    }
    assert_error(
        &set(&app, "m2", &admin, &[("big6", big.as_str())]).await,
        400,
        3,
        Some("USERD-META-0001"),
    );
    // Nothing of the refused ones happened: 6 sets after the creation.
    assert_eq!(app.state_of("m2").await.map(|s| s.1), Some(7));
    // No token: 401.
    let r = app
        .send(
            reqwest::Method::POST,
            "/v2/users/m2/metadata",
            None,
            Some(&json!({"metadata": [{"key": "k", "value": b64("v")}]})),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn metadata_needs_write_permission_even_for_ones_own_user_and_lists_only_what_may_be_read() {
    let app = spawn_app().await;
    app.create_user("m3", "org-a").await;
    app.create_user("m4", "org-b").await;
    let admin = admin_token();
    assert_eq!(set(&app, "m4", &admin, &[("k", "v")]).await.status, 200);

    // An org-a owner may not touch org-b's user; its list of that user is empty.
    let owner_a = org_token("ORG_OWNER", "org-a");
    assert_error(
        &set(&app, "m4", &owner_a, &[("k", "w")]).await,
        403,
        7,
        None,
    );
    let r = list(&app, "m4", &owner_a, json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(entries(&r), vec![]);
    assert_eq!(set(&app, "m3", &owner_a, &[("k", "a")]).await.status, 200);

    // A user without any role may read its own metadata but not change it.
    let own = sign(&claims("m3", &[]));
    let r = list(&app, "m3", &own, json!({})).await;
    assert_eq!(entries(&r), vec![("k".to_string(), "a".to_string())]);
    assert_error(&set(&app, "m3", &own, &[("k", "b")]).await, 403, 7, None);

    // Connect JSON reaches the same method.
    let r = app
        .send(
            reqwest::Method::POST,
            "/zitadel.user.v2.UserService/ListUserMetadata",
            Some(&admin),
            Some(&json!({"userId": "m4"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(entries(&r), vec![("k".to_string(), "v".to_string())]);
}

#[tokio::test]
async fn add_human_user_sets_its_metadata_as_a_second_event() {
    let app = spawn_app().await;
    let admin = admin_token();
    let body = json!({
        "userId": "m5",
        "username": "m5-name",
        "organization": {"orgId": "org-a"},
        "profile": {"givenName": "Mia", "familyName": "Meta"},
        "email": {"email": "m5@example.com", "isVerified": true},
        "metadata": [{"key": "team", "value": b64("blue")}, {"key": "team", "value": b64("red")}],
    });
    let r = app.post("/v2/users/human", &admin, Some(&body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["details"]["sequence"], json!("2"));
    let r = list(&app, "m5", &admin, json!({})).await;
    assert_eq!(entries(&r), vec![("team".to_string(), "red".to_string())]);

    // An empty value refuses the whole create.
    let mut bad = body.clone();
    bad["userId"] = json!("m6");
    bad["username"] = json!("m6-name");
    bad["metadata"] = json!([{"key": "team", "value": ""}]);
    let r = app.post("/v2/users/human", &admin, Some(&bad)).await;
    assert_error(&r, 400, 3, Some("META-2m00f"));
    assert_eq!(app.state_of("m6").await, None);
}
