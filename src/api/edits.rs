//! `zitadel.user.v2.UserService`'s methods that change a user's data: `UpdateUser`,
//! `UpdateHumanUser`, the email, phone and password methods. Each converts its message into the
//! core's [`EditUser`] (field rules answer 400 here) and its answer back; v2beta shares them.

use super::{change_details, timestamp, Method};
use crate::app::{
    self, CodeDelivery, Core, EditUser, Edited, NewPassword, Password, ProofInput, RequestContext,
    UserChange,
};
use crate::domain::{CodeKind, CodeRule, MachinePatch, ProfilePatch};
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::user::v2 as pb;

fn invalid(text: impl Into<String>) -> ApiError {
    ApiError::with_text(ErrorCode::InvalidV2Request, text.into())
}

/// A checked email address: not empty, one `@` with text on both sides, no spaces or display
/// name, at most 200 characters.
fn email_address(address: &str) -> Result<String, ApiError> {
    if address.is_empty() {
        return Err(ErrorCode::EmailEmpty.into());
    }
    let well_formed = address.chars().count() <= 200
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !well_formed {
        return Err(ErrorCode::EmailInvalid.into());
    }
    Ok(address.to_string())
}

/// A phone number in E.164, read as ZITADEL reads it (Switzerland is the default region): `+`
/// or `00` and the country code, or a national number with its leading `0`. Spaces, dashes,
/// dots, slashes and parentheses are dropped; 4 to 15 digits remain.
pub fn phone_number(number: &str) -> Result<String, ApiError> {
    if number.is_empty() {
        return Err(ErrorCode::PhoneEmpty.into());
    }
    let kept: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '/' | '(' | ')'))
        .collect();
    let digits = if let Some(rest) = kept.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = kept.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = kept.strip_prefix('0') {
        format!("41{rest}")
    } else {
        format!("41{kept}")
    };
    let valid = (4..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !valid {
        return Err(ErrorCode::PhoneInvalid.into());
    }
    Ok(format!("+{digits}"))
}

fn username(name: Option<String>) -> Result<Option<String>, ApiError> {
    match name {
        None => Ok(None),
        Some(n) if n.is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) => {
            Err(invalid("username must be 1 to 200 characters"))
        }
        Some(n) => Ok(Some(n)),
    }
}

pub(super) fn url_template(template: Option<String>) -> Result<Option<String>, ApiError> {
    match template {
        Some(t) if t.is_empty() || t.chars().count() > 200 => {
            Err(invalid("urlTemplate must be 1 to 200 characters"))
        }
        Some(t) if !crate::notify::is_valid_url_template(&t) => {
            Err(ErrorCode::InvalidUrlTemplate.into())
        }
        other => Ok(other),
    }
}

fn email_delivery(v: Option<pb::set_human_email::Verification>) -> Result<CodeDelivery, ApiError> {
    use pb::set_human_email::Verification as V;
    Ok(match v {
        None | Some(V::IsVerified(false)) => CodeDelivery::Default,
        Some(V::IsVerified(true)) => CodeDelivery::Verified,
        Some(V::ReturnCode(_)) => CodeDelivery::Return,
        Some(V::SendCode(s)) => CodeDelivery::Send {
            url_template: url_template(s.url_template)?,
        },
    })
}

fn phone_delivery(v: Option<pb::set_human_phone::Verification>) -> Result<CodeDelivery, ApiError> {
    use pb::set_human_phone::Verification as V;
    Ok(match v {
        None => CodeDelivery::Default,
        Some(V::IsVerified(true)) => CodeDelivery::Verified,
        Some(V::IsVerified(false)) => return Err(invalid("isVerified must be true when set")),
        Some(V::ReturnCode(_)) => CodeDelivery::Return,
        Some(V::SendCode(_)) => CodeDelivery::Send { url_template: None },
    })
}

/// A `SetPassword` message as a change.
fn password_change(p: pb::SetPassword) -> Result<UserChange, ApiError> {
    use pb::set_password::{PasswordType, Verification};
    let (new, change_required) = match p.password_type {
        Some(PasswordType::Password(p)) => (clear_password(p.password)?, p.change_required),
        Some(PasswordType::HashedPassword(h)) => {
            if !app::secrets::is_accepted_hash(&h.hash) {
                return Err(ErrorCode::PasswordHashNotSupportedUpdate.into());
            }
            (NewPassword::Hashed(h.hash), h.change_required)
        }
        None => return Err(ErrorCode::PasswordEmpty.into()),
    };
    let proof = match p.verification {
        None => ProofInput::None,
        Some(Verification::CurrentPassword(c)) => ProofInput::CurrentPassword(c),
        Some(Verification::VerificationCode(c)) => ProofInput::Code(c),
    };
    Ok(UserChange::Password {
        new,
        change_required,
        proof,
    })
}

fn clear_password(clear: String) -> Result<NewPassword, ApiError> {
    if clear.is_empty() {
        return Err(ErrorCode::PasswordEmpty.into());
    }
    Ok(NewPassword::Clear(Password::new(clear)?))
}

/// A profile field given as a string: empty keeps the current value (ZITADEL's PUT reads it so).
fn kept_if_empty(value: String) -> Option<String> {
    Some(value).filter(|v| !v.is_empty())
}

fn checked_profile(patch: ProfilePatch) -> Result<ProfilePatch, ApiError> {
    for (value, name, max) in [
        (&patch.given_name, "givenName", 200),
        (&patch.family_name, "familyName", 200),
        (&patch.nick_name, "nickName", 200),
        (&patch.display_name, "displayName", 200),
        (&patch.preferred_language, "preferredLanguage", 10),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(invalid(format!(
                "profile.{name} must be at most {max} characters"
            )));
        }
    }
    if let Some(g) = patch.gender {
        pb::Gender::try_from(g)
            .map_err(|_| invalid(format!("profile.gender: unknown gender {g}")))?;
    }
    Ok(patch)
}

/// The email part of an update: a new address, with how it is verified.
fn email_change(e: pb::SetHumanEmail) -> Result<Option<UserChange>, ApiError> {
    if e.email.is_empty() {
        return Ok(None);
    }
    Ok(Some(UserChange::Email {
        address: email_address(&e.email)?,
        delivery: email_delivery(e.verification)?,
        standalone: false,
    }))
}

impl TryFrom<pb::UpdateHumanUserRequest> for EditUser {
    type Error = ApiError;

    fn try_from(r: pb::UpdateHumanUserRequest) -> Result<Self, ApiError> {
        let mut changes = Vec::new();
        if let Some(name) = username(r.username)? {
            changes.push(UserChange::Username(name));
        }
        if let Some(p) = r.profile {
            changes.push(UserChange::Profile(checked_profile(ProfilePatch {
                given_name: kept_if_empty(p.given_name),
                family_name: kept_if_empty(p.family_name),
                nick_name: p.nick_name,
                display_name: p.display_name,
                preferred_language: p.preferred_language,
                gender: p.gender,
            })?));
        }
        if let Some(e) = r.email {
            changes.extend(email_change(e)?);
        }
        // PUT cannot remove a phone: an empty number changes nothing.
        if let Some(p) = r.phone.filter(|p| !p.phone.is_empty()) {
            changes.push(UserChange::Phone {
                number: phone_number(&p.phone)?,
                delivery: phone_delivery(p.verification)?,
                standalone: false,
            });
        }
        if let Some(p) = r.password {
            changes.push(password_change(p)?);
        }
        Ok(EditUser {
            user_id: app::user_id(&r.user_id)?,
            changes,
        })
    }
}

/// `UpdateHumanUser` (`PUT /v2/users/human/{userId}`; v2beta: `PUT /v2beta/users/{userId}`).
#[derive(Debug)]
pub struct UpdateHumanUser;

impl Method for UpdateHumanUser {
    type Request = pb::UpdateHumanUserRequest;
    type Response = pb::UpdateHumanUserResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::UpdateHumanUserRequest,
    ) -> Result<pb::UpdateHumanUserResponse, ApiError> {
        let id = r.user_id.clone();
        let done = core.edit_user(ctx, r.try_into()?).await?;
        Ok(pb::UpdateHumanUserResponse {
            details: Some(change_details(&id, &done.details)),
            email_code: done.email_code,
            phone_code: done.phone_code,
        })
    }

    fn set_user_id(request: &mut pb::UpdateHumanUserRequest, id: String) {
        request.user_id = id;
    }
}

impl TryFrom<pb::UpdateUserRequest> for EditUser {
    type Error = ApiError;

    fn try_from(r: pb::UpdateUserRequest) -> Result<Self, ApiError> {
        use pb::update_user_request::UserType;
        let mut changes = Vec::new();
        if let Some(name) = username(r.username)? {
            changes.push(UserChange::Username(name));
        }
        match r.user_type {
            None => return Err(invalid("human or machine is required")),
            Some(UserType::Human(h)) => {
                if let Some(p) = h.profile {
                    for (value, name) in
                        [(&p.given_name, "givenName"), (&p.family_name, "familyName")]
                    {
                        if value.as_ref().is_some_and(String::is_empty) {
                            return Err(invalid(format!(
                                "profile.{name} must be 1 to 200 characters"
                            )));
                        }
                    }
                    changes.push(UserChange::Profile(checked_profile(ProfilePatch {
                        given_name: p.given_name,
                        family_name: p.family_name,
                        nick_name: p.nick_name,
                        display_name: p.display_name,
                        preferred_language: p.preferred_language,
                        gender: p.gender,
                    })?));
                }
                if let Some(e) = h.email {
                    changes.extend(email_change(e)?);
                }
                // PATCH removes the phone with an empty number.
                if let Some(p) = h.phone {
                    if p.phone.is_empty() {
                        if p.verification.is_some() {
                            return Err(ErrorCode::PhoneRemovalVerified.into());
                        }
                        changes.push(UserChange::RemovePhone { standalone: false });
                    } else {
                        changes.push(UserChange::Phone {
                            number: phone_number(&p.phone)?,
                            delivery: phone_delivery(p.verification)?,
                            standalone: false,
                        });
                    }
                }
                if let Some(p) = h.password {
                    changes.push(password_change(p)?);
                }
            }
            Some(UserType::Machine(m)) => {
                if m.name
                    .as_ref()
                    .is_some_and(|n| n.is_empty() || n.chars().count() > 200)
                {
                    return Err(invalid("machine.name must be 1 to 200 characters"));
                }
                if m.description
                    .as_ref()
                    .is_some_and(|d| d.chars().count() > 500)
                {
                    return Err(invalid(
                        "machine.description must be at most 500 characters",
                    ));
                }
                changes.push(UserChange::Machine(MachinePatch {
                    name: m.name,
                    description: m.description,
                    access_token_type: None,
                }));
            }
        }
        Ok(EditUser {
            user_id: app::user_id(&r.user_id)?,
            changes,
        })
    }
}

/// `UpdateUser` (`PATCH /v2/users/{userId}`): a human's or a machine's fields; what is not
/// given stays.
#[derive(Debug)]
pub struct UpdateUser;

impl Method for UpdateUser {
    type Request = pb::UpdateUserRequest;
    type Response = pb::UpdateUserResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: pb::UpdateUserRequest,
    ) -> Result<pb::UpdateUserResponse, ApiError> {
        let done = core.edit_user(ctx, r.try_into()?).await?;
        Ok(pb::UpdateUserResponse {
            change_date: Some(timestamp(done.details.changed_at)),
            email_code: done.email_code,
            phone_code: done.phone_code,
        })
    }

    fn set_user_id(request: &mut pb::UpdateUserRequest, id: String) {
        request.user_id = id;
    }
}

/// Run an edit of one change and answer details plus the code asked to be returned.
async fn edit_one(
    core: &Core,
    ctx: &RequestContext,
    user_id: &str,
    change: UserChange,
) -> Result<(crate::pb::zitadel::object::v2::Details, Edited), ApiError> {
    let request = EditUser {
        user_id: app::user_id(user_id)?,
        changes: vec![change],
    };
    let done = core.edit_user(ctx, request).await?;
    Ok((change_details(user_id, &done.details), done))
}

/// Declares a method whose request has a user id and converts into one change, and whose
/// answer has `details` and, for some, the code asked to be returned.
macro_rules! edit_method {
    ($(#[$doc:meta])* $name:ident: $req:ty => $resp:ty, |$r:ident| $change:expr, $code:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl Method for $name {
            type Request = $req;
            type Response = $resp;

            async fn call(core: &Core, ctx: &RequestContext, $r: $req) -> Result<$resp, ApiError> {
                let user_id = $r.user_id.clone();
                let change: Result<UserChange, ApiError> = $change;
                let (details, done) = edit_one(core, ctx, &user_id, change?).await?;
                let code: fn(Edited) -> Option<String> = $code;
                let mut response = <$resp>::default();
                response.details = Some(details);
                set_code(&mut response, code(done));
                Ok(response)
            }

            fn set_user_id(request: &mut $req, id: String) {
                request.user_id = id;
            }
        }
    };
}

/// Answers with a `verificationCode` field.
trait VerificationCode {
    fn set(&mut self, code: Option<String>);
}

fn set_code<T: VerificationCode>(response: &mut T, code: Option<String>) {
    response.set(code);
}

macro_rules! with_code {
    ($($t:ty),*) => {$(
        impl VerificationCode for $t {
            fn set(&mut self, code: Option<String>) {
                self.verification_code = code;
            }
        }
    )*};
}
with_code!(
    pb::SetEmailResponse,
    pb::ResendEmailCodeResponse,
    pb::SendEmailCodeResponse,
    pb::SetPhoneResponse,
    pb::ResendPhoneCodeResponse,
    pb::PasswordResetResponse
);

macro_rules! without_code {
    ($($t:ty),*) => {$(
        impl VerificationCode for $t {
            fn set(&mut self, _: Option<String>) {}
        }
    )*};
}
without_code!(
    pb::HumanMfaInitSkippedResponse,
    pb::VerifyEmailResponse,
    pb::RemovePhoneResponse,
    pb::VerifyPhoneResponse,
    pb::SetPasswordResponse
);

fn email_code(done: Edited) -> Option<String> {
    done.email_code
}

fn phone_code(done: Edited) -> Option<String> {
    done.phone_code
}

fn no_code(_: Edited) -> Option<String> {
    None
}

fn email_code_delivery(
    v: Option<pb::send_email_code_request::Verification>,
) -> Result<CodeDelivery, ApiError> {
    use pb::send_email_code_request::Verification as V;
    Ok(match v {
        None => CodeDelivery::Default,
        Some(V::ReturnCode(_)) => CodeDelivery::Return,
        Some(V::SendCode(s)) => CodeDelivery::Send {
            url_template: url_template(s.url_template)?,
        },
    })
}

fn verification_code(code: String) -> Result<String, ApiError> {
    match code.chars().count() {
        0 => Err(ErrorCode::CodeEmpty.into()),
        1..=20 => Ok(code),
        _ => Err(invalid("verificationCode must be 1 to 20 characters")),
    }
}

edit_method!(
    /// `SetEmail` (`POST /v2/users/{userId}/email`): a new address, verified or with a code.
    SetEmail: pb::SetEmailRequest => pb::SetEmailResponse,
    |r| {
        use pb::set_email_request::Verification as V;
        let delivery = match r.verification {
            None | Some(V::IsVerified(false)) => Ok(CodeDelivery::Default),
            Some(V::IsVerified(true)) => Ok(CodeDelivery::Verified),
            Some(V::ReturnCode(_)) => Ok(CodeDelivery::Return),
            Some(V::SendCode(s)) => url_template(s.url_template).map(|url_template| CodeDelivery::Send { url_template }),
        };
        delivery.and_then(|delivery| Ok(UserChange::Email {
            address: email_address(&r.email)?,
            delivery,
            standalone: true,
        }))
    },
    email_code
);

edit_method!(
    /// `ResendEmailCode` (`POST /v2/users/{userId}/email/resend`): a new code for the pending one.
    ResendEmailCode: pb::ResendEmailCodeRequest => pb::ResendEmailCodeResponse,
    |r| {
        use pb::resend_email_code_request::Verification as V;
        let v = r.verification.map(|v| match v {
            V::SendCode(s) => pb::send_email_code_request::Verification::SendCode(s),
            V::ReturnCode(c) => pb::send_email_code_request::Verification::ReturnCode(c),
        });
        email_code_delivery(v).map(|delivery| UserChange::NewCode {
            kind: CodeKind::Email,
            delivery,
            rule: CodeRule::Resend,
        })
    },
    email_code
);

edit_method!(
    /// `SendEmailCode` (`POST /v2/users/{userId}/email/send`): a new code, pending one or not.
    SendEmailCode: pb::SendEmailCodeRequest => pb::SendEmailCodeResponse,
    |r| email_code_delivery(r.verification).map(|delivery| UserChange::NewCode {
        kind: CodeKind::Email,
        delivery,
        rule: CodeRule::Send,
    }),
    email_code
);

edit_method!(
    /// `VerifyEmail` (`POST /v2/users/{userId}/email/verify`).
    VerifyEmail: pb::VerifyEmailRequest => pb::VerifyEmailResponse,
    |r| verification_code(r.verification_code.clone()).map(|code| UserChange::Verify {
        kind: CodeKind::Email,
        code,
    }),
    no_code
);

edit_method!(
    /// `SetPhone` (`POST /v2/users/{userId}/phone`): a new number, verified or with a code
    /// (returned only: userd has no SMS provider).
    SetPhone: pb::SetPhoneRequest => pb::SetPhoneResponse,
    |r| {
        use pb::set_phone_request::Verification as V;
        let delivery = match r.verification {
            None => Ok(CodeDelivery::Default),
            Some(V::IsVerified(true)) => Ok(CodeDelivery::Verified),
            Some(V::IsVerified(false)) => Err(invalid("isVerified must be true when set")),
            Some(V::ReturnCode(_)) => Ok(CodeDelivery::Return),
            Some(V::SendCode(_)) => Ok(CodeDelivery::Send { url_template: None }),
        };
        delivery.and_then(|delivery| Ok(UserChange::Phone {
            number: phone_number(&r.phone)?,
            delivery,
            standalone: true,
        }))
    },
    phone_code
);

edit_method!(
    /// `RemovePhone` (`DELETE /v2/users/{userId}/phone`).
    RemovePhone: pb::RemovePhoneRequest => pb::RemovePhoneResponse,
    |r| Ok(UserChange::RemovePhone { standalone: true }),
    no_code
);

edit_method!(
    /// `ResendPhoneCode` (`POST /v2/users/{userId}/phone/resend`).
    ResendPhoneCode: pb::ResendPhoneCodeRequest => pb::ResendPhoneCodeResponse,
    |r| {
        use pb::resend_phone_code_request::Verification as V;
        let delivery = match r.verification {
            None => CodeDelivery::Default,
            Some(V::ReturnCode(_)) => CodeDelivery::Return,
            Some(V::SendCode(_)) => CodeDelivery::Send { url_template: None },
        };
        Ok(UserChange::NewCode {
            kind: CodeKind::Phone,
            delivery,
            rule: CodeRule::Resend,
        })
    },
    phone_code
);

edit_method!(
    /// `VerifyPhone` (`POST /v2/users/{userId}/phone/verify`).
    VerifyPhone: pb::VerifyPhoneRequest => pb::VerifyPhoneResponse,
    |r| verification_code(r.verification_code.clone()).map(|code| UserChange::Verify {
        kind: CodeKind::Phone,
        code,
    }),
    no_code
);

edit_method!(
    /// `SetPassword` (`POST /v2/users/{userId}/password`): by the current password, a reset
    /// code, or a caller with `user.write`.
    SetPassword: pb::SetPasswordRequest => pb::SetPasswordResponse,
    |r| {
        use pb::set_password_request::Verification;
        let new = r.new_password.clone().ok_or_else(|| ApiError::from(ErrorCode::PasswordEmpty));
        new.and_then(|p| {
            let proof = match r.verification.clone() {
                None => ProofInput::None,
                Some(Verification::CurrentPassword(c)) => ProofInput::CurrentPassword(c),
                Some(Verification::VerificationCode(c)) => ProofInput::Code(c),
            };
            Ok(UserChange::Password {
                new: clear_password(p.password)?,
                change_required: p.change_required,
                proof,
            })
        })
    },
    no_code
);

edit_method!(
    /// `PasswordReset` (`POST /v2/users/{userId}/password_reset`): a reset code, returned or
    /// sent by email.
    PasswordReset: pb::PasswordResetRequest => pb::PasswordResetResponse,
    |r| {
        use pb::password_reset_request::Medium;
        let delivery = match r.medium.clone() {
            None => Ok(CodeDelivery::Default),
            Some(Medium::ReturnCode(_)) => Ok(CodeDelivery::Return),
            Some(Medium::SendLink(l)) if l.notification_type == pb::NotificationType::Sms as i32 => {
                Err(ApiError::from(ErrorCode::NoSmsProvider))
            }
            Some(Medium::SendLink(l)) => url_template(l.url_template).map(|url_template| CodeDelivery::Send { url_template }),
        };
        delivery.map(|delivery| UserChange::NewCode {
            kind: CodeKind::Password,
            delivery,
            rule: CodeRule::Send,
        })
    },
    |done| done.password_code
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_read_as_e164_with_switzerland_by_default() {
        assert_eq!(phone_number("+41 79 123 45 67").unwrap(), "+41791234567");
        assert_eq!(phone_number("079 123 45 67").unwrap(), "+41791234567");
        assert_eq!(phone_number("0049 (30) 1234-567").unwrap(), "+49301234567");
        assert_eq!(phone_number("").unwrap_err().code, ErrorCode::PhoneEmpty);
        assert_eq!(
            phone_number("call me").unwrap_err().code,
            ErrorCode::PhoneInvalid
        );
        assert_eq!(
            phone_number("+1234567890123456").unwrap_err().code,
            ErrorCode::PhoneInvalid
        );
    }

    #[test]
    fn email_addresses_need_both_sides() {
        assert!(email_address("a@b.c").is_ok());
        assert_eq!(email_address("").unwrap_err().code, ErrorCode::EmailEmpty);
        for bad in ["ab.c", "@b.c", "a@", "Bob <a@b.c>", "a b@c.d", "a@b@c"] {
            assert_eq!(
                email_address(bad).unwrap_err().code,
                ErrorCode::EmailInvalid,
                "{bad}"
            );
        }
    }
}

edit_method!(
    /// `HumanMFAInitSkipped` (`POST /v2/users/{userId}/mfa_init_skipped`): recorded as an event.
    HumanMfaInitSkipped: pb::HumanMfaInitSkippedRequest => pb::HumanMfaInitSkippedResponse,
    |r| Ok(UserChange::SkipMfaInit),
    no_code
);
