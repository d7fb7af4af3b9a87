//! Personal access tokens over REST: issued once for machines only, accepted as bearer tokens
//! with the roles `[[authz.members]]` gives, refused once expired, removed, or when the machine
//! is deactivated (for good: reactivation does not revive a token issued before); listed
//! without their secrets.

use crate::helpers::*;
use serde_json::{json, Value};

fn in_seconds(secs: i64) -> String {
    let at = chrono::DateTime::from_timestamp(now_secs() + secs, 0).unwrap_or_default();
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn add_pat(app: &TestApp, user: &str, token: &str, expires: &str) -> Reply {
    app.post(
        &format!("/v2/users/{user}/pats"),
        token,
        Some(&json!({"expirationDate": expires})),
    )
    .await
}

async fn create_in(app: &TestApp, token: &str, id: &str, org: &str) -> Reply {
    app.post(
        "/v3alpha/users",
        token,
        Some(&json!({"userId": id, "organization": {"orgId": org}, "schemaId": "s", "data": {}})),
    )
    .await
}

#[tokio::test]
async fn personal_access_tokens_authenticate_machines_until_removed_expired_or_revoked() {
    let app = spawn_app_with(&[(
        "USERD_AUTHZ__MEMBERS",
        r#"[{user_id = "bot", roles = ["ORG_USER_MANAGER:org-a"]}]"#,
    )])
    .await;
    let admin = admin_token();
    let r = app
        .post(
            "/v2/users/new",
            &admin,
            Some(&json!({"userId": "bot", "organizationId": "org-a", "machine": {"name": "Bot"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.create_user("person", "org-a").await;
    let human = app
        .post(
            "/v2/users/human",
            &admin,
            Some(&json!({"userId": "ada", "organization": {"orgId": "org-a"},
                "profile": {"givenName": "Ada", "familyName": "L"}, "email": {"email": "ada@example.com"}})),
        )
        .await;
    assert_eq!(human.status, 200, "{:?}", human.body);

    // Machines only, a future expiry, an existing user.
    assert_error(
        &add_pat(&app, "ada", &admin, &in_seconds(3600)).await,
        400,
        9,
        Some("COMMAND-Df2f1"),
    );
    assert_error(
        &add_pat(&app, "nobody", &admin, &in_seconds(3600)).await,
        400,
        9,
        Some("COMMAND-Dggw2"),
    );
    assert_error(
        &add_pat(&app, "bot", &admin, &in_seconds(-10)).await,
        400,
        3,
        Some("DOMAIN-dv3t5"),
    );

    let issued = add_pat(&app, "bot", &admin, &in_seconds(3600)).await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    let pat = issued.body["token"].as_str().expect("token").to_string();
    let token_id = issued.body["tokenId"]
        .as_str()
        .expect("tokenId")
        .to_string();
    assert!(issued.body["creationDate"].is_string());

    // The token acts with the member's roles: org-a yes, org-b no.
    assert_eq!(
        create_in(&app, &pat, "made-by-bot", "org-a").await.status,
        201
    );
    assert_error(
        &create_in(&app, &pat, "elsewhere", "org-b").await,
        403,
        7,
        None,
    );
    let me = app.get("/v2/users/bot", &pat).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    let forged = format!("{}x", &pat[..pat.len() - 1]);
    assert_error(&app.get("/v2/users/bot", &forged).await, 401, 16, None);

    // Listed without the secret.
    let listed = app
        .post(
            "/v2/users/pats/search",
            &admin,
            Some(&json!({"filters": [{"userIdFilter": {"id": "bot"}}]})),
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["pagination"]["totalResult"], json!("1"));
    assert_eq!(listed.body["result"][0]["id"], json!(token_id));
    assert_eq!(listed.body["result"][0]["organizationId"], json!("org-a"));
    assert!(!listed.body.to_string().contains(&pat));

    // A short-lived token stops at its expiry.
    let short = add_pat(&app, "bot", &admin, &in_seconds(2)).await;
    let short = short.body["token"].as_str().expect("token").to_string();
    assert_eq!(app.get("/v2/users/bot", &short).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    assert_error(&app.get("/v2/users/bot", &short).await, 401, 16, None);

    // Deactivated: refused at once, and still after reactivation; a new token works.
    assert_eq!(app.change("bot", "deactivate", &admin).await.status, 200);
    assert_error(&app.get("/v2/users/bot", &pat).await, 401, 16, None);
    assert_eq!(app.change("bot", "reactivate", &admin).await.status, 200);
    assert_error(&app.get("/v2/users/bot", &pat).await, 401, 16, None);
    let fresh = add_pat(&app, "bot", &admin, &in_seconds(3600)).await;
    let fresh_token = fresh.body["token"].as_str().expect("token").to_string();
    let fresh_id = fresh.body["tokenId"].as_str().expect("id").to_string();
    assert_eq!(app.get("/v2/users/bot", &fresh_token).await.status, 200);

    // Removed: refused; removing again is not found.
    let path = format!("/v2/users/bot/pats/{fresh_id}");
    let r = app
        .send(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["deletionDate"].is_string());
    assert_error(&app.get("/v2/users/bot", &fresh_token).await, 401, 16, None);
    let r = app
        .send(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_error(&r, 404, 5, Some("COMMAND-4m77G"));
    let _: Value = r.body;
}
