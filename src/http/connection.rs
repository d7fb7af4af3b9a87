//! One port, every protocol: each accepted connection is HTTP/1.1 (served by actix-http) or
//! HTTP/2 with prior knowledge (served here with the `h2` crate), and both reach the same app.
//!
//! Why HTTP/2 is ours: native gRPC sends its status in HTTP/2 trailers, and actix-http's HTTP/2
//! dispatcher never sends trailers (it only sends data frames). Here every HTTP/2 stream becomes
//! an actix `Request` for the same actix-web app (so routing, logging, metrics and errors are
//! shared), and a gRPC answer's `grpc-status`/`grpc-message` headers leave as trailers after its
//! message. No protocol logic lives here: gRPC is a codec in `rpc.rs` like Connect and gRPC-Web.

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

/// Serve one HTTP/2 connection: every stream is handed to `app` on this worker's thread.
pub async fn serve_http2<S>(io: TcpStream, app: Rc<S>, mut shutdown: Option<GracefulShutdownSignal>)
where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error> + 'static,
{
    let peer = io.peer_addr().ok();
    let mut connection =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, h2::server::handshake(io)).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                log::debug!("HTTP/2 handshake failed: {e}");
                return;
            }
            Err(_) => return,
        };
    loop {
        let next = match shutdown.as_mut() {
            Some(signal) => tokio::select! {
                next = connection.accept() => next,
                () = signal.notified() => {
                    // Stopping: refuse new streams, finish the open ones, then close.
                    connection.graceful_shutdown();
                    shutdown = None;
                    continue;
                }
            },
            None => connection.accept().await,
        };
        match next {
            Some(Ok((request, respond))) => {
                actix_rt::spawn(answer_stream(request, respond, peer, app.clone()));
            }
            Some(Err(e)) => {
                log::debug!("HTTP/2 connection error: {e}");
                break;
            }
            None => break,
        }
    }
}

/// One HTTP/2 stream through the app and back.
async fn answer_stream<S>(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: Option<SocketAddr>,
    app: Rc<S>,
) where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    let (parts, body) = request.into_parts();
    let Some(request) = to_actix_request(&parts, body, peer) else {
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
    match trailers {
        None => {
            let _ = stream.send_data(body, true);
        }
        Some(trailers) => {
            if body.is_empty() || stream.send_data(body, false).is_ok() {
                let _ = stream.send_trailers(trailers);
            }
        }
    }
}

/// The actix request for an HTTP/2 stream. The body streams through as the handler reads it
/// (handlers enforce `server.max_body_bytes`, as on HTTP/1.1).
fn to_actix_request(
    parts: &http::request::Parts,
    body: RecvStream,
    peer: Option<SocketAddr>,
) -> Option<Request> {
    use actix_http::header::{HeaderName, HeaderValue};
    let stream = futures_util::stream::unfold(body, |mut body| async move {
        let chunk = body.data().await?;
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
    let body = match actix_web::body::to_bytes(response.into_body()).await {
        Ok(body) => body,
        Err(e) => {
            log::error!("response body failed: {e}");
            Bytes::new()
        }
    };
    let grpc = is_grpc(headers.get("content-type").and_then(|v| v.to_str().ok()));
    // A gRPC answer with a message sends its status after it, as trailers; without one the
    // status stays in the headers ("Trailers-Only").
    let trailers = if grpc && !body.is_empty() {
        let mut trailers = http::HeaderMap::new();
        for name in ["grpc-status", "grpc-message"] {
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
