//! ZITADEL's names and payloads for userd's events: what the event API lists and what webhooks
//! carry. Pure: an event in, its type name and JSON payload out.
//!
//! Payloads follow ZITADEL's field names. Secrets never leave: password, code and client secret
//! hashes, and the codes themselves, are left out of every payload.

use super::credentials::StoredCodeKind;
use super::{EventKind, Profile};
use base64::Engine;
use serde_json::{json, Map, Value};

/// The aggregate type of every event userd keeps.
pub const AGGREGATE_TYPE: &str = "user";

/// Every event type userd writes, in the order the event API lists them.
pub const EVENT_TYPES: &[&str] = &[
    "user.human.added",
    "user.machine.added",
    "user.schemauser.created",
    "user.deactivated",
    "user.reactivated",
    "user.locked",
    "user.unlocked",
    "user.removed",
    "user.metadata.set",
    "user.metadata.removed",
    "user.username.changed",
    "user.human.profile.changed",
    "user.human.email.changed",
    "user.human.email.code.added",
    "user.human.email.verified",
    "user.human.phone.changed",
    "user.human.phone.code.added",
    "user.human.phone.removed",
    "user.human.phone.verified",
    "user.human.password.changed",
    "user.human.password.code.added",
    "user.machine.changed",
    "user.pat.added",
    "user.pat.removed",
    "user.machine.key.added",
    "user.machine.key.removed",
    "user.machine.secret.set",
    "user.machine.secret.removed",
    "user.human.mfa.init.skipped",
];

/// ZITADEL's type name of an event.
pub fn event_type(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Created { profile, .. } => match profile {
            Profile::V2(_) => "user.human.added",
            Profile::Machine(_) => "user.machine.added",
            Profile::V3 { .. } => "user.schemauser.created",
        },
        EventKind::Deactivated => "user.deactivated",
        EventKind::Reactivated => "user.reactivated",
        EventKind::Locked => "user.locked",
        EventKind::Unlocked => "user.unlocked",
        EventKind::Deleted => "user.removed",
        EventKind::MetadataSet { .. } => "user.metadata.set",
        EventKind::MetadataRemoved { .. } => "user.metadata.removed",
        EventKind::UsernameChanged { .. } => "user.username.changed",
        EventKind::ProfileChanged(_) => "user.human.profile.changed",
        EventKind::EmailChanged { .. } => "user.human.email.changed",
        EventKind::CodeAdded(StoredCodeKind::Email, _) => "user.human.email.code.added",
        EventKind::CodeAdded(StoredCodeKind::Phone, _) => "user.human.phone.code.added",
        EventKind::CodeAdded(StoredCodeKind::Password, _) => "user.human.password.code.added",
        EventKind::EmailVerified => "user.human.email.verified",
        EventKind::PhoneChanged { .. } => "user.human.phone.changed",
        EventKind::PhoneRemoved => "user.human.phone.removed",
        EventKind::PhoneVerified => "user.human.phone.verified",
        EventKind::PasswordChanged { .. } => "user.human.password.changed",
        EventKind::MachineChanged { .. } => "user.machine.changed",
        EventKind::TokenAdded(_) => "user.pat.added",
        EventKind::TokenRemoved { .. } => "user.pat.removed",
        EventKind::KeyAdded(_) => "user.machine.key.added",
        EventKind::KeyRemoved { .. } => "user.machine.key.removed",
        EventKind::SecretSet { .. } => "user.machine.secret.set",
        EventKind::SecretRemoved => "user.machine.secret.removed",
        EventKind::MfaInitSkipped => "user.human.mfa.init.skipped",
    }
}

/// Whether `pattern` (an event type, a group such as `user` or `user.human`, with or without a
/// trailing `.*`, or `*` for all) takes in `event_type`.
pub fn matches(pattern: &str, event_type: &str) -> bool {
    let group = pattern.strip_suffix(".*").unwrap_or(pattern);
    pattern == "*"
        || event_type == group
        || (event_type.starts_with(group) && event_type.as_bytes().get(group.len()) == Some(&b'.'))
}

fn put(map: &mut Map<String, Value>, key: &str, value: &str) {
    // ZITADEL's payloads omit empty fields.
    if !value.is_empty() {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// ZITADEL's payload of an event (an empty object for events without one).
pub fn payload(kind: &EventKind) -> Map<String, Value> {
    let mut p = Map::new();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match kind {
        EventKind::Created { profile, .. } => match profile {
            Profile::V2(h) => {
                put(&mut p, "userName", &h.username);
                put(&mut p, "firstName", &h.given_name);
                put(&mut p, "lastName", &h.family_name);
                put(&mut p, "nickName", &h.nick_name);
                put(&mut p, "displayName", &h.display_name);
                put(&mut p, "preferredLanguage", &h.preferred_language);
                if h.gender != 0 {
                    p.insert("gender".into(), json!(h.gender));
                }
                if let Some(e) = &h.email {
                    put(&mut p, "email", &e.address);
                    if e.is_verified {
                        p.insert("isEmailVerified".into(), Value::Bool(true));
                    }
                }
                if let Some(ph) = &h.phone {
                    put(&mut p, "phone", &ph.number);
                    if ph.is_verified {
                        p.insert("isPhoneVerified".into(), Value::Bool(true));
                    }
                }
                if h.password_change_required {
                    p.insert("changeRequired".into(), Value::Bool(true));
                }
            }
            Profile::Machine(m) => {
                put(&mut p, "userName", &m.username);
                put(&mut p, "name", &m.name);
                put(&mut p, "description", &m.description);
                if m.access_token_type != 0 {
                    p.insert("accessTokenType".into(), json!(m.access_token_type));
                }
            }
            Profile::V3 {
                schema_id,
                data_json,
                contact,
            } => {
                put(&mut p, "schemaID", schema_id);
                if let Ok(data) = serde_json::from_str::<Value>(data_json) {
                    p.insert("data".into(), data);
                }
                if let Some(e) = &contact.email {
                    put(&mut p, "email", &e.address);
                }
                if let Some(ph) = &contact.phone {
                    put(&mut p, "phone", &ph.number);
                }
            }
        },
        EventKind::MetadataSet { entries } => {
            if let Some((key, value)) = entries.first() {
                put(&mut p, "key", key);
                p.insert("value".into(), Value::String(b64(value)));
            }
            // One event of userd's may set several keys; ZITADEL's sets one.
            if entries.len() > 1 {
                let all = entries
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": b64(v)}))
                    .collect();
                p.insert("entries".into(), Value::Array(all));
            }
        }
        EventKind::MetadataRemoved { keys } => {
            if let Some(key) = keys.first() {
                put(&mut p, "key", key);
            }
            if keys.len() > 1 {
                p.insert("keys".into(), json!(keys));
            }
        }
        EventKind::UsernameChanged { username } => put(&mut p, "userName", username),
        EventKind::ProfileChanged(patch) => {
            let fields = [
                ("firstName", &patch.given_name),
                ("lastName", &patch.family_name),
                ("nickName", &patch.nick_name),
                ("displayName", &patch.display_name),
                ("preferredLanguage", &patch.preferred_language),
            ];
            for (key, value) in fields {
                if let Some(v) = value {
                    p.insert(key.into(), Value::String(v.clone()));
                }
            }
            if let Some(g) = patch.gender {
                p.insert("gender".into(), json!(g));
            }
        }
        EventKind::EmailChanged { address, .. } => put(&mut p, "email", address),
        EventKind::PhoneChanged { number, .. } => put(&mut p, "phone", number),
        EventKind::CodeAdded(_, code) => {
            p.insert("expiry".into(), Value::String(code.expires_at.to_rfc3339()));
        }
        EventKind::PasswordChanged {
            change_required, ..
        } => {
            p.insert("changeRequired".into(), Value::Bool(*change_required));
        }
        EventKind::MachineChanged {
            name,
            description,
            access_token_type,
        } => {
            put(&mut p, "name", name);
            put(&mut p, "description", description);
            p.insert("accessTokenType".into(), json!(access_token_type));
        }
        EventKind::TokenAdded(token) => {
            put(&mut p, "tokenId", &token.id);
            p.insert(
                "expiration".into(),
                Value::String(token.expires_at.to_rfc3339()),
            );
        }
        EventKind::TokenRemoved { id } => put(&mut p, "tokenId", id),
        EventKind::KeyAdded(key) => {
            put(&mut p, "keyId", &key.id);
            // ZITADEL's `AuthNKeyType`: 1 is JSON.
            p.insert("type".into(), json!(1));
            p.insert(
                "expirationDate".into(),
                Value::String(key.expires_at.to_rfc3339()),
            );
        }
        EventKind::KeyRemoved { id } => put(&mut p, "keyId", id),
        EventKind::Deactivated
        | EventKind::Reactivated
        | EventKind::Locked
        | EventKind::Unlocked
        | EventKind::Deleted
        | EventKind::EmailVerified
        | EventKind::PhoneRemoved
        | EventKind::PhoneVerified
        | EventKind::SecretSet { .. }
        | EventKind::SecretRemoved
        | EventKind::MfaInitSkipped => {}
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_take_in_their_events_and_no_others() {
        assert!(matches("user", "user.deactivated"));
        assert!(matches("user.*", "user.human.email.changed"));
        assert!(matches("user.human", "user.human.added"));
        assert!(matches("user.deactivated", "user.deactivated"));
        assert!(matches("*", "user.locked"));
        assert!(!matches("user.human", "user.humanoid.added"));
        assert!(!matches("user.deactivated", "user.reactivated"));
        assert!(!matches("org", "user.locked"));
    }

    #[test]
    fn every_kind_has_a_listed_type() {
        let kinds = [
            EventKind::Deactivated,
            EventKind::Deleted,
            EventKind::SecretRemoved,
            EventKind::MetadataSet { entries: vec![] },
        ];
        for kind in kinds {
            assert!(EVENT_TYPES.contains(&event_type(&kind)));
        }
    }

    #[test]
    fn payloads_leave_secrets_out() {
        let p = payload(&EventKind::PasswordChanged {
            hash: "$argon2id$secret".into(),
            change_required: true,
        });
        assert_eq!(Value::Object(p), json!({"changeRequired": true}));
        let p = payload(&EventKind::MetadataSet {
            entries: vec![("k".into(), b"v".to_vec())],
        });
        assert_eq!(Value::Object(p), json!({"key": "k", "value": "dg=="}));
    }
}
