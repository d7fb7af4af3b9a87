//! One port, every protocol: each accepted connection is HTTP/1.1 (served by actix-http) or
//! HTTP/2 with prior knowledge (served here with the `h2` crate), and both reach the same app.
//!
//! Why HTTP/2 is ours: native gRPC sends its status in HTTP/2 trailers, and actix-http's HTTP/2
//! dispatcher never sends trailers (it only sends data frames). Here every HTTP/2 stream becomes
//! an actix `Request` for the same actix-web app (so routing, logging, metrics and errors are
//! shared), and a gRPC answer's `grpc-status`/`grpc-message` headers leave as trailers after its
//! message. No protocol logic lives here: gRPC is a codec in `rpc.rs` like Connect and gRPC-Web.
//!
//! Every HTTP/2 connection is bounded ([`Limits`]): streams at once, header list size (which
//! also caps what an HPACK table can expand to), receive windows, time to send a request body,
//! time for a whole stream, time a client may keep a response waiting on flow control, and time
//! a connection may sit without streams. Past a bound a stream is reset or the connection is
//! closed; nothing waits without limit.

use actix_http::body::BoxBody;
use actix_http::{Payload, Request};
use actix_server::GracefulShutdownSignal;
use actix_service::Service;
use actix_web::dev::ServiceResponse;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::TcpStream;

/// The first bytes of the HTTP/2 connection preface (RFC 9113 §3.4); no HTTP/1 method starts so.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2";

/// How long a new HTTP/2 connection may take to send its preface and settings.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The bounds of one HTTP/2 connection.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Streams open at once (ZITADEL's gRPC servers allow 100).
    pub max_concurrent_streams: u32,
    /// Decoded request headers per stream, in bytes.
    pub max_header_list_size: u32,
    /// Receive window per stream and per connection, in bytes.
    pub stream_window: u32,
    pub connection_window: u32,
    /// A request body must arrive within this.
    pub body_timeout: Duration,
    /// A stream must be answered and sent within this.
    pub stream_timeout: Duration,
    /// A client that opens no flow-control window for this long has its stream reset.
    pub send_timeout: Duration,
    /// A connection without streams is closed after this.
    pub idle_timeout: Duration,
    /// A PING is sent this long after the last one was answered; a peer that does not answer
    /// within `keepalive_timeout` is gone, and its connection is closed.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_streams: 100,
            max_header_list_size: 32 << 10,
            stream_window: 256 << 10,
            connection_window: 1 << 20,
            body_timeout: Duration::from_secs(10),
            stream_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// Whether the client opened `io` with the HTTP/2 preface. Peeks, so nothing is consumed. A
/// client that sends nothing within the handshake timeout gets the connection closed, as
/// actix-http would close it for a missing request.
pub async fn is_http2(io: &TcpStream) -> std::io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let n = tokio::time::timeout(HANDSHAKE_TIMEOUT, io.peek(&mut buf))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(buf[..n] == *H2_PREFACE)
}

/// Serve one HTTP/2 connection within `limits`: every stream is handed to `app` on this
/// worker's thread.
pub async fn serve_http2<S>(
    io: TcpStream,
    app: Rc<S>,
    limits: Limits,
    mut shutdown: Option<GracefulShutdownSignal>,
) where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error> + 'static,
{
    let peer = io.peer_addr().ok();
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_size)
        .initial_window_size(limits.stream_window)
        .initial_connection_window_size(limits.connection_window)
        .max_send_buffer_size(64 << 10)
        .max_concurrent_reset_streams(64)
        .max_pending_accept_reset_streams(32)
        .max_local_error_reset_streams(Some(256))
        .handshake(io);
    let mut connection = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            log::debug!("HTTP/2 handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let open = Rc::new(std::cell::Cell::new(0usize));
    let mut idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
    let mut keepalive = Keepalive::new(connection.ping_pong(), limits);
    loop {
        let stopping = async {
            match shutdown.as_mut() {
                Some(signal) => signal.notified().await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            next = connection.accept() => next,
            () = stopping => {
                // Stopping: refuse new streams, finish the open ones, then close.
                connection.graceful_shutdown();
                shutdown = None;
                continue;
            }
            () = tokio::time::sleep_until(idle_deadline) => {
                // A whole idle period without a new stream, and none open: close.
                if open.get() == 0 {
                    connection.graceful_shutdown();
                }
                idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
                continue;
            }
            alive = keepalive.step() => {
                if !alive {
                    log::debug!("HTTP/2 peer did not answer a keepalive PING; closing");
                    break;
                }
                continue;
            }
        };
        match next {
            Some(Ok((request, respond))) => {
                idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
                open.set(open.get() + 1);
                let open = open.clone();
                let app = app.clone();
                actix_rt::spawn(async move {
                    // Past the stream's deadline its future is dropped, which resets it.
                    let _ = tokio::time::timeout(
                        limits.stream_timeout,
                        answer_stream(request, respond, peer, app, limits),
                    )
                    .await;
                    open.set(open.get().saturating_sub(1));
                });
            }
            Some(Err(e)) => {
                log::debug!("HTTP/2 connection error: {e}");
                break;
            }
            None => break,
        }
    }
}

/// Keepalive PINGs of one connection: one outstanding at a time.
struct Keepalive {
    ping_pong: Option<h2::PingPong>,
    /// When the outstanding PING must be answered by (None: none outstanding).
    answer_by: Option<tokio::time::Instant>,
    next_ping: tokio::time::Instant,
    limits: Limits,
}

impl Keepalive {
    fn new(ping_pong: Option<h2::PingPong>, limits: Limits) -> Keepalive {
        Keepalive {
            ping_pong,
            answer_by: None,
            next_ping: tokio::time::Instant::now() + limits.keepalive_interval,
            limits,
        }
    }

    /// Wait for the next keepalive event: a PING sent or answered (true), or the peer gone
    /// silent (false). Cancel-safe: the state lives in `self`, so the connection loop may
    /// drop this future whenever another branch wins.
    async fn step(&mut self) -> bool {
        let Some(ping_pong) = self.ping_pong.as_mut() else {
            return std::future::pending().await;
        };
        match self.answer_by {
            None => {
                tokio::time::sleep_until(self.next_ping).await;
                if ping_pong.send_ping(h2::Ping::opaque()).is_err() {
                    return false;
                }
                self.answer_by = Some(tokio::time::Instant::now() + self.limits.keepalive_timeout);
                true
            }
            Some(deadline) => {
                let pong = std::future::poll_fn(|cx| ping_pong.poll_pong(cx));
                match tokio::time::timeout_at(deadline, pong).await {
                    Ok(Ok(_)) => {
                        self.answer_by = None;
                        self.next_ping =
                            tokio::time::Instant::now() + self.limits.keepalive_interval;
                        true
                    }
                    _ => false,
                }
            }
        }
    }
}

/// One HTTP/2 stream through the app and back.
async fn answer_stream<S>(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: Option<SocketAddr>,
    app: Rc<S>,
    limits: Limits,
) where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    let (parts, body) = request.into_parts();
    let Some(request) = to_actix_request(&parts, body, peer, limits.body_timeout) else {
        let mut head = http::Response::new(());
        *head.status_mut() = http::StatusCode::BAD_REQUEST;
        let _ = respond.send_response(head, true);
        return;
    };
    let response = match app.call(request).await {
        Ok(res) => res.into_parts().1,
        Err(e) => e.error_response(),
    };
    let (head, trailers, body) = from_actix_response(response).await;
    if body.is_empty() && trailers.is_none() {
        let _ = respond.send_response(head, true);
        return;
    }
    let Ok(mut stream) = respond.send_response(head, false) else {
        return;
    };
    let last = trailers.is_none();
    if send_data(&mut stream, body, last, limits.send_timeout)
        .await
        .is_ok()
    {
        if let Some(trailers) = trailers {
            let _ = stream.send_trailers(trailers);
        }
    }
}

/// Send `body` as the client's flow-control window allows, never buffering more than it
/// granted; a client that grants nothing for `timeout` has the stream reset.
async fn send_data(
    stream: &mut h2::SendStream<Bytes>,
    mut body: Bytes,
    end: bool,
    timeout: Duration,
) -> Result<(), ()> {
    if body.is_empty() {
        return match end {
            true => stream.send_data(body, true).map_err(|_| ()),
            false => Ok(()),
        };
    }
    while !body.is_empty() {
        stream.reserve_capacity(body.len());
        let granted =
            tokio::time::timeout(timeout, std::future::poll_fn(|cx| stream.poll_capacity(cx)))
                .await;
        let granted = match granted {
            Ok(Some(Ok(n))) => n,
            Ok(_) => return Err(()),
            Err(_) => {
                stream.send_reset(h2::Reason::CANCEL);
                return Err(());
            }
        };
        if granted == 0 {
            continue;
        }
        let chunk = body.split_to(granted.min(body.len()));
        stream
            .send_data(chunk, end && body.is_empty())
            .map_err(|_| ())?;
    }
    Ok(())
}

/// The actix request for an HTTP/2 stream. The body streams through as the handler reads it
/// (handlers enforce `server.max_body_bytes`, as on HTTP/1.1).
fn to_actix_request(
    parts: &http::request::Parts,
    body: RecvStream,
    peer: Option<SocketAddr>,
    body_timeout: Duration,
) -> Option<Request> {
    use actix_http::header::{HeaderName, HeaderValue};
    let deadline = tokio::time::Instant::now() + body_timeout;
    let stream = futures_util::stream::unfold(body, move |mut body| async move {
        let chunk = match tokio::time::timeout_at(deadline, body.data()).await {
            Ok(chunk) => chunk?,
            Err(_) => {
                let late = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                );
                return Some((Err(actix_http::error::PayloadError::Io(late)), body));
            }
        };
        let item = match chunk {
            Ok(chunk) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                Ok(chunk)
            }
            Err(e) => Err(actix_http::error::PayloadError::Io(std::io::Error::other(
                e,
            ))),
        };
        Some((item, body))
    });
    let stream: actix_http::BoxedPayloadStream = Box::pin(stream);
    let mut request = Request::with_payload(Payload::from(stream));
    let head = request.head_mut();
    head.method = actix_http::Method::from_bytes(parts.method.as_str().as_bytes()).ok()?;
    head.uri = actix_http::Uri::try_from(parts.uri.to_string()).ok()?;
    head.version = actix_http::Version::HTTP_2;
    head.peer_addr = peer;
    for (name, value) in &parts.headers {
        head.headers.append(
            HeaderName::from_bytes(name.as_str().as_bytes()).ok()?,
            HeaderValue::from_bytes(value.as_bytes()).ok()?,
        );
    }
    Some(request)
}

/// Headers that belong to an HTTP/1 connection and are forbidden in HTTP/2 (RFC 9113 §8.2.2).
fn connection_specific(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
    )
}

/// Whether a response is native gRPC (not gRPC-Web, whose trailers travel in the body).
fn is_grpc(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.starts_with("application/grpc") && !ct.starts_with("application/grpc-web")
    })
}

/// The HTTP/2 head, trailers (gRPC answers with a message) and body of an app response.
async fn from_actix_response(
    response: actix_web::HttpResponse<BoxBody>,
) -> (http::Response<()>, Option<http::HeaderMap>, Bytes) {
    let status = response.status().as_u16();
    let mut headers = http::HeaderMap::new();
    for (name, value) in response.headers() {
        if connection_specific(name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    // A body that is one buffer is shared, not copied: many streams waiting on flow control
    // for the same document then hold one copy of it.
    let body = match actix_web::body::MessageBody::try_into_bytes(response.into_body()) {
        Ok(body) => body,
        Err(body) => match actix_web::body::to_bytes(body).await {
            Ok(body) => body,
            Err(e) => {
                log::error!("response body failed: {e}");
                Bytes::new()
            }
        },
    };
    let grpc = is_grpc(headers.get("content-type").and_then(|v| v.to_str().ok()));
    // A gRPC answer with a message sends its status after it, as trailers; without one the
    // status stays in the headers ("Trailers-Only").
    let trailers = if grpc && !body.is_empty() {
        let mut trailers = http::HeaderMap::new();
        for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
            if let Some(value) = headers.remove(name) {
                trailers.insert(name, value);
            }
        }
        Some(trailers)
    } else {
        if !grpc {
            if let Ok(len) = http::HeaderValue::try_from(body.len().to_string()) {
                headers.insert(http::header::CONTENT_LENGTH, len);
            }
        }
        None
    };
    let mut head = http::Response::new(());
    *head.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    *head.headers_mut() = headers;
    (head, trailers, body)
}
