//! Changes to an existing user's data, its state aside: metadata, username, a human's profile,
//! email, phone and password, a machine's fields, and credentials (`credentials`).
//!
//! Pure like the rest of the domain: an [`Edit`] and a user decide events ([`decide_edit`]),
//! events apply to a record ([`apply_edit`]). Secrets arrive already hashed, and proofs (a code,
//! the current password) were checked by the caller against the record it read: the edit
//! names what it saw, and is refused if the record no longer holds it.

pub use super::credentials::{
    AccessToken, CodeKind, Credentials, MachineKey, OneTimeCode, StoredCodeKind, MAX_TOKENS,
};
use super::{
    Event, EventKind, MachineProfile, MetadataValue, Profile, Timestamp, User, UserKind, UserState,
};
use crate::error::ErrorCode;
use serde::{Deserialize, Serialize};

/// The most metadata one user may hold, keys and values together: every change rewrites the
/// user's record, so it must stay small.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// How a new email address or phone number is proven.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The caller says it is verified.
    Verified,
    /// A code was made for it (sent or returned by the caller).
    Code(OneTimeCode),
}

/// A human's names and preferences; None keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePatch {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nick_name: Option<String>,
    pub display_name: Option<String>,
    pub preferred_language: Option<String>,
    pub gender: Option<i32>,
}

/// A machine's fields; None keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachinePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub access_token_type: Option<i32>,
}

/// What allows a password change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordProof {
    /// The caller holds `user.write` on the user's organization.
    Permission,
    /// The current password, checked against this hash (refused if it changed since).
    CurrentPassword { hash_seen: Option<String> },
    /// A password reset code, checked against this hash.
    Code { hash_seen: String },
}

/// A change to an existing user's data (its state aside). Each single edit is one event at
/// most (setting an email with a code is two); a batch is one request's edits in order.
///
/// `standalone` marks the rules of ZITADEL's dedicated methods (SetEmail, SetPhone,
/// RemovePhone) over those of a profile update: they refuse a user in state INITIAL, an
/// address that does not change, and removing a phone that is not there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Set these keys to these values (added or replaced).
    SetMetadata(Vec<(String, Vec<u8>)>),
    /// Remove these keys; each must be set.
    RemoveMetadata(Vec<String>),
    /// Several edits (an update's parts), each deciding on the record the ones before it leave.
    Batch(Vec<Edit>),
    /// A v2 human's or machine's username (uniqueness is the caller's check).
    SetUsername(String),
    SetProfile(ProfilePatch),
    SetEmail {
        address: String,
        verification: Verification,
        standalone: bool,
    },
    SetPhone {
        number: String,
        verification: Verification,
        standalone: bool,
    },
    RemovePhone {
        standalone: bool,
    },
    /// A new code for the current email (or phone, or a password reset).
    AddCode {
        kind: CodeKind,
        code: OneTimeCode,
        rule: CodeRule,
    },
    /// The email or phone code whose hash is `hash_seen` was entered correctly.
    Verify {
        kind: CodeKind,
        hash_seen: String,
    },
    SetPassword {
        hash: String,
        change_required: bool,
        proof: PasswordProof,
    },
    SetMachine(MachinePatch),
    /// A personal access token for a machine.
    AddToken(AccessToken),
    /// Remove a machine's personal access token by id.
    RemoveToken(String),
    /// A public key of a v2 user (for signed assertions).
    AddKey(MachineKey),
    RemoveKey(String),
    /// A machine's client secret (its hash), replacing any other.
    SetSecret(String),
    RemoveSecret,
    /// A human chose to skip setting up a second factor (recorded, as ZITADEL does).
    SkipMfaInit,
}

/// When a new code may be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRule {
    /// Whenever the user has the email (or phone).
    Send,
    /// Only to replace a pending code.
    Resend,
}

impl Edit {
    /// The permission an edit needs on the user's organization.
    pub fn permission(&self) -> super::Permission {
        super::Permission::Write
    }

    /// What a missing user (or one of the other type) answers, as ZITADEL's method does.
    pub fn not_found(&self) -> ErrorCode {
        match self {
            Edit::SetMetadata(_) | Edit::RemoveMetadata(_) => ErrorCode::UserNotFound,
            Edit::SetEmail { .. } => ErrorCode::EmailNotFound,
            Edit::SetPhone { .. } | Edit::RemovePhone { .. } => ErrorCode::PhoneNotFound,
            Edit::AddCode { kind, .. } | Edit::Verify { kind, .. } => match kind {
                CodeKind::Email => ErrorCode::EmailNotFound,
                CodeKind::Phone => ErrorCode::PhoneNotFound,
                CodeKind::Password => ErrorCode::ResetUserNotFound,
            },
            Edit::SetPassword { .. } => ErrorCode::PasswordUserNotFound,
            Edit::Batch(_) | Edit::SetUsername(_) | Edit::SetProfile(_) | Edit::SetMachine(_) => {
                ErrorCode::UpdateNotFound
            }
            Edit::AddToken(_) => ErrorCode::TokenUserNotFound,
            Edit::RemoveToken(_) => ErrorCode::TokenNotFound,
            Edit::AddKey(_) => ErrorCode::KeyUserNotFound,
            Edit::RemoveKey(_) => ErrorCode::KeyNotFound,
            Edit::SetSecret(_) => ErrorCode::SecretUserNotFound,
            Edit::RemoveSecret => ErrorCode::RemoveSecretUserNotFound,
            Edit::SkipMfaInit => ErrorCode::MfaUserNotFound,
        }
    }
}

/// The time an edit of `user` happens at: `now`, or later to keep a user's dates in order.
fn after(user: &User, now: Timestamp) -> Timestamp {
    now.max(user.changed_at)
}

/// Decide an edit of an existing user: the events it produces, in order (none: the edit
/// changes nothing, as when every value is already set), or the error it answers.
pub fn decide_edit(edit: &Edit, user: &User, now: Timestamp) -> Result<Vec<Event>, ErrorCode> {
    let not_found = edit.not_found();
    if !super::is_live(user) {
        return Err(not_found);
    }
    let mut events = Vec::new();
    let mut current = user.clone();
    decide_into(edit, &mut current, after(user, now), not_found, &mut events)?;
    Ok(events)
}

/// Decide `edit` on `user`, apply its events to it and push them.
fn decide_into(
    edit: &Edit,
    user: &mut User,
    now: Timestamp,
    not_found: ErrorCode,
    events: &mut Vec<Event>,
) -> Result<(), ErrorCode> {
    if let Edit::Batch(edits) = edit {
        for e in edits {
            decide_into(e, user, now, not_found, events)?;
        }
        return Ok(());
    }
    for kind in decide_kinds(edit, user, now, not_found)? {
        let event = Event {
            sequence: user.sequence + 1,
            at: now,
            kind,
            editor: String::new(),
        };
        *user = super::apply(user, &event);
        events.push(event);
    }
    Ok(())
}

fn human(user: &User, not_found: ErrorCode) -> Result<&super::HumanProfile, ErrorCode> {
    match &user.profile {
        Profile::V2(h) => Ok(h),
        _ => Err(not_found),
    }
}

fn machine(user: &User, not_found: ErrorCode) -> Result<&MachineProfile, ErrorCode> {
    match &user.profile {
        Profile::Machine(m) => Ok(m),
        _ => Err(not_found),
    }
}

/// Refuse a user in state INITIAL with `code`.
fn initialised(user: &User, code: ErrorCode) -> Result<(), ErrorCode> {
    match user.state {
        UserState::Initial => Err(code),
        _ => Ok(()),
    }
}

/// The events of setting an email or phone `to` (`current` is the one set now, with whether it
/// is verified).
fn set_contact(
    current: Option<(&str, bool)>,
    to: &str,
    verification: &Verification,
    changed: impl Fn(bool) -> EventKind,
    code_kind: CodeKind,
) -> Vec<EventKind> {
    let same = current.is_some_and(|(v, _)| v == to);
    let verified = current.is_some_and(|(_, v)| v);
    match verification {
        Verification::Verified if same && verified => Vec::new(),
        Verification::Verified => vec![changed(true)],
        // An update that names the address the user has changes nothing (the dedicated
        // methods refuse it before this).
        Verification::Code(_) if same => Vec::new(),
        Verification::Code(code) => {
            let mut kinds = Vec::with_capacity(2);
            if !same || verified {
                kinds.push(changed(false));
            }
            kinds.push(EventKind::CodeAdded(code_kind.into(), code.clone()));
            kinds
        }
    }
}

/// The events of one edit (not a batch).
fn decide_kinds(
    edit: &Edit,
    user: &User,
    now: Timestamp,
    not_found: ErrorCode,
) -> Result<Vec<EventKind>, ErrorCode> {
    let one = |kind| Ok(vec![kind]);
    match edit {
        Edit::Batch(_) => Ok(Vec::new()),
        Edit::AddToken(_)
        | Edit::RemoveToken(_)
        | Edit::AddKey(_)
        | Edit::RemoveKey(_)
        | Edit::SetSecret(_)
        | Edit::RemoveSecret => super::credentials::decide(edit, user, not_found),
        Edit::SetMetadata(entries) => {
            let changed: Vec<(String, Vec<u8>)> = entries
                .iter()
                .filter(|(k, v)| user.metadata.get(k).is_none_or(|m| m.value != *v))
                .cloned()
                .collect();
            if changed.is_empty() {
                return Ok(Vec::new());
            }
            let kept: usize = user
                .metadata
                .iter()
                .filter(|(k, _)| !changed.iter().any(|(c, _)| c == *k))
                .map(|(k, m)| k.len() + m.value.len())
                .sum();
            let added: usize = changed.iter().map(|(k, v)| k.len() + v.len()).sum();
            if kept + added > MAX_METADATA_BYTES {
                return Err(ErrorCode::MetadataTooLarge);
            }
            one(EventKind::MetadataSet { entries: changed })
        }
        Edit::RemoveMetadata(keys) => {
            if keys.iter().any(|k| !user.metadata.contains_key(k)) {
                return Err(ErrorCode::MetadataKeyNotFound);
            }
            one(EventKind::MetadataRemoved { keys: keys.clone() })
        }
        Edit::SetUsername(name) => {
            if !matches!(user.kind(), UserKind::Human | UserKind::Machine) {
                return Err(not_found);
            }
            if user.profile.username() == Some(name.as_str()) {
                return Ok(Vec::new());
            }
            one(EventKind::UsernameChanged {
                username: name.clone(),
            })
        }
        Edit::SetProfile(patch) => {
            let h = human(user, not_found)?;
            let keep = |new: &Option<String>, old: &String| new.as_ref().is_none_or(|n| n == old);
            let unchanged = keep(&patch.given_name, &h.given_name)
                && keep(&patch.family_name, &h.family_name)
                && keep(&patch.nick_name, &h.nick_name)
                && keep(&patch.display_name, &h.display_name)
                && keep(&patch.preferred_language, &h.preferred_language)
                && patch.gender.is_none_or(|g| g == h.gender);
            if unchanged {
                return Ok(Vec::new());
            }
            one(EventKind::ProfileChanged(patch.clone()))
        }
        Edit::SetEmail {
            address,
            verification,
            standalone,
        } => {
            let h = human(user, not_found)?;
            let current = h
                .email
                .as_ref()
                .map(|e| (e.address.as_str(), e.is_verified));
            if *standalone {
                initialised(user, ErrorCode::ContactNotInitialised)?;
                if current.is_some_and(|(a, _)| a == address) {
                    return Err(ErrorCode::EmailNotChanged);
                }
            }
            Ok(set_contact(
                current,
                address,
                verification,
                |verified| EventKind::EmailChanged {
                    address: address.clone(),
                    verified,
                },
                CodeKind::Email,
            ))
        }
        Edit::SetPhone {
            number,
            verification,
            standalone,
        } => {
            let h = human(user, not_found)?;
            let current = h.phone.as_ref().map(|p| (p.number.as_str(), p.is_verified));
            if *standalone {
                initialised(user, ErrorCode::ContactNotInitialised)?;
                if current.is_some_and(|(n, _)| n == number) {
                    return Err(ErrorCode::PhoneNotChanged);
                }
            }
            Ok(set_contact(
                current,
                number,
                verification,
                |verified| EventKind::PhoneChanged {
                    number: number.clone(),
                    verified,
                },
                CodeKind::Phone,
            ))
        }
        Edit::RemovePhone { standalone } => {
            let h = human(user, not_found)?;
            if *standalone {
                initialised(user, ErrorCode::ContactNotInitialised)?;
            }
            match (&h.phone, standalone) {
                (Some(_), _) => one(EventKind::PhoneRemoved),
                (None, true) => Err(ErrorCode::PhoneAbsent),
                (None, false) => Ok(Vec::new()),
            }
        }
        Edit::AddCode { kind, code, rule } => {
            let h = human(user, not_found)?;
            let (has_target, empty) = match kind {
                CodeKind::Email => (h.email.is_some(), ErrorCode::EmailCodeEmpty),
                CodeKind::Phone => (h.phone.is_some(), ErrorCode::PhoneCodeEmpty),
                CodeKind::Password => (true, ErrorCode::PasswordCodeNotFound),
            };
            if !has_target {
                return Err(not_found);
            }
            if *rule == CodeRule::Resend && user.credentials.code(*kind).is_none() {
                return Err(empty);
            }
            one(EventKind::CodeAdded((*kind).into(), code.clone()))
        }
        Edit::Verify { kind, hash_seen } => {
            let h = human(user, not_found)?;
            let verified = match kind {
                CodeKind::Email => h.email.as_ref().map(|e| e.is_verified),
                CodeKind::Phone => h.phone.as_ref().map(|p| p.is_verified),
                CodeKind::Password => None,
            };
            // ZITADEL answers every failed verification alike.
            if verified != Some(false) {
                return Err(ErrorCode::VerificationCodeInvalid);
            }
            check_code(user, *kind, hash_seen, now)
                .map_err(|_| ErrorCode::VerificationCodeInvalid)?;
            one(match kind {
                CodeKind::Phone => EventKind::PhoneVerified,
                _ => EventKind::EmailVerified,
            })
        }
        Edit::SetPassword {
            hash,
            change_required,
            proof,
        } => {
            let h = human(user, not_found)?;
            match proof {
                PasswordProof::Permission => {}
                PasswordProof::CurrentPassword { hash_seen } => {
                    if h.password_hash.is_none() {
                        return Err(ErrorCode::PasswordNotSet);
                    }
                    if h.password_hash != *hash_seen {
                        return Err(ErrorCode::PasswordInvalid);
                    }
                }
                PasswordProof::Code { hash_seen } => {
                    check_code(user, CodeKind::Password, hash_seen, now)?;
                }
            }
            one(EventKind::PasswordChanged {
                hash: hash.clone(),
                change_required: *change_required,
            })
        }
        Edit::SkipMfaInit => {
            human(user, not_found)?;
            one(EventKind::MfaInitSkipped)
        }
        Edit::SetMachine(patch) => {
            let m = machine(user, not_found)?;
            let next = MachineProfile {
                username: m.username.clone(),
                name: patch.name.clone().unwrap_or_else(|| m.name.clone()),
                description: patch
                    .description
                    .clone()
                    .unwrap_or_else(|| m.description.clone()),
                access_token_type: patch.access_token_type.unwrap_or(m.access_token_type),
            };
            if next == *m {
                return Ok(Vec::new());
            }
            one(EventKind::MachineChanged {
                name: next.name,
                description: next.description,
                access_token_type: next.access_token_type,
            })
        }
    }
}

/// The pending code of `kind` is the one whose hash is `hash_seen`, and has not expired.
fn check_code(
    user: &User,
    kind: CodeKind,
    hash_seen: &str,
    now: Timestamp,
) -> Result<(), ErrorCode> {
    let code = user
        .credentials
        .code(kind)
        .ok_or(ErrorCode::PasswordCodeNotFound)?;
    if code.hash != hash_seen {
        return Err(ErrorCode::CodeInvalid);
    }
    if code.expires_at <= now {
        return Err(ErrorCode::CodeExpired);
    }
    Ok(())
}

/// Apply an edit's event to `next` (a copy of the record before it). Returns false for an
/// event that is not an edit's.
pub fn apply_edit(next: &mut User, event: &Event) -> bool {
    let at = event.at;
    match &event.kind {
        EventKind::MetadataSet { entries } => {
            for (key, value) in entries {
                let created_at = next.metadata.get(key).map_or(at, |m| m.created_at);
                next.metadata.insert(
                    key.clone(),
                    MetadataValue {
                        value: value.clone(),
                        created_at,
                        changed_at: at,
                    },
                );
            }
        }
        EventKind::MetadataRemoved { keys } => {
            for key in keys {
                next.metadata.remove(key);
            }
        }
        EventKind::UsernameChanged { username } => match &mut next.profile {
            Profile::V2(h) => h.username = username.clone(),
            Profile::Machine(m) => m.username = username.clone(),
            Profile::V3 { .. } => {}
        },
        EventKind::ProfileChanged(p) => {
            if let Profile::V2(h) = &mut next.profile {
                let set = |field: &mut String, new: &Option<String>| {
                    if let Some(v) = new {
                        field.clone_from(v);
                    }
                };
                set(&mut h.given_name, &p.given_name);
                set(&mut h.family_name, &p.family_name);
                set(&mut h.nick_name, &p.nick_name);
                set(&mut h.display_name, &p.display_name);
                set(&mut h.preferred_language, &p.preferred_language);
                if let Some(g) = p.gender {
                    h.gender = g;
                }
            }
        }
        EventKind::EmailChanged { address, verified } => {
            if let Profile::V2(h) = &mut next.profile {
                h.email = Some(super::Email {
                    address: address.clone(),
                    is_verified: *verified,
                });
            }
            next.credentials.email_code = None;
        }
        EventKind::EmailVerified => {
            if let Profile::V2(h) = &mut next.profile {
                if let Some(e) = &mut h.email {
                    e.is_verified = true;
                }
            }
            next.credentials.email_code = None;
        }
        EventKind::PhoneChanged { number, verified } => {
            if let Profile::V2(h) = &mut next.profile {
                h.phone = Some(super::Phone {
                    number: number.clone(),
                    is_verified: *verified,
                });
            }
            next.credentials.phone_code = None;
        }
        EventKind::PhoneRemoved => {
            if let Profile::V2(h) = &mut next.profile {
                h.phone = None;
            }
            next.credentials.phone_code = None;
        }
        EventKind::PhoneVerified => {
            if let Profile::V2(h) = &mut next.profile {
                if let Some(p) = &mut h.phone {
                    p.is_verified = true;
                }
            }
            next.credentials.phone_code = None;
        }
        EventKind::CodeAdded(kind, code) => {
            *next.credentials.code_mut((*kind).into()) = Some(code.clone());
        }
        EventKind::PasswordChanged {
            hash,
            change_required,
        } => {
            if let Profile::V2(h) = &mut next.profile {
                h.password_hash = Some(hash.clone());
                h.password_change_required = *change_required;
            }
            next.credentials.password_code = None;
        }
        EventKind::MachineChanged {
            name,
            description,
            access_token_type,
        } => {
            if let Profile::Machine(m) = &mut next.profile {
                m.name.clone_from(name);
                m.description.clone_from(description);
                m.access_token_type = *access_token_type;
            }
        }
        _ => return super::credentials::apply(next, &event.kind),
    }
    true
}

/// Whether an edit's event could have been decided on `user` (for replaying a history): the
/// user is live and of the kind the event is for; metadata removals remove set keys.
pub fn check_edit_event(user: &User, event: &Event) -> Result<(), ErrorCode> {
    let not_found = ErrorCode::UserNotFound;
    if !super::is_live(user) {
        return Err(not_found);
    }
    match &event.kind {
        EventKind::MetadataSet { entries } => decide_kinds(
            &Edit::SetMetadata(entries.clone()),
            user,
            event.at,
            not_found,
        )
        .map(drop),
        EventKind::MetadataRemoved { keys } => decide_kinds(
            &Edit::RemoveMetadata(keys.clone()),
            user,
            event.at,
            not_found,
        )
        .map(drop),
        EventKind::UsernameChanged { .. } => match user.kind() {
            UserKind::Human | UserKind::Machine => Ok(()),
            UserKind::Schema => Err(not_found),
        },
        EventKind::MachineChanged { .. }
        | EventKind::TokenAdded(_)
        | EventKind::TokenRemoved { .. }
        | EventKind::SecretSet { .. }
        | EventKind::SecretRemoved => machine(user, not_found).map(drop),
        EventKind::KeyAdded(_) | EventKind::KeyRemoved { .. } => match user.kind() {
            UserKind::Human | UserKind::Machine => Ok(()),
            UserKind::Schema => Err(not_found),
        },
        _ => human(user, not_found).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        apply, create, replay, Contact, Email, HumanProfile, NewUser, OrgScope, UserState,
    };
    use crate::domain::{AccessToken, MachineKey};

    fn new_user(profile: Profile) -> (User, Event) {
        create(
            NewUser {
                id: "u1".into(),
                org: "o1".into(),
                initial_state: UserState::Active,
                creator_scope: OrgScope::Everywhere,
                editor: String::new(),
                profile,
            },
            Timestamp(1),
        )
    }

    fn schema_user() -> (User, Event) {
        new_user(Profile::V3 {
            schema_id: "s".into(),
            data_json: "{}".into(),
            contact: Contact::default(),
        })
    }

    fn human_user() -> (User, Event) {
        new_user(Profile::V2(Box::new(HumanProfile {
            username: "ada".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            email: Some(Email {
                address: "ada@example.com".into(),
                is_verified: false,
            }),
            ..HumanProfile::default()
        })))
    }

    fn code(hash: &str, expires_at: i64) -> OneTimeCode {
        OneTimeCode {
            hash: hash.into(),
            expires_at: Timestamp(expires_at),
        }
    }

    /// Apply every event of an edit in order.
    fn run(user: &User, edit: &Edit, now: i64) -> Result<(User, Vec<Event>), ErrorCode> {
        let events = decide_edit(edit, user, Timestamp(now))?;
        let next = events.iter().fold(user.clone(), |u, e| apply(&u, e));
        Ok((next, events))
    }

    #[test]
    fn metadata_edits_keep_dates_skip_no_ops_and_replay() {
        let (user, created) = schema_user();
        let set = |entries: &[(&str, &str)]| {
            Edit::SetMetadata(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                    .collect(),
            )
        };
        let (user2, first) = run(&user, &set(&[("a", "1"), ("b", "2")]), 2).unwrap();
        assert_eq!(user2.metadata.len(), 2);
        // Values already set: no event.
        assert_eq!(
            decide_edit(&set(&[("a", "1")]), &user2, Timestamp(3)),
            Ok(vec![])
        );
        // A changed value keeps its key's creation date; only the changed key is in the event.
        let (user3, second) = run(&user2, &set(&[("a", "1"), ("b", "3")]), 4).unwrap();
        assert_eq!(
            second[0].kind,
            EventKind::MetadataSet {
                entries: vec![("b".into(), b"3".to_vec())]
            }
        );
        let b = &user3.metadata["b"];
        assert_eq!((b.created_at, b.changed_at), (Timestamp(2), Timestamp(4)));
        // Removing a key that is not set removes nothing.
        let missing = Edit::RemoveMetadata(vec!["a".into(), "zz".into()]);
        assert_eq!(
            decide_edit(&missing, &user3, Timestamp(5)),
            Err(ErrorCode::MetadataKeyNotFound)
        );
        let (user4, removed) = run(&user3, &Edit::RemoveMetadata(vec!["a".into()]), 5).unwrap();
        assert_eq!(user4.metadata.keys().collect::<Vec<_>>(), vec!["b"]);
        let history: Vec<Event> = [vec![created], first, second, removed].concat();
        assert_eq!(replay("u1", &history).unwrap(), user4);
        // Bounded in all; a deleted user has nothing to edit.
        let big = "x".repeat(MAX_METADATA_BYTES);
        assert_eq!(
            decide_edit(&set(&[("c", big.as_str())]), &user4, Timestamp(6)),
            Err(ErrorCode::MetadataTooLarge)
        );
        let mut gone = user4.clone();
        gone.state = UserState::Deleted;
        assert_eq!(
            decide_edit(&set(&[("c", "1")]), &gone, Timestamp(6)),
            Err(ErrorCode::UserNotFound)
        );
    }

    #[test]
    fn email_codes_verify_once_and_expire() {
        let (user, created) = human_user();
        let set = Edit::SetEmail {
            address: "ada@example.org".into(),
            verification: Verification::Code(code("h1", 100)),
            standalone: true,
        };
        let (user2, e1) = run(&user, &set, 2).unwrap();
        assert_eq!(e1.len(), 2, "a changed address and its code");
        assert_eq!(user2.profile.email().unwrap().address, "ada@example.org");
        let verify = |hash: &str| Edit::Verify {
            kind: CodeKind::Email,
            hash_seen: hash.into(),
        };
        assert_eq!(
            decide_edit(&verify("other"), &user2, Timestamp(3)),
            Err(ErrorCode::VerificationCodeInvalid)
        );
        assert_eq!(
            decide_edit(&verify("h1"), &user2, Timestamp(100)),
            Err(ErrorCode::VerificationCodeInvalid)
        );
        let (user3, e2) = run(&user2, &verify("h1"), 50).unwrap();
        assert!(user3.profile.email().unwrap().is_verified);
        assert_eq!(user3.credentials.email_code, None);
        assert_eq!(
            decide_edit(&verify("h1"), &user3, Timestamp(51)),
            Err(ErrorCode::VerificationCodeInvalid)
        );
        // Resending needs a pending code; sending makes one whatever the state.
        let add = |rule| Edit::AddCode {
            kind: CodeKind::Email,
            code: code("h2", 900),
            rule,
        };
        assert_eq!(
            decide_edit(&add(CodeRule::Resend), &user3, Timestamp(52)),
            Err(ErrorCode::EmailCodeEmpty)
        );
        let sent = decide_edit(&add(CodeRule::Send), &user3, Timestamp(52)).unwrap();
        assert_eq!(sent.len(), 1);
        // The same address verified is no change for an update, an error for SetEmail.
        let same = Edit::SetEmail {
            address: "ada@example.org".into(),
            verification: Verification::Verified,
            standalone: false,
        };
        assert_eq!(decide_edit(&same, &user3, Timestamp(53)), Ok(vec![]));
        let standalone = Edit::SetEmail {
            address: "ada@example.org".into(),
            verification: Verification::Verified,
            standalone: true,
        };
        assert_eq!(
            decide_edit(&standalone, &user3, Timestamp(53)),
            Err(ErrorCode::EmailNotChanged)
        );
        let history: Vec<Event> = [vec![created], e1, e2].concat();
        assert_eq!(replay("u1", &history).unwrap(), user3);
    }

    #[test]
    fn passwords_need_the_proof_they_name() {
        let (user, _) = human_user();
        let set = |proof| Edit::SetPassword {
            hash: "new".into(),
            change_required: false,
            proof,
        };
        // No password yet: a current password cannot match.
        assert_eq!(
            decide_edit(
                &set(PasswordProof::CurrentPassword { hash_seen: None }),
                &user,
                Timestamp(2)
            ),
            Err(ErrorCode::PasswordNotSet)
        );
        let (user2, _) = run(&user, &set(PasswordProof::Permission), 2).unwrap();
        let stale = PasswordProof::CurrentPassword {
            hash_seen: Some("old".into()),
        };
        assert_eq!(
            decide_edit(&set(stale), &user2, Timestamp(3)),
            Err(ErrorCode::PasswordInvalid)
        );
        let reset = Edit::AddCode {
            kind: CodeKind::Password,
            code: code("c", 10),
            rule: CodeRule::Send,
        };
        let (user3, _) = run(&user2, &reset, 3).unwrap();
        let by_code = set(PasswordProof::Code {
            hash_seen: "c".into(),
        });
        let (user4, _) = run(&user3, &by_code, 4).unwrap();
        assert_eq!(user4.credentials.password_code, None, "a code is used once");
        assert_eq!(
            decide_edit(&by_code, &user4, Timestamp(5)),
            Err(ErrorCode::PasswordCodeNotFound)
        );
    }

    #[test]
    fn kinds_are_kept_apart_and_batches_apply_in_order() {
        let (schema, _) = schema_user();
        assert_eq!(
            decide_edit(&Edit::SetUsername("x".into()), &schema, Timestamp(2)),
            Err(ErrorCode::UpdateNotFound)
        );
        let (human, _) = human_user();
        assert_eq!(
            decide_edit(
                &Edit::SetMachine(MachinePatch::default()),
                &human,
                Timestamp(2)
            ),
            Err(ErrorCode::UpdateNotFound)
        );
        let batch = Edit::Batch(vec![
            Edit::SetUsername("ada2".into()),
            Edit::SetProfile(ProfilePatch {
                nick_name: Some("countess".into()),
                ..ProfilePatch::default()
            }),
            Edit::SetUsername("ada2".into()),
        ]);
        let (next, events) = run(&human, &batch, 2).unwrap();
        assert_eq!(events.len(), 2, "the second rename changes nothing");
        assert_eq!(
            events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(next.profile.username(), Some("ada2"));
        // A refused edit in a batch refuses the batch.
        let bad = Edit::Batch(vec![
            Edit::SetUsername("x".into()),
            Edit::RemovePhone { standalone: true },
        ]);
        assert_eq!(
            decide_edit(&bad, &human, Timestamp(3)),
            Err(ErrorCode::PhoneAbsent)
        );
    }

    #[test]
    fn machine_credentials_replay_and_initial_humans_activate() {
        let (machine, created) = new_user(Profile::Machine(Box::new(MachineProfile {
            username: "bot".into(),
            name: "Bot".into(),
            ..MachineProfile::default()
        })));
        let key = MachineKey {
            id: "k1".into(),
            public_key_der: vec![1, 2, 3],
            created_at: Timestamp(2),
            expires_at: Timestamp(99),
        };
        let token = AccessToken {
            id: "t1".into(),
            secret_hash: "h".into(),
            created_at: Timestamp(2),
            expires_at: Timestamp(99),
            issuer_scope: OrgScope::Everywhere,
        };
        let batch = Edit::Batch(vec![
            Edit::AddKey(key),
            Edit::SetSecret("s".into()),
            Edit::AddToken(token),
            Edit::RemoveSecret,
            Edit::RemoveKey("k1".into()),
        ]);
        let (after, events) = run(&machine, &batch, 2).unwrap();
        assert_eq!(events.len(), 5);
        assert_eq!(after.credentials.tokens.len(), 1);
        let history: Vec<Event> = [vec![created], events].concat();
        assert_eq!(replay("u1", &history).unwrap(), after);

        // A human without a password or a verified email starts INITIAL; verifying the email
        // with a code made at its creation sets it up.
        let (mut human, _) = human_user();
        human.state = UserState::Initial;
        let add = Edit::AddCode {
            kind: CodeKind::Email,
            code: code("h", 99),
            rule: CodeRule::Send,
        };
        let (human, _) = run(&human, &add, 2).unwrap();
        let verify = Edit::Verify {
            kind: CodeKind::Email,
            hash_seen: "h".into(),
        };
        let (human, _) = run(&human, &verify, 3).unwrap();
        assert_eq!(human.state, UserState::Active);
    }
}
