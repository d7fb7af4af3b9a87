//! Bearer tokens and the role table through the real server: each refused token answers 401
//! code 16 and changes nothing.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

fn with(mut c: Value, key: &str, value: Value) -> Value {
    c[key] = value;
    c
}

fn without(mut c: Value, key: &str) -> Value {
    c.as_object_mut().unwrap().remove(key);
    c
}

#[tokio::test]
async fn forged_stale_and_malformed_tokens_are_refused() {
    let app = spawn_app().await;
    app.create_user("victim", "org-a").await;
    let good = claims("attacker", &[("IAM_OWNER", None)]);
    let now = now_secs();
    let wrong_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good,
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret"),
    )
    .unwrap();
    let signed = sign(&good);
    let mut parts: Vec<&str> = signed.split('.').collect();
    let tampered_payload =
        { b64url(&serde_json::to_vec(&with(good.clone(), "sub", json!("other"))).unwrap()) };
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(&serde_json::to_vec(&good).unwrap())
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not bearer", Some(format!("Basic {}", sign(&good)))),
        ("garbage", Some("Bearer garbage".into())),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(&with(good.clone(), "exp", json!(now - 120)))
            )),
        ),
        (
            "no exp",
            Some(format!("Bearer {}", sign(&without(good.clone(), "exp")))),
        ),
        (
            "nbf future",
            Some(format!(
                "Bearer {}",
                sign(&with(good.clone(), "nbf", json!(now + 600)))
            )),
        ),
        (
            "iat future",
            Some(format!(
                "Bearer {}",
                sign(&with(good.clone(), "iat", json!(now + 600)))
            )),
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                sign(&with(good.clone(), "iss", json!("https://evil")))
            )),
        ),
        (
            "wrong aud",
            Some(format!(
                "Bearer {}",
                sign(&with(good.clone(), "aud", json!(["other"])))
            )),
        ),
        (
            "no aud",
            Some(format!("Bearer {}", sign(&without(good.clone(), "aud")))),
        ),
        (
            "no sub",
            Some(format!("Bearer {}", sign(&without(good.clone(), "sub")))),
        ),
        (
            "empty sub",
            Some(format!(
                "Bearer {}",
                sign(&with(good.clone(), "sub", json!("")))
            )),
        ),
        ("wrong secret", Some(format!("Bearer {wrong_secret}"))),
        ("tampered", Some(format!("Bearer {tampered}"))),
        ("alg none", Some(format!("Bearer {alg_none}"))),
    ];
    for (name, header) in cases {
        let mut req = app
            .client
            .post(format!("{}/v3alpha/users/victim/deactivate", app.address));
        if let Some(h) = &header {
            req = req.header("authorization", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{name}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], json!(16), "{name}");
        if name != "no header" {
            assert_eq!(
                body["message"],
                json!("Token is invalid (AUTH-7fs1e)"),
                "{name}"
            );
        }
    }
    assert_eq!(
        app.state_of("victim").await,
        Some(("USER_STATE_ACTIVE".into(), 1))
    );
    // The same token, untampered, works; the scheme name is case-insensitive; leeway holds.
    let r = app
        .client
        .post(format!("{}/v3alpha/users/victim/deactivate", app.address))
        .header(
            "authorization",
            format!(
                "bEaReR {}",
                sign(&with(good.clone(), "exp", json!(now - 5)))
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn roles_grant_permissions_per_organization() {
    let app = spawn_app().await;
    let admin = admin_token();
    // (role, org of the grant or None for an instance role, can read, can write, can delete)
    let table: [(&str, Option<&str>, bool, bool, bool); 10] = [
        ("IAM_OWNER", None, true, true, true),
        ("IAM_ORG_MANAGER", None, true, true, true),
        ("IAM_USER_MANAGER", None, true, true, true),
        ("IAM_LOGIN_CLIENT", None, true, true, false),
        ("IAM_OWNER_VIEWER", None, true, false, false),
        ("ORG_OWNER", Some("org-a"), true, true, true),
        ("ORG_USER_MANAGER", Some("org-a"), true, true, true),
        ("ORG_OWNER_VIEWER", Some("org-a"), true, false, false),
        ("ORG_OWNER", Some("org-b"), false, false, false),
        ("SOMETHING_ELSE", Some("org-a"), false, false, false),
    ];
    for (i, (role, org, read, write, delete)) in table.into_iter().enumerate() {
        let id = format!("r{i}");
        app.create_user(&id, "org-a").await;
        let token = sign(&claims("caller", &[(role, org)]));
        let r = app.get(&format!("/v3alpha/users/{id}"), &token).await;
        assert_eq!(
            r.status,
            if read { 200 } else { 403 },
            "{role} {org:?} read"
        );
        let r = app.change(&id, "deactivate", &token).await;
        assert_eq!(
            r.status,
            if write { 200 } else { 403 },
            "{role} {org:?} write"
        );
        let r = app.change(&id, "delete", &token).await;
        assert_eq!(
            r.status,
            if delete { 200 } else { 403 },
            "{role} {org:?} delete"
        );
        // Create in org-a needs user.write there.
        let r = app
            .post(
                "/v3alpha/users",
                &token,
                Some(&json!({"organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}})),
            )
            .await;
        assert_eq!(
            r.status,
            if write { 201 } else { 403 },
            "{role} {org:?} create"
        );
    }
    // An instance role holds whatever its org map says.
    let token = sign(&claims("caller", &[("IAM_OWNER", Some("org-zzz"))]));
    app.create_user("anywhere", "org-q").await;
    assert_eq!(app.change("anywhere", "lock", &token).await.status, 200);
    // Search shows only what the caller may read.
    let r = app
        .post(
            "/v3alpha/users/search",
            &org_token("ORG_OWNER_VIEWER", "org-q"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["anywhere"]);
    let r = app
        .send(Method::GET, "/v3alpha/users/anywhere", Some(&admin), None)
        .await;
    assert_eq!(r.body["user"]["state"], json!("USER_STATE_LOCKED"));
}

#[tokio::test]
async fn userd_token_mints_tokens_the_server_accepts() {
    let app = spawn_app().await;
    app.create_user("minted", "org-a").await;
    let out = std::process::Command::new(userd_bin())
        .args([
            "token",
            "--sub",
            "dev",
            "--role",
            "ORG_OWNER:org-a",
            "--ttl",
            "10m",
        ])
        .current_dir(app.data_dir().parent().unwrap())
        .env("USERD_AUTH__HS256_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(app.change("minted", "deactivate", &token).await.status, 200);
    let out = std::process::Command::new(userd_bin())
        .args(["token", "--role", "ORG_OWNER:org-b"])
        .current_dir(app.data_dir().parent().unwrap())
        .env("USERD_AUTH__HS256_SECRET", SECRET)
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(app.change("minted", "reactivate", &token).await.status, 403);
}

#[tokio::test]
async fn an_org_owner_cannot_lock_out_a_principal_with_wider_authority() {
    // The attack: an owner of org-b creates, in org-b, a user whose id is the instance
    // administrator's `sub`, then deactivates and deletes it.
    let app = spawn_app().await;
    let admin = admin_token();
    app.create_user("bystander", "org-a").await;
    let owner_b = sign(&claims("owner-b", &[("ORG_OWNER", Some("org-b"))]));
    let r = app
        .post(
            "/v3alpha/users",
            &owner_b,
            Some(&json!({"userId": "admin", "organization": {"orgId": "org-b"}, "schemaId": "s", "data": {}})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        app.change("admin", "deactivate", &owner_b).await.status,
        200
    );
    // The administrator's tokens, old and new, keep working.
    assert_eq!(
        app.get("/v3alpha/users/bystander", &admin).await.status,
        200
    );
    assert_eq!(app.change("admin", "delete", &owner_b).await.status, 200);
    assert_eq!(
        app.get("/v3alpha/users/bystander", &admin).await.status,
        200
    );
    assert_eq!(
        app.get("/v3alpha/users/bystander", &admin_token())
            .await
            .status,
        200
    );

    // Within the creator's authority the user's state still speaks for the token: a member of
    // org-b, created by org-b's owner, loses its token when the owner deactivates it.
    let r = app
        .post(
            "/v3alpha/users",
            &owner_b,
            Some(&json!({"userId": "member-b", "organization": {"orgId": "org-b"}, "schemaId": "s", "data": {}})),
        )
        .await;
    assert_eq!(r.status, 201);
    let mut member = claims("member-b", &[("ORG_USER_MANAGER", Some("org-b"))]);
    member["iat"] = json!(now_secs_f64());
    let member = sign(&member);
    assert_eq!(
        app.get("/v3alpha/users/member-b", &member).await.status,
        200
    );
    assert_eq!(
        app.change("member-b", "deactivate", &owner_b).await.status,
        200
    );
    assert_error(
        &app.get("/v3alpha/users/member-b", &member).await,
        401,
        16,
        None,
    );
}
