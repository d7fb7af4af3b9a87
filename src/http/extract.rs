//! Request shape: the user id of a path, and JSON bodies within `server.max_body_bytes`.
//!
//! These run before authentication, in the order the contract fixes, and each failure is a
//! table error (400 code 3, or 413 / 415) that changes nothing.

use crate::error::{self, ApiError};
use actix_web::{http::header, web, HttpRequest};
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// Longest user id, in characters.
pub const MAX_ID_CHARS: usize = 200;

/// Check a user id: 1 to 200 characters, no control characters, no `/`.
pub fn validate_user_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        return Err(error::USER_ID_MISSING.into());
    }
    if id.chars().count() > MAX_ID_CHARS || id.chars().any(|c| c.is_control() || c == '/') {
        return Err(error::USER_ID_INVALID.into());
    }
    Ok(())
}

/// The `{userId}` segment of the matched path, percent-decoded and checked.
pub fn path_user_id(req: &HttpRequest) -> Result<String, ApiError> {
    // The raw segment (`/v3alpha/users/{userId}/...`, `/v2/users/{userId}/...`): the router's
    // own decoding replaces invalid UTF-8 instead of refusing it.
    let raw = req.uri().path().split('/').nth(3).unwrap_or_default();
    let id = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::from(error::USER_ID_INVALID))?
        .into_owned();
    validate_user_id(&id)?;
    Ok(id)
}

/// Is the request's content type one a JSON body may carry (JSON, any charset, or none)?
fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::from(error::UNSUPPORTED_CONTENT_TYPE))?;
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.is_empty() || essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::with_text(
            error::UNSUPPORTED_CONTENT_TYPE,
            format!("Content type {essence} is not supported: send application/json"),
        ))
    }
}

/// Refuse a request that announces a body larger than `limit` (413), on routes that read none.
pub fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit as u64 => Err(error::BODY_TOO_LARGE.into()),
        _ => Ok(()),
    }
}

/// The body's bytes, refusing more than `limit` (413) before reading them when the length is
/// announced, and as soon as they pass the limit when it is not.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(error::BODY_TOO_LARGE.into());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::invalid_argument(
                error::BODY_NOT_JSON.id,
                format!("Cannot read request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(error::BODY_TOO_LARGE.into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON object body. An empty body reads as `{}`.
pub async fn json_object(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let bytes = read_body(req, payload, limit).await?;
    check_content_type(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::with_text(
            error::BODY_NOT_JSON,
            "Request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::with_text(
            error::BODY_NOT_JSON,
            format!("Request body is not valid JSON: {e}"),
        )),
    }
}

/// The `x-zitadel-orgid` header, if set and not empty.
pub fn org_header(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("x-zitadel-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_rules() {
        assert!(validate_user_id("123").is_ok());
        assert!(validate_user_id(&"é".repeat(200)).is_ok());
        assert_eq!(
            validate_user_id("").unwrap_err().id,
            error::USER_ID_MISSING.id
        );
        assert!(validate_user_id(&"a".repeat(201)).is_err());
        assert!(validate_user_id("a/b").is_err());
        assert!(validate_user_id("a\u{7}b").is_err());
    }
}
