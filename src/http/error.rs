//! The one place where an [`ApiError`] becomes an HTTP response: status from the gRPC code, and
//! ZITADEL's JSON body `{"code", "message", "details": [ErrorDetail]}`.

use crate::error::{self, ApiError, Code};
use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// An [`ApiError`] on its way to the wire.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl From<error::ErrorDef> for HttpError {
    fn from(e: error::ErrorDef) -> Self {
        HttpError(e.into())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The HTTP status of an error: by gRPC code, except the two request-shape errors that HTTP
/// has its own statuses for.
pub fn http_status(e: &ApiError) -> StatusCode {
    if e.id == error::BODY_TOO_LARGE.id {
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    if e.id == error::UNSUPPORTED_CONTENT_TYPE.id {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    match e.code {
        Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unimplemented => StatusCode::METHOD_NOT_ALLOWED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// Connect's name for a code.
pub fn connect_code(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument => "invalid_argument",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::FailedPrecondition => "failed_precondition",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// Connect's HTTP status for an error (415 for a content type Connect cannot read).
pub fn connect_status(e: &ApiError) -> StatusCode {
    if e.id == error::UNSUPPORTED_CONTENT_TYPE.id {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    if e.id == error::BODY_TOO_LARGE.id {
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    match e.code {
        Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// Connect's JSON error body: `{"code": "not_found", "message": "..."}`.
pub fn connect_error_body(e: &ApiError) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "code": connect_code(e.code),
        "message": e.message(),
    }))
    .unwrap_or_default()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i32,
    message: String,
    details: Vec<Detail<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Detail<'a> {
    /// ZITADEL's ErrorDetail, always first.
    Error {
        #[serde(rename = "@type")]
        type_url: &'static str,
        id: &'a str,
        message: &'a str,
    },
    /// google.rpc.RequestInfo with the request's id.
    Request {
        #[serde(rename = "@type")]
        type_url: &'static str,
        #[serde(rename = "requestId")]
        request_id: String,
    },
}

/// ZITADEL's JSON error body for `e`, with the request id after ZITADEL's ErrorDetail.
pub fn error_body(e: &ApiError) -> Vec<u8> {
    let mut details = vec![Detail::Error {
        type_url: "type.googleapis.com/zitadel.v1.ErrorDetail",
        id: &e.id,
        message: &e.text,
    }];
    if let Some(id) = super::current_request_id() {
        details.push(Detail::Request {
            type_url: "type.googleapis.com/google.rpc.RequestInfo",
            request_id: id.to_string(),
        });
    }
    let body = ErrorBody {
        code: e.code.number(),
        message: e.message(),
        details,
    };
    serde_json::to_vec(&body)
        .unwrap_or_else(|_| b"{\"code\":13,\"message\":\"Internal error\",\"details\":[]}".to_vec())
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        http_status(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("application/json")
            .body(error_body(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_zitadels_shape() {
        let body: serde_json::Value =
            serde_json::from_slice(&error_body(&error::USER_NOT_INACTIVE.into())).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "code": 9,
                "message": "User is not inactive (COMMAND-s5qqcz97hf)",
                "details": [{
                    "@type": "type.googleapis.com/zitadel.v1.ErrorDetail",
                    "id": "COMMAND-s5qqcz97hf",
                    "message": "User is not inactive"
                }]
            })
        );
    }

    #[test]
    fn statuses_follow_the_contract() {
        let cases = [
            (error::USER_NOT_INACTIVE, 400),
            (error::REACTIVATE_NOT_FOUND, 404),
            (error::USER_ALREADY_EXISTS, 409),
            (error::PERMISSION_DENIED, 403),
            (error::METHOD_NOT_ALLOWED, 405),
            (error::INTERNAL, 500),
            (error::STORE_UNAVAILABLE, 503),
            (error::TOKEN_INVALID, 401),
            (error::BODY_TOO_LARGE, 413),
            (error::UNSUPPORTED_CONTENT_TYPE, 415),
            (error::BODY_NOT_JSON, 400),
        ];
        for (def, status) in cases {
            assert_eq!(http_status(&def.into()).as_u16(), status, "{}", def.id);
        }
    }
}
