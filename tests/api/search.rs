//! `POST /v3alpha/users/search`: order, paging, filters, deleted users never listed.

use crate::helpers::*;
use serde_json::{json, Value};

fn ids(body: &Value) -> Vec<String> {
    body["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["userId"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn search_orders_pages_and_filters() {
    let app = spawn_app().await;
    let admin = admin_token();
    let empty = app.post("/v3alpha/users/search", &admin, None).await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.get("result").is_none(), "{:?}", empty.body);
    assert!(empty.body["details"].get("totalResult").is_none());

    for (id, org) in [
        ("s1", "org-a"),
        ("s2", "org-b"),
        ("s3", "org-a"),
        ("s4", "org-a"),
        ("s5", "org-b"),
    ] {
        app.create_user(id, org).await;
    }
    app.change("s3", "deactivate", &admin).await;
    app.change("s4", "delete", &admin).await;

    let all = app
        .post("/v3alpha/users/search", &admin, Some(&json!({})))
        .await;
    assert_eq!(
        ids(&all.body),
        ["s5", "s3", "s2", "s1"],
        "newest first, deleted never listed"
    );
    assert_eq!(all.body["details"]["totalResult"], json!("4"));
    assert!(all.body["details"]["timestamp"].is_string());

    let asc = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&json!({"query": {"asc": true, "offset": "1", "limit": 2}})),
        )
        .await;
    assert_eq!(ids(&asc.body), ["s2", "s3"]);
    assert_eq!(asc.body["details"]["totalResult"], json!("4"));

    let filtered = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&json!({"filters": [
                {"organizationIdFilter": {"organizationId": "org-a"}},
                {"stateFilter": {"state": "USER_STATE_ACTIVE"}}
            ]})),
        )
        .await;
    assert_eq!(ids(&filtered.body), ["s1"]);
    let inactive = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&json!({"filters": [{"stateFilter": {"state": "USER_STATE_INACTIVE"}}]})),
        )
        .await;
    assert_eq!(ids(&inactive.body), ["s3"]);
    let deleted = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&json!({"filters": [{"stateFilter": {"state": "USER_STATE_DELETED"}}]})),
        )
        .await;
    assert!(ids(&deleted.body).is_empty());

    for bad in [
        json!({"query": {"limit": "lots"}}),
        json!({"query": {"offset": -1}}),
        json!({"filters": [{"stateFilter": {"state": "USER_STATE_SLEEPY"}}]}),
        json!({"filters": "all"}),
    ] {
        let r = app.post("/v3alpha/users/search", &admin, Some(&bad)).await;
        assert_error(&r, 400, 3, None);
    }
    let r = app
        .send(reqwest::Method::POST, "/v3alpha/users/search", None, None)
        .await;
    assert_error(&r, 401, 16, None);
}

#[tokio::test]
async fn search_clamps_the_limit_to_1000() {
    let app = spawn_app().await;
    let admin = admin_token();
    let mut tasks = Vec::new();
    for i in 0..1005 {
        let client = app.client.clone();
        let url = format!("{}/v3alpha/users", app.address);
        let token = admin.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"userId": format!("bulk-{i:04}"), "organization": {"orgId": "o"}, "schemaId": "s", "data": {}}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let r = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&json!({"query": {"limit": 5000}})),
        )
        .await;
    assert_eq!(ids(&r.body).len(), 1000);
    assert_eq!(r.body["details"]["totalResult"], json!("1005"));
    let r = app.post("/v3alpha/users/search", &admin, None).await;
    assert_eq!(ids(&r.body).len(), 100, "default limit");
}
