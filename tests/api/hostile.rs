//! Holding under hostile load, through the real binary: HTTP/2 stream floods, HPACK bombs,
//! stalled flow control, bursts past the in-flight bound, slow bodies, a connection cap and
//! a burst of password hashes. Each asserts bounded memory (the server's peak RSS) and that
//! the server still answers.

use crate::helpers::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: u64 = 1024;

/// A raw HTTP/2 client: writes frames as told, acknowledges the server's SETTINGS and PINGs,
/// and counts what the server sent.
struct RawH2 {
    write: Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
    resets: Arc<AtomicUsize>,
    goaways: Arc<AtomicUsize>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `prefix_bits` prefix in a first byte carrying `first`'s flags.
fn hpack_int(first: u8, prefix_bits: u32, mut value: usize) -> Vec<u8> {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        return vec![first | value as u8];
    }
    let mut out = vec![first | max as u8];
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
    out
}

fn hpack_str(s: &[u8]) -> Vec<u8> {
    let mut out = hpack_int(0, 7, s.len());
    out.extend_from_slice(s);
    out
}

/// A header block for `method path` (static-table pseudo-headers, literal path and authority).
fn request_block(post: bool, path: &str) -> Vec<u8> {
    let mut block = vec![if post { 0x83 } else { 0x82 }, 0x86];
    block.extend(hpack_int(0, 4, 4));
    block.extend(hpack_str(path.as_bytes()));
    block.extend(hpack_int(0, 4, 1));
    block.extend(hpack_str(b"127.0.0.1"));
    block
}

impl RawH2 {
    async fn connect(app: &TestApp) -> RawH2 {
        let tcp = TcpStream::connect(app.socket_address()).await.unwrap();
        let (mut read, write) = tcp.into_split();
        let client = RawH2 {
            write: Arc::new(tokio::sync::Mutex::new(write)),
            resets: Arc::default(),
            goaways: Arc::default(),
            closed: Arc::default(),
        };
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        client.send(&hello).await;
        let (write, resets, goaways, closed) = (
            client.write.clone(),
            client.resets.clone(),
            client.goaways.clone(),
            client.closed.clone(),
        );
        tokio::spawn(async move {
            let mut head = [0u8; 9];
            loop {
                if read.read_exact(&mut head).await.is_err() {
                    break;
                }
                let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                let mut payload = vec![0; len];
                if read.read_exact(&mut payload).await.is_err() {
                    break;
                }
                let (kind, flags) = (head[3], head[4]);
                let answer = match kind {
                    3 => {
                        resets.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    7 => {
                        goaways.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    SETTINGS if flags & 1 == 0 => Some(frame(SETTINGS, 1, 0, &[])),
                    PING if flags & 1 == 0 => Some(frame(PING, 1, 0, &payload)),
                    _ => None,
                };
                if let Some(answer) = answer {
                    let _ = write.lock().await.write_all(&answer).await;
                }
            }
            closed.store(true, Ordering::Relaxed);
        });
        client
    }

    /// Write `bytes`; false once the server closed the connection.
    async fn send(&self, bytes: &[u8]) -> bool {
        self.write.lock().await.write_all(bytes).await.is_ok()
    }
}

/// The server's peak RSS growth over `baseline_kib`, in MiB.
fn growth_mib(app: &TestApp, baseline_kib: u64) -> u64 {
    app.memory_kib("VmHWM").saturating_sub(baseline_kib) / MIB
}

/// A new client is answered promptly.
async fn still_answers(app: &TestApp) {
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        app.get("/v3alpha/users/nobody", &admin_token()),
    )
    .await
    .expect("a probe is answered within 10 s");
    assert_eq!(reply.status, 404, "{:?}", reply.body);
    println!("probe answered in {:?}", started.elapsed());
}

/// An HTTP/2 client connection (prior knowledge) with `builder`'s settings, after one request
/// has been answered: by then the client knows the server's stream limit, so it queues streams
/// past it instead of having them refused.
async fn h2_client(
    app: &TestApp,
    builder: h2::client::Builder,
) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = TcpStream::connect(app.socket_address()).await.unwrap();
    let (client, connection) = builder.handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let (response, _) = client
        .send_request(h2_request("GET", "/debug/ready", None), true)
        .unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    client
}

/// A response's status, `Retry-After` and body, read to its end (a client that drops a body
/// early resets its stream, and the answer's remaining frames count against it).
async fn h2_answer(
    response: h2::client::ResponseFuture,
) -> Result<(u16, Option<String>, Vec<u8>), h2::Error> {
    let response = response.await?;
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, retry, bytes))
}

fn h2_request(method: &str, path: &str, token: Option<&str>) -> http::Request<()> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_streams_that_never_send_a_body_is_refused_in_bounded_memory() {
    let app = spawn_app().await;
    let baseline = app.memory_kib("VmRSS");
    // 4 connections, 25,000 streams each, all heads and no bodies (the server allows 100 open).
    let mut floods = Vec::new();
    for _ in 0..4 {
        let client = RawH2::connect(&app).await;
        floods.push(tokio::spawn(async move {
            let mut stream = 1u32;
            for _ in 0..25 {
                let mut batch = Vec::new();
                for _ in 0..1000 {
                    let block = request_block(true, "/v2/users/human");
                    batch.extend(frame(HEADERS, END_HEADERS, stream, &block));
                    stream += 2;
                }
                if !client.send(&batch).await {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            client
        }));
    }
    let mut refused = 0;
    for flood in floods {
        let client = flood.await.unwrap();
        let (resets, goaways) = (
            client.resets.load(Ordering::Relaxed),
            client.goaways.load(Ordering::Relaxed),
        );
        refused += resets + goaways;
    }
    assert!(
        refused > 0,
        "streams past the limit were neither reset nor refused"
    );
    let grown = growth_mib(&app, baseline);
    println!("stream flood: peak RSS grew {grown} MiB, {refused} resets/GOAWAYs");
    assert!(grown < 100, "peak RSS grew {grown} MiB");
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpack_bomb_is_cut_at_the_header_list_limit() {
    let app = spawn_app().await;
    let baseline = app.memory_kib("VmRSS");
    let mut bombs = Vec::new();
    for _ in 0..4 {
        let client = RawH2::connect(&app).await;
        bombs.push(tokio::spawn(async move {
            // One 4 KB header stored in the dynamic table (literal with incremental
            // indexing), then referenced 4,000 times per stream: 16 MB per 4 KB sent.
            let mut stored = vec![0x40];
            stored.extend(hpack_str(b"x-bomb"));
            stored.extend(hpack_str(&[b'a'; 4000]));
            for i in 0..250u32 {
                let mut block = request_block(false, "/debug/ready");
                if i == 0 {
                    block.extend(&stored);
                }
                block.extend(std::iter::repeat_n(0xBE, 4000));
                if !client
                    .send(&frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, &block))
                    .await
                {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }));
    }
    for bomb in bombs {
        bomb.await.unwrap();
    }
    let grown = growth_mib(&app, baseline);
    println!("HPACK bomb: peak RSS grew {grown} MiB");
    assert!(grown < 100, "peak RSS grew {grown} MiB");
    still_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_whose_client_opens_no_window_are_reset_in_bounded_memory() {
    let app = spawn_app().await;
    let baseline = app.memory_kib("VmRSS");
    // 100 connections × 100 streams of GET /openapi.json (40 KB each) with a zero window.
    let mut bodies = Vec::new();
    for _ in 0..100 {
        let mut builder = h2::client::Builder::new();
        builder.initial_window_size(0);
        let mut client = h2_client(&app, builder).await;
        for _ in 0..100 {
            client = client.ready().await.unwrap();
            let (response, _) = client
                .send_request(h2_request("GET", "/openapi.json", None), true)
                .unwrap();
            bodies.push(response);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = growth_mib(&app, baseline);
    println!("zero window: peak RSS grew {grown} MiB with 10,000 stalled streams");
    assert!(grown < 100, "peak RSS grew {grown} MiB");
    still_answers(&app).await;
    // A stalled answer is given up: its stream is reset (after the 10 s send timeout).
    let first = bodies.swap_remove(0);
    let mut body = tokio::time::timeout(Duration::from_secs(20), first)
        .await
        .expect("headers")
        .expect("response")
        .into_body();
    let end = tokio::time::timeout(Duration::from_secs(20), body.data())
        .await
        .expect("the stalled stream ends within 20 s");
    match end {
        Some(Err(e)) => assert_eq!(e.reason(), Some(h2::Reason::CANCEL), "{e}"),
        other => panic!("expected a reset, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_in_flight_bound_is_shed_with_retry_after_and_changes_nothing() {
    let app = spawn_app_with(&[("USERD_SERVER__MAX_IN_FLIGHT", "8")]).await;
    let baseline = app.memory_kib("VmRSS");
    let token = admin_token();
    let mut calls = Vec::new();
    for c in 0..10 {
        let mut client = h2_client(&app, h2::client::Builder::new()).await;
        for i in 0..200 {
            let id = format!("burst-{c}-{i}");
            let body = json!({"userId": id, "organization": {"orgId": "org-a"},
                              "schemaId": "person", "data": {"n": i}});
            client = client.ready().await.unwrap();
            let (response, mut send) = client
                .send_request(h2_request("POST", "/v3alpha/users", Some(&token)), false)
                .unwrap();
            // A shed request may be answered (and its stream closed) before its body is sent:
            // the answer still comes, so a refused send is no failure.
            let _ = send.send_data(serde_json::to_vec(&body).unwrap().into(), true);
            calls.push(tokio::spawn(async move {
                let (status, retry, bytes) = h2_answer(response).await.unwrap();
                let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                (id, status, retry, json)
            }));
        }
    }
    let (mut created, mut shed) = (Vec::new(), Vec::new());
    for call in calls {
        let (id, status, retry, body) = call.await.unwrap();
        match status {
            201 => created.push(id),
            429 => {
                assert_eq!(retry.as_deref(), Some("1"));
                assert_eq!(body["code"], json!(8), "{body}");
                assert_eq!(body["details"][0]["id"], json!("USERD-LOAD-0001"));
                shed.push(id);
            }
            other => panic!("{id}: {other} {body}"),
        }
    }
    println!("burst: {} created, {} shed", created.len(), shed.len());
    assert!(!shed.is_empty(), "nothing was shed at 8 in flight");
    assert!(!created.is_empty(), "nothing was admitted");
    let grown = growth_mib(&app, baseline);
    assert!(grown < 100, "peak RSS grew {grown} MiB");
    // Every acknowledged create is there; no shed one is.
    for id in created.iter().take(200) {
        assert!(app.state_of(id).await.is_some(), "{id} was acknowledged");
    }
    for id in shed.iter().take(200) {
        assert!(app.state_of(id).await.is_none(), "{id} was shed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_is_answered_in_bounded_memory() {
    let app = spawn_app().await;
    app.create_user("target", "org-a").await;
    let baseline = app.memory_kib("VmRSS");
    let token = admin_token();
    let (ok, shed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut connections = Vec::new();
    // 16 connections × 2,500 GETs sent at once (40,000 requests).
    for _ in 0..16 {
        let client = h2_client(&app, h2::client::Builder::new()).await;
        let (token, ok, shed) = (token.clone(), ok.clone(), shed.clone());
        connections.push(tokio::spawn(async move {
            let mut calls = Vec::new();
            for _ in 0..2500 {
                let mut client = client.clone();
                let (token, ok, shed) = (token.clone(), ok.clone(), shed.clone());
                calls.push(tokio::spawn(async move {
                    client = client.ready().await.unwrap();
                    let (response, _) = client
                        .send_request(
                            h2_request("GET", "/v3alpha/users/target", Some(&token)),
                            true,
                        )
                        .unwrap();
                    match h2_answer(response).await.unwrap().0 {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        429 => shed.fetch_add(1, Ordering::Relaxed),
                        other => panic!("status {other}"),
                    };
                }));
            }
            for call in calls {
                call.await.unwrap();
            }
        }));
    }
    for connection in connections {
        connection.await.unwrap();
    }
    let (ok, shed) = (ok.load(Ordering::Relaxed), shed.load(Ordering::Relaxed));
    let grown = growth_mib(&app, baseline);
    println!("burst of 40,000: {ok} answered, {shed} shed, peak RSS grew {grown} MiB");
    assert_eq!(ok + shed, 40_000);
    assert!(ok > 0);
    assert!(grown < 100, "peak RSS grew {grown} MiB");
    still_answers(&app).await;
}

/// Send an HTTP/1.1 head announcing a 100-byte body and one byte of it; the status line the
/// server answers with, and how long it took.
async fn slow_body(address: String) -> (String, Duration) {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(address).await.unwrap();
    tcp.write_all(
        b"POST /v2/users/human HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .map_or(0, |r| r.unwrap_or(0));
    let line = String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (line, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_are_answered_408_and_let_go() {
    let app = spawn_app_with(&[("USERD_SERVER__BODY_TIMEOUT_SECONDS", "1")]).await;
    // 300 HTTP/1.1 connections that trickle their bodies.
    let slow: Vec<_> = (0..300)
        .map(|_| tokio::spawn(slow_body(app.socket_address())))
        .collect();
    still_answers(&app).await;
    for call in slow {
        let (line, took) = call.await.unwrap();
        assert!(line.starts_with("HTTP/1.1 408"), "{line:?}");
        assert!(took < Duration::from_secs(8), "answered after {took:?}");
    }
    // The same over HTTP/2: a stream whose body never comes.
    let mut client = h2_client(&app, h2::client::Builder::new()).await;
    client = client.ready().await.unwrap();
    let (response, _send) = client
        .send_request(
            h2_request("POST", "/v2/users/human", Some(&admin_token())),
            false,
        )
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(8), response)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(response.status().as_u16(), 408);
    // The connections were let go.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.open_sockets() > 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        app.open_sockets() <= 40,
        "{} sockets open",
        app.open_sockets()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_outside_the_server() {
    let app = spawn_app_with(&[
        ("USERD_SERVER__MAX_CONNECTIONS", "64"),
        ("USERD_SERVER__WORKERS", "2"),
    ])
    .await;
    let before = app.open_sockets();
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(TcpStream::connect(app.socket_address()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = app.open_sockets();
    println!("400 idle connections: the server holds {held} sockets ({before} before)");
    // Each worker may hold one connection past its share while it pauses accepting. On
    // PostgreSQL the pool (4 connections in tests) may open more of its own meanwhile.
    let pool = if on_postgres() { 4 } else { 0 };
    assert!(held <= before + 64 + 2 + pool, "{held} sockets held");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_creates_with_passwords_hashes_in_bounded_memory() {
    let app = spawn_app().await;
    let baseline = app.memory_kib("VmRSS");
    let token = admin_token();
    let body = json!({
        "username": "same-name",
        "organization": {"orgId": "org-a"},
        "profile": {"givenName": "Same", "familyName": "Name"},
        "email": {"email": "same@example.com"},
        "password": {"password": "S3cret-p4ss!", "changeRequired": false},
    });
    let calls: Vec<_> = (0..450)
        .map(|_| {
            let client = reqwest::Client::new();
            let url = format!("{}/v2/users/human", app.address);
            let (token, body) = (token.clone(), body.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for call in calls {
        *statuses.entry(call.await.unwrap()).or_insert(0) += 1;
    }
    let grown = growth_mib(&app, baseline);
    println!("450 creates of one username: {statuses:?}, peak RSS grew {grown} MiB");
    assert_eq!(statuses.get(&200), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get(&409), Some(&449), "{statuses:?}");
    assert!(grown < 300, "peak RSS grew {grown} MiB");
    // A chosen id that is taken answers 409 before any hashing, too.
    let again = json!({"userId": "taken", "username": "other-name",
                       "organization": {"orgId": "org-a"},
                       "profile": {"givenName": "A", "familyName": "B"},
                       "email": {"email": "a@example.com"}});
    assert_eq!(
        app.post("/v2/users/human", &token, Some(&again))
            .await
            .status,
        200
    );
    let mut with_password = again.clone();
    with_password["username"] = json!("third-name");
    with_password["password"] = json!({"password": "S3cret-p4ss!"});
    let r = app
        .post("/v2/users/human", &token, Some(&with_password))
        .await;
    assert_error(&r, 409, 6, None);
}
