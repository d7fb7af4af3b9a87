//! The one error type every layer returns, and the one table of ZITADEL's error ids and texts.
//!
//! An [`ApiError`] carries a gRPC [`Code`], an id (ZITADEL's own where ZITADEL has one, so that
//! clients matching on ids work unchanged) and a text. `http::error` is the only place that turns
//! it into bytes on the wire.

use std::borrow::Cow;
use std::fmt;

/// gRPC status codes used by userd (numbers are fixed by gRPC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    InvalidArgument = 3,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    FailedPrecondition = 9,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl Code {
    pub fn number(self) -> i32 {
        self as i32
    }
}

/// One row of the error table: a code, an id and a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorDef {
    pub code: Code,
    pub id: &'static str,
    pub text: &'static str,
}

const fn def(code: Code, id: &'static str, text: &'static str) -> ErrorDef {
    ErrorDef { code, id, text }
}

// ---- The table. ZITADEL's ids where ZITADEL has them; USERD-* ids are userd's own. ----

// State transitions (gRPC 9, HTTP 400).
pub const USER_NOT_INACTIVE: ErrorDef = def(
    Code::FailedPrecondition,
    "COMMAND-s5qqcz97hf",
    "User is not inactive",
);
pub const DEACTIVATE_INITIAL: ErrorDef = def(
    Code::FailedPrecondition,
    "COMMAND-gvx4kct9r2",
    "User with state initial can only be deleted not deactivated",
);
pub const USER_ALREADY_INACTIVE: ErrorDef = def(
    Code::FailedPrecondition,
    "COMMAND-5gunjw0cd7",
    "User already inactive",
);
pub const USER_NOT_ACTIVE_OR_INITIAL: ErrorDef = def(
    Code::FailedPrecondition,
    "COMMAND-lgws8wtsqf",
    "User is not active or initial",
);
pub const USER_NOT_LOCKED: ErrorDef = def(
    Code::FailedPrecondition,
    "COMMAND-olb9vb0oca",
    "User is not locked",
);

// Not found (gRPC 5, HTTP 404), one id per operation as in ZITADEL.
const USER_NOT_FOUND_TEXT: &str = "User could not be found";
pub const REACTIVATE_NOT_FOUND: ErrorDef =
    def(Code::NotFound, "COMMAND-9hy5kzbuk6", USER_NOT_FOUND_TEXT);
pub const DEACTIVATE_NOT_FOUND: ErrorDef =
    def(Code::NotFound, "COMMAND-5gp2p62iin", USER_NOT_FOUND_TEXT);
pub const LOCK_NOT_FOUND: ErrorDef = def(Code::NotFound, "COMMAND-450yxuqrh1", USER_NOT_FOUND_TEXT);
pub const UNLOCK_NOT_FOUND: ErrorDef =
    def(Code::NotFound, "COMMAND-x377t913pw", USER_NOT_FOUND_TEXT);
pub const DELETE_NOT_FOUND: ErrorDef =
    def(Code::NotFound, "COMMAND-bd4ir1mblj", USER_NOT_FOUND_TEXT);
pub const READ_NOT_FOUND: ErrorDef = def(Code::NotFound, "USERD-QUERY-4m0v2y", USER_NOT_FOUND_TEXT);
pub const ROUTE_NOT_FOUND: ErrorDef = def(Code::NotFound, "USERD-HTTP-404", "Not Found");

// Creation.
pub const USER_ALREADY_EXISTS: ErrorDef =
    def(Code::AlreadyExists, "V3-DKcYh", "User already exists");

// Authentication and authorization.
pub const AUTH_HEADER_MISSING: ErrorDef =
    def(Code::Unauthenticated, "AUTH-7fs1e", "auth header missing");
pub const TOKEN_INVALID: ErrorDef = def(Code::Unauthenticated, "AUTH-7fs1e", "Token is invalid");
pub const SUBJECT_NOT_ACTIVE: ErrorDef =
    def(Code::Unauthenticated, "AUTH-4m8vn2", "User is not active");
pub const TOKEN_REVOKED: ErrorDef = def(Code::Unauthenticated, "AUTH-9cq2rv", "User is not active");
pub const PERMISSION_DENIED: ErrorDef = def(
    Code::PermissionDenied,
    "AUTH-AWfge",
    "No matching permissions found",
);

// Request shape (gRPC 3).
pub const USER_ID_MISSING: ErrorDef =
    def(Code::InvalidArgument, "USERD-ID-0001", "User ID missing");
pub const USER_ID_INVALID: ErrorDef = def(
    Code::InvalidArgument,
    "USERD-ID-0002",
    "User ID must be 1 to 200 characters without control characters or '/'",
);
pub const ORGANIZATION_MISSING: ErrorDef = def(
    Code::InvalidArgument,
    "USERD-ORG-0001",
    "Organization missing: set organization.orgId, the x-zitadel-orgid header or the token's resource owner",
);
pub const BODY_NOT_JSON: ErrorDef = def(
    Code::InvalidArgument,
    "USERD-BODY-0001",
    "Request body is not valid JSON",
);
pub const BODY_TOO_LARGE: ErrorDef = def(
    Code::InvalidArgument,
    "USERD-BODY-0002",
    "Request body is larger than server.max_body_bytes",
);
pub const UNSUPPORTED_CONTENT_TYPE: ErrorDef = def(
    Code::InvalidArgument,
    "USERD-BODY-0003",
    "Content type is not supported: send application/json",
);
pub const UNKNOWN_METHOD: ErrorDef = def(
    Code::Unimplemented,
    "USERD-RPC-0001",
    "Method is not served by userd",
);
pub const METHOD_NOT_ALLOWED: ErrorDef =
    def(Code::Unimplemented, "USERD-HTTP-405", "Method Not Allowed");

// Server side.
pub const INTERNAL: ErrorDef = def(Code::Internal, "USERD-INTERNAL", "Internal error");
pub const STORE_UNAVAILABLE: ErrorDef = def(
    Code::Unavailable,
    "USERD-STORE-0001",
    "Store is unavailable, the change was not applied",
);
pub const SHUTTING_DOWN: ErrorDef = def(
    Code::Unavailable,
    "USERD-SHUTDOWN",
    "Server is shutting down",
);

/// Errors whose wire message is the bare text, as ZITADEL's gateway and auth interceptor send
/// them.
const BARE_MESSAGES: [ErrorDef; 3] = [AUTH_HEADER_MISSING, ROUTE_NOT_FOUND, METHOD_NOT_ALLOWED];

/// An error as it travels up to the wire: a table row, possibly with a more specific text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub id: Cow<'static, str>,
    pub text: Cow<'static, str>,
}

impl ApiError {
    /// An error with a table row's text replaced by a more specific one (for example which
    /// field of a body was wrong).
    pub fn with_text(def: ErrorDef, text: impl Into<String>) -> Self {
        Self {
            code: def.code,
            id: Cow::Borrowed(def.id),
            text: Cow::Owned(text.into()),
        }
    }

    /// An invalid-argument error naming what was wrong with the request.
    pub fn invalid_argument(id: &'static str, text: impl Into<String>) -> Self {
        Self {
            code: Code::InvalidArgument,
            id: Cow::Borrowed(id),
            text: Cow::Owned(text.into()),
        }
    }

    /// The message ZITADEL puts on the wire: the text followed by ` (ID)`, except for the
    /// answers ZITADEL gives before its own error handling runs (bare text).
    pub fn message(&self) -> String {
        let bare = BARE_MESSAGES
            .iter()
            .any(|d| d.id == self.id && d.text == self.text);
        if bare {
            return self.text.to_string();
        }
        format!("{} ({})", self.text, self.id)
    }
}

impl From<ErrorDef> for ApiError {
    fn from(def: ErrorDef) -> Self {
        Self {
            code: def.code,
            id: Cow::Borrowed(def.id),
            text: Cow::Borrowed(def.text),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message(), self.code.number())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_text_then_id() {
        let e = ApiError::from(USER_NOT_INACTIVE);
        assert_eq!(e.message(), "User is not inactive (COMMAND-s5qqcz97hf)");
        assert_eq!(e.code.number(), 9);
    }

    #[test]
    fn missing_header_keeps_zitadels_bare_text() {
        assert_eq!(
            ApiError::from(AUTH_HEADER_MISSING).message(),
            "auth header missing"
        );
        assert_eq!(ApiError::from(ROUTE_NOT_FOUND).message(), "Not Found");
        assert_eq!(
            ApiError::from(METHOD_NOT_ALLOWED).message(),
            "Method Not Allowed"
        );
    }
}
