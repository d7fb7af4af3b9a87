//! The RPC paths at the byte level: Connect's error form and statuses, gRPC-Web framing (binary
//! and base64 text), and native gRPC over HTTP/2 on the same port as everything else.

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

    // Native gRPC over HTTP/1.1 has nowhere to put its trailers.
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

/// One HTTP/2 exchange: status, headers, body and trailers.
async fn h2_call(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>, Option<http::HeaderMap>) {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://userd{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(()).unwrap();
    let ready = client.clone().ready().await.unwrap();
    *client = ready;
    let (response, mut send) = client.send_request(request, body.is_empty()).unwrap();
    if !body.is_empty() {
        send.send_data(body.into(), true).unwrap();
    }
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let (parts, mut stream) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.data().await {
        let chunk = chunk.unwrap();
        stream.flow_control().release_capacity(chunk.len()).unwrap();
        bytes.extend_from_slice(&chunk);
    }
    let trailers = stream.trailers().await.unwrap();
    (status, parts.headers, bytes, trailers)
}

#[tokio::test]
async fn native_grpc_connect_and_rest_share_one_http2_connection_on_the_main_port() {
    let app = spawn_app().await;
    app.create_user("n1", "org-a").await;
    let tcp = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let bearer = format!("Bearer {}", admin_token());
    let grpc_headers = [
        ("content-type", "application/grpc+proto"),
        ("te", "trailers"),
        ("authorization", bearer.as_str()),
    ];
    let request = user::DeactivateUserRequest {
        user_id: "n1".into(),
    }
    .encode_to_vec();

    // gRPC success: one message frame, then grpc-status 0 in the trailers.
    let (status, headers, body, trailers) = h2_call(
        &mut client,
        "POST",
        &format!("{PATH}/DeactivateUser"),
        &grpc_headers,
        grpc_frame(&request),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/grpc+proto");
    assert!(headers.get("grpc-status").is_none(), "{headers:?}");
    let trailers = trailers.expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    let (message, rest) = body.split_at(5);
    assert_eq!(message[0], 0);
    assert_eq!(
        u32::from_be_bytes([message[1], message[2], message[3], message[4]]) as usize,
        rest.len()
    );
    let response = user::DeactivateUserResponse::decode(rest).unwrap();
    assert_eq!(response.details.unwrap().sequence, 2);

    // gRPC failure: the state error with no message, status in the headers (Trailers-Only).
    let (status, headers, body, _) = h2_call(
        &mut client,
        "POST",
        &format!("{PATH}/DeactivateUser"),
        &grpc_headers,
        grpc_frame(&request),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_eq!(headers["grpc-status"], "9");
    assert!(headers["grpc-message"]
        .to_str()
        .unwrap()
        .contains("COMMAND-5gunjw0cd7"));

    // Connect JSON on the same connection reads the change.
    let (status, headers, body, trailers) = h2_call(
        &mut client,
        "POST",
        &format!("{PATH}/GetUserByID"),
        &[
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
        ],
        br#"{"userId": "n1"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(trailers.is_none());
    assert!(headers.contains_key("x-request-id"));
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["user"]["state"], json!("USER_STATE_INACTIVE"));

    // So does REST, and the seed's reactivate works over HTTP/2 too.
    let (status, _, body, _) = h2_call(
        &mut client,
        "POST",
        "/v3alpha/users/n1/reactivate",
        &[
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["details"]["sequence"], json!("3"));
    assert_eq!(
        app.state_of("n1").await,
        Some(("USER_STATE_ACTIVE".into(), 3))
    );

    // Errors keep ZITADEL's JSON body.
    let (status, _, body, _) = h2_call(&mut client, "GET", "/nowhere", &[], Vec::new()).await;
    assert_eq!(status, 404);
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["code"], json!(5));
}

/// A Connect binary call: status and body.
async fn connect_proto(app: &TestApp, path: &str, message: &impl Message) -> (u16, Vec<u8>) {
    let r = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(admin_token())
        .header("content-type", "application/proto")
        .body(message.encode_to_vec())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_v3alpha_service_in_binary_over_connect_and_grpc_web() {
    use userd::pb::zitadel::object::v2 as obj;
    use userd::pb::zitadel::user::v3alpha as v3;
    let app = spawn_app().await;
    let svc = "/zitadel.user.v3alpha.UserService";
    let data = userd::pb::JsonStruct(
        [("name".to_string(), serde_json::json!("Gigi"))]
            .into_iter()
            .collect(),
    );
    let (status, body) = connect_proto(
        &app,
        &format!("{svc}/CreateUser"),
        &v3::CreateUserRequest {
            user_id: Some("b3".into()),
            organization: Some(obj::Organization {
                org: Some(obj::organization::Org::OrgId("org-a".into())),
            }),
            contact: None,
            schema_id: "giraffes".into(),
            data: Some(data.clone()),
            user: None,
        },
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let created = v3::CreateUserResponse::decode(body.as_slice()).unwrap();
    assert_eq!(created.user_id, "b3");
    assert_eq!(created.details.unwrap().resource_owner, "org-a");

    let get = v3::GetUserByIdRequest {
        user_id: "b3".into(),
    };
    let (status, body) = connect_proto(&app, &format!("{svc}/GetUserByID"), &get).await;
    assert_eq!(status, 200);
    let user = v3::GetUserByIdResponse::decode(body.as_slice())
        .unwrap()
        .user
        .unwrap();
    assert_eq!(
        (user.user_id.as_str(), user.state, user.schema_id.as_str()),
        ("b3", v3::State::UserStateActive as i32, "giraffes")
    );
    assert_eq!(user.data, Some(data));

    // The seed's error, in Connect's JSON error form even for a binary call.
    let reactivate = v3::ReactivateUserRequest {
        user_id: "b3".into(),
    };
    let (status, body) = connect_proto(&app, &format!("{svc}/ReactivateUser"), &reactivate).await;
    assert_eq!(status, 400);
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], json!("failed_precondition"));
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("COMMAND-s5qqcz97hf"));

    // Deactivate over gRPC-Web, reactivate over Connect binary.
    let r = app
        .client
        .post(format!("{}{svc}/DeactivateUser", app.address))
        .bearer_auth(admin_token())
        .header("content-type", "application/grpc-web+proto")
        .body(grpc_frame(
            &v3::DeactivateUserRequest {
                user_id: "b3".into(),
            }
            .encode_to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let (message, trailers) = parse_grpc_web(&r.bytes().await.unwrap());
    assert!(trailers.contains("grpc-status: 0"), "{trailers}");
    let done = v3::DeactivateUserResponse::decode(message.unwrap().as_slice()).unwrap();
    assert_eq!(done.details.unwrap().sequence, 2);
    let (status, body) = connect_proto(&app, &format!("{svc}/ReactivateUser"), &reactivate).await;
    assert_eq!(status, 200);
    let done = v3::ReactivateUserResponse::decode(body.as_slice()).unwrap();
    assert_eq!(done.details.unwrap().sequence, 3);

    // Search filters travel in binary too.
    for (state, expected) in [
        (v3::State::UserStateActive, 1),
        (v3::State::UserStateInactive, 0),
    ] {
        let request = v3::ListUsersRequest {
            query: Some(obj::ListQuery {
                offset: 0,
                limit: 10,
                asc: false,
            }),
            filters: vec![v3::SearchFilter {
                filter: Some(v3::search_filter::Filter::StateFilter(v3::StateFilter {
                    state: state as i32,
                })),
            }],
        };
        let (status, body) = connect_proto(&app, &format!("{svc}/ListUsers"), &request).await;
        assert_eq!(status, 200);
        let list = v3::ListUsersResponse::decode(body.as_slice()).unwrap();
        assert_eq!(list.result.len(), expected, "{state:?}");
        assert_eq!(list.details.unwrap().total_result, expected as u64);
    }
}

#[tokio::test]
async fn zitadel_users_search_filters() {
    let app = spawn_app().await;
    let admin = admin_token();
    for (id, org, schema, email) in [
        ("f1", "org-a", "s1", Some("a@x.io")),
        ("f2", "org-b", "s2", None),
        ("f3", "org-a", "s1", None),
    ] {
        let mut body =
            json!({"userId": id, "organization": {"orgId": org}, "schemaId": schema, "data": {}});
        if let Some(email) = email {
            body["contact"] = json!({"email": {"address": email}});
        }
        assert_eq!(
            app.post("/v3alpha/users", &admin, Some(&body)).await.status,
            201
        );
    }
    assert_eq!(app.change("f3", "lock", &admin).await.status, 200);
    let human = json!({"userId": "f4", "username": "filter-human", "organization": {"orgId": "org-a"},
        "profile": {"givenName": "F", "familyName": "H"}, "email": {"email": "h@x.io", "isVerified": true}});
    assert_eq!(
        app.post("/v2/users/human", &admin, Some(&human))
            .await
            .status,
        200
    );

    let search = |filters: serde_json::Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.post(
                "/zitadel.resources.user.v3alpha.ZITADELUsers/SearchUsers",
                &admin,
                Some(&json!({"filters": filters})),
            )
            .await
        }
    };
    let ids = |r: &Reply| {
        let mut ids: Vec<String> = r.body["result"]
            .as_array()
            .map(|users| {
                users
                    .iter()
                    .map(|u| u["details"]["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    };
    let cases = [
        (
            json!([{"stateFilter": {"state": "USER_STATE_LOCKED"}}]),
            vec!["f3"],
        ),
        (
            json!([{"organizationIdFilter": {"id": "org-a"}}, {"schemaIdFilter": {"id": "s1"}}]),
            vec!["f1", "f3"],
        ),
        (
            json!([{"orFilter": {"queries": [
                {"userIdFilter": {"id": "f2"}},
                {"emailFilter": {"address": "A@X.IO", "method": "TEXT_FILTER_METHOD_EQUALS_IGNORE_CASE"}},
            ]}}]),
            vec!["f1", "f2"],
        ),
        (
            json!([{"notFilter": {"query": {"organizationIdFilter": {"id": "org-a"}}}}]),
            vec!["f2"],
        ),
        (
            json!([{"usernameFilter": {"username": "filter-h", "method": "TEXT_FILTER_METHOD_STARTS_WITH"}}]),
            vec!["f4"],
        ),
        (json!([]), vec!["f1", "f2", "f3", "f4"]),
    ];
    for (filters, expected) in cases {
        let r = search(filters.clone()).await;
        assert_eq!(r.status, 200, "{filters} {:?}", r.body);
        assert_eq!(ids(&r), expected, "{filters}");
    }
    for filters in [
        json!([{"schemaTypeFilter": {"type": "giraffes"}}]),
        json!([{"bogusFilter": {}}]),
        json!([{"userIdFilter": {"id": "f1", "method": "TEXT_FILTER_METHOD_SOUNDS_LIKE"}}]),
    ] {
        let r = search(filters.clone()).await;
        assert_eq!(
            (r.status, r.body["code"].clone()),
            (400, json!("invalid_argument")),
            "{filters}"
        );
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    use tokio::io::AsyncReadExt;
    let app = spawn_app().await;
    let mut silent = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), silent.read(&mut buf))
        .await
        .expect("closed within the handshake timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}
