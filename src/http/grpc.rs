//! Native gRPC (HTTP/2 cleartext, prior knowledge) on `server.grpc_bind`.
//!
//! gRPC sends its status in HTTP/2 trailers, and actix-http's HTTP/2 dispatcher never sends
//! trailers (it only ever sends data frames), so gRPC cannot share actix-web's port. This
//! listener speaks HTTP/2 with the `h2` crate and is only a codec: each call is unframed,
//! decoded, and handed to the same `rpc::call` (and so the same shard actors) as Connect and
//! gRPC-Web on the main port.

use super::rpc::{self, Meta, Service};
use super::AppState;
use crate::error::{self, ApiError};
use actix_web::web;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};

/// Serve gRPC on `listener` until the arbiter running this future stops.
pub async fn serve(listener: std::net::TcpListener, state: web::Data<AppState>) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|_| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            log::error!("gRPC listener: {e}");
            return;
        }
    };
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let state = state.clone();
        actix_rt::spawn(async move {
            let mut connection = match h2::server::handshake(socket).await {
                Ok(c) => c,
                Err(e) => {
                    log::debug!("gRPC handshake failed: {e}");
                    return;
                }
            };
            while let Some(next) = connection.accept().await {
                let Ok((request, respond)) = next else { break };
                actix_rt::spawn(handle(request, respond, state.clone()));
            }
        });
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_string())
}

async fn read_all(mut body: RecvStream, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| {
            ApiError::with_text(
                error::BODY_NOT_JSON,
                format!("cannot read the request: {e}"),
            )
        })?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if out.len() + chunk.len() > limit {
            return Err(error::BODY_TOO_LARGE.into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn handle(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    state: web::Data<AppState>,
) {
    let (parts, body) = request.into_parts();
    let result = answer(&parts, body, &state).await;
    let (status, message, payload) = match result {
        Ok(bytes) => (0, String::new(), Some(bytes)),
        Err(e) => (e.code.number(), e.message(), None),
    };
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(status));
    if let Ok(v) = HeaderValue::from_str(&rpc::grpc_message(&message)) {
        trailers.insert("grpc-message", v);
    }
    let mut head = Response::new(());
    *head.status_mut() = StatusCode::OK;
    head.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/grpc+proto"),
    );
    let Some(payload) = payload else {
        // Trailers-only: the status travels in the one HEADERS frame.
        head.headers_mut().extend(trailers);
        let _ = respond.send_response(head, true);
        return;
    };
    let Ok(mut stream) = respond.send_response(head, false) else {
        return;
    };
    if stream
        .send_data(Bytes::from(rpc::frame(0, &payload)), false)
        .is_ok()
    {
        let _ = stream.send_trailers(trailers);
    }
}

async fn answer(
    parts: &http::request::Parts,
    body: RecvStream,
    state: &AppState,
) -> Result<Vec<u8>, ApiError> {
    let content_type = header_str(&parts.headers, "content-type").unwrap_or_default();
    if !content_type.starts_with("application/grpc") {
        return Err(ApiError::with_text(
            error::UNSUPPORTED_CONTENT_TYPE,
            format!("Content type {content_type} is not gRPC"),
        ));
    }
    let mut path = parts.uri.path().trim_start_matches('/').split('/');
    let (Some(service), Some(method), None) = (path.next(), path.next(), path.next()) else {
        return Err(error::UNKNOWN_METHOD.into());
    };
    let service =
        Service::from_path(service).ok_or_else(|| ApiError::from(error::UNKNOWN_METHOD))?;
    let bytes = read_all(body, state.max_body_bytes).await?;
    let message = rpc::unframe(&bytes)?;
    let request = rpc::request_to_json(service, method, message)?;
    let meta = Meta {
        authorization: header_str(&parts.headers, "authorization"),
        org: header_str(&parts.headers, "x-zitadel-orgid").filter(|o| !o.is_empty()),
    };
    let value = rpc::call(state, &meta, service, method, request).await?;
    rpc::response_to_binary(service, method, value)
}
