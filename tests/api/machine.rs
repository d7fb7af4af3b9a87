//! v2 machine users (service accounts): `CreateUser` with a machine over REST
//! (`POST /v2/users/new`) and Connect, read back in v2's machine shape, listed by type, named
//! by their id when no username is given, sharing the username space with humans, and moved
//! through the lifecycle like humans.

use crate::helpers::*;
use serde_json::{json, Value};

async fn create_machine(app: &TestApp, body: Value) -> Reply {
    app.post("/v2/users/new", &admin_token(), Some(&body)).await
}

async fn get_v2(app: &TestApp, id: &str) -> Reply {
    app.get(&format!("/v2/users/{id}"), &admin_token()).await
}

#[tokio::test]
async fn machine_users_are_created_read_listed_and_moved_like_humans() {
    let mut app = spawn_app().await;
    let r = create_machine(
        &app,
        json!({"organizationId": "org-a", "username": "ci-bot", "machine": {"name": "CI bot", "description": "runs the builds"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert!(r.body["creationDate"].is_string(), "{:?}", r.body);

    let got = get_v2(&app, &id).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let user = &got.body["user"];
    assert_eq!(user["username"], json!("ci-bot"));
    assert_eq!(user["loginNames"], json!(["ci-bot"]));
    assert_eq!(user["preferredLoginName"], json!("ci-bot"));
    assert_eq!(user["state"], json!("USER_STATE_ACTIVE"));
    assert_eq!(user["machine"]["name"], json!("CI bot"));
    assert_eq!(user["machine"]["description"], json!("runs the builds"));
    assert!(user["human"].is_null());
    assert_eq!(got.body["details"]["resourceOwner"], json!("org-a"));

    // Without a username, the machine is named by its id (chosen or generated).
    let r = create_machine(
        &app,
        json!({"organizationId": "org-a", "userId": "bot-2", "machine": {"name": "Bot 2"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], json!("bot-2"));
    assert_eq!(
        get_v2(&app, "bot-2").await.body["user"]["username"],
        json!("bot-2")
    );
    let r = create_machine(
        &app,
        json!({"organizationId": "org-b", "machine": {"name": "Bot 3"}}),
    )
    .await;
    let generated = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        get_v2(&app, &generated).await.body["user"]["username"],
        json!(generated)
    );

    // Usernames are one space with humans.
    let human = json!({
        "username": "taken-name", "organization": {"orgId": "org-a"},
        "profile": {"givenName": "T", "familyName": "N"}, "email": {"email": "t@example.com"},
    });
    assert_eq!(
        app.post("/v2/users/human", &admin_token(), Some(&human))
            .await
            .status,
        200
    );
    let r = create_machine(
        &app,
        json!({"organizationId": "org-a", "username": "taken-name", "machine": {"name": "x"}}),
    )
    .await;
    assert_error(&r, 409, 6, Some("V3-DKcYh"));

    // Listed by type.
    let r = app
        .post(
            "/v2/users",
            &admin_token(),
            Some(&json!({"queries": [{"typeQuery": {"type": "TYPE_MACHINE"}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut ids: Vec<String> = r.body["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|u| u["userId"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    let mut want = vec![id.clone(), "bot-2".to_string(), generated.clone()];
    want.sort();
    assert_eq!(ids, want);

    // An unspecified type matches no one, as in ZITADEL.
    let r = app
        .post(
            "/v2/users",
            &admin_token(),
            Some(&json!({"queries": [{"typeQuery": {"type": "TYPE_UNSPECIFIED"}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["result"].is_null(), "{:?}", r.body);
    assert!(r.body["details"]["totalResult"].is_null(), "{:?}", r.body);

    // Found by username like humans: through the username index and by a scan.
    for (query, want) in [
        (json!({"userName": "ci-bot"}), vec![id.clone()]),
        (
            json!({"userName": "BOT-", "method": "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE"}),
            vec!["bot-2".to_string()],
        ),
        (
            json!({"userName": "taken", "method": "TEXT_QUERY_METHOD_STARTS_WITH"}),
            vec![],
        ),
    ] {
        let r = app
            .post(
                "/v2/users",
                &admin_token(),
                Some(&json!({"queries": [
                    {"userNameQuery": query},
                    {"typeQuery": {"type": "TYPE_MACHINE"}},
                ]})),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        // An empty page omits `result`, as proto3 JSON does.
        let ids: Vec<&str> = r.body["result"]
            .as_array()
            .map(|users| users.iter().filter_map(|u| u["userId"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, want, "{query}: {:?}", r.body);
    }

    // The lifecycle, as for humans.
    for action in ["lock", "unlock", "deactivate", "reactivate"] {
        let r = app
            .post(&format!("/v2/users/{id}/{action}"), &admin_token(), None)
            .await;
        assert_eq!(r.status, 200, "{action}: {:?}", r.body);
    }
    assert_eq!(app.state_of(&id).await.map(|s| s.1), Some(5));

    // Bad machines change nothing.
    let r = create_machine(
        &app,
        json!({"organizationId": "org-a", "userId": "bad", "machine": {"name": ""}}),
    )
    .await;
    assert_error(&r, 400, 3, None);
    assert_eq!(app.state_of("bad").await, None);
    let r = create_machine(
        &app,
        json!({"organizationId": "org-a", "userId": "bad", "machine": {"name": "n", "description": "d".repeat(501)}}),
    )
    .await;
    assert_error(&r, 400, 3, None);

    // Over Connect too, and durable.
    let r = app
        .send(
            reqwest::Method::POST,
            "/zitadel.user.v2.UserService/CreateUser",
            Some(&admin_token()),
            Some(&json!({"organizationId": "org-a", "userId": "bot-4", "machine": {"name": "Bot 4"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.restart();
    let got = get_v2(&app, "bot-4").await;
    assert_eq!(got.body["user"]["machine"]["name"], json!("Bot 4"));
    app.kill();
    let (clean, report) = app.check();
    assert!(clean, "{report}");
}

#[tokio::test]
async fn an_org_owner_creates_machines_only_in_its_organization() {
    let app = spawn_app().await;
    let owner = org_token("ORG_OWNER", "org-a");
    let r = app
        .post(
            "/v2/users/new",
            &owner,
            Some(&json!({"organizationId": "org-b", "machine": {"name": "x"}})),
        )
        .await;
    assert_error(&r, 403, 7, None);
    let r = app
        .post(
            "/v2/users/new",
            &owner,
            Some(&json!({"organizationId": "org-a", "machine": {"name": "x"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
