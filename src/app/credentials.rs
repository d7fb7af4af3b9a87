//! Credentials through the core: personal access tokens (issued once for a machine, kept as a
//! hash, accepted as bearer tokens), public keys (uploaded, or generated with the private half
//! returned once) and client secrets; issuing, removing and listing them.
//!
//! A token is checked against its user's durable record on every request, like a JWT's
//! subject: a machine that is not ACTIVE, or was deactivated, locked or deleted after the token
//! was issued, has its tokens refused.

use super::{access, Core, RequestContext, SelfService};
use crate::auth::{pat, Caller};
use crate::domain::{
    self, AccessToken, Edit, MachineKey, OrgScope, Permission, Timestamp, User, UserState,
};
use crate::error::{ApiError, ErrorCode};
use crate::shard::read_error;
use std::sync::Arc;

/// Issue a token for machine `user_id`, valid until `expires_at`.
#[derive(Clone, Debug)]
pub struct AddToken {
    pub user_id: String,
    pub expires_at: Timestamp,
}

/// What issuing answers: the token, shown this once.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub token_id: String,
    pub token: String,
    pub created_at: Timestamp,
}

/// Which tokens or keys a listing shows; every filter given must hold.
#[derive(Clone, Debug, Default)]
pub struct CredentialFilter {
    pub user_id: Option<String>,
    /// A token's or key's id.
    pub id: Option<String>,
    pub org: Option<String>,
    pub created: Vec<TimeFilter>,
    pub expires: Vec<TimeFilter>,
}

/// A comparison with a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeCmp {
    Equals,
    After,
    AfterOrEquals,
    Before,
    BeforeOrEquals,
}

/// A time must compare so with `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeFilter {
    pub cmp: TimeCmp,
    pub at: Timestamp,
}

impl TimeFilter {
    pub fn passes(&self, t: Timestamp) -> bool {
        match self.cmp {
            TimeCmp::Equals => t == self.at,
            TimeCmp::After => t > self.at,
            TimeCmp::AfterOrEquals => t >= self.at,
            TimeCmp::Before => t < self.at,
            TimeCmp::BeforeOrEquals => t <= self.at,
        }
    }
}

/// List the tokens or keys of one user (the filter must name it: they have no index of their
/// own).
#[derive(Clone, Debug)]
pub struct ListCredentials {
    pub filter: CredentialFilter,
    pub paging: super::Paging,
}

/// A token or key as a listing shows it (never a secret or a private key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialInfo {
    pub id: String,
    pub user_id: String,
    pub org: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A page of tokens or keys with the count of all that pass the filter.
#[derive(Clone, Debug, Default)]
pub struct CredentialPage {
    pub total: u64,
    pub limit: u64,
    pub items: Vec<CredentialInfo>,
}

/// Upload a public key (PEM) for `user_id`, or have one generated.
#[derive(Clone, Debug)]
pub struct AddKey {
    pub user_id: String,
    pub expires_at: Timestamp,
    pub public_key_pem: Option<Vec<u8>>,
}

/// What adding a key answers: its id, and for a generated key the JSON key file (with the
/// private key, shown this once).
#[derive(Clone, Debug)]
pub struct NewKey {
    pub key_id: String,
    pub key_content: Vec<u8>,
    pub created_at: Timestamp,
}

/// Which credentials a listing is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    Tokens,
    Keys,
}

/// The DER of a PEM `PUBLIC KEY` (or `RSA PUBLIC KEY`) that holds an RSA key.
fn rsa_public_key_der(pem: &[u8]) -> Result<Vec<u8>, ApiError> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).map_err(|_| ApiError::from(ErrorCode::KeyInvalid))?;
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    if !text.contains("-----BEGIN") {
        return Err(ErrorCode::KeyInvalid.into());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| ApiError::from(ErrorCode::KeyInvalid))?;
    aws_lc_rs::rsa::PublicKey::from_der(&der).map_err(|_| ApiError::from(ErrorCode::KeyInvalid))?;
    Ok(der)
}

/// `der` as PEM with `label`.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A fresh RSA 2048 key pair: (private key PKCS#8 PEM, public key DER). Slow: off the request
/// threads.
fn generate_rsa() -> Result<(String, Vec<u8>), ApiError> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    let internal = |_| ApiError::from(ErrorCode::Internal);
    let pair =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(internal)?;
    let private: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().map_err(internal)?;
    let public: aws_lc_rs::encoding::PublicKeyX509Der =
        pair.public_key().as_der().map_err(internal)?;
    Ok((
        pem("PRIVATE KEY", private.as_ref()),
        public.as_ref().to_vec(),
    ))
}

/// 64 characters of `A-Za-z0-9` (ZITADEL's client secret generator).
fn draw_secret() -> Result<String, ApiError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut out = String::with_capacity(64);
    while out.len() < 64 {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).map_err(|_| ApiError::from(ErrorCode::Internal))?;
        for b in buf.into_iter().filter(|b| *b < limit) {
            if let Some(c) = ALPHABET.get(usize::from(b) % ALPHABET.len()) {
                if out.len() < 64 {
                    out.push(char::from(*c));
                }
            }
        }
    }
    Ok(out)
}

impl Core {
    /// The caller a personal access token stands for: its machine is live and ACTIVE, the token
    /// is one of its own, unexpired, and issued after the machine's latest deactivate, lock or
    /// delete.
    pub(super) async fn authenticate_pat(&self, token: &str) -> Result<Arc<Caller>, ApiError> {
        let parts = pat::parse(token).ok_or(ErrorCode::TokenInvalid)?;
        let user = self
            .store
            .user(&parts.user_id)
            .await
            .map_err(|e| read_error(&e))?
            .filter(domain::is_live)
            .ok_or(ErrorCode::TokenInvalid)?;
        let stored = user
            .credentials
            .tokens
            .iter()
            .find(|t| t.id == parts.token_id)
            .filter(|t| pat::matches(&parts.secret, &t.secret_hash))
            .ok_or(ErrorCode::TokenInvalid)?;
        if stored.expires_at <= Timestamp::now() {
            return Err(ErrorCode::TokenInvalid.into());
        }
        if user.state != UserState::Active {
            return Err(ErrorCode::SubjectNotActive.into());
        }
        if user.revoked_at.is_some_and(|r| r >= stored.created_at) {
            return Err(ErrorCode::TokenRevoked.into());
        }
        Ok(Arc::new(self.verifier.member_caller(
            &user.id,
            &user.org,
            stored.created_at,
            &stored.issuer_scope,
        )))
    }

    /// Issue a personal access token: for the caller's own machine or one it may write.
    pub async fn add_token(
        &self,
        ctx: &RequestContext,
        request: AddToken,
    ) -> Result<NewToken, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let now = Timestamp::now();
        if request.expires_at <= now {
            return Err(ErrorCode::ExpireBeforeNow.into());
        }
        let issuer_scope = caller.scope(Permission::Write);
        // A token acts with its machine's memberships within where its issuer could write; the
        // member permissions among them must also be the issuer's own, or issuing a token would
        // hand the issuer rights over memberships it does not have.
        let would_hold = self
            .verifier
            .member_caller(&request.user_id, "", now, &issuer_scope);
        let covered = |p: &Permission| {
            let (would, has) = (would_hold.scope(*p), caller.scope(*p));
            match p {
                // Instance permissions hold only everywhere.
                Permission::InstanceMemberRead
                | Permission::InstanceMemberWrite
                | Permission::InstanceMemberDelete
                | Permission::EventsRead
                | Permission::ActionTargetRead
                | Permission::ActionTargetWrite
                | Permission::ActionTargetDelete
                | Permission::ActionExecutionRead
                | Permission::ActionExecutionWrite
                | Permission::InstanceBackup => {
                    would != OrgScope::Everywhere || has == OrgScope::Everywhere
                }
                _ => would.within(&has),
            }
        };
        if !Permission::MEMBER
            .iter()
            .chain(Permission::INSTANCE.iter())
            .all(covered)
        {
            return Err(ErrorCode::PermissionDenied.into());
        }
        let token_id = self.ids.next_id();
        let (token, secret_hash) = pat::issue(&request.user_id, &token_id)?;
        let stored = AccessToken {
            id: token_id.clone(),
            secret_hash,
            created_at: now,
            expires_at: request.expires_at,
            issuer_scope,
        };
        let can = access(&caller, Permission::Write, SelfService::Allowed);
        self.shards
            .edit(Edit::AddToken(stored), request.user_id, can, None)
            .await?;
        Ok(NewToken {
            token_id,
            token,
            created_at: now,
        })
    }

    /// Remove a token, a key or the client secret (the edit says which), for the caller's own
    /// user or one it may write.
    pub async fn remove_credential(
        &self,
        ctx: &RequestContext,
        user_id: String,
        edit: Edit,
    ) -> Result<domain::ChangeDetails, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let can = access(&caller, Permission::Write, SelfService::Allowed);
        self.shards.edit(edit, user_id, can, None).await
    }

    /// Add a public key: the one uploaded (an RSA key in PEM), or a generated RSA 2048 pair
    /// whose private half is answered once, in ZITADEL's JSON key file.
    pub async fn add_key(&self, ctx: &RequestContext, request: AddKey) -> Result<NewKey, ApiError> {
        let caller = self.authenticate(ctx).await?;
        if let Some(pem) = &request.public_key_pem {
            rsa_public_key_der(pem)?;
        }
        let now = Timestamp::now();
        if request.expires_at <= now {
            return Err(ErrorCode::ExpireBeforeNow.into());
        }
        let key_id = self.ids.next_id();
        let (private_pem, public_der) = match request.public_key_pem {
            Some(pem) => (None, rsa_public_key_der(&pem)?),
            None => {
                let (private, public) = self.blocking_secret(generate_rsa).await?;
                (Some(private), public)
            }
        };
        let key = MachineKey {
            id: key_id.clone(),
            public_key_der: public_der,
            created_at: now,
            expires_at: request.expires_at,
        };
        let can = access(&caller, Permission::Write, SelfService::Allowed);
        let done = self
            .shards
            .edit(Edit::AddKey(key), request.user_id.clone(), can, None)
            .await?;
        let key_content = match private_pem {
            None => Vec::new(),
            Some(private) => serde_json::to_vec(&serde_json::json!({
                "type": "serviceaccount",
                "keyId": key_id,
                "key": private,
                "expirationDate": request.expires_at.to_rfc3339(),
                "userId": request.user_id,
            }))
            .map_err(|_| ApiError::from(ErrorCode::Internal))?,
        };
        Ok(NewKey {
            key_id,
            key_content,
            created_at: done.changed_at,
        })
    }

    /// A new client secret for a machine (replacing any), answered this once.
    pub async fn add_secret(
        &self,
        ctx: &RequestContext,
        user_id: String,
    ) -> Result<(String, Timestamp), ApiError> {
        let caller = self.authenticate(ctx).await?;
        let secret = draw_secret()?;
        let can = access(&caller, Permission::Write, SelfService::Allowed);
        let done = self
            .shards
            .edit(
                Edit::SetSecret(pat::secret_hash(&secret)),
                user_id,
                can,
                None,
            )
            .await?;
        Ok((secret, done.changed_at))
    }

    /// The tokens or keys of the user the filter names, if the caller may read that user (its
    /// own, or `user.read` on its organization); none otherwise. Newest first unless ascending.
    pub async fn list_credentials(
        &self,
        ctx: &RequestContext,
        kind: CredentialKind,
        request: ListCredentials,
    ) -> Result<CredentialPage, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let Some(user_id) = request.filter.user_id.clone() else {
            return Err(ApiError::with_text(
                ErrorCode::InvalidListing,
                "filters must include a userIdFilter: tokens and keys are listed per user",
            ));
        };
        let user = self
            .live_user(&user_id)
            .await?
            .filter(|u| access(&caller, Permission::Read, SelfService::Allowed).allows(u))
            .filter(|u| request.filter.org.as_ref().is_none_or(|o| *o == u.org));
        let Some(user) = user else {
            return Ok(CredentialPage {
                limit: request.paging.limit,
                ..CredentialPage::default()
            });
        };
        let mut items: Vec<CredentialInfo> = credentials_of(&user, kind)
            .into_iter()
            .filter(|c| request.filter.id.as_ref().is_none_or(|id| *id == c.id))
            .filter(|c| {
                request
                    .filter
                    .created
                    .iter()
                    .all(|f| f.passes(c.created_at))
            })
            .filter(|c| {
                request
                    .filter
                    .expires
                    .iter()
                    .all(|f| f.passes(c.expires_at))
            })
            .collect();
        items.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        if !request.paging.asc {
            items.reverse();
        }
        let total = items.len() as u64;
        let items = items
            .into_iter()
            .skip(usize::try_from(request.paging.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(request.paging.limit).unwrap_or(usize::MAX))
            .collect();
        Ok(CredentialPage {
            total,
            limit: request.paging.limit,
            items,
        })
    }
}

/// A user's tokens or keys as listings show them.
fn credentials_of(user: &User, kind: CredentialKind) -> Vec<CredentialInfo> {
    let info = |id: &str, created_at, expires_at| CredentialInfo {
        id: id.to_string(),
        user_id: user.id.clone(),
        org: user.org.clone(),
        created_at,
        expires_at,
    };
    match kind {
        CredentialKind::Tokens => user
            .credentials
            .tokens
            .iter()
            .map(|t| info(&t.id, t.created_at, t.expires_at))
            .collect(),
        CredentialKind::Keys => user
            .credentials
            .keys
            .iter()
            .map(|k| info(&k.id, k.created_at, k.expires_at))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_secrets_are_64_alphanumerics() {
        let (private, public) = generate_rsa().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let public_pem = pem("PUBLIC KEY", &public);
        assert_eq!(rsa_public_key_der(public_pem.as_bytes()).unwrap(), public);
        assert!(
            rsa_public_key_der(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert!(rsa_public_key_der(b"not a key").is_err());
        let secret = draw_secret().unwrap();
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
