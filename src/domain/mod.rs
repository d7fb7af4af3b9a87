//! The user state machine: pure functions from a user and a time to an event, and from an event
//! to the next user. No IO and no clock: the caller passes `now` in.
//!
//! Invariants: `sequence` counts a user's events (1 for the creation, +1 per change, no gaps);
//! a DELETED user is not found for every operation; no transition is idempotent.

pub mod access;
pub mod credentials;
pub mod edit;
pub mod events;
pub mod filter;
pub mod time;

use crate::error::ErrorCode;
pub use access::{Access, OrgScope, Permission};
pub use edit::{
    decide_edit, AccessToken, CodeKind, CodeRule, Credentials, Edit, MachineKey, MachinePatch,
    OneTimeCode, PasswordProof, ProfilePatch, Verification, MAX_METADATA_BYTES,
};
pub use filter::{Filter, SortBy, SortValue, TextMatch, TextMethod, UserKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use time::Timestamp;

/// ZITADEL's user states; the numbers are protobuf's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserState {
    Unspecified = 0,
    Active = 1,
    Inactive = 2,
    Deleted = 3,
    Locked = 4,
    Initial = 5,
}

impl UserState {
    pub const ALL: [UserState; 6] = [
        UserState::Unspecified,
        UserState::Active,
        UserState::Inactive,
        UserState::Deleted,
        UserState::Locked,
        UserState::Initial,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UserState::Unspecified => "USER_STATE_UNSPECIFIED",
            UserState::Active => "USER_STATE_ACTIVE",
            UserState::Inactive => "USER_STATE_INACTIVE",
            UserState::Deleted => "USER_STATE_DELETED",
            UserState::Locked => "USER_STATE_LOCKED",
            UserState::Initial => "USER_STATE_INITIAL",
        }
    }

    pub fn number(self) -> i32 {
        self as i32
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn from_number(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| i64::from(s.number()) == n)
    }
}

/// A v3alpha user's contact data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub address: String,
    pub is_verified: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    pub number: String,
    pub is_verified: bool,
}

/// The profile data of the surface that created the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    /// Created through v3alpha: a schema id, a JSON object (kept as its JSON text) and contact data.
    V3 {
        schema_id: String,
        data_json: String,
        contact: Contact,
    },
    /// Created through v2 (`AddHumanUser`): a human with a username and a profile.
    V2(Box<HumanProfile>),
    /// Created through v2 (`CreateUser` with a machine): a service account.
    Machine(Box<MachineProfile>),
}

/// A v2 machine user's data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineProfile {
    pub username: String,
    pub name: String,
    pub description: String,
    /// ZITADEL's `AccessTokenType` number (0 bearer, 1 JWT).
    pub access_token_type: i32,
}

/// A v2 human user's data. The password is kept only as an Argon2id hash (PHC string).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanProfile {
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub nick_name: String,
    pub display_name: String,
    pub preferred_language: String,
    /// ZITADEL's `Gender` enum number.
    pub gender: i32,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub password_hash: Option<String>,
    pub password_change_required: bool,
}

impl Profile {
    /// The contact data every surface can show.
    pub fn contact(&self) -> Contact {
        Contact {
            email: self.email().cloned(),
            phone: self.phone().cloned(),
        }
    }

    pub fn email(&self) -> Option<&Email> {
        match self {
            Profile::V3 { contact, .. } => contact.email.as_ref(),
            Profile::V2(h) => h.email.as_ref(),
            Profile::Machine(_) => None,
        }
    }

    pub fn phone(&self) -> Option<&Phone> {
        match self {
            Profile::V3 { contact, .. } => contact.phone.as_ref(),
            Profile::V2(h) => h.phone.as_ref(),
            Profile::Machine(_) => None,
        }
    }

    /// A v2 human's or machine's username (unique across the instance).
    pub fn username(&self) -> Option<&str> {
        match self {
            Profile::V2(h) if !h.username.is_empty() => Some(&h.username),
            Profile::Machine(m) if !m.username.is_empty() => Some(&m.username),
            _ => None,
        }
    }

    pub fn kind(&self) -> UserKind {
        match self {
            Profile::V3 { .. } => UserKind::Schema,
            Profile::V2(_) => UserKind::Human,
            Profile::Machine(_) => UserKind::Machine,
        }
    }
}

/// ZITADEL's rule for a new v2 human: without a password and without a verified email it
/// starts INITIAL (it still has to be set up), otherwise ACTIVE.
pub fn initial_state_of_human(human: &HumanProfile) -> UserState {
    let verified_email = human.email.as_ref().is_some_and(|e| e.is_verified);
    if human.password_hash.is_none() && !verified_email {
        UserState::Initial
    } else {
        UserState::Active
    }
}

/// A user record: the state after applying every event of the user in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub org: String,
    pub state: UserState,
    pub sequence: u64,
    pub created_at: Timestamp,
    pub changed_at: Timestamp,
    /// Time of the latest deactivate, lock or delete: tokens issued before it are void.
    pub revoked_at: Option<Timestamp>,
    pub profile: Profile,
    /// Where whoever created the user could create users: the user's state speaks only for
    /// tokens whose authority stays within it (see `auth::check_subject`).
    pub creator_scope: OrgScope,
    /// Metadata by key.
    pub metadata: BTreeMap<String, MetadataValue>,
    /// Pending one-time codes.
    pub credentials: Credentials,
}

impl User {
    pub fn kind(&self) -> UserKind {
        self.profile.kind()
    }
}

/// One metadata value: bytes, with when its key was first set and when it last changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataValue {
    pub value: Vec<u8>,
    pub created_at: Timestamp,
    pub changed_at: Timestamp,
}

/// The lifecycle operations on an existing user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Deactivate,
    Reactivate,
    Lock,
    Unlock,
    Delete,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::Deactivate,
        Operation::Reactivate,
        Operation::Lock,
        Operation::Unlock,
        Operation::Delete,
    ];

    /// The permission the operation needs on the user's organization.
    pub fn permission(self) -> Permission {
        match self {
            Operation::Delete => Permission::Delete,
            _ => Permission::Write,
        }
    }
}

/// One change in a user's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub sequence: u64,
    pub at: Timestamp,
    pub kind: EventKind,
    /// The user (token subject) whose request made the change; empty for an operator's
    /// import and for changes made before editors were recorded.
    pub editor: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The user came into being in `org` with `state` and `profile`.
    Created {
        org: String,
        state: UserState,
        profile: Profile,
        creator_scope: OrgScope,
    },
    Deactivated,
    Reactivated,
    Locked,
    Unlocked,
    Deleted,
    /// Metadata keys were set to these values.
    MetadataSet {
        entries: Vec<(String, Vec<u8>)>,
    },
    /// Metadata keys were removed.
    MetadataRemoved {
        keys: Vec<String>,
    },
    /// A v2 human's or machine's username changed.
    UsernameChanged {
        username: String,
    },
    /// A human's names or preferences changed (the values given).
    ProfileChanged(ProfilePatch),
    /// A human's email was set (any pending email code is void).
    EmailChanged {
        address: String,
        verified: bool,
    },
    /// A one-time code was made (it replaces the pending one of its kind).
    CodeAdded(edit::StoredCodeKind, OneTimeCode),
    EmailVerified,
    PhoneChanged {
        number: String,
        verified: bool,
    },
    PhoneRemoved,
    PhoneVerified,
    /// A human's password was set (as its hash; a pending reset code is void).
    PasswordChanged {
        hash: String,
        change_required: bool,
    },
    /// A machine's name, description or token type changed (the values after).
    MachineChanged {
        name: String,
        description: String,
        access_token_type: i32,
    },
    /// A machine got a personal access token.
    TokenAdded(AccessToken),
    /// A machine's personal access token was removed.
    TokenRemoved {
        id: String,
    },
    KeyAdded(MachineKey),
    KeyRemoved {
        id: String,
    },
    /// A machine's client secret was set (as its hash).
    SecretSet {
        hash: String,
    },
    SecretRemoved,
    /// A human skipped setting up a second factor.
    MfaInitSkipped,
}

/// Why the domain refused an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainError {
    /// No such user, or the user is deleted.
    NotFound(Operation),
    /// The user's state does not allow the operation.
    WrongState {
        operation: Operation,
        state: UserState,
    },
}

impl DomainError {
    /// The row of the error table this refusal answers with.
    pub fn error_code(self) -> ErrorCode {
        match self {
            DomainError::NotFound(op) => not_found_error(op),
            DomainError::WrongState { operation, state } => match operation {
                Operation::Reactivate => ErrorCode::UserNotInactive,
                Operation::Deactivate if state == UserState::Initial => {
                    ErrorCode::DeactivateInitial
                }
                Operation::Deactivate => ErrorCode::UserAlreadyInactive,
                Operation::Lock => ErrorCode::UserNotActiveOrInitial,
                Operation::Unlock => ErrorCode::UserNotLocked,
                // Delete is allowed from every live state; a deleted user is not found.
                Operation::Delete => not_found_error(Operation::Delete),
            },
        }
    }
}

/// ZITADEL's not-found id for each operation.
pub fn not_found_error(op: Operation) -> ErrorCode {
    match op {
        Operation::Reactivate => ErrorCode::ReactivateNotFound,
        Operation::Deactivate => ErrorCode::DeactivateNotFound,
        Operation::Lock => ErrorCode::LockNotFound,
        Operation::Unlock => ErrorCode::UnlockNotFound,
        Operation::Delete => ErrorCode::DeleteNotFound,
    }
}

/// What every accepted change answers: the user's new sequence, the event's time and the
/// user's organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeDetails {
    pub sequence: u64,
    pub changed_at: Timestamp,
    pub org: String,
}

impl ChangeDetails {
    pub fn of(user: &User) -> Self {
        ChangeDetails {
            sequence: user.sequence,
            changed_at: user.changed_at,
            org: user.org.clone(),
        }
    }
}

/// What a creation needs; the id and organization are already decided by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub id: String,
    pub org: String,
    pub initial_state: UserState,
    pub profile: Profile,
    /// The creator's write scope (`OrgScope::Everywhere` for an operator's import).
    pub creator_scope: OrgScope,
    /// Who creates the user (the creation event's editor; empty for an import).
    pub editor: String,
}

/// Create a user: the first event (sequence 1) and the record it produces.
pub fn create(new: NewUser, now: Timestamp) -> (User, Event) {
    let event = Event {
        sequence: 1,
        at: now,
        kind: EventKind::Created {
            org: new.org.clone(),
            state: new.initial_state,
            profile: new.profile.clone(),
            creator_scope: new.creator_scope.clone(),
        },
        editor: new.editor,
    };
    let user = User {
        id: new.id,
        org: new.org,
        state: new.initial_state,
        sequence: 1,
        created_at: now,
        changed_at: now,
        revoked_at: None,
        profile: new.profile,
        creator_scope: new.creator_scope,
        metadata: BTreeMap::new(),
        credentials: Credentials::default(),
    };
    (user, event)
}

/// Is the user visible at all? A deleted user is not found for every operation and read.
pub fn is_live(user: &User) -> bool {
    user.state != UserState::Deleted
}

/// Decide an operation on an existing user: the event it produces, or why it is refused.
pub fn decide(op: Operation, user: &User, now: Timestamp) -> Result<Event, DomainError> {
    use UserState::*;
    if !is_live(user) {
        return Err(DomainError::NotFound(op));
    }
    let allowed = match op {
        Operation::Reactivate => user.state == Inactive,
        Operation::Deactivate => matches!(user.state, Active | Locked),
        Operation::Lock => matches!(user.state, Active | Initial),
        Operation::Unlock => user.state == Locked,
        Operation::Delete => true,
    };
    if !allowed {
        return Err(DomainError::WrongState {
            operation: op,
            state: user.state,
        });
    }
    let kind = match op {
        Operation::Reactivate => EventKind::Reactivated,
        Operation::Deactivate => EventKind::Deactivated,
        Operation::Lock => EventKind::Locked,
        Operation::Unlock => EventKind::Unlocked,
        Operation::Delete => EventKind::Deleted,
    };
    Ok(Event {
        sequence: user.sequence + 1,
        at: now,
        kind,
        editor: String::new(),
    })
}

/// `POST /v3alpha/users/{id}/reactivate`: INACTIVE to ACTIVE.
pub fn reactivate(user: &User, now: Timestamp) -> Result<Event, DomainError> {
    decide(Operation::Reactivate, user, now)
}

/// The record after `event`. `event` must be the next one (`user.sequence + 1`).
pub fn apply(user: &User, event: &Event) -> User {
    let mut next = user.clone();
    next.sequence = event.sequence;
    next.changed_at = event.at;
    match &event.kind {
        EventKind::Created {
            org,
            state,
            profile,
            creator_scope,
        } => {
            next.org = org.clone();
            next.state = *state;
            next.profile = profile.clone();
            next.creator_scope = creator_scope.clone();
            next.created_at = event.at;
        }
        EventKind::Reactivated | EventKind::Unlocked => next.state = UserState::Active,
        EventKind::Deactivated => {
            next.state = UserState::Inactive;
            next.revoked_at = Some(event.at);
        }
        EventKind::Locked => {
            next.state = UserState::Locked;
            next.revoked_at = Some(event.at);
        }
        EventKind::Deleted => {
            next.state = UserState::Deleted;
            next.revoked_at = Some(event.at);
        }
        _ => {
            edit::apply_edit(&mut next, event);
            // A human still INITIAL is set up once it has a password or a verified email,
            // the rule a creation follows.
            if let (UserState::Initial, Profile::V2(human)) = (next.state, &next.profile) {
                if initial_state_of_human(human) == UserState::Active {
                    next.state = UserState::Active;
                }
            }
        }
    }
    next
}

/// Why a history does not replay into a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayError {
    Empty,
    FirstIsNotCreation,
    Gap {
        expected: u64,
        found: u64,
    },
    CreatedTwice {
        sequence: u64,
    },
    /// The event could not have been decided on the user as it was: the row it would answer.
    Refused {
        sequence: u64,
        error: ErrorCode,
    },
}

/// A short history that rebuilds `user` as it is now: its creation in its current state and
/// profile, then its metadata and credentials (at its last change). Pending one-time codes are
/// left out: they are short-lived secrets. What `userd export` writes without histories.
pub fn snapshot_history(user: &User) -> Vec<Event> {
    let mut changes = vec![(
        user.created_at,
        EventKind::Created {
            org: user.org.clone(),
            state: user.state,
            profile: user.profile.clone(),
            creator_scope: user.creator_scope.clone(),
        },
    )];
    // Metadata keys set at the same moment together, so each key keeps its creation date.
    let mut by_creation: BTreeMap<Timestamp, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (key, value) in &user.metadata {
        by_creation
            .entry(value.created_at)
            .or_default()
            .push((key.clone(), value.value.clone()));
    }
    changes.extend(
        by_creation
            .into_iter()
            .map(|(at, entries)| (at, EventKind::MetadataSet { entries })),
    );
    let credentials = &user.credentials;
    let at = user.changed_at;
    changes.extend(
        (credentials.tokens.iter().cloned()).map(|token| (at, EventKind::TokenAdded(token))),
    );
    changes.extend((credentials.keys.iter().cloned()).map(|key| (at, EventKind::KeyAdded(key))));
    if let Some(hash) = &credentials.secret_hash {
        changes.push((at, EventKind::SecretSet { hash: hash.clone() }));
    }
    changes
        .into_iter()
        .zip(1u64..)
        .map(|((at, kind), sequence)| Event {
            sequence,
            at,
            kind,
            editor: String::new(),
        })
        .collect()
}

/// Rebuild a user from its whole history, checking that every change was allowed.
pub fn replay(id: &str, events: &[Event]) -> Result<User, ReplayError> {
    let (first, rest) = events.split_first().ok_or(ReplayError::Empty)?;
    let user = match &first.kind {
        EventKind::Created {
            org,
            state,
            profile,
            creator_scope,
        } if first.sequence == 1 => {
            create(
                NewUser {
                    id: id.to_owned(),
                    org: org.clone(),
                    initial_state: *state,
                    profile: profile.clone(),
                    creator_scope: creator_scope.clone(),
                    editor: first.editor.clone(),
                },
                first.at,
            )
            .0
        }
        _ => return Err(ReplayError::FirstIsNotCreation),
    };
    rest.iter().try_fold(user, |user, event| {
        let expected = user.sequence + 1;
        if event.sequence != expected {
            return Err(ReplayError::Gap {
                expected,
                found: event.sequence,
            });
        }
        let refused = |error: ErrorCode| ReplayError::Refused {
            sequence: event.sequence,
            error,
        };
        let op = match &event.kind {
            EventKind::Created { .. } => {
                return Err(ReplayError::CreatedTwice {
                    sequence: event.sequence,
                })
            }
            EventKind::Deactivated => Operation::Deactivate,
            EventKind::Reactivated => Operation::Reactivate,
            EventKind::Locked => Operation::Lock,
            EventKind::Unlocked => Operation::Unlock,
            EventKind::Deleted => Operation::Delete,
            _ => {
                edit::check_edit_event(&user, event).map_err(refused)?;
                return Ok(apply(&user, event));
            }
        };
        decide(op, &user, event.at).map_err(|e| refused(e.error_code()))?;
        Ok(apply(&user, event))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use UserState::*;

    fn user_in(state: UserState) -> User {
        let (mut user, _) = create(
            NewUser {
                id: "u1".into(),
                org: "o1".into(),
                initial_state: Active,
                creator_scope: crate::domain::OrgScope::Everywhere,
                editor: String::new(),
                profile: Profile::V3 {
                    schema_id: "s".into(),
                    data_json: "{}".into(),
                    contact: Contact::default(),
                },
            },
            Timestamp(1),
        );
        user.state = state;
        user
    }

    /// The whole transition table of the contract: every operation from every state.
    #[test]
    fn transition_table() {
        let table: [(Operation, UserState, Result<UserState, &str>); 25] = [
            (Operation::Reactivate, Inactive, Ok(Active)),
            (Operation::Reactivate, Active, Err("COMMAND-s5qqcz97hf")),
            (Operation::Reactivate, Locked, Err("COMMAND-s5qqcz97hf")),
            (Operation::Reactivate, Initial, Err("COMMAND-s5qqcz97hf")),
            (Operation::Reactivate, Deleted, Err("COMMAND-9hy5kzbuk6")),
            (Operation::Deactivate, Active, Ok(Inactive)),
            (Operation::Deactivate, Locked, Ok(Inactive)),
            (Operation::Deactivate, Initial, Err("COMMAND-gvx4kct9r2")),
            (Operation::Deactivate, Inactive, Err("COMMAND-5gunjw0cd7")),
            (Operation::Deactivate, Deleted, Err("COMMAND-5gp2p62iin")),
            (Operation::Lock, Active, Ok(Locked)),
            (Operation::Lock, Initial, Ok(Locked)),
            (Operation::Lock, Inactive, Err("COMMAND-lgws8wtsqf")),
            (Operation::Lock, Locked, Err("COMMAND-lgws8wtsqf")),
            (Operation::Lock, Deleted, Err("COMMAND-450yxuqrh1")),
            (Operation::Unlock, Locked, Ok(Active)),
            (Operation::Unlock, Active, Err("COMMAND-olb9vb0oca")),
            (Operation::Unlock, Inactive, Err("COMMAND-olb9vb0oca")),
            (Operation::Unlock, Initial, Err("COMMAND-olb9vb0oca")),
            (Operation::Unlock, Deleted, Err("COMMAND-x377t913pw")),
            (Operation::Delete, Active, Ok(Deleted)),
            (Operation::Delete, Inactive, Ok(Deleted)),
            (Operation::Delete, Locked, Ok(Deleted)),
            (Operation::Delete, Initial, Ok(Deleted)),
            (Operation::Delete, Deleted, Err("COMMAND-bd4ir1mblj")),
        ];
        for (op, from, expected) in table {
            let user = user_in(from);
            let got = decide(op, &user, Timestamp(5)).map(|e| apply(&user, &e));
            match (got, expected) {
                (Ok(next), Ok(state)) => {
                    assert_eq!(next.state, state, "{op:?} from {from:?}");
                    assert_eq!(next.sequence, 2);
                    assert_eq!(next.changed_at, Timestamp(5));
                }
                (Err(e), Err(id)) => assert_eq!(e.error_code().id(), id, "{op:?} from {from:?}"),
                (got, expected) => panic!("{op:?} from {from:?}: {got:?} vs {expected:?}"),
            }
        }
    }

    #[test]
    fn a_v2_human_starts_initial_without_password_or_verified_email() {
        let mut h = HumanProfile::default();
        assert_eq!(initial_state_of_human(&h), Initial);
        h.email = Some(Email {
            address: "a@b.c".into(),
            is_verified: false,
        });
        assert_eq!(initial_state_of_human(&h), Initial);
        h.email = Some(Email {
            address: "a@b.c".into(),
            is_verified: true,
        });
        assert_eq!(initial_state_of_human(&h), Active);
        h.email = None;
        h.password_hash = Some("$argon2id$...".into());
        assert_eq!(initial_state_of_human(&h), Active);
    }

    #[test]
    fn replay_rebuilds_and_checks_history() {
        let (user, created) = create(
            NewUser {
                id: "u1".into(),
                org: "o1".into(),
                initial_state: Active,
                creator_scope: crate::domain::OrgScope::Everywhere,
                editor: String::new(),
                profile: Profile::V3 {
                    schema_id: "s".into(),
                    data_json: "{}".into(),
                    contact: Contact::default(),
                },
            },
            Timestamp(1),
        );
        let deactivated = decide(Operation::Deactivate, &user, Timestamp(2)).unwrap();
        let user2 = apply(&user, &deactivated);
        let reactivated = reactivate(&user2, Timestamp(3)).unwrap();
        let user3 = apply(&user2, &reactivated);
        let events = vec![created.clone(), deactivated.clone(), reactivated.clone()];
        assert_eq!(replay("u1", &events).unwrap(), user3);
        assert_eq!(user3.revoked_at, Some(Timestamp(2)));

        let gap = vec![created.clone(), reactivated.clone()];
        assert!(matches!(replay("u1", &gap), Err(ReplayError::Gap { .. })));
        let mut refused = reactivated.clone();
        refused.sequence = 2;
        assert!(matches!(
            replay("u1", &[created, refused]),
            Err(ReplayError::Refused { .. })
        ));
    }
}
