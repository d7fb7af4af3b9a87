//! The one error type every layer returns, and the one table of ZITADEL's error ids and texts.
//!
//! Each row of [`ErrorCode`] carries its gRPC code, its HTTP status, its id (ZITADEL's own where
//! ZITADEL has one, so that clients matching on ids work unchanged; `USERD-*` ids are userd's)
//! and its text. `http::error` is the only place that turns an [`ApiError`] into bytes on the
//! wire, and nothing anywhere compares ids as strings: code branches on the [`ErrorCode`].

use std::borrow::Cow;
use std::fmt;

/// gRPC status codes used by userd (numbers are fixed by gRPC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcCode {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl GrpcCode {
    pub fn number(self) -> i32 {
        self as i32
    }

    /// Connect's name for the code.
    pub fn connect_name(self) -> &'static str {
        match self {
            GrpcCode::InvalidArgument => "invalid_argument",
            GrpcCode::DeadlineExceeded => "deadline_exceeded",
            GrpcCode::NotFound => "not_found",
            GrpcCode::AlreadyExists => "already_exists",
            GrpcCode::PermissionDenied => "permission_denied",
            GrpcCode::ResourceExhausted => "resource_exhausted",
            GrpcCode::FailedPrecondition => "failed_precondition",
            GrpcCode::Unimplemented => "unimplemented",
            GrpcCode::Internal => "internal",
            GrpcCode::Unavailable => "unavailable",
            GrpcCode::Unauthenticated => "unauthenticated",
        }
    }
}

/// How an error's message reads on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Message {
    /// `text (id)`, ZITADEL's form.
    WithId,
    /// The bare text, as ZITADEL's gateway and auth interceptor send answers given before its
    /// own error handling runs.
    Bare,
}

/// Declares the table: one variant per row, with its gRPC code, HTTP status, id and text.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:ident, $http:literal, $id:literal, $text:literal $(, $bare:ident)?;)*) => {
        /// Every error userd answers with: one row of the table each.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            fn row(self) -> (GrpcCode, u16, &'static str, &'static str, Message) {
                match self {
                    $(ErrorCode::$name => (
                        GrpcCode::$code,
                        $http,
                        $id,
                        $text,
                        error_codes!(@message $($bare)?),
                    ),)*
                }
            }
        }
    };
    (@message) => { Message::WithId };
    (@message bare) => { Message::Bare };
}

error_codes! {
    // State transitions (gRPC 9, HTTP 400), ZITADEL's ids.
    UserNotInactive = FailedPrecondition, 400, "COMMAND-s5qqcz97hf", "User is not inactive";
    DeactivateInitial = FailedPrecondition, 400, "COMMAND-gvx4kct9r2", "User with state initial can only be deleted not deactivated";
    UserAlreadyInactive = FailedPrecondition, 400, "COMMAND-5gunjw0cd7", "User already inactive";
    UserNotActiveOrInitial = FailedPrecondition, 400, "COMMAND-lgws8wtsqf", "User is not active or initial";
    UserNotLocked = FailedPrecondition, 400, "COMMAND-olb9vb0oca", "User is not locked";

    // Not found (gRPC 5, HTTP 404), one id per operation as in ZITADEL.
    ReactivateNotFound = NotFound, 404, "COMMAND-9hy5kzbuk6", "User could not be found";
    DeactivateNotFound = NotFound, 404, "COMMAND-5gp2p62iin", "User could not be found";
    LockNotFound = NotFound, 404, "COMMAND-450yxuqrh1", "User could not be found";
    UnlockNotFound = NotFound, 404, "COMMAND-x377t913pw", "User could not be found";
    DeleteNotFound = NotFound, 404, "COMMAND-bd4ir1mblj", "User could not be found";
    ReadNotFound = NotFound, 404, "USERD-QUERY-4m0v2y", "User could not be found";
    /// An edit (metadata, ...) of a user that does not exist or is deleted.
    UserNotFound = FailedPrecondition, 400, "COMMAND-uXHNj", "User could not be found";
    /// A metadata key to delete is not set (nothing is deleted).
    MetadataKeyNotFound = NotFound, 404, "META-2nnds", "One or more keys do not exist";
    /// Set or delete metadata with an empty list.
    MetadataEmpty = FailedPrecondition, 400, "META-9mm2d", "Metadata list is empty";
    /// A metadata entry to set with an empty key or an empty value.
    MetadataInvalid = InvalidArgument, 400, "META-2m00f", "Metadata is invalid";
    /// An empty key to delete.
    MetadataKeyInvalid = InvalidArgument, 400, "COMMAND-m29ds", "Metadata is invalid";
    /// One user's metadata would pass its size limit.
    MetadataTooLarge = InvalidArgument, 400, "USERD-META-0001", "Metadata of one user is limited to 256 KiB of keys and values in all";
    RouteNotFound = NotFound, 404, "USERD-HTTP-404", "Not Found", bare;

    // Edits of a user's data (profile, email, phone, password), ZITADEL's ids per method.
    /// UpdateUser / UpdateHumanUser of a missing user, or of a user of the other type.
    UpdateNotFound = NotFound, 404, "COMMAND-ugjs0upun6", "User could not be found";
    /// An email method on a missing user or a user without a human profile.
    EmailNotFound = NotFound, 404, "COMMAND-ieJ2e", "Email not found";
    /// A phone method on a missing user or a user without a human profile.
    PhoneNotFound = NotFound, 404, "COMMAND-ieJ2e", "Phone not found";
    /// RemovePhone of a user without a phone.
    PhoneAbsent = NotFound, 404, "COMMAND-p6rsc", "Phone not found";
    /// SetPassword of a missing user.
    PasswordUserNotFound = FailedPrecondition, 400, "COMMAND-3M0fs", "User could not be found";
    /// PasswordReset of a missing user.
    ResetUserNotFound = NotFound, 404, "COMMAND-SAF4f", "User could not be found";
    /// Email and phone methods refuse users in state INITIAL.
    ContactNotInitialised = FailedPrecondition, 400, "COMMAND-uz0Uu", "User is not yet initialized";
    EmailNotChanged = FailedPrecondition, 400, "COMMAND-Uch5e", "Email not changed";
    PhoneNotChanged = FailedPrecondition, 400, "COMMAND-Uch5e", "Phone not changed";
    EmailEmpty = InvalidArgument, 400, "EMAIL-spblu", "Email is empty";
    EmailInvalid = InvalidArgument, 400, "EMAIL-599BI", "Email is invalid";
    PhoneEmpty = InvalidArgument, 400, "PHONE-Zt0NV", "Phone is empty";
    PhoneInvalid = InvalidArgument, 400, "PHONE-so0wa", "Phone is invalid";
    PhoneRemovalVerified = InvalidArgument, 400, "USERv2-4f3d6", "Verifying phone removal is not supported";
    InvalidUrlTemplate = InvalidArgument, 400, "DOMAIN-oGh5e", "URL Template is invalid";
    /// A phone code to send: userd has no SMS provider.
    NoSmsProvider = FailedPrecondition, 400, "USERD-NOTIFY-0001", "No SMS provider is configured: ask for returnCode";
    /// VerifyEmail / VerifyPhone: a wrong, expired or missing code, or an address already verified.
    VerificationCodeInvalid = InvalidArgument, 400, "COMMAND-eis9R", "Code is invalid";
    /// A verification without a code.
    CodeEmpty = InvalidArgument, 400, "COMMAND-Fia4a", "Code is empty";
    /// ResendEmailCode / ResendPhoneCode without a pending code.
    EmailCodeEmpty = FailedPrecondition, 400, "EMAIL-5w5ilin4yt", "Code is empty";
    PhoneCodeEmpty = FailedPrecondition, 400, "PHONE-5xrra88eq8", "Code is empty";
    /// SetPassword with a reset code when none is pending.
    PasswordCodeNotFound = FailedPrecondition, 400, "COMMAND-2M9fs", "Code not found";
    CodeExpired = FailedPrecondition, 400, "CODE-QvUQ4P", "Code is expired";
    CodeInvalid = InvalidArgument, 400, "CODE-woT0xc", "Code is invalid";
    PasswordNotSet = FailedPrecondition, 400, "COMMAND-Fds3s", "User has not set a password";
    PasswordInvalid = InvalidArgument, 400, "COMMAND-3M0fs", "Password is invalid";
    PasswordNotChanged = FailedPrecondition, 400, "COMMAND-Aesh5", "New password cannot be the same as your current password";
    PasswordEmpty = InvalidArgument, 400, "COMMAND-3klek4sbns", "Password is empty";
    /// A `hashedPassword` that is neither bcrypt nor Argon2id (create; update has its own id).
    PasswordHashNotSupported = InvalidArgument, 400, "USER-JDk4t", "Password hash encoding not supported: use bcrypt or Argon2id";
    PasswordHashNotSupportedUpdate = InvalidArgument, 400, "USER-oz74onzvqr", "Password hash encoding not supported: use bcrypt or Argon2id";
    // Personal access tokens.
    /// AddPersonalAccessToken for a missing user.
    TokenUserNotFound = FailedPrecondition, 400, "COMMAND-Dggw2", "User could not be found";
    /// AddPersonalAccessToken for a user that is not a machine.
    TokenWrongUserType = FailedPrecondition, 400, "COMMAND-Df2f1", "Not allowed for this user type";
    /// RemovePersonalAccessToken of a token (or user) that does not exist.
    TokenNotFound = NotFound, 404, "COMMAND-4m77G", "Personal Access Token not found";
    /// An expiration date that has passed (or none).
    ExpireBeforeNow = InvalidArgument, 400, "DOMAIN-dv3t5", "The expiration date is in the past";
    /// A machine holds at most 100 personal access tokens.
    TooManyTokens = FailedPrecondition, 400, "USERD-PAT-0001", "A machine holds at most 100 personal access tokens: remove one first";
    /// HumanMFAInitSkipped of a missing user or one that is not a human.
    MfaUserNotFound = NotFound, 404, "COMMAND-auj6jeBei4", "User could not be found";
    // Keys and client secrets.
    KeyUserNotFound = FailedPrecondition, 400, "COMMAND-bnipwm1", "User could not be found";
    KeyNotFound = NotFound, 404, "COMMAND-4m77G", "Machine key not found";
    KeyInvalid = InvalidArgument, 400, "COMMAND-5F3h1", "Public key is not a valid RSA public key in PKIX format with PEM encoding";
    /// A user holds at most 100 keys.
    TooManyKeys = FailedPrecondition, 400, "USERD-KEY-0001", "A user holds at most 100 keys: remove one first";
    /// AddSecret for a missing user or one that is not a machine.
    SecretUserNotFound = FailedPrecondition, 400, "COMMAND-x8910n", "User does not exist";
    RemoveSecretUserNotFound = FailedPrecondition, 400, "COMMAND-x7s802", "User does not exist";
    SecretNotFound = FailedPrecondition, 400, "COMMAND-coi82n", "Secret doesn't exist";
    PasswordTooShort = InvalidArgument, 400, "DOMAIN-HuJf6", "Password is too short";
    PasswordNoLowercase = InvalidArgument, 400, "DOMAIN-co3Xw", "Password must contain lower case";
    PasswordNoUppercase = InvalidArgument, 400, "DOMAIN-VoaRj", "Password must contain upper case";
    PasswordNoNumber = InvalidArgument, 400, "DOMAIN-ZBv4H", "Password must contain number";
    PasswordNoSymbol = InvalidArgument, 400, "DOMAIN-ZDLwA", "Password must contain symbol";

    // Creation.
    UserAlreadyExists = AlreadyExists, 409, "V3-DKcYh", "User already exists";

    // Authentication and authorization.
    AuthHeaderMissing = Unauthenticated, 401, "AUTH-7fs1e", "auth header missing", bare;
    TokenInvalid = Unauthenticated, 401, "AUTH-7fs1e", "Token is invalid";
    SubjectNotActive = Unauthenticated, 401, "AUTH-4m8vn2", "User is not active";
    TokenRevoked = Unauthenticated, 401, "AUTH-9cq2rv", "User is not active";
    PermissionDenied = PermissionDenied, 403, "AUTH-AWfge", "No matching permissions found";

    // Request shape (gRPC 3).
    UserIdMissing = InvalidArgument, 400, "USERD-ID-0001", "User ID missing";
    UserIdInvalid = InvalidArgument, 400, "USERD-ID-0002", "User ID must be 1 to 200 characters without control characters or '/'";
    OrganizationMissing = InvalidArgument, 400, "USERD-ORG-0001", "Organization missing: set organization.orgId, the x-zitadel-orgid header or the token's resource owner";
    BodyNotJson = InvalidArgument, 400, "USERD-BODY-0001", "Request body is not valid JSON";
    BodyTooLarge = InvalidArgument, 413, "USERD-BODY-0002", "Request body is larger than server.max_body_bytes";
    /// The body did not arrive within `server.body_timeout_seconds`.
    BodyTimeout = DeadlineExceeded, 408, "USERD-BODY-0005", "Request body did not arrive in time";
    /// The same on gRPC and gRPC-Web, where a message over the limit is RESOURCE_EXHAUSTED.
    MessageTooLarge = ResourceExhausted, 413, "USERD-BODY-0004", "Request message is larger than server.max_body_bytes";
    UnsupportedContentType = InvalidArgument, 415, "USERD-BODY-0003", "Content type is not supported: send application/json";
    /// A create request whose fields break the rules (the text says which).
    InvalidCreate = InvalidArgument, 400, "USERD-CREATE-0001", "Invalid user";
    /// A listing whose paging or filters break the rules (the text says which).
    InvalidListing = InvalidArgument, 400, "USERD-SEARCH-0001", "Invalid listing";
    /// A v2 listing whose queries nest deeper than ZITADEL's 20 levels.
    ListQueryTooDeep = InvalidArgument, 400, "USER-zsQ97", "Too many nesting levels in the query";
    /// A search filter userd does not serve.
    UnsupportedFilter = InvalidArgument, 400, "USERD-SEARCH-0002", "Filter is not supported";
    /// A v2 request whose fields break the rules (the text says which).
    InvalidV2Request = InvalidArgument, 400, "USERD-V2-0001", "Invalid request";

    // Administrators (memberships), ZITADEL's ids per resource and method.
    /// An administrator request without a resource (Create, Update, Delete).
    AdminCreateResourceMissing = InvalidArgument, 400, "ADMIN-IbPp47HDP5", "Invalid argument";
    AdminUpdateResourceMissing = InvalidArgument, 400, "ADMIN-i0V2IbdloZ", "Invalid argument";
    AdminDeleteResourceMissing = InvalidArgument, 400, "ADMIN-3UOjLtuohh", "Invalid argument";
    /// A project or project grant as the resource: userd has no projects.
    AdminProjectUnsupported = FailedPrecondition, 400, "USERD-ADMIN-0001", "userd has no projects: administrators are granted on the instance or an organization";
    /// A membership the configuration grants (`[[authz.members]]`): the API cannot change it.
    AdminConfigured = FailedPrecondition, 400, "USERD-ADMIN-0002", "This administrator's roles are granted in the configuration ([[authz.members]]); change them there";
    /// The server has no members file to write to.
    AdminNoFile = FailedPrecondition, 400, "USERD-ADMIN-0003", "Administrators cannot be changed: the server has no data directory";

    // Actions v2 (targets and executions), ZITADEL's ids per command.
    TargetNameMissing = InvalidArgument, 400, "COMMAND-ddqbm9us5p", "Target is invalid";
    TargetTimeoutMissing = InvalidArgument, 400, "COMMAND-39f35d8uri", "Target has no timeout";
    TargetUrlInvalid = InvalidArgument, 400, "COMMAND-1r2k6qo6wg", "Target URL is invalid";
    TargetChangeNameInvalid = InvalidArgument, 400, "COMMAND-d1wx4lm0zr", "Target is invalid";
    TargetChangeTimeoutInvalid = InvalidArgument, 400, "COMMAND-08b39vdi57", "Target has no timeout";
    TargetChangeUrlInvalid = InvalidArgument, 400, "COMMAND-jsbaera7b6", "Target URL is invalid";
    TargetIdMissing = InvalidArgument, 400, "COMMAND-1l6ympeagp", "ID is missing";
    TargetChangeNotFound = NotFound, 404, "COMMAND-xj14f2cccn", "Target not found";
    TargetNotFound = NotFound, 404, "QUERY-hj5oaniyrz", "Target not found";
    TargetNameTaken = AlreadyExists, 409, "V3-DKcYh", "Target already exists";
    /// An endpoint on the configured deny list (`[webhooks] deny`).
    TargetEndpointDenied = InvalidArgument, 400, "USERD-ACTION-0001", "Target endpoint is not allowed: its host is on the deny list";
    ExecutionConditionInvalid = InvalidArgument, 400, "ACTION-5r5Ju", "Execution condition is invalid";
    ExecutionEventInvalid = InvalidArgument, 400, "COMMAND-w5smb6v7qu", "Execution is invalid";
    ExecutionEventNotFound = NotFound, 404, "COMMAND-74aaqj8fv9", "Execution condition is invalid";
    ExecutionGroupNotFound = NotFound, 404, "COMMAND-er5oneb5lz", "Execution condition is invalid";
    ExecutionTargetNotFound = NotFound, 404, "COMMAND-17e8fq1ggk", "Target not found";
    /// Request, response and function conditions: userd has no such hooks.
    ExecutionKindUnsupported = InvalidArgument, 400, "USERD-ACTION-0002", "userd runs executions on events only: request, response and function conditions are not supported";
    /// A target past `webhooks.max_targets`.
    TooManyTargets = ResourceExhausted, 429, "USERD-ACTION-0004", "The instance holds as many targets as webhooks.max_targets allows: delete one first";
    /// Retry of a delivery that is not parked.
    DeliveryNotParked = NotFound, 404, "USERD-ACTION-0003", "No such parked delivery";
    /// The console's development sign-in, asked for while a key is configured or from
    /// elsewhere than this machine.
    DevSignInRefused = PermissionDenied, 403, "USERD-DEV-0001", "Development sign-in is offered only with the development secret, to a browser on this machine";
    /// A development tool asked for from a page of another site.
    DevCrossSite = PermissionDenied, 403, "USERD-DEV-0002", "Development tools answer requests from this machine only, not from other sites' pages";
    /// The seed of `POST /debug/reset` cannot be read or has bad lines.
    SeedInvalid = FailedPrecondition, 400, "USERD-DEV-0003", "The seed cannot be loaded";
    /// A backup of a store whose backend is backed up with its own tools (PostgreSQL).
    BackupUnsupported = FailedPrecondition, 400, "USERD-BACKUP-0001", "This backend has no userd backup: back up PostgreSQL with its own tools (pg_dump)";
    InstanceMemberInvalid = InvalidArgument, 400, "INSTANCE-4m0fS", "Member is invalid";
    InstanceMemberUserNotFound = FailedPrecondition, 400, "INSTA-GSXOn", "User could not be found";
    InstanceMemberExists = AlreadyExists, 409, "INSTA-pFDwe", "Member already exists";
    /// UpdateAdministrator on the instance with no roles.
    InstanceMemberChangeInvalid = InvalidArgument, 400, "INSTANCE-LiaZi", "Member is invalid";
    /// UpdateAdministrator on the instance with a role that is not an instance role.
    InstanceMemberRolesInvalid = InvalidArgument, 400, "INSTANCE-3m9fs", "Member is invalid";
    InstanceMemberNotFound = NotFound, 404, "INSTANCE-D8JxR", "Resource not found";
    /// CreateAdministrator on an organization with no roles.
    OrgMemberMissingRoles = InvalidArgument, 400, "ORG-4Mlfs", "Invalid argument";
    OrgMemberInvalid = InvalidArgument, 400, "Org-4N8es", "Member is invalid";
    OrgMemberUserNotFound = FailedPrecondition, 400, "ORG-GoXOn", "User could not be found";
    OrgMemberExists = AlreadyExists, 409, "ORG-poWwe", "Member already exists";
    /// UpdateAdministrator on an organization with no roles.
    OrgMemberChangeInvalid = InvalidArgument, 400, "Org-LiaZi", "Member is invalid";
    /// UpdateAdministrator on an organization with a role that is not an organization role.
    OrgMemberRolesInvalid = InvalidArgument, 400, "IAM-m9fG8", "Member is invalid";
    OrgMemberNotFound = NotFound, 404, "Org-D8JxR", "Resource not found";
    AdminFilterInvalid = InvalidArgument, 400, "PERM-vR9nC", "List query is invalid";
    AdminFilterTooDeep = InvalidArgument, 400, "PERM-zsQ97", "Too many nesting levels in the query";

    // Routing.
    UnknownMethod = Unimplemented, 501, "USERD-RPC-0001", "Method is not served by userd";
    MethodNotAllowed = Unimplemented, 405, "USERD-HTTP-405", "Method Not Allowed", bare;

    // Limits.
    /// A listing that no index serves ran past its budget, or too many such listings wait.
    ListingTooExpensive = ResourceExhausted, 429, "USERD-SEARCH-0003", "Listing needs too long a scan: narrow it with an organization, user id, username or email filter";

    /// `server.max_in_flight` requests are being served already.
    Overloaded = ResourceExhausted, 429, "USERD-LOAD-0001", "Server is busy, try again shortly";

    // Server side.
    Internal = Internal, 500, "USERD-INTERNAL", "Internal error";
    StoreUnavailable = Unavailable, 503, "USERD-STORE-0001", "Store is unavailable, the change was not applied";
    /// A write failed and could not be taken back: the change may reappear after a restart.
    StoreOutcomeUnknown = Unavailable, 503, "USERD-STORE-0002", "Store failed while writing; the change may or may not be applied";
    /// A read failed (the store is recovering from a failed write, for example).
    StoreReadUnavailable = Unavailable, 503, "USERD-STORE-0003", "Store cannot be read right now, try again shortly";
    ShuttingDown = Unavailable, 503, "USERD-SHUTDOWN", "Server is shutting down";
}

impl ErrorCode {
    pub fn grpc(self) -> GrpcCode {
        self.row().0
    }

    /// The HTTP status on REST paths and in Connect's unary protocol.
    pub fn http_status(self) -> u16 {
        self.row().1
    }

    pub fn id(self) -> &'static str {
        self.row().2
    }

    pub fn text(self) -> &'static str {
        self.row().3
    }
}

/// An error as it travels up to the wire: a table row, possibly with a more specific text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    /// Replaces the row's text (for example to say which field of a body was wrong).
    detail: Option<Cow<'static, str>>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self { code, detail: None }
    }

    /// The row `code` with a more specific text.
    pub fn with_text(code: ErrorCode, text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            detail: Some(text.into()),
        }
    }

    pub fn grpc(&self) -> GrpcCode {
        self.code.grpc()
    }

    pub fn id(&self) -> &'static str {
        self.code.id()
    }

    pub fn text(&self) -> &str {
        self.detail.as_deref().unwrap_or(self.code.text())
    }

    /// The message ZITADEL puts on the wire: the text followed by ` (ID)`, except for the
    /// rows ZITADEL answers with their bare text.
    pub fn message(&self) -> String {
        match self.code.row().4 {
            Message::Bare => self.text().to_string(),
            Message::WithId => format!("{} ({})", self.text(), self.id()),
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::new(code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message(), self.grpc().number())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_text_then_id() {
        let e = ApiError::from(ErrorCode::UserNotInactive);
        assert_eq!(e.message(), "User is not inactive (COMMAND-s5qqcz97hf)");
        assert_eq!(e.grpc().number(), 9);
        let e = ApiError::with_text(ErrorCode::InvalidCreate, "schemaId is required");
        assert_eq!(e.message(), "schemaId is required (USERD-CREATE-0001)");
    }

    #[test]
    fn some_answers_keep_zitadels_bare_text() {
        assert_eq!(
            ApiError::from(ErrorCode::AuthHeaderMissing).message(),
            "auth header missing"
        );
        assert_eq!(
            ApiError::from(ErrorCode::RouteNotFound).message(),
            "Not Found"
        );
        assert_eq!(
            ApiError::from(ErrorCode::MethodNotAllowed).message(),
            "Method Not Allowed"
        );
    }

    #[test]
    fn statuses_follow_the_contract() {
        for code in ErrorCode::ALL {
            let expected = match code.grpc() {
                GrpcCode::InvalidArgument => match code {
                    ErrorCode::BodyTooLarge => 413,
                    ErrorCode::UnsupportedContentType => 415,
                    _ => 400,
                },
                GrpcCode::FailedPrecondition => 400,
                GrpcCode::DeadlineExceeded => 408,
                GrpcCode::NotFound => 404,
                GrpcCode::AlreadyExists => 409,
                GrpcCode::PermissionDenied => 403,
                GrpcCode::ResourceExhausted => match code {
                    ErrorCode::MessageTooLarge => 413,
                    _ => 429,
                },
                GrpcCode::Unimplemented => match code {
                    ErrorCode::MethodNotAllowed => 405,
                    _ => 501,
                },
                GrpcCode::Internal => 500,
                GrpcCode::Unavailable => 503,
                GrpcCode::Unauthenticated => 401,
            };
            assert_eq!(code.http_status(), expected, "{code:?}");
        }
    }
}
