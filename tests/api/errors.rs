//! Routing, request shape and the contract's order of checks: 400 → 401 → 404 → 403 → 400.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn routing_comes_first_whatever_the_token() {
    let app = spawn_app().await;
    for token in [None, Some(admin_token()), Some("garbage".to_string())] {
        let r = app.send(Method::GET, "/nope", token.as_deref(), None).await;
        assert_error(&r, 404, 5, None);
        assert_eq!(
            r.body["message"]
                .as_str()
                .map(|m| m.starts_with("Not Found")),
            Some(true)
        );
        let r = app
            .send(
                Method::POST,
                "/v3alpha/users/x/frobnicate",
                token.as_deref(),
                None,
            )
            .await;
        assert_error(&r, 404, 5, None);
        let r = app
            .send(
                Method::GET,
                "/v3alpha/users/x/reactivate",
                token.as_deref(),
                None,
            )
            .await;
        assert_error(&r, 405, 12, None);
        let r = app
            .send(Method::PUT, "/v3alpha/users/x", token.as_deref(), None)
            .await;
        assert_error(&r, 405, 12, None);
        let r = app
            .send(Method::GET, "/v3alpha/users", token.as_deref(), None)
            .await;
        assert_error(&r, 405, 12, None);
    }
}

#[tokio::test]
async fn order_of_checks_for_a_state_change() {
    let app = spawn_app().await;
    app.create_user("target", "org-a").await;
    let outsider = org_token("ORG_OWNER", "org-z");
    let viewer = org_token("ORG_OWNER_VIEWER", "org-a");
    let owner = org_token("ORG_OWNER", "org-a");

    // Shape before token: an empty id or a bad body is 400 even without a token.
    let r = app
        .send(Method::POST, "/v3alpha/users//reactivate", None, None)
        .await;
    assert_error(&r, 400, 3, None);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("User ID missing"));
    let r = app
        .client
        .post(format!("{}/v3alpha/users/target/reactivate", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Token before existence.
    let r = app
        .send(Method::POST, "/v3alpha/users/ghost/reactivate", None, None)
        .await;
    assert_error(&r, 401, 16, None);
    assert_eq!(r.body["message"], json!("auth header missing"));
    // Existence before permission.
    let r = app.change("ghost", "reactivate", &outsider).await;
    assert_error(&r, 404, 5, Some("COMMAND-9hy5kzbuk6"));
    // Permission before state: the user is ACTIVE, so reactivate would be a state error,
    // but a caller without user.write must not learn that.
    for token in [&outsider, &viewer] {
        let r = app.change("target", "reactivate", token).await;
        assert_error(&r, 403, 7, Some("AUTH-AWfge"));
        assert_eq!(
            r.body["message"],
            json!("No matching permissions found (AUTH-AWfge)")
        );
    }
    // A 403 changes nothing.
    let r = app.change("target", "deactivate", &viewer).await;
    assert_error(&r, 403, 7, None);
    assert_eq!(
        app.state_of("target").await,
        Some(("USER_STATE_ACTIVE".into(), 1))
    );
    // With permission: the state error.
    let r = app.change("target", "reactivate", &owner).await;
    assert_error(&r, 400, 9, Some("COMMAND-s5qqcz97hf"));
}

#[tokio::test]
async fn state_changes_accept_empty_and_object_bodies_and_the_path_wins() {
    let app = spawn_app().await;
    let admin = admin_token();
    app.create_user("p1", "org-a").await;
    app.create_user("p2", "org-a").await;
    let url = |action: &str| format!("{}/v3alpha/users/p1/{action}", app.address);
    // Empty body with a JSON content type.
    let r = app
        .client
        .post(url("deactivate"))
        .bearer_auth(&admin)
        .header("content-type", "application/json; charset=utf-8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // `{}`.
    let r = app
        .post("/v3alpha/users/p1/reactivate", &admin, Some(&json!({})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A body naming another user: the path wins.
    let r = app
        .post(
            "/v3alpha/users/p1/lock",
            &admin,
            Some(&json!({"userId": "p2"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.state_of("p1").await.unwrap().0, "USER_STATE_LOCKED");
    assert_eq!(app.state_of("p2").await.unwrap().0, "USER_STATE_ACTIVE");
    // Not JSON, another content type, too large: errors that change nothing.
    let r = app
        .client
        .post(url("unlock"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], json!(3));
    let r = app
        .client
        .post(url("unlock"))
        .bearer_auth(&admin)
        .body("[1, 2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000));
    let r = app
        .client
        .post(url("unlock"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], json!(3));
    assert_eq!(
        app.state_of("p1").await.unwrap(),
        ("USER_STATE_LOCKED".into(), 4)
    );
    // A delete's body follows the same rules: a bad one deletes nothing.
    for (content_type, body, status) in [
        ("text/plain", "{}", 415),
        ("application/json", "garbage", 400),
    ] {
        let r = app
            .client
            .delete(format!("{}/v3alpha/users/p2", app.address))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
    }
    assert_eq!(app.state_of("p2").await.unwrap().0, "USER_STATE_ACTIVE");
}

#[tokio::test]
async fn null_fields_read_as_their_defaults() {
    // Protojson: `null` leaves a field at its default, in every request message.
    let app = spawn_app().await;
    let admin = admin_token();
    let r = app
        .post(
            "/v3alpha/users",
            &admin,
            Some(
                &json!({"userId": "nulls", "organization": {"orgId": "org-a"}, "schemaId": "s",
                          "data": {"kept": null}, "contact": null, "user": null}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let got = app.get("/v3alpha/users/nulls", &admin).await;
    assert_eq!(
        got.body["user"]["data"],
        json!({"kept": null}),
        "null inside data is data"
    );
    let r = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&json!({"query": {"offset": null, "limit": null, "asc": null}, "filters": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["details"]["totalResult"], json!("1"));
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"stateQuery": {"state": null}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_answer_413() {
    let app = spawn_app_with(&[("USERD_SERVER__MAX_BODY_BYTES", "1024")]).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 512])).collect();
    let stream = futures_util::stream::iter(chunks);
    let r = app
        .client
        .post(format!("{}/v3alpha/users/x/reactivate", app.address))
        .bearer_auth(admin_token())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn ids_in_paths_are_percent_decoded_and_checked() {
    let app = spawn_app().await;
    let admin = admin_token();
    app.create_user("with space+plus", "org-a").await;
    let r = app
        .change("with%20space%2Bplus", "deactivate", &admin)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app.change("a%2Fb", "deactivate", &admin).await;
    assert_error(&r, 400, 3, None);
    let r = app.change("a%07b", "deactivate", &admin).await;
    assert_error(&r, 400, 3, None);
    // Not UTF-8 once decoded.
    let r = app.change("a%FFb", "deactivate", &admin).await;
    assert_error(&r, 400, 3, None);
    let long = "x".repeat(201);
    let r = app.change(&long, "deactivate", &admin).await;
    assert_error(&r, 400, 3, None);
    let r = app.get("/v3alpha/users/%20", &admin).await;
    assert_error(&r, 404, 5, None);
}
