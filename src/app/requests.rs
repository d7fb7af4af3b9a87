//! The core's typed requests and answers, and the rules that make a request well-formed. Every
//! surface converts its messages into these (`TryFrom` in `api`), so each rule and each
//! field-level error text exists once.

use crate::domain::{
    ChangeDetails, Contact, Edit, Filter, HumanProfile, MachineProfile, Operation, TextMatch,
};
use crate::error::{ApiError, ErrorCode};

/// Longest user id (and schema id, name, username), in characters.
pub const MAX_ID_CHARS: usize = 200;
/// The page size when a listing asks for none, and the largest one served.
pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// Whether a caller may act on its own user without permission: ZITADEL's v2 lets it, the
/// v3alpha API does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfService {
    Allowed,
    Denied,
}

/// A checked user id: 1 to 200 characters, no control characters, no `/`.
pub fn user_id(id: &str) -> Result<String, ApiError> {
    if id.is_empty() {
        return Err(ErrorCode::UserIdMissing.into());
    }
    if id.chars().count() > MAX_ID_CHARS || id.chars().any(|c| c.is_control() || c == '/') {
        return Err(ErrorCode::UserIdInvalid.into());
    }
    Ok(id.to_string())
}

/// A client-chosen id of a create: empty counts as absent.
pub fn optional_user_id(id: Option<&str>) -> Result<Option<String>, ApiError> {
    id.filter(|id| !id.is_empty()).map(user_id).transpose()
}

fn invalid(text: impl Into<String>) -> ApiError {
    ApiError::with_text(ErrorCode::InvalidCreate, text.into())
}

/// Create a user.
#[derive(Debug)]
pub struct CreateUser {
    /// The client's id, or None for a generated one.
    pub user_id: Option<String>,
    /// The organization named in the message (else the header's, else the token's).
    pub org: Option<String>,
    pub profile: NewProfile,
    /// Metadata to set right after the creation (v2 `AddHumanUser`), checked by [`metadata`].
    pub metadata: Vec<(String, Vec<u8>)>,
    /// A code for the new human's email, if one is asked for (returned or sent).
    pub email_code: Option<super::CodeDelivery>,
    /// A code for the new human's phone, if one is asked for (returned only).
    pub phone_code: Option<super::CodeDelivery>,
}

impl CreateUser {
    /// The edit made on the new user right after its creation: its metadata, if any.
    pub fn follow_up(&self) -> Option<Edit> {
        (!self.metadata.is_empty()).then(|| Edit::SetMetadata(self.metadata.clone()))
    }
}

/// Metadata entries to set: none with an empty key or value (a key given twice takes its last
/// value).
pub fn metadata(entries: Vec<(String, Vec<u8>)>) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    if entries.iter().any(|(k, v)| k.is_empty() || v.is_empty()) {
        return Err(ErrorCode::MetadataInvalid.into());
    }
    let mut last: Vec<(String, Vec<u8>)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        last.retain(|(k, _)| *k != key);
        last.push((key, value));
    }
    Ok(last)
}

/// What the new user is.
#[derive(Debug)]
pub enum NewProfile {
    /// A v3alpha user: a schema id and a JSON object (as its JSON text).
    Schema {
        schema_id: String,
        data_json: String,
        contact: Contact,
    },
    /// A v2 human; the password (if any) is hashed by the core.
    Human {
        human: HumanProfile,
        password: Option<Password>,
    },
    /// A v2 machine user (a service account); it starts ACTIVE.
    Machine(MachineProfile),
}

impl NewProfile {
    /// A v3alpha user, checked: `schema_id` 1 to 200 characters, `data_json` an object.
    pub fn schema(
        schema_id: String,
        data_json: Option<String>,
        contact: Contact,
    ) -> Result<NewProfile, ApiError> {
        let n = schema_id.chars().count();
        if n == 0 || n > MAX_ID_CHARS {
            return Err(invalid(
                "schemaId is required and must be 1 to 200 characters",
            ));
        }
        let data_json =
            data_json.ok_or_else(|| invalid("data is required and must be a JSON object"))?;
        if contact.email.as_ref().is_some_and(|e| e.address.is_empty()) {
            return Err(invalid(
                "contact.email.address is required when contact.email is set",
            ));
        }
        if contact.phone.as_ref().is_some_and(|p| p.number.is_empty()) {
            return Err(invalid(
                "contact.phone.number is required when contact.phone is set",
            ));
        }
        Ok(NewProfile::Schema {
            schema_id,
            data_json,
            contact,
        })
    }

    /// A v2 human, checked: names 1 to 200 characters, an email address, a username (the
    /// email's address when none is given, as ZITADEL does) of at most 200 characters.
    pub fn human(
        mut human: HumanProfile,
        password: Option<Password>,
    ) -> Result<NewProfile, ApiError> {
        for (value, name) in [
            (&human.given_name, "givenName"),
            (&human.family_name, "familyName"),
        ] {
            if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
                return Err(invalid(format!(
                    "profile.{name} is required (1 to 200 characters)"
                )));
            }
        }
        let address = human
            .email
            .as_ref()
            .map(|e| e.address.as_str())
            .unwrap_or("");
        if address.is_empty() || !address.contains('@') || address.chars().count() > MAX_ID_CHARS {
            return Err(invalid(
                "email.email is required and must be an email address",
            ));
        }
        if human.username.is_empty() {
            human.username = address.to_string();
        }
        if human.username.chars().count() > MAX_ID_CHARS {
            return Err(invalid("username must be at most 200 characters"));
        }
        if let Some(hash) = &human.password_hash {
            if !super::secrets::is_accepted_hash(hash) {
                return Err(ErrorCode::PasswordHashNotSupported.into());
            }
        }
        if let Some(clear) = &password {
            super::secrets::PasswordPolicy::DEFAULT.check(clear.expose())?;
        }
        Ok(NewProfile::Human { human, password })
    }
}

/// A password in clear text, on its way to being hashed. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// 1 to 1024 bytes.
    pub fn new(clear: String) -> Result<Password, ApiError> {
        if clear.is_empty() || clear.len() > 1024 {
            return Err(invalid("password.password must be 1 to 1024 bytes"));
        }
        Ok(Password(clear))
    }

    /// The clear text, for the complexity policy and comparisons.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Argon2id with a fresh salt, as a PHC string. Slow on purpose: run it off request threads.
    pub fn hash(self) -> Result<String, ApiError> {
        super::secrets::hash_secret(self.0.as_bytes())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// What a create answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub user_id: String,
    pub details: ChangeDetails,
    /// The codes asked to be returned (`returnCode`).
    pub email_code: Option<String>,
    pub phone_code: Option<String>,
}

/// A lifecycle change on one user.
#[derive(Clone, Debug)]
pub struct ChangeState {
    pub op: Operation,
    pub user_id: String,
    pub self_service: SelfService,
}

/// Read one user.
#[derive(Clone, Debug)]
pub struct GetUser {
    pub user_id: String,
    pub self_service: SelfService,
}

/// Which page of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    pub offset: u64,
    pub limit: u64,
    pub asc: bool,
}

impl Paging {
    /// A limit of 0 means the default (100); larger than 1000 is cut to 1000.
    pub fn new(offset: u64, limit: u64, asc: bool) -> Paging {
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        Paging { offset, limit, asc }
    }
}

/// List the users the caller may read.
#[derive(Clone, Debug)]
pub struct ListUsers {
    pub filter: Option<Filter>,
    pub paging: Paging,
    /// The column to order by (creation unless a surface says otherwise).
    pub sort: crate::domain::SortBy,
    /// Whether the caller's own user is listed whatever its permissions (v2).
    pub self_service: SelfService,
}

/// Set or remove a user's metadata. ZITADEL asks `user.write` on the user's organization, for
/// the user's own metadata too.
#[derive(Clone, Debug)]
pub struct EditMetadata {
    pub user_id: String,
    pub edit: Edit,
}

impl EditMetadata {
    /// Set keys to values (checked by [`EditMetadata::check`]).
    pub fn set(id: String, entries: Vec<(String, Vec<u8>)>) -> Result<Self, ApiError> {
        Ok(EditMetadata {
            user_id: user_id(&id)?,
            edit: Edit::SetMetadata(entries),
        })
    }

    /// Remove keys (checked by [`EditMetadata::check`]); every one must be set, else nothing is
    /// removed.
    pub fn remove(id: String, keys: Vec<String>) -> Result<Self, ApiError> {
        Ok(EditMetadata {
            user_id: user_id(&id)?,
            edit: Edit::RemoveMetadata(keys),
        })
    }

    /// ZITADEL's checks of the entries, which it makes once the caller is authenticated: at
    /// least one entry, no empty key or value (a key given twice takes its last value).
    pub fn check(self) -> Result<Self, ApiError> {
        let edit = match self.edit {
            Edit::SetMetadata(entries) if entries.is_empty() => {
                return Err(ErrorCode::MetadataEmpty.into())
            }
            Edit::SetMetadata(entries) => Edit::SetMetadata(metadata(entries)?),
            Edit::RemoveMetadata(keys) if keys.is_empty() => {
                return Err(ErrorCode::MetadataEmpty.into())
            }
            Edit::RemoveMetadata(keys) if keys.iter().any(String::is_empty) => {
                return Err(ErrorCode::MetadataKeyInvalid.into())
            }
            Edit::RemoveMetadata(mut keys) => {
                keys.sort_unstable();
                keys.dedup();
                Edit::RemoveMetadata(keys)
            }
            other => other,
        };
        Ok(EditMetadata {
            user_id: self.user_id,
            edit,
        })
    }
}

/// A user's metadata, the keys passing `key` (all if None), a page of them by creation date.
#[derive(Clone, Debug)]
pub struct ListMetadata {
    pub user_id: String,
    pub key: Option<TextMatch>,
    pub paging: Paging,
}

/// A way a user can authenticate (userd stores passwords only; passkeys, identity providers
/// and second factors need a login UI it does not have).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
}

/// One metadata entry of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub created_at: crate::domain::Timestamp,
    pub changed_at: crate::domain::Timestamp,
}

/// A page of metadata and how many entries pass the filter in all.
#[derive(Clone, Debug, Default)]
pub struct MetadataPage {
    pub total: u64,
    pub limit: u64,
    pub entries: Vec<MetadataEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_rules() {
        assert!(user_id("123").is_ok());
        assert!(user_id(&"é".repeat(200)).is_ok());
        assert_eq!(user_id("").unwrap_err().code, ErrorCode::UserIdMissing);
        assert!(user_id(&"a".repeat(201)).is_err());
        assert!(user_id("a/b").is_err());
        assert!(user_id("a\u{7}b").is_err());
        assert_eq!(optional_user_id(Some("")).unwrap(), None);
    }

    #[test]
    fn paging_defaults_and_clamps() {
        assert_eq!(Paging::new(0, 0, false).limit, 100);
        assert_eq!(Paging::new(0, 5000, false).limit, 1000);
        assert_eq!(
            Paging::new(3, 7, true),
            Paging {
                offset: 3,
                limit: 7,
                asc: true
            }
        );
    }
}
