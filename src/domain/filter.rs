//! Listing filters: one tree every surface's search request converts into, and the one place
//! that decides whether a user passes.
//!
//! Pure: no IO. Storage backends read the tree to pick an index (`store`), then evaluate it on
//! each candidate record with [`Filter::keeps`], so a filter means the same on every path.

use crate::domain::{Profile, User, UserState};

/// One node of a filter tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every child holds (an empty list always holds).
    And(Vec<Filter>),
    /// Some child holds (an empty list never holds).
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// The user's id is one of these.
    Ids(Vec<String>),
    Id(TextMatch),
    Organization(TextMatch),
    /// A v2 user's username, human or machine (login names are usernames in userd).
    Username(TextMatch),
    Email(TextMatch),
    /// The email address is one of these (exact).
    Emails(Vec<String>),
    Phone(TextMatch),
    GivenName(TextMatch),
    FamilyName(TextMatch),
    NickName(TextMatch),
    DisplayName(TextMatch),
    /// The user's state is one of these.
    States(Vec<UserState>),
    Kind(UserKind),
    SchemaId(String),
}

/// The order of a listing: by creation (the default), or by one of ZITADEL's user fields, then
/// by creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Creation,
    Username,
    GivenName,
    FamilyName,
    NickName,
    DisplayName,
    Email,
    Phone,
    State,
    Kind,
    Id,
    Changed,
}

/// A user's value in a sort column (users without the field come first).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortValue {
    None,
    Number(i64),
    Text(String),
}

impl SortBy {
    /// `user`'s value in this column.
    pub fn value(self, user: &User) -> SortValue {
        let human = match &user.profile {
            Profile::V2(h) => Some(h),
            _ => None,
        };
        let text = |s: Option<&str>| s.map_or(SortValue::None, |s| SortValue::Text(s.to_string()));
        match self {
            SortBy::Creation => SortValue::None,
            SortBy::Username => text(user.profile.username()),
            SortBy::GivenName => text(human.map(|h| h.given_name.as_str())),
            SortBy::FamilyName => text(human.map(|h| h.family_name.as_str())),
            SortBy::NickName => text(human.map(|h| h.nick_name.as_str())),
            SortBy::DisplayName => text(human.map(|h| h.display_name.as_str())),
            SortBy::Email => text(user.profile.email().map(|e| e.address.as_str())),
            SortBy::Phone => text(user.profile.phone().map(|p| p.number.as_str())),
            SortBy::Id => SortValue::Text(user.id.clone()),
            SortBy::Changed => SortValue::Number(user.changed_at.0),
            SortBy::State => SortValue::Number(i64::from(user.state.number())),
            SortBy::Kind => SortValue::Number(user.kind() as i64),
        }
    }
}

/// What sort of user a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKind {
    /// Created through v2: a human with a username and a profile.
    Human,
    /// A service account (userd keeps none yet, so no user is one).
    Machine,
    /// Created through v3alpha: a schema id and a JSON document.
    Schema,
}

/// A text to compare a field with, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextMatch {
    pub value: String,
    pub method: TextMethod,
    pub ignore_case: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextMethod {
    Equals,
    StartsWith,
    Contains,
    EndsWith,
}

impl TextMatch {
    pub fn equals(value: impl Into<String>) -> Self {
        TextMatch {
            value: value.into(),
            method: TextMethod::Equals,
            ignore_case: false,
        }
    }

    pub fn matches(&self, have: &str) -> bool {
        if self.ignore_case {
            let (have, want) = (have.to_lowercase(), self.value.to_lowercase());
            self.method.holds(&have, &want)
        } else {
            self.method.holds(have, &self.value)
        }
    }
}

impl TextMethod {
    fn holds(self, have: &str, want: &str) -> bool {
        match self {
            TextMethod::Equals => have == want,
            TextMethod::StartsWith => have.starts_with(want),
            TextMethod::Contains => have.contains(want),
            TextMethod::EndsWith => have.ends_with(want),
        }
    }
}

impl Filter {
    /// All of `filters` (None when there are none).
    pub fn all(mut filters: Vec<Filter>) -> Option<Filter> {
        match filters.len() {
            0 => None,
            1 => filters.pop(),
            _ => Some(Filter::And(filters)),
        }
    }

    /// Whether `user` passes.
    pub fn keeps(&self, user: &User) -> bool {
        let human = match &user.profile {
            Profile::V2(h) => Some(h.as_ref()),
            Profile::V3 { .. } | Profile::Machine(_) => None,
        };
        let human_text = |t: &TextMatch, field: fn(&crate::domain::HumanProfile) -> &str| {
            human.is_some_and(|h| t.matches(field(h)))
        };
        match self {
            Filter::And(all) => all.iter().all(|f| f.keeps(user)),
            Filter::Or(any) => any.iter().any(|f| f.keeps(user)),
            Filter::Not(inner) => !inner.keeps(user),
            Filter::Ids(ids) => ids.contains(&user.id),
            Filter::Id(t) => t.matches(&user.id),
            Filter::Organization(t) => t.matches(&user.org),
            Filter::Username(t) => user.profile.username().is_some_and(|n| t.matches(n)),
            Filter::Email(t) => user.profile.email().is_some_and(|e| t.matches(&e.address)),
            Filter::Emails(list) => user
                .profile
                .email()
                .is_some_and(|e| list.contains(&e.address)),
            Filter::Phone(t) => user.profile.phone().is_some_and(|p| t.matches(&p.number)),
            Filter::GivenName(t) => human_text(t, |h| &h.given_name),
            Filter::FamilyName(t) => human_text(t, |h| &h.family_name),
            Filter::NickName(t) => human_text(t, |h| &h.nick_name),
            Filter::DisplayName(t) => human_text(t, |h| &h.display_name),
            Filter::States(states) => states.contains(&user.state),
            Filter::Kind(kind) => user.profile.kind() == *kind,
            Filter::SchemaId(id) => {
                matches!(&user.profile, Profile::V3 { schema_id, .. } if schema_id == id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{create, Email, HumanProfile, NewUser, Timestamp};

    fn human(id: &str, username: &str, email: &str) -> User {
        create(
            NewUser {
                id: id.into(),
                org: "o1".into(),
                initial_state: UserState::Active,
                creator_scope: crate::domain::OrgScope::Everywhere,
                editor: String::new(),
                profile: Profile::V2(Box::new(HumanProfile {
                    username: username.into(),
                    given_name: "Ada".into(),
                    email: Some(Email {
                        address: email.into(),
                        is_verified: false,
                    }),
                    ..HumanProfile::default()
                })),
            },
            Timestamp(1),
        )
        .0
    }

    #[test]
    fn text_methods_and_case() {
        let t = |value: &str, method, ignore_case| TextMatch {
            value: value.into(),
            method,
            ignore_case,
        };
        assert!(t("Ada", TextMethod::Equals, false).matches("Ada"));
        assert!(!t("ada", TextMethod::Equals, false).matches("Ada"));
        assert!(t("ada", TextMethod::Equals, true).matches("Ada"));
        assert!(t("Ad", TextMethod::StartsWith, false).matches("Ada"));
        assert!(t("D", TextMethod::Contains, true).matches("Ada"));
        assert!(t("da", TextMethod::EndsWith, false).matches("Ada"));
    }

    #[test]
    fn trees_combine() {
        let u = human("1", "ada", "ada@example.com");
        let name = Filter::Username(TextMatch::equals("ada"));
        let other = Filter::Username(TextMatch::equals("bob"));
        assert!(name.keeps(&u));
        assert!(!Filter::Not(Box::new(name.clone())).keeps(&u));
        assert!(Filter::Or(vec![other.clone(), name.clone()]).keeps(&u));
        assert!(!Filter::And(vec![other, name]).keeps(&u));
        assert!(Filter::And(vec![]).keeps(&u));
        assert!(!Filter::Or(vec![]).keeps(&u));
        assert!(Filter::Emails(vec!["ada@example.com".into()]).keeps(&u));
        assert!(Filter::Kind(UserKind::Human).keeps(&u));
        assert!(!Filter::Kind(UserKind::Schema).keeps(&u));
        assert!(Filter::GivenName(TextMatch::equals("Ada")).keeps(&u));
    }
}
