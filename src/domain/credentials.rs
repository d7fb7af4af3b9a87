//! A user's credentials besides its password: one-time codes, a machine's personal access tokens
//! and client secret, and public keys; how edits of them decide and apply.
//!
//! Secrets are only ever held as hashes (Argon2id for short codes, SHA-256 for long random
//! tokens and secrets); a key is kept as its public half.

use super::{Edit, EventKind, Timestamp, User, UserKind};
use crate::error::ErrorCode;
use serde::{Deserialize, Serialize};

/// A one-time code (email or phone verification, password reset), kept only as its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeCode {
    /// The code's Argon2id hash (PHC string).
    pub hash: String,
    pub expires_at: Timestamp,
}

/// A user's secrets that are not its password: pending one-time codes and a machine's personal
/// access tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub email_code: Option<OneTimeCode>,
    pub phone_code: Option<OneTimeCode>,
    pub password_code: Option<OneTimeCode>,
    pub tokens: Vec<AccessToken>,
    pub keys: Vec<MachineKey>,
    /// A machine's client secret: lower-case hex SHA-256.
    pub secret_hash: Option<String>,
}

/// A machine's personal access token, kept as the SHA-256 of its secret part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    pub id: String,
    /// Lower-case hex SHA-256 of the token's secret.
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Where whoever issued the token could write: the token's authority stays within it,
    /// whatever roles its machine holds.
    pub issuer_scope: super::OrgScope,
}

/// The most personal access tokens one machine holds (each change rewrites the record).
pub const MAX_TOKENS: usize = 100;

/// Which code of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    Email,
    Phone,
    Password,
}

impl Credentials {
    pub fn code(&self, kind: CodeKind) -> Option<&OneTimeCode> {
        match kind {
            CodeKind::Email => self.email_code.as_ref(),
            CodeKind::Phone => self.phone_code.as_ref(),
            CodeKind::Password => self.password_code.as_ref(),
        }
    }

    pub(super) fn code_mut(&mut self, kind: CodeKind) -> &mut Option<OneTimeCode> {
        match kind {
            CodeKind::Email => &mut self.email_code,
            CodeKind::Phone => &mut self.phone_code,
            CodeKind::Password => &mut self.password_code,
        }
    }
}

/// A v2 user's public key (DER SubjectPublicKeyInfo), for signed assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineKey {
    pub id: String,
    pub public_key_der: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The most keys one user holds.
pub const MAX_KEYS: usize = 100;

/// The events of a credential edit (tokens, keys, the client secret), or the error it answers.
pub fn decide(edit: &Edit, user: &User, not_found: ErrorCode) -> Result<Vec<EventKind>, ErrorCode> {
    let c = &user.credentials;
    let machine = user.kind() == UserKind::Machine;
    Ok(vec![match edit {
        Edit::AddToken(token) => {
            if !machine {
                return Err(ErrorCode::TokenWrongUserType);
            }
            if c.tokens.len() >= MAX_TOKENS {
                return Err(ErrorCode::TooManyTokens);
            }
            EventKind::TokenAdded(token.clone())
        }
        Edit::RemoveToken(id) => {
            if !c.tokens.iter().any(|t| t.id == *id) {
                return Err(not_found);
            }
            EventKind::TokenRemoved { id: id.clone() }
        }
        Edit::AddKey(key) => {
            if user.kind() == UserKind::Schema {
                return Err(not_found);
            }
            if c.keys.len() >= MAX_KEYS {
                return Err(ErrorCode::TooManyKeys);
            }
            EventKind::KeyAdded(key.clone())
        }
        Edit::RemoveKey(id) => {
            if !c.keys.iter().any(|k| k.id == *id) {
                return Err(not_found);
            }
            EventKind::KeyRemoved { id: id.clone() }
        }
        Edit::SetSecret(hash) => {
            if !machine {
                return Err(not_found);
            }
            EventKind::SecretSet { hash: hash.clone() }
        }
        Edit::RemoveSecret => {
            if !machine {
                return Err(not_found);
            }
            if c.secret_hash.is_none() {
                return Err(ErrorCode::SecretNotFound);
            }
            EventKind::SecretRemoved
        }
        _ => return Ok(Vec::new()),
    }])
}

/// Apply a credential event to `next`; false for an event that is not one.
pub fn apply(next: &mut User, kind: &EventKind) -> bool {
    let c = &mut next.credentials;
    match kind {
        EventKind::TokenAdded(token) => c.tokens.push(token.clone()),
        EventKind::TokenRemoved { id } => c.tokens.retain(|t| t.id != *id),
        EventKind::KeyAdded(key) => c.keys.push(key.clone()),
        EventKind::KeyRemoved { id } => c.keys.retain(|k| k.id != *id),
        EventKind::SecretSet { hash } => c.secret_hash = Some(hash.clone()),
        EventKind::SecretRemoved => c.secret_hash = None,
        _ => return false,
    }
    true
}

/// Which code an event adds (stored as a number so the event's encoding stays stable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredCodeKind {
    Email,
    Phone,
    Password,
}

impl From<CodeKind> for StoredCodeKind {
    fn from(k: CodeKind) -> Self {
        match k {
            CodeKind::Email => StoredCodeKind::Email,
            CodeKind::Phone => StoredCodeKind::Phone,
            CodeKind::Password => StoredCodeKind::Password,
        }
    }
}

impl From<StoredCodeKind> for CodeKind {
    fn from(k: StoredCodeKind) -> Self {
        match k {
            StoredCodeKind::Email => CodeKind::Email,
            StoredCodeKind::Phone => CodeKind::Phone,
            StoredCodeKind::Password => CodeKind::Password,
        }
    }
}
