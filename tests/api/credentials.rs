//! Personal access tokens over REST: issued once for machines only, accepted as bearer tokens
//! with the roles `[[authz.members]]` gives, refused once expired, removed, or when the machine
//! is deactivated (for good: reactivation does not revive a token issued before); listed
//! without their secrets.

use crate::helpers::*;
use serde_json::{json, Value};

pub(crate) fn in_seconds(secs: i64) -> String {
    let at = chrono::DateTime::from_timestamp(now_secs() + secs, 0).unwrap_or_default();
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) async fn add_pat(app: &TestApp, user: &str, token: &str, expires: &str) -> Reply {
    app.post(
        &format!("/v2/users/{user}/pats"),
        token,
        Some(&json!({"expirationDate": expires})),
    )
    .await
}

pub(crate) async fn create_in(app: &TestApp, token: &str, id: &str, org: &str) -> Reply {
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
    // A changed character within the token (the last one may only carry padding bits).
    let at = pat.len() - 5;
    let other = if &pat[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{other}{}", &pat[..at], &pat[at + 1..]);
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

fn public_key_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der: aws_lc_rs::encoding::PublicKeyX509Der = pair.public_key().as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn keys_and_client_secrets_are_added_listed_and_removed() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let app = spawn_app().await;
    let admin = admin_token();
    let r = app
        .post(
            "/v2/users/new",
            &admin,
            Some(&json!({"userId": "bot", "organizationId": "org-a", "machine": {"name": "Bot"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.create_user("schema-user", "org-a").await;

    // A client secret: machines only, shown once, replaced, removed.
    let r = app.post("/v2/users/schema-user/secret", &admin, None).await;
    assert_error(&r, 400, 9, Some("COMMAND-x8910n"));
    let r = app.post("/v2/users/bot/secret", &admin, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let secret = r.body["clientSecret"].as_str().expect("secret").to_string();
    assert_eq!(secret.len(), 64);
    let bot = app.get("/v2/users/bot", &admin).await;
    assert_eq!(
        bot.body["user"]["machine"]["hasSecret"],
        json!(true),
        "{:?}",
        bot.body
    );
    assert!(!bot.body.to_string().contains(&secret));
    let remove = || {
        app.send(
            reqwest::Method::DELETE,
            "/v2/users/bot/secret",
            Some(&admin),
            None,
        )
    };
    assert_eq!(remove().await.status, 200);
    assert_error(&remove().await, 400, 9, Some("COMMAND-coi82n"));
    let bot = app.get("/v2/users/bot", &admin).await;
    assert_eq!(
        bot.body["user"]["machine"].get("hasSecret"),
        None,
        "{:?}",
        bot.body
    );

    // Keys: generated (the private key comes back once) or uploaded; listed; removed.
    let r = app
        .post(
            "/v2/users/bot/keys",
            &admin,
            Some(&json!({"expirationDate": in_seconds(3600)})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let generated = r.body["keyId"].as_str().expect("keyId").to_string();
    let content = base64::engine::general_purpose::STANDARD
        .decode(r.body["keyContent"].as_str().expect("keyContent"))
        .unwrap();
    let file: Value = serde_json::from_slice(&content).unwrap();
    assert_eq!(file["type"], json!("serviceaccount"));
    assert_eq!(file["keyId"], json!(generated));
    assert_eq!(file["userId"], json!("bot"));
    assert!(file["key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    let r = app
        .post(
            "/v2/users/bot/keys",
            &admin,
            Some(&json!({"expirationDate": in_seconds(3600), "publicKey": b64(&public_key_pem())})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body.get("keyContent"),
        None,
        "no private key for an uploaded one"
    );
    let uploaded = r.body["keyId"].as_str().expect("keyId").to_string();
    let bad = app
        .post(
            "/v2/users/bot/keys",
            &admin,
            Some(&json!({"expirationDate": in_seconds(3600), "publicKey": b64("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")})),
        )
        .await;
    assert_error(&bad, 400, 3, Some("COMMAND-5F3h1"));
    let r = app
        .post(
            "/v2/users/nobody/keys",
            &admin,
            Some(&json!({"expirationDate": in_seconds(3600)})),
        )
        .await;
    assert_error(&r, 400, 9, Some("COMMAND-bnipwm1"));
    let r = app
        .post("/v2/users/bot/keys", &admin, Some(&json!({})))
        .await;
    assert_error(&r, 400, 3, Some("DOMAIN-dv3t5"));

    let listed = app
        .post(
            "/v2/users/keys/search",
            &admin,
            Some(
                &json!({"filters": [{"userIdFilter": {"id": "bot"}}], "pagination": {"asc": true}}),
            ),
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let ids: Vec<&str> = listed.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![generated.as_str(), uploaded.as_str()]);
    let r = app
        .post(
            "/v2/users/keys/search",
            &admin,
            Some(&json!({"filters": []})),
        )
        .await;
    assert_error(&r, 400, 3, None);

    let path = format!("/v2/users/bot/keys/{generated}");
    assert_eq!(
        app.send(reqwest::Method::DELETE, &path, Some(&admin), None)
            .await
            .status,
        200
    );
    let r = app
        .send(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_error(&r, 404, 5, Some("COMMAND-4m77G"));
    // Every change was an event: creation, secret set and removed, two keys, one removal.
    assert_eq!(app.state_of("bot").await.map(|s| s.1), Some(6));
}

/// Run `userd member ARGS` on `app`'s data directory.
fn member(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(userd_bin())
        .arg("member")
        .args(args)
        .arg("--data-dir")
        .arg(app.data_dir())
        .env_remove("USERD_AUTHZ__MEMBERS")
        .output()
        .expect("userd member runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Poll `check` until it holds or 10 s pass.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn userd_member_gives_and_takes_roles_while_the_server_runs() {
    let app = spawn_app().await;
    let admin = admin_token();
    let r = app
        .post(
            "/v2/users/new",
            &admin,
            Some(&json!({"userId": "ops-bot", "organizationId": "org-a", "machine": {"name": "Ops"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let issued = add_pat(&app, "ops-bot", &admin, &in_seconds(3600)).await;
    let pat = issued.body["token"].as_str().expect("token").to_string();
    // No membership yet: the machine may only touch itself.
    assert_error(&create_in(&app, &pat, "m1", "org-a").await, 403, 7, None);

    let (ok, _, err) = member(&app, &["add", "ops-bot", "ORG_USER_MANAGER:org-a"]);
    assert!(ok, "{err}");
    let mut n = 0;
    let granted = eventually(|| {
        n += 1;
        let id = format!("m{n}");
        let (app, pat) = (&app, pat.clone());
        async move { create_in(app, &pat, &id, "org-a").await.status == 201 }
    })
    .await;
    assert!(granted, "the running server applied the membership");
    let (ok, listed, _) = member(&app, &["list"]);
    assert!(ok);
    assert!(
        listed.contains("ops-bot\tORG_USER_MANAGER:org-a\tfile"),
        "{listed}"
    );

    let (ok, _, err) = member(&app, &["add", "ops-bot", "not-a-role"]);
    assert!(!ok && err.contains("not-a-role"), "{err}");
    let (ok, _, err) = member(&app, &["remove", "ops-bot"]);
    assert!(ok, "{err}");
    let revoked = eventually(|| {
        let (app, pat) = (&app, pat.clone());
        async move { create_in(app, &pat, "never", "org-a").await.status == 403 }
    })
    .await;
    assert!(revoked, "the running server dropped the membership");
    let (ok, _, err) = member(&app, &["remove", "ops-bot"]);
    assert!(!ok && err.contains("not a member"), "{err}");
}

#[tokio::test]
async fn a_token_acts_only_where_its_issuer_could_write() {
    let app = spawn_app_with(&[(
        "USERD_AUTHZ__MEMBERS",
        r#"[{user_id = "root-bot", roles = ["IAM_OWNER"]}]"#,
    )])
    .await;
    let r = app
        .post(
            "/v2/users/new",
            &admin_token(),
            Some(&json!({"userId": "root-bot", "organizationId": "org-a", "machine": {"name": "Root"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // An org-a owner may issue a token for the machine, but not lend it the instance role; a
    // user manager may not issue one at all (the token would manage org-a's members).
    let manager = org_token("ORG_USER_MANAGER", "org-a");
    let refused = add_pat(&app, "root-bot", &manager, &in_seconds(3600)).await;
    assert_error(&refused, 403, 7, None);
    let owner = org_token("ORG_OWNER", "org-a");
    let issued = add_pat(&app, "root-bot", &owner, &in_seconds(3600)).await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    let pat = issued.body["token"].as_str().expect("token").to_string();
    assert_eq!(create_in(&app, &pat, "in-a", "org-a").await.status, 201);
    assert_error(&create_in(&app, &pat, "in-b", "org-b").await, 403, 7, None);
    // One the instance owner issues carries the role.
    let issued = add_pat(&app, "root-bot", &admin_token(), &in_seconds(3600)).await;
    let pat = issued.body["token"].as_str().expect("token").to_string();
    assert_eq!(create_in(&app, &pat, "in-b", "org-b").await.status, 201);
}
