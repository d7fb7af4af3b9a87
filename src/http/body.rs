//! Reading a request: bodies within `server.max_body_bytes` (413 before reading when the length
//! is announced, as soon as it passes the limit when not), the JSON content type of REST paths
//! (415), protojson messages (400), and a path's percent-encoded `{userId}`.
//!
//! These run before authentication, in the order the contract fixes, and each failure is a
//! table error that changes nothing.

use crate::error::{ApiError, ErrorCode};
use actix_web::{http::header, web, HttpRequest};
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;

/// The `{userId}` segment of a REST path, percent-decoded (its rules are checked by the core:
/// an empty segment answers "User ID missing").
pub fn path_user_id(req: &HttpRequest, segment: usize) -> Result<String, ApiError> {
    // The raw segment (`/v2/users/{userId}/...`, `/v2/users/human/{userId}`): the router's own
    // decoding replaces invalid UTF-8 instead of refusing it.
    let raw = req.uri().path().split('/').nth(segment).unwrap_or_default();
    let id = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::from(ErrorCode::UserIdInvalid))?
        .into_owned();
    crate::app::user_id(&id)
}

fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Refuse a request that announces a body larger than `limit` (413), on routes that read none.
pub fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    match declared_length(req) {
        Some(len) if len > limit as u64 => Err(ErrorCode::BodyTooLarge.into()),
        _ => Ok(()),
    }
}

/// The body's bytes, at most `limit` of them, all within `timeout` (a client that trickles a
/// body holds a connection no longer than that).
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<web::Bytes, ApiError> {
    check_declared_length(req, limit)?;
    let reading = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| match e {
                actix_web::error::PayloadError::Io(ref io)
                    if io.kind() == std::io::ErrorKind::TimedOut =>
                {
                    ApiError::from(ErrorCode::BodyTimeout)
                }
                e => ApiError::with_text(
                    ErrorCode::BodyNotJson,
                    format!("Cannot read request body: {e}"),
                ),
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ErrorCode::BodyTooLarge.into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(timeout, reading)
        .await
        .unwrap_or_else(|_| Err(ErrorCode::BodyTimeout.into()))
}

/// A REST body's content type must be JSON (any charset) or absent.
pub fn check_json_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::from(ErrorCode::UnsupportedContentType))?;
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.is_empty() || essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::with_text(
            ErrorCode::UnsupportedContentType,
            format!("Content type {essence} is not supported: send application/json"),
        ))
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// A protojson message; an empty body is the empty message.
pub fn json_message<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if is_blank(bytes) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let text = if e.is_syntax() || e.is_eof() {
            format!("Request body is not valid JSON: {e}")
        } else {
            format!("Request body does not fit the request message: {e}")
        };
        ApiError::with_text(ErrorCode::BodyNotJson, text)
    })
}

/// A body that must be a JSON object (or empty) and is otherwise ignored.
pub fn ignored_object(bytes: &[u8]) -> Result<(), ApiError> {
    type AnyObject = std::collections::HashMap<String, serde::de::IgnoredAny>;
    json_message::<AnyObject>(bytes).map(|_| ()).map_err(|_| {
        ApiError::with_text(ErrorCode::BodyNotJson, "Request body must be a JSON object")
    })
}

/// A binary protobuf message.
pub fn proto_message<T: prost::Message + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    T::decode(bytes).map_err(|e| {
        ApiError::with_text(
            ErrorCode::BodyNotJson,
            format!("Request message does not decode: {e}"),
        )
    })
}

/// `x-zitadel-orgid`, if set and not empty.
pub fn org_header(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("x-zitadel-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// What the core needs from a request's headers.
pub fn context(req: &HttpRequest) -> crate::app::RequestContext {
    let mut authorization = req.headers().get_all(header::AUTHORIZATION);
    let first = authorization.next();
    // A value that is not text, or a second Authorization header, fails as an invalid token:
    // which of two credentials counts must never be a guess.
    let authorization = match (first, authorization.next()) {
        (None, _) => None,
        (Some(v), None) => Some(v.to_str().unwrap_or("\u{0}").to_string()),
        (Some(_), Some(_)) => Some("\u{0}".to_string()),
    };
    crate::app::RequestContext {
        authorization,
        org_header: org_header(req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies() {
        assert!(ignored_object(b"").is_ok());
        assert!(ignored_object(b" {\"userId\": 5} ").is_ok());
        assert!(ignored_object(b"[1]").is_err());
        assert!(ignored_object(b"[]").is_err());
        assert!(ignored_object(b"nope").is_err());
        #[derive(serde::Deserialize, Default, Debug)]
        struct M {
            #[allow(dead_code)]
            a: u32,
        }
        assert_eq!(
            json_message::<M>(b"{\"a\": \"x\"}").unwrap_err().code,
            ErrorCode::BodyNotJson
        );
    }
}
