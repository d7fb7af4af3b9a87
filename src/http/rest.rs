//! The REST surface: ZITADEL's paths for the v3alpha and v2 user services, each a JSON codec in
//! front of the same method type the RPC protocols dispatch to (`api`).
//!
//! [`OPERATIONS`] is the one table: `http::routes` registers the handlers from it and
//! `/openapi.json` documents it, so a path cannot be served without being documented. A request
//! is checked in the contract's order: its path id, then its body (413, 415, 400), then the core
//! takes over (401, 404, 403, ...).

use super::body;
use super::error::HttpError;
use super::AppState;
use crate::api::{self, Method};
use crate::error::{ApiError, ErrorCode};
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};

/// What a route does with a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body is read (one announced larger than the limit still answers 413).
    None,
    /// A JSON object (or nothing) is accepted and ignored: the path says it all.
    Ignored,
    /// The method's request message, in protojson.
    Message,
}

/// One REST operation.
#[derive(Debug)]
pub struct Operation {
    /// `get`, `post` or `delete`.
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub success: u16,
    pub body: Body,
    /// The full names of the request and answer messages (for the document).
    pub request: fn() -> String,
    pub response: fn() -> String,
    route: fn(Body, u16, Option<usize>) -> actix_web::Route,
}

impl Operation {
    /// The actix-web route that serves this operation.
    pub fn route(&self) -> actix_web::Route {
        // Which segment of the path is the user's id, if one is.
        let id_segment = self.path.split('/').position(|s| s == "{userId}");
        (self.route)(self.body, self.success, id_segment)
    }
}

macro_rules! operations {
    ($($method:ident $path:literal => $ty:ty, $id:literal, $success:literal, $body:ident,
       $summary:literal, $description:literal;)*) => {
        /// Every REST operation userd serves, fixed paths before `{userId}` ones.
        pub const OPERATIONS: &[Operation] = &[$(Operation {
            method: stringify!($method),
            path: $path,
            id: $id,
            summary: $summary,
            description: $description,
            success: $success,
            body: Body::$body,
            request: <<$ty as Method>::Request as prost::Name>::full_name,
            response: <<$ty as Method>::Response as prost::Name>::full_name,
            route: |body, success, id_segment| {
                web::$method().to(
                    move |req: HttpRequest, payload: web::Payload, state: web::Data<AppState>| {
                        handle::<$ty>(req, payload, state, body, success, id_segment)
                    },
                )
            },
        },)*];
    };
}

operations! {
    post "/v3alpha/users" => api::v3alpha::CreateUser, "CreateUser", 201, Message,
        "Create a user", "Creates a user in an organization; it starts ACTIVE with sequence 1.";
    post "/v3alpha/users/search" => api::v3alpha::ListUsers, "SearchUsers", 200, Message,
        "Search users", "Lists the users the caller may read, newest first by default; deleted users are never listed.";
    get "/v3alpha/users/{userId}" => api::v3alpha::GetUserById, "GetUserByID", 200, None,
        "Get a user", "Returns a user; a deleted user is not found.";
    delete "/v3alpha/users/{userId}" => api::v3alpha::DeleteUser, "DeleteUser", 200, Ignored,
        "Delete a user", "Any live state to DELETED.";
    post "/v3alpha/users/{userId}/deactivate" => api::v3alpha::DeactivateUser, "DeactivateUser", 200, Ignored,
        "Deactivate a user", "ACTIVE or LOCKED to INACTIVE.";
    post "/v3alpha/users/{userId}/reactivate" => api::v3alpha::ReactivateUser, "ReactivateUser", 200, Ignored,
        "Reactivate a user", "Reactivate a previously deactivated user and change the state to 'active'. The user will be able to log in again. The endpoint returns an error if the user is not in the state 'deactivated'.";
    post "/v3alpha/users/{userId}/lock" => api::v3alpha::LockUser, "LockUser", 200, Ignored,
        "Lock a user", "ACTIVE or INITIAL to LOCKED.";
    post "/v3alpha/users/{userId}/unlock" => api::v3alpha::UnlockUser, "UnlockUser", 200, Ignored,
        "Unlock a user", "LOCKED to ACTIVE.";
    post "/v2/actions/targets" => api::actions::CreateTarget, "CreateTarget", 200, Message,
        "Create a target (v2)", "A webhook target: name, endpoint (http or https, not on the deny list), timeout and type; answers its signing key.";
    post "/v2/actions/targets/search" => api::actions::ListTargets, "ListTargets", 200, Message,
        "List targets (v2)", "Targets filtered by name or ids, sorted and paged.";
    post "/v2/actions/targets/{id}" => api::actions::UpdateTarget, "UpdateTarget", 200, Message,
        "Update a target (v2)", "Changes the fields given; expirationSigningKey 0s makes a new signing key, answered once.";
    get "/v2/actions/targets/{id}" => api::actions::GetTarget, "GetTarget", 200, None,
        "Get a target (v2)", "A target with its signing key.";
    delete "/v2/actions/targets/{id}" => api::actions::DeleteTarget, "DeleteTarget", 200, None,
        "Delete a target (v2)", "Removes the target from every execution; a missing target answers as deleted.";
    put "/v2/actions/executions" => api::actions::SetExecution, "SetExecution", 200, Message,
        "Set an execution (v2)", "The targets called for an event, an event group or all events; an empty list removes the execution.";
    post "/v2/actions/executions/search" => api::actions::ListExecutions, "ListExecutions", 200, Message,
        "List executions (v2)", "Event executions filtered by condition, type or target.";
    get "/v2/actions/executions/functions" => api::actions::ListExecutionFunctions, "ListExecutionFunctions", 200, None,
        "List execution functions (v2)", "Empty: userd has no function hooks.";
    get "/v2/actions/executions/methods" => api::actions::ListExecutionMethods, "ListExecutionMethods", 200, None,
        "List execution methods (v2)", "Empty: userd runs executions on events only.";
    get "/v2/actions/executions/services" => api::actions::ListExecutionServices, "ListExecutionServices", 200, None,
        "List execution services (v2)", "Empty: userd runs executions on events only.";
    post "/v2beta/actions/targets" => api::actions::CreateTarget, "CreateTargetV2beta", 200, Message,
        "Create a target (v2beta)", "A webhook target: name, endpoint (http or https, not on the deny list), timeout and type; answers its signing key.";
    post "/v2beta/actions/targets/search" => api::actions::ListTargets, "ListTargetsV2beta", 200, Message,
        "List targets (v2beta)", "Targets filtered by name or ids, sorted and paged.";
    post "/v2beta/actions/targets/{id}" => api::actions::UpdateTarget, "UpdateTargetV2beta", 200, Message,
        "Update a target (v2beta)", "Changes the fields given; expirationSigningKey 0s makes a new signing key, answered once.";
    get "/v2beta/actions/targets/{id}" => api::actions::GetTarget, "GetTargetV2beta", 200, None,
        "Get a target (v2beta)", "A target with its signing key.";
    delete "/v2beta/actions/targets/{id}" => api::actions::DeleteTarget, "DeleteTargetV2beta", 200, None,
        "Delete a target (v2beta)", "Removes the target from every execution; a missing target answers as deleted.";
    put "/v2beta/actions/executions" => api::actions::SetExecution, "SetExecutionV2beta", 200, Message,
        "Set an execution (v2beta)", "The targets called for an event, an event group or all events; an empty list removes the execution.";
    post "/v2beta/actions/executions/search" => api::actions::ListExecutions, "ListExecutionsV2beta", 200, Message,
        "List executions (v2beta)", "Event executions filtered by condition, type or target.";
    get "/v2beta/actions/executions/functions" => api::actions::ListExecutionFunctions, "ListExecutionFunctionsV2beta", 200, None,
        "List execution functions (v2beta)", "Empty: userd has no function hooks.";
    get "/v2beta/actions/executions/methods" => api::actions::ListExecutionMethods, "ListExecutionMethodsV2beta", 200, None,
        "List execution methods (v2beta)", "Empty: userd runs executions on events only.";
    get "/v2beta/actions/executions/services" => api::actions::ListExecutionServices, "ListExecutionServicesV2beta", 200, None,
        "List execution services (v2beta)", "Empty: userd runs executions on events only.";
    post "/userd/v1/deliveries/_search" => api::actions::ListDeliveries, "ListDeliveries", 200, Message,
        "List webhook deliveries", "The outbox: deliveries not yet taken by their targets, pending or (parked: true) given up on after their last attempt.";
    post "/userd/v1/deliveries/{targetId}/{position}/_retry" => api::actions::RetryDelivery, "RetryDelivery", 200, Ignored,
        "Retry a parked delivery", "Puts a parked delivery back in its target's queue, its attempts starting over.";
    post "/admin/v1/events/_search" => api::events::ListEvents, "ListEvents", 200, Message,
        "Search events", "The instance's events (every one a user's), newest first unless asc; needs events.read on the instance.";
    post "/admin/v1/events/types/_search" => api::events::ListEventTypes, "ListEventTypes", 200, Message,
        "List event types", "Every event type userd writes.";
    post "/admin/v1/aggregates/types/_search" => api::events::ListAggregateTypes, "ListAggregateTypes", 200, Message,
        "List aggregate types", "userd keeps one aggregate type: user.";
    post "/management/v1/users/{userId}/changes/_search" => api::events::ListUserChanges, "ListUserChanges", 200, Message,
        "List a user's changes", "The user's history (deleted users' too), newest first unless query.asc; needs user.read on its organization.";
    post "/v2/users/human" => api::v2::AddHumanUser, "AddHumanUser", 200, Message,
        "Add a human user (v2)", "Creates a human user; without a password and without a verified email it starts INITIAL.";
    post "/v2/users/pats/search" => api::credentials::ListPersonalAccessTokens, "ListPersonalAccessTokens", 200, Message,
        "List personal access tokens", "The tokens of the user named by a userIdFilter (never their secrets), newest first unless pagination.asc.";
    post "/v2/users/keys/search" => api::credentials::ListKeys, "ListKeys", 200, Message,
        "List keys", "The keys of the user named by a userIdFilter (public halves only), newest first unless pagination.asc.";
    post "/v2/users/new" => api::v2::CreateUser, "CreateUserV2", 200, Message,
        "Create a user (v2)", "Creates a human or a machine user; a machine without a username is named by its id.";
    post "/v2/users" => api::v2::ListUsers, "ListUsers", 200, Message,
        "List users (v2)", "Lists the users the caller may read.";
    get "/v2/users/{userId}" => api::v2::GetUserById, "GetUserByIDV2", 200, None,
        "Get a user (v2)", "Returns a user in v2's shape.";
    delete "/v2/users/{userId}" => api::v2::DeleteUser, "DeleteUserV2", 200, Ignored,
        "Delete a user (v2)", "Any live state to DELETED.";
    post "/v2/users/{userId}/deactivate" => api::v2::DeactivateUser, "DeactivateUserV2", 200, Ignored,
        "Deactivate a user (v2)", "ACTIVE or LOCKED to INACTIVE.";
    post "/v2/users/{userId}/reactivate" => api::v2::ReactivateUser, "ReactivateUserV2", 200, Ignored,
        "Reactivate a user (v2)", "INACTIVE to ACTIVE.";
    post "/v2/users/{userId}/lock" => api::v2::LockUser, "LockUserV2", 200, Ignored,
        "Lock a user (v2)", "ACTIVE or INITIAL to LOCKED.";
    post "/v2/users/{userId}/unlock" => api::v2::UnlockUser, "UnlockUserV2", 200, Ignored,
        "Unlock a user (v2)", "LOCKED to ACTIVE.";
    post "/v2beta/users/human" => api::v2::AddHumanUser, "AddHumanUserV2beta", 201, Message,
        "Add a human user (v2beta)", "v2's AddHumanUser on v2beta's path, answering 201 as v2beta does.";
    post "/v2beta/users" => api::v2::ListUsers, "ListUsersV2beta", 200, Message,
        "List users (v2beta)", "v2's ListUsers on v2beta's path.";
    get "/v2beta/users/{userId}" => api::v2::GetUserById, "GetUserByIDV2beta", 200, None,
        "Get a user (v2beta)", "v2's GetUserByID on v2beta's path.";
    delete "/v2beta/users/{userId}" => api::v2::DeleteUser, "DeleteUserV2beta", 200, Ignored,
        "Delete a user (v2beta)", "Any live state to DELETED.";
    post "/v2beta/users/{userId}/deactivate" => api::v2::DeactivateUser, "DeactivateUserV2beta", 200, Ignored,
        "Deactivate a user (v2beta)", "ACTIVE or LOCKED to INACTIVE.";
    post "/v2beta/users/{userId}/reactivate" => api::v2::ReactivateUser, "ReactivateUserV2beta", 200, Ignored,
        "Reactivate a user (v2beta)", "INACTIVE to ACTIVE.";
    post "/v2beta/users/{userId}/lock" => api::v2::LockUser, "LockUserV2beta", 200, Ignored,
        "Lock a user (v2beta)", "ACTIVE or INITIAL to LOCKED.";
    post "/v2beta/users/{userId}/unlock" => api::v2::UnlockUser, "UnlockUserV2beta", 200, Ignored,
        "Unlock a user (v2beta)", "LOCKED to ACTIVE.";
    get "/v2/users/{userId}/authentication_methods" => api::v2::ListAuthenticationMethodTypes, "ListAuthenticationMethodTypes", 200, None,
        "List a user's authentication methods", "The ways the user can authenticate: PASSWORD when it has one; empty for a missing user.";
    post "/v2/users/{userId}/metadata" => api::metadata::SetUserMetadata, "SetUserMetadata", 200, Message,
        "Set metadata of a user", "Adds or replaces metadata keys (values base64); needs user.write on the user's organization.";
    post "/v2/users/{userId}/metadata/search" => api::metadata::ListUserMetadata, "ListUserMetadata", 200, Message,
        "List metadata of a user", "A page of the user's metadata, newest first unless pagination.asc; empty for a user the caller may not read.";
    delete "/v2/users/{userId}/metadata" => api::metadata::DeleteUserMetadata, "DeleteUserMetadata", 200, None,
        "Delete metadata of a user", "Removes the keys given as query parameters (?keys=a&keys=b); if one is not set, nothing is removed.";
    patch "/v2/users/{userId}" => api::edits::UpdateUser, "UpdateUser", 200, Message,
        "Update a user (v2)", "Changes a human's or a machine's fields; what is not given stays. An empty phone number removes the phone.";
    put "/v2/users/human/{userId}" => api::edits::UpdateHumanUser, "UpdateHumanUser", 200, Message,
        "Update a human user (v2)", "Changes username, profile, email, phone and password; each change is an event.";
    post "/v2/users/{userId}/email" => api::edits::SetEmail, "SetEmail", 200, Message,
        "Set a user's email", "A new address, verified (isVerified, needs user.write) or with a code (sendCode, returnCode).";
    post "/v2/users/{userId}/email/resend" => api::edits::ResendEmailCode, "ResendEmailCode", 200, Message,
        "Resend the email code", "Replaces the pending email code; refused when none is pending.";
    post "/v2/users/{userId}/email/send" => api::edits::SendEmailCode, "SendEmailCode", 200, Message,
        "Send an email code", "Makes a new email code, whether one is pending or not.";
    post "/v2/users/{userId}/email/verify" => api::edits::VerifyEmail, "VerifyEmail", 200, Message,
        "Verify the email", "Verifies the email with the code sent or returned.";
    post "/v2/users/{userId}/phone" => api::edits::SetPhone, "SetPhone", 200, Message,
        "Set a user's phone", "A new number (E.164), verified or with a returned code; sendCode answers that there is no SMS provider.";
    delete "/v2/users/{userId}/phone" => api::edits::RemovePhone, "RemovePhone", 200, Ignored,
        "Remove a user's phone", "Removes the phone; needs user.write on the user's organization.";
    post "/v2/users/{userId}/phone/resend" => api::edits::ResendPhoneCode, "ResendPhoneCode", 200, Message,
        "Resend the phone code", "Replaces the pending phone code (returnCode).";
    post "/v2/users/{userId}/phone/verify" => api::edits::VerifyPhone, "VerifyPhone", 200, Message,
        "Verify the phone", "Verifies the phone with the code returned.";
    post "/v2/users/{userId}/password" => api::edits::SetPassword, "SetPassword", 200, Message,
        "Set a user's password", "By the current password, a reset code, or a caller with user.write; the complexity policy applies.";
    post "/v2/users/{userId}/password_reset" => api::edits::PasswordReset, "PasswordReset", 200, Message,
        "Request a password reset", "Makes a reset code, returned (returnCode) or sent by email (sendLink).";
    post "/v2/users/{userId}/pats" => api::credentials::AddPersonalAccessToken, "AddPersonalAccessToken", 200, Message,
        "Add a personal access token", "A bearer token for a machine user, shown once; expirationDate is required and in the future.";
    delete "/v2/users/{userId}/pats/{tokenId}" => api::credentials::RemovePersonalAccessToken, "RemovePersonalAccessToken", 200, None,
        "Remove a personal access token", "The token stops working at once.";
    post "/v2/users/{userId}/keys" => api::credentials::AddKey, "AddKey", 200, Message,
        "Add a key", "An RSA public key (PEM, base64 in publicKey), or a generated pair whose private key is answered once in keyContent.";
    delete "/v2/users/{userId}/keys/{keyId}" => api::credentials::RemoveKey, "RemoveKey", 200, None,
        "Remove a key", "Removes one of the user's keys.";
    post "/v2/users/{userId}/secret" => api::credentials::AddSecret, "AddSecret", 200, Ignored,
        "Add a client secret", "A machine's client secret (64 characters), answered once; it replaces any other.";
    delete "/v2/users/{userId}/secret" => api::credentials::RemoveSecret, "RemoveSecret", 200, None,
        "Remove the client secret", "Removes a machine's client secret.";
    post "/v2/users/{userId}/authentication_factors/_search" => api::v2::ListAuthenticationFactors, "ListAuthenticationFactors", 200, Ignored,
        "List a user's second factors", "Empty for every user: second factors need a login UI userd does not have.";
    post "/v2/users/{userId}/mfa_init_skipped" => api::edits::HumanMfaInitSkipped, "HumanMFAInitSkipped", 200, Ignored,
        "Record a skipped second-factor setup", "An event in the human's history.";
    put "/v2beta/users/{userId}" => api::edits::UpdateHumanUser, "UpdateHumanUserV2beta", 200, Message,
        "Update a human user (v2beta)", "v2's UpdateHumanUser on v2beta's path.";
    post "/v2beta/users/{userId}/email" => api::edits::SetEmail, "SetEmailV2beta", 200, Message,
        "Set a user's email (v2beta)", "v2's SetEmail on v2beta's path.";
    post "/v2beta/users/{userId}/email/resend" => api::edits::ResendEmailCode, "ResendEmailCodeV2beta", 200, Message,
        "Resend the email code (v2beta)", "v2's ResendEmailCode on v2beta's path.";
    post "/v2beta/users/{userId}/email/verify" => api::edits::VerifyEmail, "VerifyEmailV2beta", 200, Message,
        "Verify the email (v2beta)", "v2's VerifyEmail on v2beta's path.";
    post "/v2beta/users/{userId}/phone" => api::edits::SetPhone, "SetPhoneV2beta", 200, Message,
        "Set a user's phone (v2beta)", "v2's SetPhone on v2beta's path.";
    delete "/v2beta/users/{userId}/phone" => api::edits::RemovePhone, "RemovePhoneV2beta", 200, Ignored,
        "Remove a user's phone (v2beta)", "v2's RemovePhone on v2beta's path.";
    post "/v2beta/users/{userId}/phone/resend" => api::edits::ResendPhoneCode, "ResendPhoneCodeV2beta", 200, Message,
        "Resend the phone code (v2beta)", "v2's ResendPhoneCode on v2beta's path.";
    post "/v2beta/users/{userId}/phone/verify" => api::edits::VerifyPhone, "VerifyPhoneV2beta", 200, Message,
        "Verify the phone (v2beta)", "v2's VerifyPhone on v2beta's path.";
    post "/v2beta/users/{userId}/password" => api::edits::SetPassword, "SetPasswordV2beta", 200, Message,
        "Set a user's password (v2beta)", "v2's SetPassword on v2beta's path.";
    post "/v2beta/users/{userId}/password_reset" => api::edits::PasswordReset, "PasswordResetV2beta", 200, Message,
        "Request a password reset (v2beta)", "v2's PasswordReset on v2beta's path.";
}

/// One REST request through method `M`: path, body, then the core; the answer in protojson.
async fn handle<M: Method>(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    body: Body,
    success: u16,
    id_segment: Option<usize>,
) -> Result<HttpResponse, HttpError> {
    let _admitted = state.admission.admit()?;
    let id = id_segment
        .map(|segment| body::path_user_id(&req, segment))
        .transpose()?;
    let limit = state.max_body_bytes;
    let mut request = match body {
        Body::None => {
            body::check_declared_length(&req, limit)?;
            M::Request::default()
        }
        Body::Ignored | Body::Message => {
            let bytes = body::read(&req, payload, limit, state.body_timeout).await?;
            body::check_json_content_type(&req)?;
            if body == Body::Ignored {
                body::ignored_object(&bytes)?;
                M::Request::default()
            } else {
                body::json_message(&bytes)?
            }
        }
    };
    for (name, value) in req.match_info().iter() {
        if name != "userId" {
            M::set_path(&mut request, name, value.to_string());
        }
    }
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        M::set_query(&mut request, &key, value.into_owned());
    }
    if let Some(id) = id {
        M::set_user_id(&mut request, id);
    }
    let answer = M::call(&state.core, &body::context(&req), request).await?;
    let json = serde_json::to_vec(&answer).map_err(|e| {
        log::error!(
            "an answer of {} did not encode: {e}",
            std::any::type_name::<M>()
        );
        ApiError::from(ErrorCode::Internal)
    })?;
    Ok(
        HttpResponse::build(StatusCode::from_u16(success).unwrap_or(StatusCode::OK))
            .content_type("application/json")
            .body(json),
    )
}
