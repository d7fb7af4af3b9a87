//! The v2 REST surface: AddHumanUser (with the INITIAL rule and Argon2id passwords),
//! GetUserByID, ListUsers, the state changes, the self rule, and users shared with v3alpha.

use crate::helpers::*;
use serde_json::{json, Value};

fn human(username: &str, extra: Value) -> Value {
    let mut body = json!({
        "username": username,
        "organization": {"orgId": "org-a"},
        "profile": {"givenName": "Minnie", "familyName": "Mouse", "gender": "GENDER_FEMALE"},
        "email": {"email": format!("{username}@example.com")},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn add(app: &TestApp, body: &Value) -> Reply {
    app.post("/v2/users/human", &admin_token(), Some(body))
        .await
}

#[tokio::test]
async fn add_human_user_follows_the_initial_rule_and_hashes_passwords() {
    let mut app = spawn_app().await;
    let admin = admin_token();
    let with_password = add(&app, &human("minnie", json!({"userId": "minnie-id", "password": {"password": "S3cret-p4ss!", "changeRequired": true}}))).await;
    assert_eq!(with_password.status, 200, "{:?}", with_password.body);
    assert_eq!(with_password.body["userId"], json!("minnie-id"));
    assert_eq!(with_password.body["details"]["sequence"], json!("1"));
    let initial = add(&app, &human("ini", json!({}))).await;
    assert_eq!(initial.status, 200);
    let verified = add(
        &app,
        &human(
            "ver",
            json!({"email": {"email": "v@example.com", "isVerified": true}}),
        ),
    )
    .await;
    let hashed = add(&app, &human("hsh", json!({"hashedPassword": {"hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$OFvBd7lINUadmFLUSf7aanp0Q9FNjVzakvzxBvrE+5A"}}))).await;
    let id = |r: &Reply| r.body["userId"].as_str().unwrap().to_string();

    let got = app.get("/v2/users/minnie-id", &admin).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let user = &got.body["user"];
    assert_eq!(user["state"], json!("USER_STATE_ACTIVE"));
    assert_eq!(user["username"], json!("minnie"));
    assert_eq!(user["human"]["profile"]["givenName"], json!("Minnie"));
    assert_eq!(user["human"]["profile"]["gender"], json!("GENDER_FEMALE"));
    assert_eq!(
        user["human"]["email"],
        json!({"email": "minnie@example.com"})
    );
    assert_eq!(user["human"]["passwordChangeRequired"], json!(true));
    assert!(
        !got.body.to_string().contains("S3cret"),
        "no password on the wire"
    );
    assert_eq!(got.body["details"]["resourceOwner"], json!("org-a"));

    assert_eq!(
        app.get(&format!("/v2/users/{}", id(&initial)), &admin)
            .await
            .body["user"]["state"],
        json!("USER_STATE_INITIAL")
    );
    assert_eq!(
        app.get(&format!("/v2/users/{}", id(&verified)), &admin)
            .await
            .body["user"]["state"],
        json!("USER_STATE_ACTIVE")
    );
    assert_eq!(
        app.get(&format!("/v2/users/{}", id(&hashed)), &admin)
            .await
            .body["user"]["state"],
        json!("USER_STATE_ACTIVE")
    );

    // INITIAL: deactivate is refused with ZITADEL's id, lock is allowed.
    let r = app
        .post(
            &format!("/v2/users/{}/deactivate", id(&initial)),
            &admin,
            None,
        )
        .await;
    assert_error(&r, 400, 9, Some("COMMAND-gvx4kct9r2"));
    let r = app
        .post(&format!("/v2/users/{}/lock", id(&initial)), &admin, None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["details"]["sequence"], json!("2"));

    // The stored password is an Argon2id hash, never the clear text (read from sled's files;
    // PostgreSQL keeps the same encoded record).
    app.kill();
    if sled_only("reading the stored hash") {
        return;
    }
    let store = userd::store::sled::SledStore::open_existing(&app.data_dir(), 1 << 20).unwrap();
    let stored = store.get_user("minnie-id").unwrap().unwrap();
    let userd::domain::Profile::V2(h) = stored.profile else {
        panic!("v2 profile")
    };
    let hash = h.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("S3cret"));
}

#[tokio::test]
async fn add_human_user_refuses_bad_bodies_and_taken_ids() {
    let app = spawn_app().await;
    for body in [
        json!({"username": "x", "organization": {"orgId": "org-a"}, "email": {"email": "x@example.com"}}),
        json!({"username": "x", "organization": {"orgId": "org-a"}, "profile": {"givenName": "A"}, "email": {"email": "x@example.com"}}),
        json!({"username": "x", "organization": {"orgId": "org-a"}, "profile": {"givenName": "A", "familyName": "B"}}),
        json!({"username": "x", "organization": {"orgId": "org-a"}, "profile": {"givenName": "A", "familyName": "B"}, "email": {"email": "nope"}}),
        human("x", json!({"hashedPassword": {"hash": "$2a$10$malformed"}})),
        human(
            "x",
            json!({"profile": {"givenName": "A", "familyName": "B", "gender": "GENDER_ROBOT"}}),
        ),
        human("x", json!({"userId": "a/b"})),
    ] {
        let r = add(&app, &body).await;
        assert_error(&r, 400, 3, None);
    }
    assert_eq!(
        add(&app, &human("dup", json!({"userId": "dup"})))
            .await
            .status,
        200
    );
    let r = add(&app, &human("dup2", json!({"userId": "dup"}))).await;
    assert_error(&r, 409, 6, Some("V3-DKcYh"));
    // Permission on the target org.
    let r = app
        .post(
            "/v2/users/human",
            &org_token("ORG_OWNER", "org-b"),
            Some(&human("p", json!({}))),
        )
        .await;
    assert_error(&r, 403, 7, None);
    let r = app
        .send(
            reqwest::Method::POST,
            "/v2/users/human",
            None,
            Some(&human("p", json!({}))),
        )
        .await;
    assert_error(&r, 401, 16, None);
}

#[tokio::test]
async fn v2_state_changes_and_the_self_rule() {
    let app = spawn_app().await;
    let admin = admin_token();
    add(
        &app,
        &human(
            "self",
            json!({"userId": "self-id", "password": {"password": "Pw-123456"}}),
        ),
    )
    .await;
    add(
        &app,
        &human(
            "other",
            json!({"userId": "other-id", "password": {"password": "Pw-123456"}}),
        ),
    )
    .await;
    for (action, seq, state) in [
        ("deactivate", 2, "USER_STATE_INACTIVE"),
        ("reactivate", 3, "USER_STATE_ACTIVE"),
        ("lock", 4, "USER_STATE_LOCKED"),
        ("unlock", 5, "USER_STATE_ACTIVE"),
    ] {
        let r = app
            .post(
                &format!("/v2/users/other-id/{action}"),
                &admin,
                Some(&json!({})),
            )
            .await;
        assert_eq!(r.status, 200, "{action}: {:?}", r.body);
        assert_eq!(r.body["details"]["sequence"], json!(seq.to_string()));
        assert_eq!(
            app.get("/v2/users/other-id", &admin).await.body["user"]["state"],
            json!(state)
        );
    }
    let r = app
        .post("/v2/users/other-id/reactivate", &admin, None)
        .await;
    assert_error(&r, 400, 9, Some("COMMAND-s5qqcz97hf"));
    let r = app.post("/v2/users/ghost/reactivate", &admin, None).await;
    assert_error(&r, 404, 5, Some("COMMAND-9hy5kzbuk6"));

    // The self rule: a token for self-id with no roles at all.
    let mut c = claims("self-id", &[]);
    c["iat"] = json!(now_secs_f64());
    let me = sign(&c);
    assert_eq!(app.get("/v2/users/self-id", &me).await.status, 200);
    assert_error(&app.get("/v2/users/other-id", &me).await, 403, 7, None);
    assert_error(
        &app.post("/v2/users/other-id/lock", &me, None).await,
        403,
        7,
        None,
    );
    // v3alpha has no self rule.
    assert_error(&app.get("/v3alpha/users/self-id", &me).await, 403, 7, None);
    // Acting on oneself is allowed, and the token dies with the lock.
    assert_eq!(
        app.post("/v2/users/self-id/lock", &me, None).await.status,
        200
    );
    assert_error(&app.get("/v2/users/self-id", &me).await, 401, 16, None);

    let r = app
        .send(
            reqwest::Method::DELETE,
            "/v2/users/other-id",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_error(&app.get("/v2/users/other-id", &admin).await, 404, 5, None);
}

#[tokio::test]
async fn users_are_shared_between_v2_and_v3alpha() {
    let app = spawn_app().await;
    let admin = admin_token();
    add(
        &app,
        &human(
            "shared",
            json!({"userId": "v2-user", "password": {"password": "Pw-123456"}}),
        ),
    )
    .await;
    app.create_user("v3-user", "org-a").await;
    // A v2 user through v3alpha: its email is its contact; no schema or data.
    let r = app.get("/v3alpha/users/v2-user", &admin).await;
    assert_eq!(
        r.body["user"]["contact"]["email"]["address"],
        json!("shared@example.com")
    );
    assert!(r.body["user"].get("schemaId").is_none());
    // A v3alpha user through v2: no username, no human.
    let r = app.get("/v2/users/v3-user", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"]["userId"], json!("v3-user"));
    assert!(r.body["user"].get("human").is_none());
    // A change through one surface is visible through the other.
    assert_eq!(
        app.post("/v2/users/v3-user/deactivate", &admin, None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.state_of("v3-user").await,
        Some(("USER_STATE_INACTIVE".into(), 2))
    );
    assert_eq!(app.change("v2-user", "lock", &admin).await.status, 200);
    assert_eq!(
        app.get("/v2/users/v2-user", &admin).await.body["user"]["state"],
        json!("USER_STATE_LOCKED")
    );
}

#[tokio::test]
async fn list_users_filters_and_pages() {
    let app = spawn_app().await;
    let admin = admin_token();
    for name in ["ann", "bob", "cid"] {
        add(
            &app,
            &human(
                name,
                json!({"userId": name, "password": {"password": "Pw-123456"}}),
            ),
        )
        .await;
    }
    add(
        &app,
        &human(
            "dan",
            json!({"userId": "dan", "organization": {"orgId": "org-b"}}),
        ),
    )
    .await;
    app.post("/v2/users/bob/deactivate", &admin, None).await;
    let ids = |r: &Reply| -> Vec<String> {
        r.body["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|u| u["userId"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let all = app.post("/v2/users", &admin, Some(&json!({}))).await;
    assert_eq!(ids(&all), ["dan", "cid", "bob", "ann"]);
    assert_eq!(all.body["details"]["totalResult"], json!("4"));
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"stateQuery": {"state": "USER_STATE_INACTIVE"}}]})),
        )
        .await;
    assert_eq!(ids(&r), ["bob"]);
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"organizationIdQuery": {"organizationId": "org-b"}}]})),
        )
        .await;
    assert_eq!(ids(&r), ["dan"]);
    let r = app.post("/v2/users", &admin, Some(&json!({"queries": [{"inUserIdsQuery": {"userIds": ["ann", "cid", "nobody"]}}], "query": {"asc": true}}))).await;
    assert_eq!(ids(&r), ["ann", "cid"]);
    let r = app.post("/v2/users", &admin, Some(&json!({"queries": [{"userNameQuery": {"userName": "CI", "method": "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE"}}]}))).await;
    assert_eq!(ids(&r), ["cid"]);
    let r = app.post("/v2/users", &admin, Some(&json!({"queries": [{"userNameQuery": {"userName": "b", "method": "TEXT_QUERY_METHOD_STARTS_WITH"}}]}))).await;
    assert_eq!(ids(&r), ["bob"]);
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"userNameQuery": {"userName": "N", "method": 7}}]})),
        )
        .await;
    assert_eq!(ids(&r), ["dan", "ann"]);
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"query": {"offset": "1", "limit": 2}})),
        )
        .await;
    assert_eq!(ids(&r), ["cid", "bob"]);
    // Every query type of ZITADEL's v2 is served, combinations included.
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"emailQuery": {"emailAddress": "BOB@example.com", "method": "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE"}}]})),
        )
        .await;
    assert_eq!(ids(&r), ["bob"]);
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"orQuery": {"queries": [
                {"userNameQuery": {"userName": "ann"}},
                {"notQuery": {"query": {"organizationIdQuery": {"organizationId": "org-a"}}}}
            ]}}]})),
        )
        .await;
    assert_eq!(ids(&r), ["dan", "ann"]);
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&json!({"queries": [{"stateQuery": {"state": "USER_STATE_SLEEPY"}}]})),
        )
        .await;
    assert_error(&r, 400, 3, None);
    // Queries nest 20 levels deep at most, as in ZITADEL.
    let nest = |levels: usize| {
        let mut q = json!({"userNameQuery": {"userName": "ann"}});
        for _ in 0..levels {
            q = json!({"notQuery": {"query": q}});
        }
        json!({"queries": [q]})
    };
    let r = app.post("/v2/users", &admin, Some(&nest(19))).await;
    assert_eq!(ids(&r), ["dan", "cid", "bob"], "{:?}", r.body);
    let r = app.post("/v2/users", &admin, Some(&nest(20))).await;
    assert_eq!(ids(&r), ["ann"], "{:?}", r.body);
    let r = app.post("/v2/users", &admin, Some(&nest(21))).await;
    assert_error(&r, 400, 3, Some("USER-zsQ97"));
    // Only what the caller may read.
    let r = app
        .post("/v2/users", &org_token("ORG_OWNER_VIEWER", "org-b"), None)
        .await;
    assert_eq!(ids(&r), ["dan"]);
    // And the caller's own user, as in ZITADEL's v2 (v3alpha has no self rule).
    let token = |roles: &[(&str, Option<&str>)]| {
        let mut c = claims("ann", roles);
        c["iat"] = json!(now_secs_f64());
        sign(&c)
    };
    let ann = token(&[]);
    let r = app.post("/v2/users", &ann, None).await;
    assert_eq!(ids(&r), ["ann"], "{:?}", r.body);
    assert_eq!(r.body["details"]["totalResult"], json!("1"));
    let r = app
        .post(
            "/v2/users",
            &ann,
            Some(&json!({"queries": [{"userNameQuery": {"userName": "bob"}}]})),
        )
        .await;
    assert_eq!(ids(&r), Vec::<String>::new());
    let r = app
        .post(
            "/v2/users",
            &token(&[("ORG_OWNER_VIEWER", Some("org-b"))]),
            None,
        )
        .await;
    assert_eq!(ids(&r), ["dan", "ann"]);
    assert_eq!(r.body["details"]["totalResult"], json!("2"));
    // In its place when paged and when sorted by a column.
    let viewer_b = token(&[("ORG_OWNER_VIEWER", Some("org-b"))]);
    let r = app
        .post(
            "/v2/users",
            &viewer_b,
            Some(&json!({"query": {"offset": "1", "limit": 1}})),
        )
        .await;
    assert_eq!(ids(&r), ["ann"], "{:?}", r.body);
    assert_eq!(r.body["details"]["totalResult"], json!("2"));
    let r = app
        .post(
            "/v2/users",
            &viewer_b,
            Some(&json!({"sortingColumn": "USER_FIELD_NAME_USER_NAME", "query": {"asc": true}})),
        )
        .await;
    assert_eq!(ids(&r), ["ann", "dan"], "{:?}", r.body);
    let r = app
        .post(
            "/v2/users",
            &viewer_b,
            Some(&json!({"queries": [{"organizationIdQuery": {"organizationId": "org-a"}}]})),
        )
        .await;
    assert_eq!(ids(&r), ["ann"], "{:?}", r.body);
    let r = app.post("/v3alpha/users/search", &ann, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(
        r.body["result"].as_array().is_none_or(|a| a.is_empty()),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn usernames_are_unique_until_their_user_is_deleted() {
    let mut app = spawn_app().await;
    let first = add(&app, &human("taken", json!({"userId": "first"}))).await;
    assert_eq!(first.status, 200, "{:?}", first.body);

    // Taken in any organization (ZITADEL's default domain policy), with ZITADEL's
    // unique-constraint error, and nothing is created.
    let mut elsewhere = human("taken", json!({"userId": "second"}));
    elsewhere["organization"] = json!({"orgId": "org-b"});
    let r = add(&app, &elsewhere).await;
    assert_error(&r, 409, 6, Some("V3-DKcYh"));
    assert_eq!(app.state_of("second").await, None);

    // Concurrent creates of one new name: exactly one wins.
    let replies = futures_util::future::join_all((0..16).map(|i| {
        let app = &app;
        async move { add(app, &human("race", json!({"userId": format!("race-{i}")}))).await }
    }))
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );

    // Deleting the holder frees the name; the claim survives a restart.
    let r = app
        .send(
            reqwest::Method::DELETE,
            "/v2/users/first",
            Some(&admin_token()),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.restart();
    let r = add(&app, &human("taken", json!({"userId": "third"}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = add(&app, &human("taken", json!({"userId": "fourth"}))).await;
    assert_error(&r, 409, 6, Some("V3-DKcYh"));
}

/// ZITADEL's v2beta paths (its load tests use them): the same methods, with v2beta's 201 for
/// AddHumanUser, over REST and Connect.
#[tokio::test]
async fn v2beta_paths_serve_the_same_methods() {
    let app = spawn_app().await;
    let admin = admin_token();
    let body = json!({
        "userId": "beta-1",
        "username": "beta-1",
        "organization": {"orgId": "org-a"},
        "profile": {"givenName": "Beta", "familyName": "User"},
        "email": {"email": "beta@example.com", "isVerified": true},
    });
    let r = app.post("/v2beta/users/human", &admin, Some(&body)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["userId"], json!("beta-1"));
    let r = app.get("/v2beta/users/beta-1", &admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["user"]["human"]["profile"]["givenName"],
        json!("Beta")
    );
    let r = app
        .post(
            "/v2beta/users",
            &admin,
            Some(&json!({"queries": [{"userNameQuery": {"userName": "beta-1"}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"][0]["userId"], json!("beta-1"));
    for action in ["lock", "unlock", "deactivate", "reactivate"] {
        let r = app
            .post(&format!("/v2beta/users/beta-1/{action}"), &admin, None)
            .await;
        assert_eq!(r.status, 200, "{action}: {:?}", r.body);
    }
    let r = app
        .send(
            reqwest::Method::POST,
            "/zitadel.user.v2beta.UserService/GetUserByID",
            Some(&admin),
            Some(&json!({"userId": "beta-1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["details"]["sequence"], json!("5"));
    let r = app
        .send(
            reqwest::Method::DELETE,
            "/v2beta/users/beta-1",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(app.get("/v2beta/users/beta-1", &admin).await.status, 404);
}

/// `ListAuthenticationMethodTypes`: PASSWORD for a user with one, nothing without; the own
/// user may ask; a caller who may not read the user gets 403; a missing user has none.
#[tokio::test]
async fn authentication_method_types_list_passwords() {
    let app = spawn_app().await;
    let admin = admin_token();
    let human = |id: &str, password: bool| {
        let mut body = json!({
            "userId": id, "username": id, "organization": {"orgId": "org-a"},
            "profile": {"givenName": "A", "familyName": "B"},
            "email": {"email": format!("{id}@example.com"), "isVerified": true},
        });
        if password {
            body["password"] = json!({"password": "Secr3t!pass", "changeRequired": true});
        }
        body
    };
    for (id, password) in [("am-1", true), ("am-2", false)] {
        let r = app
            .post("/v2/users/human", &admin, Some(&human(id, password)))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let methods = |r: &Reply| r.body["authMethodTypes"].clone();
    let r = app
        .get("/v2/users/am-1/authentication_methods", &admin)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(methods(&r), json!(["AUTHENTICATION_METHOD_TYPE_PASSWORD"]));
    assert_eq!(r.body["details"]["totalResult"], json!("1"));
    let r = app
        .get("/v2/users/am-2/authentication_methods", &admin)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(
        methods(&r).is_null() || methods(&r) == json!([]),
        "{:?}",
        r.body
    );
    let r = app
        .get("/v2/users/nobody/authentication_methods", &admin)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(methods(&r).is_null(), "{:?}", r.body);
    // The own user without any role; an outsider is refused.
    let own = sign(&claims("am-1", &[]));
    let r = app.get("/v2/users/am-1/authentication_methods", &own).await;
    assert_eq!(methods(&r), json!(["AUTHENTICATION_METHOD_TYPE_PASSWORD"]));
    let outsider = org_token("ORG_OWNER", "org-b");
    let r = app
        .get("/v2/users/am-1/authentication_methods", &outsider)
        .await;
    assert_error(&r, 403, 7, None);
}

#[tokio::test]
async fn list_users_sorts_by_zitadels_columns() {
    let app = spawn_app().await;
    // Created in this order; names and emails sort differently.
    for (name, given) in [
        ("cid", "Zoe"),
        ("ann", "Yara"),
        ("dan", "Abe"),
        ("bob", "Max"),
    ] {
        let body = json!({
            "userId": name, "username": name, "organization": {"orgId": "org-a"},
            "profile": {"givenName": given, "familyName": "X"},
            "email": {"email": format!("{name}@example.com")},
            "password": {"password": "Pw-123456"},
        });
        assert_eq!(add(&app, &body).await.status, 200);
    }
    let list = |column: &'static str, asc: bool| {
        let app = &app;
        let body = json!({"sortingColumn": column, "query": {"asc": asc, "limit": 3}});
        async move {
            let r = app.post("/v2/users", &admin_token(), Some(&body)).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.body["sortingColumn"], json!(column), "{:?}", r.body);
            assert_eq!(r.body["details"]["totalResult"], json!("4"));
            r.body["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userId"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("USER_FIELD_NAME_USER_NAME", true).await,
        ["ann", "bob", "cid"]
    );
    assert_eq!(
        list("USER_FIELD_NAME_USER_NAME", false).await,
        ["dan", "cid", "bob"]
    );
    assert_eq!(
        list("USER_FIELD_NAME_FIRST_NAME", true).await,
        ["dan", "bob", "ann"]
    );
    assert_eq!(
        list("USER_FIELD_NAME_CREATION_DATE", true).await,
        ["cid", "ann", "dan"]
    );
    let r = app
        .post(
            "/v2/users",
            &admin_token(),
            Some(&json!({"sortingColumn": 42})),
        )
        .await;
    assert_error(&r, 400, 3, None);
}
