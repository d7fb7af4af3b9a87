//! Webhooks end to end: ZITADEL's Actions v2 targets and event executions through REST and
//! Connect, deliveries to a local receiver (order per user, signatures, payload shapes), retries
//! with backoff, parking and a manual retry, and no acknowledged change lost across kill -9.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the receiver answers.
const ANSWER_OK: u8 = 0;
const ANSWER_500: u8 = 1;
/// Hold the request without answering (past the target's timeout).
const ANSWER_HANG: u8 = 2;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    signature: String,
    body: String,
    /// Whether it was answered 200.
    taken: bool,
}

/// A local HTTP/1.1 receiver that records every request and answers as told.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    answer: Arc<AtomicU8>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answer = Arc::new(AtomicU8::new(ANSWER_OK));
        let (g, a) = (got.clone(), answer.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, g.clone(), a.clone()));
            }
        });
        Receiver { url, got, answer }
    }

    fn taken(&self) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.taken)
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Wait until `n` deliveries were taken (at most `limit`).
    async fn wait_taken(&self, n: usize, limit: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let taken = self.taken();
            if taken.len() >= n || started.elapsed() > limit {
                return taken;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve(
    mut socket: tokio::net::TcpStream,
    got: Arc<Mutex<Vec<Received>>>,
    answer: Arc<AtomicU8>,
) {
    let mut buf = Vec::new();
    loop {
        // Headers.
        let header_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let length: usize = header("content-length").parse().unwrap_or(0);
        while buf.len() < header_end + length {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[header_end..header_end + length]).to_string();
        buf.drain(..header_end + length);
        let mode = answer.load(Ordering::SeqCst);
        got.lock().unwrap().push(Received {
            signature: header("zitadel-signature"),
            body,
            taken: mode == ANSWER_OK,
        });
        let reply: &[u8] = match mode {
            ANSWER_OK => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            ANSWER_500 => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
            _ => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                return;
            }
        };
        if socket.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Check a `ZITADEL-Signature` header (`t=..,v1=..`) against the body and the key.
fn signature_valid(header: &str, body: &str, key: &str) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_string()),
            Some(("v1", value)) => v1.push(value.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, format!("{t}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let fresh = t.parse::<i64>().is_ok_and(|t| (now_secs() - t).abs() < 300);
    fresh && v1.contains(&hex)
}

/// Create a webhook target for `url` (timeout `timeout`); its id and signing key.
async fn target(app: &TestApp, name: &str, url: &str, timeout: &str) -> (String, String) {
    let r = app
        .post(
            "/v2/actions/targets",
            &admin_token(),
            Some(&json!({"name": name, "endpoint": url, "timeout": timeout, "restWebhook": {}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let key = r.body["signingKey"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 36);
    (r.body["id"].as_str().unwrap().to_string(), key)
}

async fn set_execution(app: &TestApp, condition: Value, targets: &[&str]) -> Reply {
    app.send(
        reqwest::Method::PUT,
        "/v2/actions/executions",
        Some(&admin_token()),
        Some(&json!({"condition": {"event": condition}, "targets": targets})),
    )
    .await
}

fn body_of(r: &Received) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

#[tokio::test]
async fn a_receiver_gets_every_event_in_order_per_user_signed_in_zitadels_shape() {
    let app = spawn_app().await;
    let admin = admin_token();
    let receiver = Receiver::start().await;
    let (id, key) = target(&app, "audit", &receiver.url, "5s").await;
    let r = set_execution(&app, json!({"group": "user"}), &[&id]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["setDate"].is_string());

    // A scripted sequence over three users, interleaved.
    let users = ["w1", "w2", "w3"];
    for u in users {
        app.create_user(u, "org-w").await;
    }
    let mut expected: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for u in users {
        expected.insert(u, vec!["user.schemauser.created"]);
    }
    for round in 0..3 {
        for u in users {
            for (action, event) in [
                ("deactivate", "user.deactivated"),
                ("reactivate", "user.reactivated"),
            ] {
                assert_eq!(app.change(u, action, &admin).await.status, 200);
                expected.get_mut(u).unwrap().push(event);
            }
            if round == 2 && u == "w2" {
                assert_eq!(app.change(u, "lock", &admin).await.status, 200);
                expected.get_mut(u).unwrap().push("user.locked");
            }
        }
    }
    assert_eq!(app.change("w3", "delete", &admin).await.status, 200);
    expected.get_mut("w3").unwrap().push("user.removed");
    let total: usize = expected.values().map(Vec::len).sum();

    let taken = receiver.wait_taken(total, Duration::from_secs(20)).await;
    assert_eq!(taken.len(), total, "{taken:?}");
    let mut per_user: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for r in &taken {
        assert!(signature_valid(&r.signature, &r.body, &key), "{r:?}");
        let b = body_of(r);
        assert_eq!(b["aggregateType"], "user");
        assert_eq!(b["resourceOwner"], "org-w");
        assert_eq!(b["userID"], "admin");
        assert!(b["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(b["instanceID"].is_string());
        per_user
            .entry(b["aggregateID"].as_str().unwrap().to_string())
            .or_default()
            .push((
                b["sequence"].as_u64().unwrap(),
                b["event_type"].as_str().unwrap().to_string(),
            ));
    }
    for (user, events) in &per_user {
        let sequences: Vec<u64> = events.iter().map(|e| e.0).collect();
        let want: Vec<u64> = (1..=sequences.len() as u64).collect();
        assert_eq!(sequences, want, "{user} in sequence order");
        let types: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(types, expected[user.as_str()], "{user}");
    }
    // The creation carries its payload.
    let created = taken
        .iter()
        .map(body_of)
        .find(|b| b["event_type"] == "user.schemauser.created")
        .unwrap();
    assert_eq!(created["event_payload"]["schemaID"], "person");
    assert!(taken
        .iter()
        .map(body_of)
        .filter(|b| b["event_type"] == "user.deactivated")
        .all(|b| b.get("event_payload").is_none()));

    // The most specific execution wins: a target for user.locked only takes lock events.
    let locks = Receiver::start().await;
    let (lock_id, _) = target(&app, "locks", &locks.url, "5s").await;
    let r = set_execution(&app, json!({"event": "user.locked"}), &[&lock_id]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(app.change("w1", "lock", &admin).await.status, 200);
    assert_eq!(app.change("w1", "unlock", &admin).await.status, 200);
    let got = locks.wait_taken(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(body_of(&got[0])["event_type"], "user.locked");
    let audit = receiver
        .wait_taken(total + 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        body_of(audit.last().unwrap())["event_type"],
        "user.unlocked"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        locks.all().len(),
        1,
        "only the lock went to the lock target"
    );
    assert_eq!(
        receiver.all().len(),
        total + 1,
        "the lock went to the specific target only"
    );

    // Executions list; an empty target list removes one.
    let r = app
        .post("/v2/actions/executions/search", &admin, Some(&json!({})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["executions"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["pagination"]["totalResult"], "2");
    let r = set_execution(&app, json!({"event": "user.locked"}), &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .post("/v2/actions/executions/search", &admin, Some(&json!({})))
        .await;
    assert_eq!(r.body["executions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        r.body["executions"][0]["condition"]["event"]["group"],
        "user"
    );
}

#[tokio::test]
async fn targets_and_executions_answer_zitadels_errors_and_need_instance_rights() {
    let app = spawn_app().await;
    let admin = admin_token();
    let create = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move { app.post("/v2/actions/targets", &admin, Some(&body)).await }
    };
    let ok =
        json!({"name": "t", "endpoint": "http://127.0.0.1:9/x", "timeout": "10s", "restAsync": {}});
    let r = create(json!({"name": "", "endpoint": "http://127.0.0.1:9/x", "timeout": "10s", "restWebhook": {}})).await;
    assert_error(&r, 400, 3, Some("COMMAND-ddqbm9us5p"));
    let r =
        create(json!({"name": "t", "endpoint": "http://127.0.0.1:9/x", "restWebhook": {}})).await;
    assert_error(&r, 400, 3, Some("COMMAND-39f35d8uri"));
    let r = create(
        json!({"name": "t", "endpoint": "ftp://example.com", "timeout": "1s", "restWebhook": {}}),
    )
    .await;
    assert_error(&r, 400, 3, Some("COMMAND-1r2k6qo6wg"));
    let r = create(json!({"name": "t", "endpoint": "http://169.254.169.254/latest", "timeout": "1s", "restWebhook": {}})).await;
    assert_error(&r, 400, 3, Some("USERD-ACTION-0001"));
    let r = create(ok.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_error(&create(ok.clone()).await, 409, 6, Some("V3-DKcYh"));

    // Get, update (a new key only when asked), list, over REST and Connect.
    let r = app.get(&format!("/v2/actions/targets/{id}"), &admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["target"]["name"], "t");
    assert_eq!(r.body["target"]["timeout"], "10s");
    assert!(r.body["target"]["restAsync"].is_object());
    let key = r.body["target"]["signingKey"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/v2/actions/targets/{id}"),
            &admin,
            Some(&json!({"name": "renamed", "expirationSigningKey": "0s"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new_key = r.body["signingKey"].as_str().unwrap();
    assert_ne!(new_key, key);
    let r = app
        .post(
            "/zitadel.action.v2beta.ActionService/ListTargets",
            &admin,
            Some(&json!({"filters": [{"targetNameFilter": {"targetName": "REN", "method": "TEXT_FILTER_METHOD_STARTS_WITH_IGNORE_CASE"}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["targets"][0]["id"], id.as_str());
    let r = app
        .post(
            "/v2/actions/targets/nobody",
            &admin,
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_error(&r, 404, 5, Some("COMMAND-xj14f2cccn"));
    let r = app.get("/v2/actions/targets/nobody", &admin).await;
    assert_error(&r, 404, 5, Some("QUERY-hj5oaniyrz"));

    // Executions: ZITADEL's checks of the condition, then of the targets.
    let r = set_execution(&app, json!({"event": "user.nonsense"}), &[&id]).await;
    assert_error(&r, 404, 5, Some("COMMAND-74aaqj8fv9"));
    let r = set_execution(&app, json!({"group": "org"}), &[&id]).await;
    assert_error(&r, 404, 5, Some("COMMAND-er5oneb5lz"));
    let r = set_execution(&app, json!({}), &[&id]).await;
    assert_error(&r, 400, 3, Some("COMMAND-w5smb6v7qu"));
    let r = set_execution(&app, json!({"all": true}), &["missing"]).await;
    assert_error(&r, 404, 5, Some("COMMAND-17e8fq1ggk"));
    let r = app
        .send(
            reqwest::Method::PUT,
            "/v2/actions/executions",
            Some(&admin),
            Some(&json!({"condition": {"request": {"all": true}}, "targets": [id]})),
        )
        .await;
    assert_error(&r, 400, 3, Some("USERD-ACTION-0002"));
    assert_eq!(
        set_execution(&app, json!({"all": true}), &[&id])
            .await
            .status,
        200
    );

    // Only instance-wide rights: an organization's owner may not.
    let owner = org_token("ORG_OWNER", "org-a");
    let r = app.post("/v2/actions/targets", &owner, Some(&ok)).await;
    assert_error(&r, 403, 7, Some("AUTH-AWfge"));
    let r = app.get(&format!("/v2/actions/targets/{id}"), &owner).await;
    assert_error(&r, 403, 7, Some("AUTH-AWfge"));

    // Deleting a target drops it from executions; deleting it again still answers.
    let r = app
        .send(
            reqwest::Method::DELETE,
            &format!("/v2/actions/targets/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["deletionDate"].is_string());
    let r = app
        .send(
            reqwest::Method::DELETE,
            &format!("/v2/actions/targets/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .post("/v2/actions/executions/search", &admin, Some(&json!({})))
        .await;
    // Protojson leaves the empty list out.
    assert!(
        r.body["executions"][0].get("targets").is_none(),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn an_instance_holds_at_most_max_targets() {
    let app = spawn_app_with(&[("USERD_WEBHOOKS__MAX_TARGETS", "2")]).await;
    let receiver = Receiver::start().await;
    target(&app, "one", &receiver.url, "1s").await;
    target(&app, "two", &receiver.url, "1s").await;
    let r = app
        .post(
            "/v2/actions/targets",
            &admin_token(),
            Some(&json!({"name": "three", "endpoint": receiver.url, "timeout": "1s"})),
        )
        .await;
    assert_error(&r, 429, 8, Some("USERD-ACTION-0004"));
}

/// The metric `name`'s value in `/debug/metrics` (0 if absent).
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(format!("{}/debug/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn failures_back_off_then_park_and_a_manual_retry_delivers() {
    let app = spawn_app_with(&[
        ("USERD_WEBHOOKS__MAX_ATTEMPTS", "3"),
        ("USERD_WEBHOOKS__BACKOFF_INITIAL_MS", "200"),
        ("USERD_WEBHOOKS__BACKOFF_MAX_MS", "400"),
    ])
    .await;
    let admin = admin_token();
    let receiver = Receiver::start().await;
    let (id, _) = target(&app, "flaky", &receiver.url, "1s").await;
    assert_eq!(
        set_execution(&app, json!({"event": "user.deactivated"}), &[&id])
            .await
            .status,
        200
    );
    app.create_user("f1", "org-f").await;

    // 500, then a hang past the timeout, then 500 again: three attempts, then parked.
    receiver.answer.store(ANSWER_500, Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(app.change("f1", "deactivate", &admin).await.status, 200);
    while receiver.all().is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    receiver.answer.store(ANSWER_HANG, Ordering::SeqCst);
    while receiver.all().len() < 2 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    receiver.answer.store(ANSWER_500, Ordering::SeqCst);
    let list = |parked: bool| {
        let app = &app;
        let admin = admin.clone();
        let id = id.clone();
        async move {
            app.post(
                "/userd/v1/deliveries/_search",
                &admin,
                Some(&json!({"targetId": id, "parked": parked})),
            )
            .await
        }
    };
    let mut parked = Value::Null;
    while started.elapsed() < Duration::from_secs(20) {
        let r = list(true).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        if r.body["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            parked = r.body["deliveries"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts = receiver.all();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts.iter().all(|a| !a.taken));
    // Backoff: the attempts are spaced by the waits (200 ms, then 400 ms after the timeout).
    assert!(started.elapsed() >= Duration::from_millis(600 + 1000));
    assert_eq!(parked["parked"], true, "{parked:?}");
    assert_eq!(parked["attempts"], 3);
    assert_eq!(parked["aggregateId"], "f1");
    assert_eq!(parked["eventType"], "user.deactivated");
    assert!(
        parked["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{parked:?}"
    );
    assert_eq!(
        metric(&app, "userd_webhook_deliveries_parked_total").await,
        1.0
    );
    assert!(metric(&app, "userd_webhook_delivery_failures_total").await >= 3.0);
    let r = list(false).await;
    assert_eq!(r.body["deliveries"].as_array().map_or(0, Vec::len), 0);
    // Every target's parked deliveries (a scan across targets, on the scan pool).
    let r = app
        .post(
            "/userd/v1/deliveries/_search",
            &admin,
            Some(&json!({"parked": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deliveries"][0]["position"], parked["position"]);

    // Parked deliveries do not hold the queue: the next event goes out.
    receiver.answer.store(ANSWER_OK, Ordering::SeqCst);
    assert_eq!(app.change("f1", "reactivate", &admin).await.status, 200);
    assert_eq!(app.change("f1", "deactivate", &admin).await.status, 200);
    let taken = receiver.wait_taken(1, Duration::from_secs(10)).await;
    assert_eq!(body_of(&taken[0])["sequence"], 4);

    // A manual retry sends the parked one; it leaves the outbox.
    let position = parked["position"].as_str().unwrap();
    let r = app
        .post(
            &format!("/userd/v1/deliveries/{id}/{position}/_retry"),
            &admin,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let taken = receiver.wait_taken(2, Duration::from_secs(10)).await;
    assert_eq!(body_of(&taken[1])["sequence"], 2);
    let r = list(true).await;
    assert_eq!(r.body["deliveries"].as_array().map_or(0, Vec::len), 0);
    let r = app
        .post(
            &format!("/userd/v1/deliveries/{id}/{position}/_retry"),
            &admin,
            Some(&json!({})),
        )
        .await;
    assert_error(&r, 404, 5, Some("USERD-ACTION-0003"));
    assert!(metric(&app, "userd_webhook_deliveries_sent_total").await >= 2.0);
}

#[tokio::test]
async fn kill_9_in_a_burst_loses_no_acknowledged_change_to_the_receiver() {
    let mut app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (id, _) = target(&app, "crash", &receiver.url, "5s").await;
    assert_eq!(
        set_execution(&app, json!({"all": true}), &[&id])
            .await
            .status,
        200
    );
    let users: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    for u in &users {
        app.create_user(u, "org-k").await;
    }
    // A burst of toggles on every user; kill -9 in the middle of it.
    let acknowledged: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for u in users.clone() {
        let (address, acked) = (app.address.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let token = admin_token();
            for i in 0..100_000 {
                let action = if i % 2 == 0 {
                    "deactivate"
                } else {
                    "reactivate"
                };
                let r = client
                    .post(format!("{address}/v2/users/{u}/{action}"))
                    .bearer_auth(&token)
                    .json(&json!({}))
                    .send()
                    .await;
                let Ok(r) = r else { return };
                if r.status() != 200 {
                    return;
                }
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let seq = body["details"]["sequence"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                acked.lock().unwrap().push((u.clone(), seq));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    app.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "the burst ran before the kill: {}",
        acked.len()
    );
    app.start_again();

    // Every acknowledged change arrives at least once; nothing past a user's durable sequence.
    let mut highest: HashMap<String, u64> = HashMap::new();
    for (u, s) in &acked {
        let h = highest.entry(u.clone()).or_default();
        *h = (*h).max(*s);
    }
    let started = Instant::now();
    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    loop {
        seen.clear();
        for r in receiver.taken() {
            let b = body_of(&r);
            *seen
                .entry((
                    b["aggregateID"].as_str().unwrap().to_string(),
                    b["sequence"].as_u64().unwrap(),
                ))
                .or_default() += 1;
        }
        let missing = acked
            .iter()
            .filter(|(u, s)| !seen.contains_key(&(u.clone(), *s)))
            .count();
        if missing == 0 || started.elapsed() > Duration::from_secs(60) {
            assert_eq!(missing, 0, "acknowledged changes never delivered");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for u in &users {
        let (_, durable) = app.state_of(u).await.unwrap();
        assert!(durable >= highest.get(u).copied().unwrap_or(0));
        // Nothing delivered that is not durable (a creation is sequence 1).
        assert!(
            seen.keys()
                .filter(|(x, _)| x == u)
                .all(|(_, s)| *s <= durable),
            "{u}"
        );
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "crash test: {} changes acknowledged, {} events delivered ({} distinct), {duplicates} duplicates, 0 lost",
        acked.len(),
        seen.values().sum::<usize>(),
        seen.len()
    );
}
