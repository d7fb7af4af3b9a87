//! The benchmark's HTTP/2 load generator: durable deactivate/reactivate toggles over gRPC or
//! Connect (JSON or binary) on HTTP/2 (h2c), the protocols ZITADEL's SDKs speak, with the same
//! discipline as `bench/toggle.lua`: each stream owns a disjoint slice of the users
//! `bench-0 .. bench-(USERS-1)` and walks it round-robin, flipping each user's state, so every
//! answer must be a success.
//!
//! `protoload URL PROTOCOL USERS SECONDS CONNECTIONS STREAMS TOKEN` with PROTOCOL `grpc`,
//! `connect-json` or `connect-proto`; prints one JSON line: requests, failures, req/s and
//! latency percentiles in milliseconds.

use bytes::Bytes;
use prost::Message as _;
use std::time::{Duration, Instant};
use userd::pb::zitadel::user::v2::{DeactivateUserRequest, ReactivateUserRequest};

#[derive(Clone, Copy)]
enum Protocol {
    Grpc,
    ConnectJson,
    ConnectProto,
}

struct Args {
    authority: String,
    protocol: Protocol,
    users: usize,
    seconds: u64,
    connections: usize,
    streams: usize,
    token: String,
}

fn args() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [url, protocol, users, seconds, connections, streams, token] = a.as_slice() else {
        return Err("usage: protoload URL PROTOCOL USERS SECONDS CONNECTIONS STREAMS TOKEN".into());
    };
    let number = |s: &str| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
    Ok(Args {
        authority: url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        protocol: match protocol.as_str() {
            "grpc" => Protocol::Grpc,
            "connect-json" => Protocol::ConnectJson,
            "connect-proto" => Protocol::ConnectProto,
            other => return Err(format!("unknown protocol {other}")),
        },
        users: number(users)?,
        seconds: number(seconds)? as u64,
        connections: number(connections)?.max(1),
        streams: number(streams)?.max(1),
        token: token.clone(),
    })
}

/// One request's path, content type and body.
fn request(
    protocol: Protocol,
    user: &str,
    deactivate: bool,
) -> (&'static str, &'static str, Bytes) {
    let path = if deactivate {
        "/zitadel.user.v2.UserService/DeactivateUser"
    } else {
        "/zitadel.user.v2.UserService/ReactivateUser"
    };
    let message = if deactivate {
        DeactivateUserRequest {
            user_id: user.into(),
        }
        .encode_to_vec()
    } else {
        ReactivateUserRequest {
            user_id: user.into(),
        }
        .encode_to_vec()
    };
    match protocol {
        Protocol::Grpc => {
            let mut framed = Vec::with_capacity(message.len() + 5);
            framed.push(0);
            framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
            framed.extend_from_slice(&message);
            (path, "application/grpc", Bytes::from(framed))
        }
        Protocol::ConnectJson => (
            path,
            "application/json",
            Bytes::from(format!("{{\"userId\":\"{user}\"}}")),
        ),
        Protocol::ConnectProto => (path, "application/proto", Bytes::from(message)),
    }
}

/// Send one request and read its answer: whether it succeeded.
async fn call(
    sender: &mut h2::client::SendRequest<Bytes>,
    args: &Args,
    user: &str,
    deactivate: bool,
) -> Result<bool, h2::Error> {
    let (path, content_type, body) = request(args.protocol, user, deactivate);
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(format!("http://{}{path}", args.authority))
        .header("content-type", content_type)
        .header("authorization", format!("Bearer {}", args.token));
    if matches!(args.protocol, Protocol::Grpc) {
        builder = builder.header("te", "trailers");
    }
    let Ok(request) = builder.body(()) else {
        return Ok(false);
    };
    *sender = sender.clone().ready().await?;
    let (response, mut stream) = sender.send_request(request, false)?;
    stream.send_data(body, true)?;
    let response = response.await?;
    let status_ok = response.status() == http::StatusCode::OK;
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let ok = match args.protocol {
        Protocol::Grpc => {
            let trailers = body.trailers().await?;
            status_ok
                && trailers
                    .as_ref()
                    .and_then(|t| t.get("grpc-status"))
                    .is_some_and(|s| s.as_bytes() == b"0")
        }
        Protocol::ConnectJson | Protocol::ConnectProto => status_ok,
    };
    Ok(ok)
}

/// What one stream did: latencies of successes (µs), and failures.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    failures: u64,
}

async fn stream_worker(
    mut sender: h2::client::SendRequest<Bytes>,
    args: std::sync::Arc<Args>,
    first: usize,
    count: usize,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut active = vec![true; count];
    let mut next = 0;
    while Instant::now() < until && count > 0 {
        let user = format!("bench-{}", first + next);
        let deactivate = active.get(next).copied().unwrap_or(true);
        let started = Instant::now();
        match call(&mut sender, &args, &user, deactivate).await {
            Ok(true) => {
                tally
                    .latencies_us
                    .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                if let Some(a) = active.get_mut(next) {
                    *a = !deactivate;
                }
            }
            Ok(false) => tally.failures += 1,
            Err(_) => {
                tally.failures += 1;
                break;
            }
        }
        next = (next + 1) % count;
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted.get(i).copied().unwrap_or(0)) / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = std::sync::Arc::new(args()?);
    let workers = args.connections * args.streams;
    let per = args.users / workers;
    if per == 0 {
        return Err("fewer users than streams".into());
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let tcp = tokio::net::TcpStream::connect(&args.authority).await?;
        tcp.set_nodelay(true)?;
        let (sender, connection) = h2::client::handshake(tcp).await?;
        tokio::spawn(connection);
        for s in 0..args.streams {
            let first = (c * args.streams + s) * per;
            tasks.push(tokio::spawn(stream_worker(
                sender.clone(),
                args.clone(),
                first,
                per,
                until,
            )));
        }
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let tally = task.await?;
        latencies.extend(tally.latencies_us);
        failures += tally.failures;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let requests = latencies.len() as u64 + failures;
    println!(
        "{}",
        serde_json::json!({
            "requests": requests,
            "failures": failures,
            "rps": latencies.len() as f64 / elapsed,
            "p50": percentile(&latencies, 0.50),
            "p99": percentile(&latencies, 0.99),
            "p999": percentile(&latencies, 0.999),
        })
    );
    Ok(())
}
