//! The one place where an [`ApiError`] becomes bytes on the wire, one function per form: REST
//! (ZITADEL's JSON body `{"code", "message", "details": [ErrorDetail, RequestInfo]}` with the
//! row's HTTP status), Connect (`{"code": "not_found", "message", "details"}`), and gRPC /
//! gRPC-Web (`grpc-status`, a percent-encoded `grpc-message` and `grpc-status-details-bin`).
//! Every form carries ZITADEL's ErrorDetail (the error's id and text).

use crate::error::ApiError;
use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use base64::Engine;
use serde::Serialize;
use std::fmt;

/// An [`ApiError`] on its way to a REST answer.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl<E: Into<ApiError>> From<E> for HttpError {
    fn from(e: E) -> Self {
        HttpError(e.into())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The row's HTTP status (the same on REST paths and in Connect's unary protocol).
pub fn status(e: &ApiError) -> StatusCode {
    StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[derive(Serialize)]
struct RestBody<'a> {
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
pub fn rest_body(e: &ApiError) -> Vec<u8> {
    let mut details = vec![Detail::Error {
        type_url: "type.googleapis.com/zitadel.v1.ErrorDetail",
        id: e.id(),
        message: e.text(),
    }];
    if let Some(id) = super::current_request_id() {
        details.push(Detail::Request {
            type_url: "type.googleapis.com/google.rpc.RequestInfo",
            request_id: id.to_string(),
        });
    }
    let body = RestBody {
        code: e.grpc().number(),
        message: e.message(),
        details,
    };
    serde_json::to_vec(&body)
        .unwrap_or_else(|_| b"{\"code\":13,\"message\":\"Internal error\",\"details\":[]}".to_vec())
}

/// ZITADEL's `zitadel.v1.ErrorDetail`: the error's id and text, on every protocol.
#[derive(Clone, PartialEq, prost::Message)]
struct ErrorDetail {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(string, tag = "2")]
    message: String,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.Status`, which gRPC carries in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

const ERROR_DETAIL_TYPE: &str = "zitadel.v1.ErrorDetail";

/// `e`'s ErrorDetail, encoded.
fn error_detail(e: &ApiError) -> Vec<u8> {
    prost::Message::encode_to_vec(&ErrorDetail {
        id: e.id().to_string(),
        message: e.text().to_string(),
    })
}

/// Connect's JSON error body: `{"code": "not_found", "message": "...", "details": [...]}`,
/// the one detail being ZITADEL's ErrorDetail (base64 of its protobuf form, as Connect sends
/// details).
pub fn connect_body(e: &ApiError) -> Vec<u8> {
    #[derive(Serialize)]
    struct ConnectDetail {
        #[serde(rename = "type")]
        type_name: &'static str,
        value: String,
    }
    #[derive(Serialize)]
    struct ConnectBody<'a> {
        code: &'a str,
        message: String,
        details: [ConnectDetail; 1],
    }
    serde_json::to_vec(&ConnectBody {
        code: e.grpc().connect_name(),
        message: e.message(),
        details: [ConnectDetail {
            type_name: ERROR_DETAIL_TYPE,
            value: base64::engine::general_purpose::STANDARD_NO_PAD.encode(error_detail(e)),
        }],
    })
    .unwrap_or_default()
}

/// The value of gRPC's `grpc-status-details-bin` for `e`: a `google.rpc.Status` holding
/// ZITADEL's ErrorDetail, base64 as binary metadata is sent.
pub fn grpc_status_details(e: &ApiError) -> String {
    let status = RpcStatus {
        code: e.grpc().number(),
        message: e.message(),
        details: vec![Any {
            type_url: format!("type.googleapis.com/{ERROR_DETAIL_TYPE}"),
            value: error_detail(e),
        }],
    };
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(prost::Message::encode_to_vec(&status))
}

/// A Connect error answer.
pub fn connect_response(e: &ApiError) -> HttpResponse {
    let mut response = HttpResponse::build(status(e));
    retry_after(e, &mut response);
    response
        .content_type("application/json")
        .body(connect_body(e))
}

/// Refusals for load (429) say when to try again.
fn retry_after(e: &ApiError, response: &mut actix_web::HttpResponseBuilder) {
    if status(e) == StatusCode::TOO_MANY_REQUESTS {
        response.insert_header(("retry-after", "1"));
    }
}

/// `grpc-message` is percent-encoded (the gRPC spec's rule).
pub fn grpc_message(text: &str) -> String {
    const ESCAPES: percent_encoding::AsciiSet = percent_encoding::CONTROLS.add(b'%');
    percent_encoding::utf8_percent_encode(text, &ESCAPES).to_string()
}

/// The gRPC status and message of a call's outcome (0 and nothing on success).
pub fn grpc_status(result: Result<(), &ApiError>) -> (i32, String) {
    match result {
        Ok(()) => (0, String::new()),
        Err(e) => (e.grpc().number(), grpc_message(&e.message())),
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        status(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        retry_after(&self.0, &mut response);
        response
            .content_type("application/json")
            .body(rest_body(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn bodies_have_each_protocols_shape() {
        let e = ApiError::from(ErrorCode::UserNotInactive);
        let body: serde_json::Value = serde_json::from_slice(&rest_body(&e)).unwrap();
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
        let body: serde_json::Value = serde_json::from_slice(&connect_body(&e)).unwrap();
        assert_eq!(body["code"], "failed_precondition");
        assert_eq!(body["message"], "User is not inactive (COMMAND-s5qqcz97hf)");
        assert_eq!(body["details"][0]["type"], "zitadel.v1.ErrorDetail");
        let value = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body["details"][0]["value"].as_str().unwrap())
            .unwrap();
        let detail = <ErrorDetail as prost::Message>::decode(value.as_slice()).unwrap();
        assert_eq!(detail.id, "COMMAND-s5qqcz97hf");
        assert_eq!(detail.message, "User is not inactive");
        let status = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(grpc_status_details(&e))
            .unwrap();
        let status = <RpcStatus as prost::Message>::decode(status.as_slice()).unwrap();
        assert_eq!(status.code, 9);
        assert_eq!(
            status.details[0].type_url,
            "type.googleapis.com/zitadel.v1.ErrorDetail"
        );
        assert_eq!(
            <ErrorDetail as prost::Message>::decode(status.details[0].value.as_slice()).unwrap(),
            detail
        );
        assert_eq!(
            grpc_status(Err(&e)),
            (9, "User is not inactive (COMMAND-s5qqcz97hf)".into())
        );
        assert_eq!(grpc_message("100%\n"), "100%25%0A");
    }
}
