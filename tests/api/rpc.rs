//! The RPC paths at the byte level: Connect's error form and statuses, gRPC-Web framing (binary
//! and base64 text), and what the main port says to native gRPC.

use crate::helpers::*;
use prost::Message;
use serde_json::json;
use userd::pb::zitadel::user::v2 as user;

const PATH: &str = "/zitadel.user.v2.UserService";

#[tokio::test]
async fn connect_errors_have_connects_form_and_status() {
    let app = spawn_app().await;
    app.create_user("c1", "org-a").await;
    let cases = [
        (
            "ReactivateUser",
            json!({"userId": "c1"}),
            Some(admin_token()),
            400,
            "failed_precondition",
        ),
        (
            "LockUser",
            json!({"userId": "nobody"}),
            Some(admin_token()),
            404,
            "not_found",
        ),
        (
            "LockUser",
            json!({"userId": "c1"}),
            Some(org_token("ORG_OWNER", "org-b")),
            403,
            "permission_denied",
        ),
        (
            "LockUser",
            json!({"userId": "c1"}),
            None,
            401,
            "unauthenticated",
        ),
        (
            "LockUser",
            json!({}),
            Some(admin_token()),
            400,
            "invalid_argument",
        ),
        (
            "FlyUser",
            json!({"userId": "c1"}),
            Some(admin_token()),
            501,
            "unimplemented",
        ),
    ];
    for (method, body, token, status, code) in cases {
        let r = app
            .send(
                reqwest::Method::POST,
                &format!("{PATH}/{method}"),
                token.as_deref(),
                Some(&body),
            )
            .await;
        assert_eq!(r.status, status, "{method}: {:?}", r.body);
        assert_eq!(r.body["code"], json!(code), "{method}");
        assert!(r.body["message"].is_string());
    }
    let r = app
        .send(
            reqwest::Method::POST,
            "/zitadel.nothing.v1.Nope/Do",
            Some(&admin_token()),
            Some(&json!({})),
        )
        .await;
    // An unknown service is an unknown route; a body over the limit is 413 here too.
    assert_error(&r, 404, 5, None);
    let big = json!({"userId": "x".repeat(70_000)});
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("{PATH}/LockUser"),
            Some(&admin_token()),
            Some(&big),
        )
        .await;
    assert_eq!(r.status, 413);
    // The REST routing rules still hold: a wrong method on an RPC path is 405.
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("{PATH}/LockUser"),
            None,
            None,
        )
        .await;
    assert_error(&r, 405, 12, None);
    assert_eq!(
        app.state_of("c1").await,
        Some(("USER_STATE_ACTIVE".into(), 1))
    );
}

fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Split a gRPC-Web body into its message (if any) and its trailer text.
fn parse_grpc_web(body: &[u8]) -> (Option<Vec<u8>>, String) {
    let (mut message, mut trailers, mut rest) = (None, String::new(), body);
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload = &rest[5..5 + len];
        if rest[0] & 0x80 != 0 {
            trailers = String::from_utf8_lossy(payload).into_owned();
        } else {
            message = Some(payload.to_vec());
        }
        rest = &rest[5 + len..];
    }
    (message, trailers)
}

#[tokio::test]
async fn grpc_web_binary_and_text_carry_messages_and_trailers() {
    let app = spawn_app().await;
    app.create_user("g1", "org-a").await;
    let request = user::DeactivateUserRequest {
        user_id: "g1".into(),
    }
    .encode_to_vec();
    let r = app
        .client
        .post(format!("{}{PATH}/DeactivateUser", app.address))
        .bearer_auth(admin_token())
        .header("content-type", "application/grpc-web+proto")
        .body(grpc_frame(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (message, trailers) = parse_grpc_web(&r.bytes().await.unwrap());
    assert!(trailers.contains("grpc-status: 0"), "{trailers}");
    let response = user::DeactivateUserResponse::decode(message.unwrap().as_slice()).unwrap();
    assert_eq!(response.details.unwrap().sequence, 2);

    // The same call again, as base64 text: now the state error, in the trailers.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let r = app
        .client
        .post(format!("{}{PATH}/DeactivateUser", app.address))
        .bearer_auth(admin_token())
        .header("content-type", "application/grpc-web-text")
        .body(b64.encode(grpc_frame(&request)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let raw = b64.decode(r.bytes().await.unwrap()).unwrap();
    let (message, trailers) = parse_grpc_web(&raw);
    assert!(message.is_none());
    assert!(trailers.contains("grpc-status: 9"), "{trailers}");
    assert!(trailers.contains("COMMAND-5gunjw0cd7"), "{trailers}");

    // Native gRPC belongs on server.grpc_bind.
    let r = app
        .client
        .post(format!("{}{PATH}/DeactivateUser", app.address))
        .header("content-type", "application/grpc")
        .body(grpc_frame(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.headers()["grpc-status"], "12");
}

#[tokio::test]
async fn the_v3alpha_service_over_connect_json() {
    let app = spawn_app().await;
    let admin = admin_token();
    let svc = "/zitadel.user.v3alpha.UserService";
    let r = app
        .post(&format!("{svc}/CreateUser"), &admin, Some(&json!({"userId": "r3", "organization": {"orgId": "org-a"}, "schemaId": "s", "data": {"a": 1}})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["userId"], json!("r3"));
    let r = app
        .post(
            &format!("{svc}/DeactivateUser"),
            &admin,
            Some(&json!({"userId": "r3"})),
        )
        .await;
    assert_eq!(r.body["details"]["sequence"], json!("2"));
    let r = app
        .post(
            &format!("{svc}/ReactivateUser"),
            &admin,
            Some(&json!({"userId": "r3"})),
        )
        .await;
    assert_eq!(r.body["details"]["sequence"], json!("3"));
    let r = app
        .post(
            &format!("{svc}/ReactivateUser"),
            &admin,
            Some(&json!({"userId": "r3"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (400, json!("failed_precondition"))
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("COMMAND-s5qqcz97hf"));
    let r = app
        .post(
            &format!("{svc}/GetUserByID"),
            &admin,
            Some(&json!({"userId": "r3"})),
        )
        .await;
    assert_eq!(r.body["user"]["data"], json!({"a": 1}));
    for method in ["SearchUsers", "ListUsers"] {
        let r = app
            .post(&format!("{svc}/{method}"), &admin, Some(&json!({})))
            .await;
        assert_eq!(r.body["details"]["totalResult"], json!("1"), "{method}");
    }
    let r = app
        .post(
            &format!("{svc}/DeleteUser"),
            &admin,
            Some(&json!({"userId": "r3"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.state_of("r3").await, None);
}
