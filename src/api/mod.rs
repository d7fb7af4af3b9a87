//! The services userd speaks, without their protocols: each method is a type naming its request
//! and answer messages (the generated `pb` types, read from protojson or binary alike) and how
//! it runs on the core. Converting a message into the core's typed request (`TryFrom`-style
//! functions here) is where field-level rules answer 400; nothing here reads bytes or headers.
//!
//! [`dispatch`] is the one table of RPC methods; REST routes (`http::rest`) name the same method
//! types, so a method behaves the same on every surface.

pub mod actions;
pub mod administrators;
pub mod credentials;
pub mod edits;
pub mod events;
pub mod metadata;
pub mod resources;
pub mod v2;
pub mod v3alpha;

use crate::app::{Core, RequestContext};
use crate::domain::{ChangeDetails, TextMatch, TextMethod, Timestamp, User};
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::object::v2 as object;
use std::future::Future;

/// One method of a service.
pub trait Method: 'static {
    type Request: prost::Message + Default + serde::de::DeserializeOwned + Send + 'static;
    type Response: prost::Message + serde::Serialize + 'static;

    /// Run the method on the core (after the protocol decoded the request).
    fn call(
        core: &Core,
        ctx: &RequestContext,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, ApiError>>;

    /// Put the `{userId}` of a REST path into the request (the path wins over the body).
    fn set_user_id(_request: &mut Self::Request, _id: String) {}

    /// Put a path parameter other than `{userId}` (`{tokenId}`, ...) into the request.
    fn set_path(_request: &mut Self::Request, _name: &str, _value: String) {}

    /// Put one parameter of a REST query string into the request (fields a method without a
    /// body takes from the query, as ZITADEL's gateway does; others are ignored).
    fn set_query(_request: &mut Self::Request, _key: &str, _value: String) {}
}

/// A protocol's way of running any method: decode its request, call it, encode its answer.
pub trait Codec {
    type Output;
    fn run<M: Method>(self) -> impl Future<Output = Self::Output>;
}

/// Declares the RPC table: every served method of every service, by its path names.
macro_rules! services {
    ($($service:literal => { $($method:literal => $ty:ty,)* })*) => {
        /// Whether userd serves the named service at all.
        pub fn is_service(name: &str) -> bool {
            matches!(name, $($service)|*)
        }

        /// Run `service`/`method` with `codec`; None if the service has no such method.
        pub async fn dispatch<C: Codec>(service: &str, method: &str, codec: C) -> Option<C::Output> {
            Some(match (service, method) {
                $($(($service, $method) => codec.run::<$ty>().await,)*)*
                _ => return None,
            })
        }

        /// Every served method, as (service, method).
        pub const METHODS: &[(&str, &str)] = &[$($(($service, $method),)*)*];
    };
}

services! {
    "zitadel.user.v2.UserService" => {
        "AddHumanUser" => v2::AddHumanUser,
        "CreateUser" => v2::CreateUser,
        "GetUserByID" => v2::GetUserById,
        "ListUsers" => v2::ListUsers,
        "DeactivateUser" => v2::DeactivateUser,
        "ReactivateUser" => v2::ReactivateUser,
        "LockUser" => v2::LockUser,
        "UnlockUser" => v2::UnlockUser,
        "DeleteUser" => v2::DeleteUser,
        "SetUserMetadata" => metadata::SetUserMetadata,
        "ListUserMetadata" => metadata::ListUserMetadata,
        "DeleteUserMetadata" => metadata::DeleteUserMetadata,
        "ListAuthenticationMethodTypes" => v2::ListAuthenticationMethodTypes,
        "UpdateUser" => edits::UpdateUser,
        "UpdateHumanUser" => edits::UpdateHumanUser,
        "SetEmail" => edits::SetEmail,
        "ResendEmailCode" => edits::ResendEmailCode,
        "SendEmailCode" => edits::SendEmailCode,
        "VerifyEmail" => edits::VerifyEmail,
        "SetPhone" => edits::SetPhone,
        "RemovePhone" => edits::RemovePhone,
        "ResendPhoneCode" => edits::ResendPhoneCode,
        "VerifyPhone" => edits::VerifyPhone,
        "SetPassword" => edits::SetPassword,
        "PasswordReset" => edits::PasswordReset,
        "AddPersonalAccessToken" => credentials::AddPersonalAccessToken,
        "RemovePersonalAccessToken" => credentials::RemovePersonalAccessToken,
        "ListPersonalAccessTokens" => credentials::ListPersonalAccessTokens,
        "AddKey" => credentials::AddKey,
        "RemoveKey" => credentials::RemoveKey,
        "ListKeys" => credentials::ListKeys,
        "AddSecret" => credentials::AddSecret,
        "RemoveSecret" => credentials::RemoveSecret,
        "ListAuthenticationFactors" => v2::ListAuthenticationFactors,
        "HumanMFAInitSkipped" => edits::HumanMfaInitSkipped,
    }
    "zitadel.internal_permission.v2.InternalPermissionService" => {
        "CreateAdministrator" => administrators::CreateAdministrator,
        "UpdateAdministrator" => administrators::UpdateAdministrator,
        "DeleteAdministrator" => administrators::DeleteAdministrator,
        "ListAdministrators" => administrators::ListAdministratorsMethod,
    }
    "zitadel.action.v2.ActionService" => {
        "CreateTarget" => actions::CreateTarget,
        "UpdateTarget" => actions::UpdateTarget,
        "DeleteTarget" => actions::DeleteTarget,
        "GetTarget" => actions::GetTarget,
        "ListTargets" => actions::ListTargets,
        "SetExecution" => actions::SetExecution,
        "ListExecutions" => actions::ListExecutions,
        "ListExecutionFunctions" => actions::ListExecutionFunctions,
        "ListExecutionMethods" => actions::ListExecutionMethods,
        "ListExecutionServices" => actions::ListExecutionServices,
    }
    // v2beta's messages are v2's without payload types, field for field.
    "zitadel.action.v2beta.ActionService" => {
        "CreateTarget" => actions::CreateTarget,
        "UpdateTarget" => actions::UpdateTarget,
        "DeleteTarget" => actions::DeleteTarget,
        "GetTarget" => actions::GetTarget,
        "ListTargets" => actions::ListTargets,
        "SetExecution" => actions::SetExecution,
        "ListExecutions" => actions::ListExecutions,
        "ListExecutionFunctions" => actions::ListExecutionFunctions,
        "ListExecutionMethods" => actions::ListExecutionMethods,
        "ListExecutionServices" => actions::ListExecutionServices,
    }
    "userd.webhooks.v1.DeliveryService" => {
        "ListDeliveries" => actions::ListDeliveries,
        "RetryDelivery" => actions::RetryDelivery,
    }
    "zitadel.admin.v1.AdminService" => {
        "ListEvents" => events::ListEvents,
        "ListEventTypes" => events::ListEventTypes,
        "ListAggregateTypes" => events::ListAggregateTypes,
    }
    "zitadel.management.v1.ManagementService" => {
        "ListUserChanges" => events::ListUserChanges,
    }
    // v2beta's messages are v2's for the instance and organizations, which userd serves.
    "zitadel.internal_permission.v2beta.InternalPermissionService" => {
        "CreateAdministrator" => administrators::CreateAdministrator,
        "UpdateAdministrator" => administrators::UpdateAdministrator,
        "DeleteAdministrator" => administrators::DeleteAdministrator,
        "ListAdministrators" => administrators::ListAdministratorsMethod,
    }
    // v2beta's messages for these methods are v2's, field for field.
    "zitadel.user.v2beta.UserService" => {
        "AddHumanUser" => v2::AddHumanUser,
        "GetUserByID" => v2::GetUserById,
        "ListUsers" => v2::ListUsers,
        "DeactivateUser" => v2::DeactivateUser,
        "ReactivateUser" => v2::ReactivateUser,
        "LockUser" => v2::LockUser,
        "UnlockUser" => v2::UnlockUser,
        "DeleteUser" => v2::DeleteUser,
        "UpdateHumanUser" => edits::UpdateHumanUser,
        "SetEmail" => edits::SetEmail,
        "ResendEmailCode" => edits::ResendEmailCode,
        "VerifyEmail" => edits::VerifyEmail,
        "SetPhone" => edits::SetPhone,
        "RemovePhone" => edits::RemovePhone,
        "ResendPhoneCode" => edits::ResendPhoneCode,
        "VerifyPhone" => edits::VerifyPhone,
        "SetPassword" => edits::SetPassword,
        "PasswordReset" => edits::PasswordReset,
    }
    "zitadel.user.v3alpha.UserService" => {
        "CreateUser" => v3alpha::CreateUser,
        "GetUserByID" => v3alpha::GetUserById,
        // ZITADEL named the method ListUsers (on POST /v3alpha/users/search); both are served.
        "ListUsers" => v3alpha::ListUsers,
        "SearchUsers" => v3alpha::ListUsers,
        "DeactivateUser" => v3alpha::DeactivateUser,
        "ReactivateUser" => v3alpha::ReactivateUser,
        "LockUser" => v3alpha::LockUser,
        "UnlockUser" => v3alpha::UnlockUser,
        "DeleteUser" => v3alpha::DeleteUser,
    }
    "zitadel.resources.user.v3alpha.ZITADELUsers" => {
        "CreateUser" => resources::CreateUser,
        "GetUser" => resources::GetUser,
        "SearchUsers" => resources::SearchUsers,
        "DeactivateUser" => resources::DeactivateUser,
        "ActivateUser" => resources::ActivateUser,
        "LockUser" => resources::LockUser,
        "UnlockUser" => resources::UnlockUser,
        "DeleteUser" => resources::DeleteUser,
    }
}

/// Declares a lifecycle method: its messages (a request with the user's id, an answer with
/// details), the operation, whether callers may act on themselves, and how details look.
macro_rules! lifecycle_method {
    ($(#[$doc:meta])* $name:ident: $req:ty => $resp:ty, $op:expr, $self_service:expr, id: $id:ident, $details:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl $crate::api::Method for $name {
            type Request = $req;
            type Response = $resp;

            async fn call(
                core: &$crate::app::Core,
                ctx: &$crate::app::RequestContext,
                request: $req,
            ) -> Result<$resp, $crate::error::ApiError> {
                let user_id = $crate::app::user_id(&request.$id)?;
                let change = $crate::app::ChangeState {
                    op: $op,
                    user_id: user_id.clone(),
                    self_service: $self_service,
                };
                let done = core.change(ctx, change).await?;
                let mut response = <$resp>::default();
                response.details = Some($details(&user_id, &done));
                Ok(response)
            }

            fn set_user_id(request: &mut $req, id: String) {
                request.$id = id;
            }
        }
    };
}
pub(crate) use lifecycle_method;

/// A point in time as `google.protobuf.Timestamp`.
/// A protobuf timestamp as userd keeps time.
pub fn time_of(t: &crate::pb::Timestamp) -> Timestamp {
    Timestamp(
        t.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(t.nanos)),
    )
}

/// A `zitadel.filter.v2.TimestampFilter` as the core's (no timestamp: the epoch); None for a
/// method number it does not name.
pub fn timestamp_filter(
    f: &crate::pb::zitadel::filter::v2::TimestampFilter,
) -> Option<crate::app::TimeFilter> {
    use crate::app::TimeCmp;
    use crate::pb::zitadel::filter::v2::TimestampFilterMethod as M;
    let cmp = match M::try_from(f.method).ok()? {
        M::Equals => TimeCmp::Equals,
        M::After => TimeCmp::After,
        M::AfterOrEquals => TimeCmp::AfterOrEquals,
        M::Before => TimeCmp::Before,
        M::BeforeOrEquals => TimeCmp::BeforeOrEquals,
    };
    Some(crate::app::TimeFilter {
        cmp,
        at: f.timestamp.as_ref().map_or(Timestamp(0), time_of),
    })
}

pub fn timestamp(t: Timestamp) -> crate::pb::Timestamp {
    crate::pb::Timestamp {
        seconds: t.unix_seconds(),
        // Below 10^9.
        nanos: t.subsec_nanos() as i32,
    }
}

/// `zitadel.object.v2.Details` of a change.
pub fn change_details(_user_id: &str, d: &ChangeDetails) -> object::Details {
    object::Details {
        sequence: d.sequence,
        change_date: Some(timestamp(d.changed_at)),
        resource_owner: d.org.clone(),
        creation_date: None,
    }
}

/// `zitadel.object.v2.Details` of a user as read.
pub fn user_details(u: &User) -> object::Details {
    object::Details {
        sequence: u.sequence,
        change_date: Some(timestamp(u.changed_at)),
        resource_owner: u.org.clone(),
        creation_date: Some(timestamp(u.created_at)),
    }
}

/// `zitadel.object.v2.ListDetails`: with no match, neither count nor time (defaults omitted).
pub fn list_details(total: u64) -> object::ListDetails {
    object::ListDetails {
        total_result: total,
        processed_sequence: 0,
        timestamp: (total > 0).then(|| timestamp(Timestamp::now())),
    }
}

/// A text filter from ZITADEL's `TextQueryMethod` (v2).
pub fn text_query(value: String, method: i32) -> Result<TextMatch, ApiError> {
    use object::TextQueryMethod as M;
    let method = M::try_from(method).map_err(|_| {
        ApiError::with_text(
            ErrorCode::InvalidListing,
            format!("unknown text query method {method}"),
        )
    })?;
    let (method, ignore_case) = match method {
        M::Equals => (TextMethod::Equals, false),
        M::EqualsIgnoreCase => (TextMethod::Equals, true),
        M::StartsWith => (TextMethod::StartsWith, false),
        M::StartsWithIgnoreCase => (TextMethod::StartsWith, true),
        M::Contains => (TextMethod::Contains, false),
        M::ContainsIgnoreCase => (TextMethod::Contains, true),
        M::EndsWith => (TextMethod::EndsWith, false),
        M::EndsWithIgnoreCase => (TextMethod::EndsWith, true),
    };
    Ok(TextMatch {
        value,
        method,
        ignore_case,
    })
}

/// The organization id of a `zitadel.object.v2.Organization` (an org domain is not served).
pub fn organization_id(
    org: Option<object::Organization>,
    invalid: ErrorCode,
) -> Result<Option<String>, ApiError> {
    match org.and_then(|o| o.org) {
        None => Ok(None),
        Some(object::organization::Org::OrgId(id)) => Ok(Some(id).filter(|id| !id.is_empty())),
        Some(object::organization::Org::OrgDomain(_)) => Err(ApiError::with_text(
            invalid,
            "organization.orgDomain is not supported: use organization.orgId",
        )),
    }
}
