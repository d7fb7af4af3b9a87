//! The v3alpha lifecycle through the real server: every row of the transition table the HTTP
//! API can reach, and the shape of every success body.

use crate::helpers::*;
use serde_json::json;

/// Put a fresh user `id` into `state` (by name) through the API.
async fn user_in_state(app: &TestApp, id: &str, state: &str) {
    app.create_user(id, "org-a").await;
    let admin = admin_token();
    let action = match state {
        "ACTIVE" => None,
        "INACTIVE" => Some("deactivate"),
        "LOCKED" => Some("lock"),
        "DELETED" => Some("delete"),
        other => panic!("no way to reach {other} through v3alpha"),
    };
    if let Some(action) = action {
        let r = app.change(id, action, &admin).await;
        assert_eq!(r.status, 200, "{action}: {:?}", r.body);
    }
}

#[track_caller]
fn assert_rfc3339_utc(value: &serde_json::Value) {
    let s = value.as_str().expect("changeDate is a string");
    assert!(s.ends_with('Z'), "{s}");
    assert_eq!(&s[4..5], "-");
    assert_eq!(&s[10..11], "T");
    let frac = s[19..s.len() - 1].trim_start_matches('.');
    assert!(
        [0, 3, 6, 9].contains(&frac.len()) && frac.chars().all(|c| c.is_ascii_digit()),
        "{s}"
    );
}

/// (operation, source state, Ok(target state) or Err((http status, gRPC code, error id)))
type Row = (
    &'static str,
    &'static str,
    Result<&'static str, (u16, i64, &'static str)>,
);

#[tokio::test]
async fn every_transition_row_through_http() {
    let app = spawn_app().await;
    let admin = admin_token();
    let rows: Vec<Row> = vec![
        ("reactivate", "INACTIVE", Ok("USER_STATE_ACTIVE")),
        ("reactivate", "ACTIVE", Err((400, 9, "COMMAND-s5qqcz97hf"))),
        ("reactivate", "LOCKED", Err((400, 9, "COMMAND-s5qqcz97hf"))),
        ("reactivate", "DELETED", Err((404, 5, "COMMAND-9hy5kzbuk6"))),
        ("deactivate", "ACTIVE", Ok("USER_STATE_INACTIVE")),
        ("deactivate", "LOCKED", Ok("USER_STATE_INACTIVE")),
        (
            "deactivate",
            "INACTIVE",
            Err((400, 9, "COMMAND-5gunjw0cd7")),
        ),
        ("deactivate", "DELETED", Err((404, 5, "COMMAND-5gp2p62iin"))),
        ("lock", "ACTIVE", Ok("USER_STATE_LOCKED")),
        ("lock", "INACTIVE", Err((400, 9, "COMMAND-lgws8wtsqf"))),
        ("lock", "LOCKED", Err((400, 9, "COMMAND-lgws8wtsqf"))),
        ("lock", "DELETED", Err((404, 5, "COMMAND-450yxuqrh1"))),
        ("unlock", "LOCKED", Ok("USER_STATE_ACTIVE")),
        ("unlock", "ACTIVE", Err((400, 9, "COMMAND-olb9vb0oca"))),
        ("unlock", "INACTIVE", Err((400, 9, "COMMAND-olb9vb0oca"))),
        ("unlock", "DELETED", Err((404, 5, "COMMAND-x377t913pw"))),
        ("delete", "ACTIVE", Ok("DELETED")),
        ("delete", "INACTIVE", Ok("DELETED")),
        ("delete", "LOCKED", Ok("DELETED")),
        ("delete", "DELETED", Err((404, 5, "COMMAND-bd4ir1mblj"))),
    ];
    for (i, (op, from, expected)) in rows.into_iter().enumerate() {
        let id = format!("row-{i}");
        user_in_state(&app, &id, from).await;
        let before = app.state_of(&id).await;
        let reply = app.change(&id, op, &admin).await;
        match expected {
            Ok(target) => {
                assert_eq!(reply.status, 200, "{op} from {from}: {:?}", reply.body);
                let seq_before = before.expect("live before").1;
                let details = &reply.body["details"];
                assert_eq!(details["sequence"], json!((seq_before + 1).to_string()));
                assert_eq!(details["resourceOwner"], json!("org-a"));
                assert_rfc3339_utc(&details["changeDate"]);
                assert_eq!(reply.body.as_object().map(|o| o.len()), Some(1));
                let after = app.state_of(&id).await;
                if target == "DELETED" {
                    assert_eq!(after, None, "a deleted user is not found");
                } else {
                    assert_eq!(after, Some((target.to_string(), seq_before + 1)));
                }
            }
            Err((status, code, err_id)) => {
                assert_error(&reply, status, code, Some(err_id));
                assert_eq!(
                    app.state_of(&id).await,
                    before,
                    "{op} from {from} changed nothing"
                );
            }
        }
    }
}

#[tokio::test]
async fn error_texts_are_zitadels() {
    let app = spawn_app().await;
    let admin = admin_token();
    app.create_user("t1", "org-a").await;
    let r = app.change("t1", "reactivate", &admin).await;
    assert_eq!(
        r.body["message"],
        json!("User is not inactive (COMMAND-s5qqcz97hf)")
    );
    assert_eq!(
        r.body["details"][0]["message"],
        json!("User is not inactive")
    );
    let r = app.change("t1", "unlock", &admin).await;
    assert_eq!(
        r.body["message"],
        json!("User is not locked (COMMAND-olb9vb0oca)")
    );
    app.change("t1", "deactivate", &admin).await;
    let r = app.change("t1", "deactivate", &admin).await;
    assert_eq!(
        r.body["message"],
        json!("User already inactive (COMMAND-5gunjw0cd7)")
    );
    let r = app.change("t1", "lock", &admin).await;
    assert_eq!(
        r.body["message"],
        json!("User is not active or initial (COMMAND-lgws8wtsqf)")
    );
    let r = app.change("nobody", "reactivate", &admin).await;
    assert_eq!(
        r.body["message"],
        json!("User could not be found (COMMAND-9hy5kzbuk6)")
    );
}

#[tokio::test]
async fn sequence_is_gap_free_from_one_and_a_string() {
    let app = spawn_app().await;
    let admin = admin_token();
    let created = app.create_user("seq", "org-a").await;
    assert_eq!(created.body["details"]["sequence"], json!("1"));
    assert_eq!(created.body["userId"], json!("seq"));
    let mut expected = 1u64;
    for action in [
        "deactivate",
        "reactivate",
        "lock",
        "unlock",
        "lock",
        "deactivate",
        "reactivate",
    ] {
        expected += 1;
        let r = app.change("seq", action, &admin).await;
        assert_eq!(r.status, 200, "{action}: {:?}", r.body);
        assert_eq!(r.body["details"]["sequence"], json!(expected.to_string()));
        // Repeating it is refused and does not consume a sequence number.
        let refused = app.change("seq", action, &admin).await;
        assert_eq!(refused.status, 400);
    }
    assert_eq!(
        app.state_of("seq").await,
        Some(("USER_STATE_ACTIVE".into(), expected))
    );
}

#[tokio::test]
async fn create_generates_time_ordered_ids_and_get_returns_the_user() {
    let app = spawn_app().await;
    let admin = admin_token();
    let body = json!({
        "organization": {"orgId": "org-a"},
        "schemaId": "person",
        "data": {"name": "Ada", "nested": {"n": 1}},
        "contact": {"email": {"address": "ada@example.com", "isVerified": true}, "phone": {"number": "+41 79 000 00 00"}},
        "unknownField": "ignored",
    });
    let a = app.post("/v3alpha/users", &admin, Some(&body)).await;
    let b = app.post("/v3alpha/users", &admin, Some(&body)).await;
    assert_eq!(
        (a.status, b.status),
        (201, 201),
        "{:?} {:?}",
        a.body,
        b.body
    );
    let ida: u64 = a.body["userId"].as_str().unwrap().parse().unwrap();
    let idb: u64 = b.body["userId"].as_str().unwrap().parse().unwrap();
    assert!(ida < idb);
    assert_eq!(ida.to_string().len(), 18);
    assert_eq!(a.body["details"]["resourceOwner"], json!("org-a"));

    let got = app.get(&format!("/v3alpha/users/{ida}"), &admin).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let user = &got.body["user"];
    assert_eq!(user["userId"], json!(ida.to_string()));
    assert_eq!(user["state"], json!("USER_STATE_ACTIVE"));
    assert_eq!(user["schemaId"], json!("person"));
    assert_eq!(user["data"], json!({"name": "Ada", "nested": {"n": 1}}));
    assert_eq!(
        user["contact"]["email"],
        json!({"address": "ada@example.com", "isVerified": true})
    );
    assert_eq!(
        user["contact"]["phone"],
        json!({"number": "+41 79 000 00 00"})
    );
    assert_eq!(got.body["details"]["sequence"], json!("1"));
    assert_eq!(got.body["details"]["resourceOwner"], json!("org-a"));
    assert_eq!(
        got.body["details"]["creationDate"],
        got.body["details"]["changeDate"]
    );
    assert_eq!(user["details"], got.body["details"]);
}

#[tokio::test]
async fn create_takes_the_org_from_body_then_header_then_claim() {
    let app = spawn_app().await;
    let admin = admin_token();
    let base = json!({"schemaId": "s", "data": {}});
    // Claim: the admin token's resource owner is org-a.
    let r = app.post("/v3alpha/users", &admin, Some(&base)).await;
    assert_eq!(r.body["details"]["resourceOwner"], json!("org-a"));
    // Header beats claim.
    let r = app
        .client
        .post(format!("{}/v3alpha/users", app.address))
        .bearer_auth(&admin)
        .header("x-zitadel-orgid", "org-h")
        .json(&base)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["details"]["resourceOwner"], json!("org-h"));
    // Body beats header.
    let r = app
        .client
        .post(format!("{}/v3alpha/users", app.address))
        .bearer_auth(&admin)
        .header("x-zitadel-orgid", "org-h")
        .json(&json!({"schemaId": "s", "data": {}, "organization": {"orgId": "org-b"}}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["details"]["resourceOwner"], json!("org-b"));
    // No org anywhere: 400.
    let mut c = claims("x", &[("IAM_OWNER", None)]);
    c.as_object_mut()
        .unwrap()
        .remove("urn:zitadel:iam:user:resourceowner:id");
    let r = app.post("/v3alpha/users", &sign(&c), Some(&base)).await;
    assert_error(&r, 400, 3, None);
}

#[tokio::test]
async fn create_refuses_taken_and_deleted_ids_and_bad_bodies() {
    let app = spawn_app().await;
    let admin = admin_token();
    app.create_user("dup", "org-a").await;
    let again =
        json!({"userId": "dup", "organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}});
    let r = app.post("/v3alpha/users", &admin, Some(&again)).await;
    assert_error(&r, 409, 6, Some("V3-DKcYh"));
    assert_eq!(r.body["message"], json!("User already exists (V3-DKcYh)"));
    app.change("dup", "delete", &admin).await;
    let r = app.post("/v3alpha/users", &admin, Some(&again)).await;
    assert_error(&r, 409, 6, Some("V3-DKcYh"));

    let bad_bodies = [
        json!({"organization": {"orgId": "org-a"}, "data": {}}),
        json!({"organization": {"orgId": "org-a"}, "schemaId": "", "data": {}}),
        json!({"organization": {"orgId": "org-a"}, "schemaId": "x".repeat(201), "data": {}}),
        json!({"organization": {"orgId": "org-a"}, "schemaId": "s"}),
        json!({"organization": {"orgId": "org-a"}, "schemaId": "s", "data": [1]}),
        json!({"organization": {"orgId": "org-a"}, "schemaId": 5, "data": {}}),
        json!({"userId": "a/b", "organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}}),
        json!({"userId": "x".repeat(201), "organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}}),
        json!({"organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}, "contact": {"email": {}}}),
    ];
    for body in bad_bodies {
        let r = app.post("/v3alpha/users", &admin, Some(&body)).await;
        assert_error(&r, 400, 3, None);
    }
    // An empty userId counts as absent.
    let r = app
        .post(
            "/v3alpha/users",
            &admin,
            Some(&json!({"userId": "", "organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["userId"].as_str().map(str::len), Some(18));
}
