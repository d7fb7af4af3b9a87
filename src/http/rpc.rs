//! RPC paths (`/<service>/<method>`), as ZITADEL's SDKs call them: Connect unary (JSON and
//! binary), gRPC-Web (binary and base64 text) and native gRPC (HTTP/2 only; `connection.rs`
//! sends its status as trailers). The content type picks the protocol; the protocol only
//! decides how the method's request message is read and how its answer and errors are written.
//!
//! Connect errors are `{"code": "failed_precondition", "message": "..."}` with the error's HTTP
//! status; gRPC-Web errors are HTTP 200 with a trailer frame holding `grpc-status` and
//! `grpc-message`; gRPC errors are a "Trailers-Only" answer.

use super::body;
use super::error::{self, HttpError};
use super::AppState;
use crate::api::{self, Codec, Method};
use crate::app::RequestContext;
use crate::error::{ApiError, ErrorCode};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use base64::Engine as _;
use prost::Message;

/// The wire protocol of a request, from its content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    ConnectJson,
    ConnectProto,
    GrpcWeb,
    GrpcWebText,
    Grpc,
}

fn protocol_of(content_type: &str) -> Option<Protocol> {
    match content_type {
        "" | "application/json" => Some(Protocol::ConnectJson),
        "application/proto" => Some(Protocol::ConnectProto),
        "application/grpc-web" | "application/grpc-web+proto" => Some(Protocol::GrpcWeb),
        "application/grpc-web-text" | "application/grpc-web-text+proto" => {
            Some(Protocol::GrpcWebText)
        }
        "application/grpc" | "application/grpc+proto" => Some(Protocol::Grpc),
        _ => None,
    }
}

/// A gRPC length-prefixed message: flag byte, 4-byte big-endian length, message.
pub(crate) fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(flag);
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// The message of the first data frame of a gRPC(-Web) request body.
pub(crate) fn unframe(body: &[u8]) -> Result<&[u8], ApiError> {
    let bad = |text: &'static str| ApiError::with_text(ErrorCode::BodyNotJson, text);
    if body.is_empty() {
        return Ok(&[]);
    }
    let Some((&[flag, a, b, c, d], rest)) = body.split_first_chunk::<5>() else {
        return Err(bad("gRPC frame header is truncated"));
    };
    if flag & 1 != 0 {
        return Err(bad("compressed gRPC messages are not supported"));
    }
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    rest.get(..len)
        .ok_or_else(|| bad("gRPC frame is truncated"))
}

impl Protocol {
    /// gRPC or gRPC-Web, whose errors are gRPC statuses.
    fn is_grpc(self) -> bool {
        matches!(
            self,
            Protocol::Grpc | Protocol::GrpcWeb | Protocol::GrpcWebText
        )
    }

    /// The request message in this protocol's encoding.
    fn decode<T: Message + Default + serde::de::DeserializeOwned>(
        self,
        bytes: &[u8],
    ) -> Result<T, ApiError> {
        match self {
            Protocol::ConnectJson => body::json_message(bytes),
            Protocol::ConnectProto => body::proto_message(bytes),
            Protocol::GrpcWeb | Protocol::Grpc => body::proto_message(unframe(bytes)?),
            Protocol::GrpcWebText => {
                let clean: Vec<u8> = bytes
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(&clean)
                    .map_err(|_| {
                        ApiError::with_text(
                            ErrorCode::BodyNotJson,
                            "gRPC-Web text body is not base64",
                        )
                    })?;
                body::proto_message(unframe(&raw)?)
            }
        }
    }

    /// A call's outcome as this protocol answers it.
    fn respond<T: Message + serde::Serialize>(self, result: Result<T, ApiError>) -> HttpResponse {
        match self {
            Protocol::ConnectJson => match result.and_then(|m| {
                serde_json::to_vec(&m).map_err(|_| ApiError::from(ErrorCode::Internal))
            }) {
                Ok(json) => HttpResponse::Ok()
                    .content_type("application/json")
                    .body(json),
                Err(e) => error::connect_response(&e),
            },
            Protocol::ConnectProto => match result {
                Ok(m) => HttpResponse::Ok()
                    .content_type("application/proto")
                    .body(m.encode_to_vec()),
                Err(e) => error::connect_response(&e),
            },
            Protocol::Grpc => {
                let (status, message) = error::grpc_status(result.as_ref().map(|_| ()));
                // With a message, `connection.rs` sends the status after it as trailers; an
                // error has none, so its status stays in the headers ("Trailers-Only").
                let mut response = HttpResponse::Ok();
                response
                    .content_type("application/grpc+proto")
                    .insert_header(("grpc-status", status.to_string()))
                    .insert_header(("grpc-message", message));
                if let Err(e) = &result {
                    response
                        .insert_header(("grpc-status-details-bin", error::grpc_status_details(e)));
                }
                let body = result.map_or_else(|_| Vec::new(), |m| frame(0, &m.encode_to_vec()));
                response.body(body)
            }
            Protocol::GrpcWeb | Protocol::GrpcWebText => {
                let (status, message) = error::grpc_status(result.as_ref().map(|_| ()));
                let mut trailers = format!("grpc-status: {status}\r\ngrpc-message: {message}\r\n");
                if let Err(e) = &result {
                    trailers += &format!(
                        "grpc-status-details-bin: {}\r\n",
                        error::grpc_status_details(e)
                    );
                }
                let mut body = result.map_or_else(|_| Vec::new(), |m| frame(0, &m.encode_to_vec()));
                body.extend(frame(0x80, trailers.as_bytes()));
                if self == Protocol::GrpcWebText {
                    HttpResponse::Ok()
                        .content_type("application/grpc-web-text+proto")
                        .body(base64::engine::general_purpose::STANDARD.encode(body))
                } else {
                    HttpResponse::Ok()
                        .content_type("application/grpc-web+proto")
                        .body(body)
                }
            }
        }
    }
}

/// One call: the request's bytes in a protocol, run through whichever method the path names.
struct Call<'a> {
    state: &'a AppState,
    ctx: RequestContext,
    protocol: Protocol,
    bytes: web::Bytes,
}

impl Codec for Call<'_> {
    type Output = HttpResponse;

    async fn run<M: Method>(self) -> HttpResponse {
        let result = async {
            let request = self.protocol.decode::<M::Request>(&self.bytes)?;
            M::call(&self.state.core, &self.ctx, request).await
        }
        .await;
        self.protocol.respond(result)
    }
}

/// `POST /{service}/{method}`.
pub async fn rpc(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let service = req.match_info().get("service").unwrap_or_default();
    let method = req.match_info().get("method").unwrap_or_default();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some(protocol) = protocol_of(&content_type) else {
        return error::connect_response(&ApiError::with_text(
            ErrorCode::UnsupportedContentType,
            format!("Content type {content_type} is not supported on this path"),
        ));
    };
    if protocol == Protocol::Grpc && req.version() != actix_web::http::Version::HTTP_2 {
        // gRPC's status travels in HTTP/2 trailers; HTTP/1.1 has no place for it.
        let e = ApiError::with_text(
            ErrorCode::UnsupportedContentType,
            "gRPC needs HTTP/2 (prior knowledge, h2c); over HTTP/1.1 use Connect or gRPC-Web",
        );
        let mut response = error::connect_response(&e);
        let headers = response.headers_mut();
        headers.insert(
            header::HeaderName::from_static("grpc-status"),
            header::HeaderValue::from_static("12"),
        );
        if let Ok(message) = header::HeaderValue::from_str(&error::grpc_message(&e.message())) {
            headers.insert(header::HeaderName::from_static("grpc-message"), message);
        }
        if let Ok(details) = header::HeaderValue::from_str(&error::grpc_status_details(&e)) {
            headers.insert(
                header::HeaderName::from_static("grpc-status-details-bin"),
                details,
            );
        }
        return response;
    }
    if !api::is_service(service) {
        // No such service: an unknown route, as on every other path.
        return actix_web::ResponseError::error_response(&HttpError(
            ErrorCode::RouteNotFound.into(),
        ));
    }
    let _admitted = match state.admission.admit() {
        Ok(admitted) => admitted,
        Err(e) => return protocol.respond::<()>(Err(e)),
    };
    let bytes = match body::read(&req, payload, state.max_body_bytes, state.body_timeout).await {
        Ok(bytes) => bytes,
        Err(e) if e.code == ErrorCode::BodyTooLarge && protocol.is_grpc() => {
            return protocol.respond::<()>(Err(ErrorCode::MessageTooLarge.into()))
        }
        Err(e) => return protocol.respond::<()>(Err(e)),
    };
    let call = Call {
        state: &state,
        ctx: body::context(&req),
        protocol,
        bytes,
    };
    match api::dispatch(service, method, call).await {
        Some(response) => response,
        None => protocol.respond::<()>(Err(ErrorCode::UnknownMethod.into())),
    }
}
