//! v2's methods that change a user's data, over REST: UpdateHumanUser, UpdateUser, the email,
//! phone and password methods, with ZITADEL's error ids for wrong and expired codes, weak
//! passwords and taken usernames; each change one event with the next sequence; codes returned,
//! or delivered to the log; v2beta's paths; everything still there after a restart.

use crate::helpers::*;
use serde_json::{json, Value};

const GOOD_PASSWORD: &str = "S3cret-p4ss!";

/// Create an ACTIVE v2 human `id` in org-a (with a password), username `id`.
async fn human(app: &TestApp, id: &str, extra: Value) -> Reply {
    let mut body = json!({
        "userId": id,
        "username": id,
        "organization": {"orgId": "org-a"},
        "profile": {"givenName": "Ada", "familyName": "Lovelace"},
        "email": {"email": format!("{id}@example.com")},
        "password": {"password": GOOD_PASSWORD},
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        match v {
            Value::Null => {
                body.as_object_mut().map(|o| o.remove(&k));
            }
            v => body[k] = v,
        }
    }
    let r = app
        .post("/v2/users/human", &admin_token(), Some(&body))
        .await;
    r
}

async fn get(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/v2/users/{id}"), &admin_token()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["user"].clone()
}

fn own_token(id: &str) -> String {
    sign(&claims(id, &[]))
}

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> Reply {
    app.send(reqwest::Method::PUT, path, Some(token), Some(body))
        .await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> Reply {
    app.send(reqwest::Method::PATCH, path, Some(token), Some(body))
        .await
}

fn sequence(reply: &Reply) -> String {
    reply.body["details"]["sequence"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn update_human_user_changes_fields_with_one_event_each_and_keeps_usernames_unique() {
    let mut app = spawn_app().await;
    assert_eq!(human(&app, "ada", json!({})).await.status, 200);
    assert_eq!(human(&app, "grace", json!({})).await.status, 200);
    let admin = admin_token();

    let r = put(
        &app,
        "/v2/users/human/ada",
        &admin,
        &json!({
            "username": "countess",
            "profile": {"givenName": "Augusta", "familyName": "", "nickName": "Ada"},
            "email": {"email": "ada@example.org", "returnCode": {}},
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // username, profile, email, email code: four events after the creation.
    assert_eq!(sequence(&r), "5", "{:?}", r.body);
    let code = r.body["emailCode"].as_str().expect("emailCode").to_string();
    assert_eq!(code.len(), 6);
    let user = get(&app, "ada").await;
    assert_eq!(user["username"], json!("countess"));
    assert_eq!(user["human"]["profile"]["givenName"], json!("Augusta"));
    assert_eq!(user["human"]["profile"]["familyName"], json!("Lovelace"));
    assert_eq!(user["human"]["profile"]["nickName"], json!("Ada"));
    assert_eq!(user["human"]["email"]["email"], json!("ada@example.org"));
    assert_eq!(user["human"]["email"].get("isVerified"), None);

    // The same values again: no event, the same sequence.
    let again = put(
        &app,
        "/v2/users/human/ada",
        &admin,
        &json!({"username": "countess", "profile": {"givenName": "Augusta", "familyName": "Lovelace"}}),
    )
    .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(sequence(&again), "5");

    // A taken username answers 409 and changes nothing; the freed name is free.
    let taken = put(
        &app,
        "/v2/users/human/grace",
        &admin,
        &json!({"username": "countess"}),
    )
    .await;
    assert_error(&taken, 409, 6, Some("V3-DKcYh"));
    assert_eq!(get(&app, "grace").await["username"], json!("grace"));
    let freed = put(
        &app,
        "/v2/users/human/grace",
        &admin,
        &json!({"username": "ada"}),
    )
    .await;
    assert_eq!(freed.status, 200, "{:?}", freed.body);
    let listed = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"userNameQuery": {"userName": "ada"}}]})),
        )
        .await;
    assert_eq!(
        listed.body["result"][0]["userId"],
        json!("grace"),
        "{:?}",
        listed.body
    );

    // Verify with the code returned: a wrong one first.
    let wrong = app
        .post(
            "/v2/users/ada/email/verify",
            &admin,
            Some(&json!({"verificationCode": "WRONG1"})),
        )
        .await;
    assert_error(&wrong, 400, 3, Some("COMMAND-eis9R"));
    let ok = app
        .post(
            "/v2/users/ada/email/verify",
            &own_token("ada"),
            Some(&json!({"verificationCode": code})),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let twice = app
        .post(
            "/v2/users/ada/email/verify",
            &admin,
            Some(&json!({"verificationCode": code})),
        )
        .await;
    assert_error(&twice, 400, 3, Some("COMMAND-eis9R"));

    // Everything is durable.
    app.restart();
    let user = get(&app, "ada").await;
    assert_eq!(user["human"]["email"]["isVerified"], json!(true));
    assert_eq!(user["details"]["sequence"], json!("6"));

    // v2beta's path serves the same method; a machine is not found by a human update.
    let beta = put(
        &app,
        "/v2beta/users/ada",
        &admin,
        &json!({"profile": {"givenName": "A", "familyName": "L"}}),
    )
    .await;
    assert_eq!(beta.status, 200, "{:?}", beta.body);
    let machine = app
        .post(
            "/v2/users/new",
            &admin,
            Some(&json!({"userId": "bot", "organizationId": "org-a", "machine": {"name": "Bot"}})),
        )
        .await;
    assert_eq!(machine.status, 200, "{:?}", machine.body);
    let r = put(
        &app,
        "/v2/users/human/bot",
        &admin,
        &json!({"profile": {"givenName": "x", "familyName": "y"}}),
    )
    .await;
    assert_error(&r, 404, 5, Some("COMMAND-ugjs0upun6"));
    let r = put(
        &app,
        "/v2/users/human/nobody",
        &admin,
        &json!({"username": "x"}),
    )
    .await;
    assert_error(&r, 404, 5, Some("COMMAND-ugjs0upun6"));
}

#[tokio::test]
async fn update_user_patches_humans_and_machines_and_refuses_other_organizations() {
    let app = spawn_app().await;
    assert_eq!(
        human(&app, "ada", json!({"phone": {"phone": "+41791234567"}}))
            .await
            .status,
        200
    );
    let admin = admin_token();
    let r = app
        .post(
            "/v2/users/new",
            &admin,
            Some(&json!({"userId": "bot", "organizationId": "org-a", "machine": {"name": "Bot"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let r = patch(
        &app,
        "/v2/users/bot",
        &admin,
        &json!({"machine": {"description": "builds things"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["changeDate"].is_string(), "{:?}", r.body);
    let bot = get(&app, "bot").await;
    assert_eq!(bot["machine"]["name"], json!("Bot"));
    assert_eq!(bot["machine"]["description"], json!("builds things"));
    let r = patch(
        &app,
        "/v2/users/ada",
        &admin,
        &json!({"machine": {"name": "x"}}),
    )
    .await;
    assert_error(&r, 404, 5, Some("COMMAND-ugjs0upun6"));

    // An empty phone number removes the phone; with a verification it is refused.
    let r = patch(
        &app,
        "/v2/users/ada",
        &admin,
        &json!({"human": {"phone": {"phone": "", "isVerified": true}}}),
    )
    .await;
    assert_error(&r, 400, 3, Some("USERv2-4f3d6"));
    let r = patch(
        &app,
        "/v2/users/ada",
        &admin,
        &json!({"human": {"phone": {"phone": ""}, "profile": {"displayName": "Ada L."}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let user = get(&app, "ada").await;
    assert_eq!(user["human"].get("phone"), None, "{user:?}");
    assert_eq!(user["human"]["profile"]["displayName"], json!("Ada L."));

    // A caller with user.write in another organization may not; one in org-a may.
    let r = patch(
        &app,
        "/v2/users/ada",
        &org_token("ORG_USER_MANAGER", "org-b"),
        &json!({"human": {"profile": {"nickName": "x"}}}),
    )
    .await;
    assert_error(&r, 403, 7, None);
    let r = patch(
        &app,
        "/v2/users/ada",
        &org_token("ORG_USER_MANAGER", "org-a"),
        &json!({"human": {"profile": {"nickName": "x"}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Bad input changes nothing.
    let before = get(&app, "ada").await["details"]["sequence"].clone();
    let r = patch(
        &app,
        "/v2/users/ada",
        &admin,
        &json!({"human": {"email": {"email": "not-an-address"}}}),
    )
    .await;
    assert_error(&r, 400, 3, Some("EMAIL-599BI"));
    assert_eq!(get(&app, "ada").await["details"]["sequence"], before);
}

#[tokio::test]
async fn email_methods_return_send_and_expire_codes() {
    let app = spawn_app_with(&[
        ("USERD_NOTIFY__CODE_LIFETIME_SECONDS", "2"),
        ("USERD_LOG__LEVEL", "warn,userd::notify=info"),
    ])
    .await;
    assert_eq!(human(&app, "ada", json!({})).await.status, 200);
    let admin = admin_token();
    let own = own_token("ada");

    let r = app
        .post(
            "/v2/users/ada/email",
            &own,
            Some(&json!({"email": "ada@example.com"})),
        )
        .await;
    assert_error(&r, 400, 9, Some("COMMAND-Uch5e"));
    let r = app
        .post(
            "/v2/users/ada/email",
            &own,
            Some(&json!({"email": "Ada <a@b.c>"})),
        )
        .await;
    assert_error(&r, 400, 3, Some("EMAIL-599BI"));
    let r = app
        .post(
            "/v2/users/nobody/email",
            &admin,
            Some(&json!({"email": "a@b.c"})),
        )
        .await;
    assert_error(&r, 404, 5, Some("COMMAND-ieJ2e"));
    // Marking an address verified needs user.write, not just being the user.
    let r = app
        .post(
            "/v2/users/ada/email",
            &own,
            Some(&json!({"email": "a@b.c", "isVerified": true})),
        )
        .await;
    assert_error(&r, 403, 7, None);
    let r = app
        .post(
            "/v2/users/ada/email",
            &own,
            Some(&json!({"email": "a@b.c", "sendCode": {"urlTemplate": "https://app/{{.Nope}}"}})),
        )
        .await;
    assert_error(&r, 400, 3, Some("DOMAIN-oGh5e"));

    // sendCode: development delivery writes the code to the log.
    let r = app
        .post(
            "/v2/users/ada/email",
            &own,
            Some(&json!({"email": "ada@example.org", "sendCode": {"urlTemplate": "https://app/verify?u={{.UserID}}&c={{.Code}}"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body.get("verificationCode"), None);
    let log = app.log();
    let line = log
        .lines()
        .find(|l| l.contains("development delivery") && l.contains("ada@example.org"))
        .unwrap_or_else(|| panic!("no delivery in the log:\n{log}"));
    assert!(line.contains("https://app/verify?u=ada&c="), "{line}");
    let sent = line
        .rsplit("c=")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert_eq!(sent.len(), 6, "{line}");

    // ResendEmailCode replaces it: the sent code no longer works, the returned one does.
    let r = app
        .post(
            "/v2/users/ada/email/resend",
            &own,
            Some(&json!({"returnCode": {}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let fresh = r.body["verificationCode"]
        .as_str()
        .expect("code")
        .to_string();
    let r = app
        .post(
            "/v2/users/ada/email/verify",
            &own,
            Some(&json!({"verificationCode": sent})),
        )
        .await;
    assert_error(&r, 400, 3, Some("COMMAND-eis9R"));

    // An expired code answers like a wrong one.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = app
        .post(
            "/v2/users/ada/email/verify",
            &own,
            Some(&json!({"verificationCode": fresh})),
        )
        .await;
    assert_error(&r, 400, 3, Some("COMMAND-eis9R"));
    let r = app
        .post(
            "/v2/users/ada/email/verify",
            &own,
            Some(&json!({"verificationCode": ""})),
        )
        .await;
    assert_error(&r, 400, 3, Some("COMMAND-Fia4a"));

    // SendEmailCode makes a new one; this one verifies.
    let r = app
        .post(
            "/v2/users/ada/email/send",
            &own,
            Some(&json!({"returnCode": {}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let code = r.body["verificationCode"]
        .as_str()
        .expect("code")
        .to_string();
    let r = app
        .post(
            "/v2/users/ada/email/verify",
            &own,
            Some(&json!({"verificationCode": code})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        get(&app, "ada").await["human"]["email"]["isVerified"],
        json!(true)
    );
    // Nothing pending now: resend is refused.
    let r = app
        .post(
            "/v2/users/ada/email/resend",
            &own,
            Some(&json!({"returnCode": {}})),
        )
        .await;
    assert_error(&r, 400, 9, Some("EMAIL-5w5ilin4yt"));
}

#[tokio::test]
async fn phone_methods_normalize_return_codes_and_refuse_sms() {
    let app = spawn_app().await;
    assert_eq!(human(&app, "ada", json!({})).await.status, 200);
    let admin = admin_token();
    let own = own_token("ada");

    let r = app
        .post(
            "/v2/users/ada/phone",
            &own,
            Some(&json!({"phone": "079 123 45 67", "sendCode": {}})),
        )
        .await;
    assert_error(&r, 400, 9, Some("USERD-NOTIFY-0001"));
    let r = app
        .post(
            "/v2/users/ada/phone",
            &own,
            Some(&json!({"phone": "call me", "returnCode": {}})),
        )
        .await;
    assert_error(&r, 400, 3, Some("PHONE-so0wa"));
    let r = app
        .post(
            "/v2/users/ada/phone",
            &own,
            Some(&json!({"phone": "079 123 45 67", "returnCode": {}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let code = r.body["verificationCode"]
        .as_str()
        .expect("code")
        .to_string();
    let user = get(&app, "ada").await;
    assert_eq!(user["human"]["phone"]["phone"], json!("+41791234567"));
    let r = app
        .post(
            "/v2/users/ada/phone",
            &own,
            Some(&json!({"phone": "+41791234567", "returnCode": {}})),
        )
        .await;
    assert_error(&r, 400, 9, Some("COMMAND-Uch5e"));

    let r = app
        .post(
            "/v2/users/ada/phone/resend",
            &own,
            Some(&json!({"returnCode": {}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let resent = r.body["verificationCode"]
        .as_str()
        .expect("code")
        .to_string();
    let r = app
        .post(
            "/v2/users/ada/phone/verify",
            &own,
            Some(&json!({"verificationCode": code})),
        )
        .await;
    if code != resent {
        assert_error(&r, 400, 3, Some("COMMAND-eis9R"));
    }
    let r = app
        .post(
            "/v2/users/ada/phone/verify",
            &own,
            Some(&json!({"verificationCode": resent})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        get(&app, "ada").await["human"]["phone"]["isVerified"],
        json!(true)
    );

    // Removing needs user.write; a second removal finds no phone.
    let delete = |token: String| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::DELETE,
                "/v2/users/ada/phone",
                Some(&token),
                Some(&json!({})),
            )
            .await
        }
    };
    assert_error(&delete(own.clone()).await, 403, 7, None);
    assert_eq!(delete(admin.clone()).await.status, 200);
    assert_error(&delete(admin.clone()).await, 404, 5, Some("COMMAND-p6rsc"));
    assert_eq!(get(&app, "ada").await["human"].get("phone"), None);
}

#[tokio::test]
async fn passwords_follow_the_policy_and_need_their_proof() {
    let app = spawn_app_with(&[("USERD_NOTIFY__CODE_LIFETIME_SECONDS", "2")]).await;
    let admin = admin_token();
    let own = own_token("ada");

    // Each rule of ZITADEL's default policy, on create and on SetPassword.
    let weak = [
        ("Ab1!", "DOMAIN-HuJf6"),
        ("ABCDEFG1!", "DOMAIN-co3Xw"),
        ("abcdefg1!", "DOMAIN-VoaRj"),
        ("Abcdefgh!", "DOMAIN-ZBv4H"),
        ("Abcdefgh1", "DOMAIN-ZDLwA"),
    ];
    for (password, id) in weak {
        let r = human(&app, "weak", json!({"password": {"password": password}})).await;
        assert_error(&r, 400, 3, Some(id));
    }
    let r = human(
        &app,
        "md5",
        json!({"password": null, "hashedPassword": {"hash": "$1$abc$def"}}),
    )
    .await;
    assert_error(&r, 400, 3, Some("USER-JDk4t"));
    assert_eq!(human(&app, "ada", json!({})).await.status, 200);
    for (password, id) in weak {
        let r = app
            .post(
                "/v2/users/ada/password",
                &admin,
                Some(&json!({"newPassword": {"password": password}})),
            )
            .await;
        assert_error(&r, 400, 3, Some(id));
    }

    // By the current password: wrong, then right, then the same again.
    let set = |body: Value, token: String| {
        let app = &app;
        async move {
            app.post("/v2/users/ada/password", &token, Some(&body))
                .await
        }
    };
    let r = set(
        json!({"newPassword": {"password": "N3w-secret!"}, "currentPassword": "nope"}),
        own.clone(),
    )
    .await;
    assert_error(&r, 400, 3, Some("COMMAND-3M0fs"));
    let r = set(
        json!({"newPassword": {"password": GOOD_PASSWORD}, "currentPassword": GOOD_PASSWORD}),
        own.clone(),
    )
    .await;
    assert_error(&r, 400, 9, Some("COMMAND-Aesh5"));
    let r = set(
        json!({"newPassword": {"password": "N3w-secret!"}, "currentPassword": GOOD_PASSWORD}),
        own.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Without proof the user itself may not; user.write may.
    let r = set(
        json!({"newPassword": {"password": "Th1rd-secret!"}}),
        own.clone(),
    )
    .await;
    assert_error(&r, 403, 7, None);

    // By a reset code: wrong, right, then used up; an expired one is refused.
    let reset = app
        .post(
            "/v2/users/ada/password_reset",
            &own,
            Some(&json!({"returnCode": {}})),
        )
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    let code = reset.body["verificationCode"]
        .as_str()
        .expect("code")
        .to_string();
    let r = set(
        json!({"newPassword": {"password": "Th1rd-secret!"}, "verificationCode": "WRONG1"}),
        own.clone(),
    )
    .await;
    assert_error(&r, 400, 3, Some("CODE-woT0xc"));
    let r = set(json!({"newPassword": {"password": "Th1rd-secret!", "changeRequired": true}, "verificationCode": code}), own.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        get(&app, "ada").await["human"]["passwordChangeRequired"],
        json!(true)
    );
    let r = set(
        json!({"newPassword": {"password": "F0urth-secret!"}, "verificationCode": code}),
        own.clone(),
    )
    .await;
    assert_error(&r, 400, 9, Some("COMMAND-2M9fs"));
    let reset = app
        .post(
            "/v2/users/ada/password_reset",
            &admin,
            Some(&json!({"returnCode": {}})),
        )
        .await;
    let code = reset.body["verificationCode"]
        .as_str()
        .expect("code")
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = set(
        json!({"newPassword": {"password": "F0urth-secret!"}, "verificationCode": code}),
        own.clone(),
    )
    .await;
    assert_error(&r, 400, 9, Some("CODE-QvUQ4P"));
    let r = set(
        json!({"newPassword": {"password": "F0urth-secret!"}, "currentPassword": "Th1rd-secret!"}),
        own.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Unknown users: ZITADEL's ids per method.
    let r = app
        .post("/v2/users/nobody/password_reset", &admin, Some(&json!({})))
        .await;
    assert_error(&r, 404, 5, Some("COMMAND-SAF4f"));
    let r = app
        .post(
            "/v2/users/nobody/password",
            &admin,
            Some(&json!({"newPassword": {"password": GOOD_PASSWORD}})),
        )
        .await;
    assert_error(&r, 400, 9, Some("COMMAND-3M0fs"));
}

#[tokio::test]
async fn bcrypt_hashes_move_in_and_check() {
    let app = spawn_app().await;
    let hash = bcrypt::hash("Imported-1!", 4).expect("bcrypt");
    let r = human(
        &app,
        "moved",
        json!({"password": null, "hashedPassword": {"hash": hash}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .post(
            "/v2/users/moved/password",
            &sign(&claims("moved", &[])),
            Some(&json!({"newPassword": {"password": "Changed-2!"}, "currentPassword": "Imported-1!"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // No answer ever carries a hash.
    let user = app.get("/v2/users/moved", &admin_token()).await;
    assert!(!user.body.to_string().contains("$2"), "{:?}", user.body);
    assert!(!user.body.to_string().contains("argon2"), "{:?}", user.body);
}

#[tokio::test]
async fn creates_return_or_send_codes_for_a_new_email_and_phone() {
    let app = spawn_app_with(&[("USERD_LOG__LEVEL", "warn,userd::notify=info")]).await;
    let admin = admin_token();
    let r = human(
        &app,
        "ada",
        json!({"email": {"email": "ada@example.com", "returnCode": {}},
               "phone": {"phone": "+41791234567", "returnCode": {}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let email_code = r.body["emailCode"].as_str().expect("emailCode").to_string();
    let phone_code = r.body["phoneCode"].as_str().expect("phoneCode").to_string();
    // Creation, email code, phone code.
    assert_eq!(get(&app, "ada").await["details"]["sequence"], json!("3"));
    let r = app
        .post(
            "/v2/users/ada/email/verify",
            &admin,
            Some(&json!({"verificationCode": email_code})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .post(
            "/v2/users/ada/phone/verify",
            &admin,
            Some(&json!({"verificationCode": phone_code})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let user = get(&app, "ada").await;
    assert_eq!(user["human"]["email"]["isVerified"], json!(true));
    assert_eq!(user["human"]["phone"]["isVerified"], json!(true));

    // sendCode: delivered to the log once the user exists; a phone code cannot be sent.
    let r = human(
        &app,
        "grace",
        json!({"email": {"email": "grace@example.com", "sendCode": {}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body.get("emailCode"), None);
    assert!(app
        .log()
        .lines()
        .any(|l| l.contains("development delivery") && l.contains("grace@example.com")));
    let r = human(
        &app,
        "mary",
        json!({"phone": {"phone": "+41791234567", "sendCode": {}}}),
    )
    .await;
    assert_error(&r, 400, 9, Some("USERD-NOTIFY-0001"));
    assert_eq!(app.get("/v2/users/mary", &admin).await.status, 404);

    // CreateUser answers the same codes.
    let r = app
        .post(
            "/v2/users/new",
            &admin,
            Some(
                &json!({"userId": "joan", "organizationId": "org-a", "human": {
                "profile": {"givenName": "Joan", "familyName": "Clarke"},
                "email": {"email": "joan@example.com", "returnCode": {}},
                "password": {"password": GOOD_PASSWORD}}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["emailCode"].as_str().map(str::len),
        Some(6),
        "{:?}",
        r.body
    );
}

/// A mail server that accepts every message and hands each one's text over.
async fn fake_smtp() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 fake ESMTP\r\n").await;
                let mut message: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(text) = message.as_mut() {
                        if line == "." {
                            let _ = tx.send(message.take().unwrap_or_default());
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            text.push_str(&line);
                            text.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake\r\n",
                        "DATA" => {
                            message = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn email_codes_are_mailed_when_smtp_is_configured() {
    let (port, mut mails) = fake_smtp().await;
    let smtp = format!(
        r#"{{host = "127.0.0.1", port = {port}, tls = "none", from = "userd <noreply@example.com>"}}"#
    );
    let app = spawn_app_with(&[
        ("USERD_NOTIFY__SMTP", smtp.as_str()),
        ("USERD_LOG__LEVEL", "warn,userd::notify=info"),
    ])
    .await;
    assert_eq!(human(&app, "ada", json!({})).await.status, 200);
    let r = app
        .post(
            "/v2/users/ada/email",
            &admin_token(),
            Some(&json!({"email": "ada@example.org", "sendCode": {"urlTemplate": "https://app/v?c={{.Code}}"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mail = tokio::time::timeout(std::time::Duration::from_secs(10), mails.recv())
        .await
        .unwrap_or_else(|_| panic!("no mail within 10 s; log:\n{}", app.log()))
        .expect("a mail");
    assert!(mail.contains("To: ada@example.org"), "{mail}");
    assert!(
        mail.contains("Subject: Verify your email address"),
        "{mail}"
    );
    let code = mail
        .lines()
        .find_map(|l| l.strip_prefix("Your email verification code is: "))
        .expect("the code in the mail")
        .trim()
        .to_string();
    assert!(mail.contains(&format!("https://app/v?c={code}")), "{mail}");
    let r = app
        .post(
            "/v2/users/ada/email/verify",
            &admin_token(),
            Some(&json!({"verificationCode": code})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(!app.log().contains("development delivery"));
}

#[tokio::test]
async fn mfa_init_skips_are_recorded_and_factor_lists_are_empty() {
    let app = spawn_app().await;
    let admin = admin_token();
    assert_eq!(human(&app, "ada", json!({})).await.status, 200);
    let r = app
        .post(
            "/v2/users/ada/mfa_init_skipped",
            &own_token("ada"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(sequence(&r), "2");
    let r = app
        .post(
            "/v2/users/nobody/mfa_init_skipped",
            &admin,
            Some(&json!({})),
        )
        .await;
    assert_error(&r, 404, 5, Some("COMMAND-auj6jeBei4"));

    let r = app
        .post("/v2/users/ada/authentication_factors/_search", &admin, None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body
            .get("result")
            .map_or(0, |v| v.as_array().map_or(0, Vec::len)),
        0
    );
    let r = app
        .post(
            "/v2/users/ada/authentication_factors/_search",
            &org_token("ORG_OWNER", "org-b"),
            None,
        )
        .await;
    assert_error(&r, 403, 7, None);
}

#[tokio::test]
async fn an_initial_user_is_set_up_by_verifying_its_email() {
    let app = spawn_app().await;
    let r = human(
        &app,
        "newbie",
        json!({"password": null, "email": {"email": "newbie@example.com", "returnCode": {}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        get(&app, "newbie").await["state"],
        json!("USER_STATE_INITIAL")
    );
    let code = r.body["emailCode"].as_str().expect("emailCode").to_string();
    let r = app
        .post(
            "/v2/users/newbie/email/verify",
            &admin_token(),
            Some(&json!({"verificationCode": code})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let user = get(&app, "newbie").await;
    assert_eq!(user["state"], json!("USER_STATE_ACTIVE"));
    assert_eq!(user["human"]["email"]["isVerified"], json!(true));
    // An update naming the same address changes nothing and sends nothing.
    let before = user["details"]["sequence"].clone();
    let r = put(
        &app,
        "/v2/users/human/newbie",
        &admin_token(),
        &json!({"email": {"email": "newbie@example.com"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let user = get(&app, "newbie").await;
    assert_eq!(user["details"]["sequence"], before);
    assert_eq!(user["human"]["email"]["isVerified"], json!(true));
}
