//! Changes to a user's data through the core: profile, username, email, phone, password and
//! machine fields, and the codes that prove an address or reset a password.
//!
//! One path for every such method: authenticate, read the user and check the caller may edit it,
//! check proofs and hash secrets off the request threads (bounded), then hand the shard one
//! batch of domain edits that names what the checks saw; the shard refuses it if the user
//! changed meanwhile. Codes to send are delivered only once the change is durable.

use super::secrets::{self, PasswordPolicy};
use super::{access, Core, Password, RequestContext, SelfService};
use crate::domain::{
    self, ChangeDetails, CodeKind, CodeRule, Edit, MachinePatch, OneTimeCode, PasswordProof,
    Permission, ProfilePatch, Timestamp, User, Verification,
};
use crate::error::{ApiError, ErrorCode};

/// How a new email address or phone number, or a new code, reaches its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeDelivery {
    /// No code: the caller says the address is verified.
    Verified,
    /// The code is in the answer.
    Return,
    /// The code is sent: email by SMTP when configured, else written to the log; a phone code
    /// is refused (userd has no SMS provider). `url_template` is the link the message carries.
    Send { url_template: Option<String> },
    /// Nothing asked: an email code is sent; a phone code is stored and not delivered (as
    /// ZITADEL does with no SMS provider).
    Default,
}

/// A new password, in clear (checked against the policy, then hashed) or already hashed.
#[derive(Debug)]
pub enum NewPassword {
    Clear(Password),
    Hashed(String),
}

/// What proves the caller may set a password.
#[derive(Debug)]
pub enum ProofInput {
    /// Nothing: the caller needs `user.write` on the user's organization.
    None,
    CurrentPassword(String),
    Code(String),
}

/// One change of an edit request. `standalone` marks ZITADEL's dedicated methods (SetEmail,
/// SetPhone, RemovePhone), whose rules are stricter than a profile update's.
#[derive(Debug)]
pub enum UserChange {
    Username(String),
    Profile(ProfilePatch),
    Email {
        address: String,
        delivery: CodeDelivery,
        standalone: bool,
    },
    Phone {
        number: String,
        delivery: CodeDelivery,
        standalone: bool,
    },
    RemovePhone {
        standalone: bool,
    },
    /// A new code for the email or phone, or a password reset code.
    NewCode {
        kind: CodeKind,
        delivery: CodeDelivery,
        rule: CodeRule,
    },
    /// A code the user received, to verify its email or phone.
    Verify {
        kind: CodeKind,
        code: String,
    },
    Password {
        new: NewPassword,
        change_required: bool,
        proof: ProofInput,
    },
    Machine(MachinePatch),
    /// The human skipped setting up a second factor.
    SkipMfaInit,
}

impl UserChange {
    /// Whether only a caller with `user.write` may make it (its own user is not enough):
    /// marking an address verified or removing a phone through the dedicated methods, and
    /// setting a password without proof.
    fn needs_permission(&self) -> bool {
        match self {
            UserChange::Email {
                delivery,
                standalone,
                ..
            }
            | UserChange::Phone {
                delivery,
                standalone,
                ..
            } => *standalone && *delivery == CodeDelivery::Verified,
            UserChange::RemovePhone { standalone } => *standalone,
            UserChange::Password { proof, .. } => matches!(proof, ProofInput::None),
            _ => false,
        }
    }
}

/// Edit one user: its changes, made in order as one request.
#[derive(Debug)]
pub struct EditUser {
    pub user_id: String,
    pub changes: Vec<UserChange>,
}

/// What an edit answers: the user's details after it, and the codes asked to be returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edited {
    pub details: ChangeDetails,
    pub email_code: Option<String>,
    pub phone_code: Option<String>,
    pub password_code: Option<String>,
}

/// A code to deliver once the change is durable.
#[derive(Debug)]
struct Outgoing {
    kind: CodeKind,
    to: Option<String>,
    code: String,
    url_template: Option<String>,
}

/// The codes one request makes: those to answer, and those to deliver once it is durable.
#[derive(Debug, Default)]
pub(super) struct Codes {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    outgoing: Vec<Outgoing>,
}

impl Codes {
    /// Deliver the codes to send (after the change they belong to is durable).
    pub fn deliver(self, notifier: &crate::notify::Notifier, user_id: &str, org: &str) {
        for out in self.outgoing {
            notifier.deliver(crate::notify::Delivery {
                user_id,
                org,
                kind: out.kind,
                to: out.to.as_deref(),
                code: &out.code,
                url_template: out.url_template.as_deref(),
            });
        }
    }
}

/// The secrets one change brings, once drawn and hashed (placeholders for the dry run).
#[derive(Debug, Default)]
struct Prepared {
    code: Option<OneTimeCode>,
    password_hash: String,
    proof: Option<PasswordProof>,
    code_hash_seen: String,
}

/// The domain edit of `change`, with `prepared`'s secrets.
fn to_edit(change: &UserChange, prepared: Prepared) -> Edit {
    // Without a drawn code (an update naming the current address), the domain sees a code
    // that can never match, and decides that nothing changes.
    let verification = |delivery: &CodeDelivery, code: Option<OneTimeCode>| match (delivery, code) {
        (CodeDelivery::Verified, _) => Verification::Verified,
        (_, Some(code)) => Verification::Code(code),
        (_, None) => Verification::Code(OneTimeCode {
            hash: String::new(),
            expires_at: Timestamp(0),
        }),
    };
    match change {
        UserChange::Username(name) => Edit::SetUsername(name.clone()),
        UserChange::Profile(patch) => Edit::SetProfile(patch.clone()),
        UserChange::Email {
            address,
            delivery,
            standalone,
        } => Edit::SetEmail {
            address: address.clone(),
            verification: verification(delivery, prepared.code),
            standalone: *standalone,
        },
        UserChange::Phone {
            number,
            delivery,
            standalone,
        } => Edit::SetPhone {
            number: number.clone(),
            verification: verification(delivery, prepared.code),
            standalone: *standalone,
        },
        UserChange::RemovePhone { standalone } => Edit::RemovePhone {
            standalone: *standalone,
        },
        UserChange::NewCode { kind, rule, .. } => Edit::AddCode {
            kind: *kind,
            code: prepared.code.unwrap_or(OneTimeCode {
                hash: String::new(),
                expires_at: Timestamp(i64::MAX),
            }),
            rule: *rule,
        },
        UserChange::Verify { kind, .. } => Edit::Verify {
            kind: *kind,
            hash_seen: prepared.code_hash_seen,
        },
        UserChange::Password {
            change_required,
            proof,
            ..
        } => Edit::SetPassword {
            hash: prepared.password_hash,
            change_required: *change_required,
            proof: prepared.proof.unwrap_or(match proof {
                ProofInput::None => PasswordProof::Permission,
                ProofInput::CurrentPassword(_) => {
                    PasswordProof::CurrentPassword { hash_seen: None }
                }
                ProofInput::Code(_) => PasswordProof::Code {
                    hash_seen: String::new(),
                },
            }),
        },
        UserChange::Machine(patch) => Edit::SetMachine(patch.clone()),
        UserChange::SkipMfaInit => Edit::SkipMfaInit,
    }
}

/// `changes` as one edit (a batch when there are several).
fn one_edit(mut edits: Vec<Edit>) -> Edit {
    match edits.len() {
        1 => edits.pop().unwrap_or(Edit::Batch(Vec::new())),
        _ => Edit::Batch(edits),
    }
}

/// The secrets a dry run assumes: every proof holds, every code is fresh.
fn assumed(change: &UserChange, user: &User, now: Timestamp) -> Prepared {
    let pending = |kind| {
        user.credentials
            .code(kind)
            .map(|c| c.hash.clone())
            .unwrap_or_default()
    };
    let fresh = OneTimeCode {
        hash: String::new(),
        expires_at: Timestamp(now.0.saturating_add(1)),
    };
    match change {
        UserChange::Verify { kind, .. } => Prepared {
            code_hash_seen: pending(*kind),
            ..Prepared::default()
        },
        UserChange::Password { proof, .. } => Prepared {
            proof: Some(match proof {
                ProofInput::None => PasswordProof::Permission,
                ProofInput::CurrentPassword(_) => PasswordProof::CurrentPassword {
                    hash_seen: password_hash(user),
                },
                ProofInput::Code(_) => PasswordProof::Code {
                    hash_seen: pending(CodeKind::Password),
                },
            }),
            ..Prepared::default()
        },
        _ => Prepared {
            code: Some(fresh),
            ..Prepared::default()
        },
    }
}

fn password_hash(user: &User) -> Option<String> {
    match &user.profile {
        domain::Profile::V2(h) => h.password_hash.clone(),
        _ => None,
    }
}

impl Core {
    /// Edit a user: token; the user (missing: the method's not-found) and the caller's right to
    /// edit it (its own user, or `user.write` on its organization: 403); the domain's rules on
    /// the record as read; then proofs and secrets (off the request threads); then the shard,
    /// which decides again on the record it holds.
    pub async fn edit_user(
        &self,
        ctx: &RequestContext,
        request: EditUser,
    ) -> Result<Edited, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let now = Timestamp::now();
        let found = self.live_user(&request.user_id).await?;
        let Some(user) = found else {
            let dry: Vec<Edit> = request
                .changes
                .iter()
                .map(|c| to_edit(c, Prepared::default()))
                .collect();
            return Err(one_edit(dry).not_found().into());
        };
        let self_service = match request.changes.iter().any(UserChange::needs_permission) {
            true => SelfService::Denied,
            false => SelfService::Allowed,
        };
        let can_edit = access(&caller, Permission::Write, self_service);
        if !can_edit.allows(&user) {
            return Err(ErrorCode::PermissionDenied.into());
        }
        // The record's rules first (cheap, and no secret is drawn for a refused edit).
        let dry: Vec<Edit> = request
            .changes
            .iter()
            .map(|c| to_edit(c, assumed(c, &user, now)))
            .collect();
        domain::decide_edit(&one_edit(dry), &user, now)?;

        let mut answer = Edited {
            details: ChangeDetails::of(&user),
            email_code: None,
            phone_code: None,
            password_code: None,
        };
        let mut edits = Vec::with_capacity(request.changes.len());
        let mut codes = Codes::default();
        let mut claims = Vec::new();
        let mut email = user.profile.email().map(|e| e.address.clone());
        let mut phone = user.profile.phone().map(|p| p.number.clone());
        for change in &request.changes {
            let prepared = match change {
                UserChange::Username(name) => {
                    if user.profile.username() != Some(name.as_str()) {
                        claims.push(self.claim_username(name).await?);
                    }
                    Prepared::default()
                }
                UserChange::Email {
                    address,
                    delivery,
                    standalone,
                } => {
                    // An update naming the address the user has makes no code.
                    let unchanged = !standalone && email.as_deref() == Some(address.as_str());
                    email = Some(address.clone());
                    let code = match unchanged {
                        true => None,
                        false => {
                            let to = Some(address.clone());
                            self.code_for(CodeKind::Email, to, delivery, now, &mut codes)
                                .await?
                        }
                    };
                    Prepared {
                        code,
                        ..Prepared::default()
                    }
                }
                UserChange::Phone {
                    number,
                    delivery,
                    standalone,
                } => {
                    let unchanged = !standalone && phone.as_deref() == Some(number.as_str());
                    phone = Some(number.clone());
                    let code = match unchanged {
                        true => None,
                        false => {
                            self.code_for(CodeKind::Phone, None, delivery, now, &mut codes)
                                .await?
                        }
                    };
                    Prepared {
                        code,
                        ..Prepared::default()
                    }
                }
                UserChange::NewCode { kind, delivery, .. } => {
                    let to = email.clone().filter(|_| *kind != CodeKind::Phone);
                    let code = self.code_for(*kind, to, delivery, now, &mut codes).await?;
                    Prepared {
                        code,
                        ..Prepared::default()
                    }
                }
                UserChange::Verify { kind, code } => Prepared {
                    code_hash_seen: self.check_code(&user, *kind, code.clone(), now).await?,
                    ..Prepared::default()
                },
                UserChange::Password { new, proof, .. } => {
                    self.prepare_password(&user, new, proof, now).await?
                }
                _ => Prepared::default(),
            };
            edits.push(to_edit(change, prepared));
        }
        // The claims live until the edit is decided and durable, even if this caller goes
        // away: by then the store's index holds the new name (or the edit failed).
        let hold = (!claims.is_empty()).then(|| Box::new(claims) as crate::shard::Hold);
        answer.details = self
            .shards
            .edit(one_edit(edits), request.user_id.clone(), can_edit, hold)
            .await?;
        answer.email_code = codes.email.take();
        answer.phone_code = codes.phone.take();
        answer.password_code = codes.password.take();
        codes.deliver(&self.notifier, &request.user_id, &answer.details.org);
        Ok(answer)
    }

    /// A fresh code for `kind` unless the address is said to be verified: kept in `codes` to
    /// answer, or to deliver to `to`. The stored form is returned.
    pub(super) async fn code_for(
        &self,
        kind: CodeKind,
        to: Option<String>,
        delivery: &CodeDelivery,
        now: Timestamp,
        codes: &mut Codes,
    ) -> Result<Option<OneTimeCode>, ApiError> {
        let url_template = match delivery {
            CodeDelivery::Verified => return Ok(None),
            CodeDelivery::Send { .. } if kind == CodeKind::Phone => {
                return Err(ErrorCode::NoSmsProvider.into())
            }
            CodeDelivery::Send { url_template } => url_template.clone(),
            CodeDelivery::Return | CodeDelivery::Default => None,
        };
        let lifetime = self.code_lifetime_seconds;
        let drawn = self
            .blocking_secret(move || secrets::new_code(now, lifetime))
            .await?;
        match delivery {
            CodeDelivery::Return => {
                let slot = match kind {
                    CodeKind::Email => &mut codes.email,
                    CodeKind::Phone => &mut codes.phone,
                    CodeKind::Password => &mut codes.password,
                };
                *slot = Some(drawn.clear);
            }
            _ => codes.outgoing.push(Outgoing {
                kind,
                to,
                code: drawn.clear,
                url_template,
            }),
        }
        Ok(Some(drawn.stored))
    }

    /// The hash of `user`'s pending code of `kind` if `code` is that code (email and phone
    /// codes answer every failure alike, as ZITADEL does).
    async fn check_code(
        &self,
        user: &User,
        kind: CodeKind,
        code: String,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let (missing, wrong, expired) = match kind {
            CodeKind::Password => (
                ErrorCode::PasswordCodeNotFound,
                ErrorCode::CodeInvalid,
                ErrorCode::CodeExpired,
            ),
            _ => (
                ErrorCode::VerificationCodeInvalid,
                ErrorCode::VerificationCodeInvalid,
                ErrorCode::VerificationCodeInvalid,
            ),
        };
        let pending = user.credentials.code(kind).cloned().ok_or(missing)?;
        if pending.expires_at <= now {
            return Err(expired.into());
        }
        let hash = pending.hash.clone();
        let matches = self
            .blocking_secret(move || Ok(secrets::verify_secret(code.as_bytes(), &hash)))
            .await?;
        if !matches {
            return Err(wrong.into());
        }
        Ok(pending.hash)
    }

    /// A new password's hash and the proof that allows it: the policy, then the current
    /// password (which the new one must differ from) or the reset code.
    async fn prepare_password(
        &self,
        user: &User,
        new: &NewPassword,
        proof: &ProofInput,
        now: Timestamp,
    ) -> Result<Prepared, ApiError> {
        if let NewPassword::Clear(clear) = new {
            PasswordPolicy::DEFAULT.check(clear.expose())?;
        }
        let proof = match proof {
            ProofInput::None => PasswordProof::Permission,
            ProofInput::CurrentPassword(current) => {
                let hash = password_hash(user).ok_or(ErrorCode::PasswordNotSet)?;
                let seen = hash.clone();
                let given = current.clone();
                let matches = self
                    .blocking_secret(move || Ok(secrets::verify_secret(given.as_bytes(), &hash)))
                    .await?;
                if !matches {
                    return Err(ErrorCode::PasswordInvalid.into());
                }
                if let NewPassword::Clear(clear) = new {
                    if clear.expose() == current {
                        return Err(ErrorCode::PasswordNotChanged.into());
                    }
                }
                PasswordProof::CurrentPassword {
                    hash_seen: Some(seen),
                }
            }
            ProofInput::Code(code) => PasswordProof::Code {
                hash_seen: self
                    .check_code(user, CodeKind::Password, code.clone(), now)
                    .await?,
            },
        };
        let password_hash = match new {
            NewPassword::Hashed(hash) => hash.clone(),
            NewPassword::Clear(clear) => {
                let clear = clear.clone();
                self.blocking_secret(move || clear.hash()).await?
            }
        };
        Ok(Prepared {
            password_hash,
            proof: Some(proof),
            ..Prepared::default()
        })
    }

    /// Run slow secret work (hashing, checking) off the request threads, one job per core.
    pub(super) async fn blocking_secret<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| ApiError::from(ErrorCode::ShuttingDown))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| ApiError::from(ErrorCode::Internal))?
    }
}
