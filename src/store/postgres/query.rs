//! A user as a row (the columns listings use, computed by the domain's own accessors) and a
//! listing as SQL: the filter tree becomes a WHERE clause that keeps exactly the users
//! `Filter::keeps` keeps, and the sort the order the sled backend gives.
//!
//! Every leaf is wrapped in `COALESCE(..., false)`: a missing field (NULL) fails the leaf, and
//! `NOT` of it holds, as in the domain's two-valued logic.

use crate::domain::{Filter, OrgScope, Profile, SortBy, TextMatch, TextMethod, User, UserKind};
use crate::store::sled::layout;
use crate::store::ListQuery;
use tokio_postgres::types::ToSql;

/// A query parameter.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// The columns of `users`, in the order [`UserRow::params`] gives them.
pub const COLUMNS: &str =
    "id, org, state, kind, sequence, created_at, changed_at, username, email, \
     phone, given_name, family_name, nick_name, display_name, schema_id, id_lower, org_lower, \
     username_lower, email_lower, phone_lower, given_name_lower, family_name_lower, \
     nick_name_lower, display_name_lower, record";

/// How many columns [`COLUMNS`] names.
pub const COLUMN_COUNT: usize = 25;

/// A sequence as the database keeps it (sequences stay far below 2^63).
pub fn seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn kind_number(kind: UserKind) -> i16 {
    match kind {
        UserKind::Human => 0,
        UserKind::Machine => 1,
        UserKind::Schema => 2,
    }
}

/// A text as a column holds it: PostgreSQL's text cannot hold NUL, which becomes U+FFFD in the
/// columns listings read (the record itself keeps the exact text).
pub fn column_text(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.to_string()
    }
}

/// A user's row.
#[derive(Debug)]
pub struct UserRow {
    id: String,
    org: String,
    state: i16,
    kind: i16,
    sequence: i64,
    created_at: i64,
    changed_at: i64,
    /// username, email, phone, given, family, nick and display name, schema id.
    texts: [Option<String>; 8],
    /// id, org, then the first seven of `texts`, lowercased.
    lowered: [Option<String>; 9],
    record: Vec<u8>,
}

impl UserRow {
    pub fn of(user: &User) -> UserRow {
        let human = match &user.profile {
            Profile::V2(h) => Some(h.as_ref()),
            _ => None,
        };
        let human_field =
            |f: fn(&crate::domain::HumanProfile) -> &String| human.map(|h| column_text(f(h)));
        let texts = [
            user.profile.username().map(column_text),
            user.profile.email().map(|e| column_text(&e.address)),
            user.profile.phone().map(|p| column_text(&p.number)),
            human_field(|h| &h.given_name),
            human_field(|h| &h.family_name),
            human_field(|h| &h.nick_name),
            human_field(|h| &h.display_name),
            match &user.profile {
                Profile::V3 { schema_id, .. } => Some(column_text(schema_id)),
                _ => None,
            },
        ];
        let (id, org) = (column_text(&user.id), column_text(&user.org));
        let lower = |t: &Option<String>| t.as_ref().map(|t| t.to_lowercase());
        let lowered = [
            Some(id.to_lowercase()),
            Some(org.to_lowercase()),
            lower(&texts[0]),
            lower(&texts[1]),
            lower(&texts[2]),
            lower(&texts[3]),
            lower(&texts[4]),
            lower(&texts[5]),
            lower(&texts[6]),
        ];
        UserRow {
            id,
            org,
            state: i16::try_from(user.state.number()).unwrap_or(0),
            kind: kind_number(user.kind()),
            sequence: seq(user.sequence),
            created_at: user.created_at.0,
            changed_at: user.changed_at.0,
            texts,
            lowered,
            record: layout::encode(user),
        }
    }

    /// The values of [`COLUMNS`], in order.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut out: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(COLUMN_COUNT + 1);
        out.extend([
            &self.id as &(dyn ToSql + Sync),
            &self.org,
            &self.state,
            &self.kind,
            &self.sequence,
            &self.created_at,
            &self.changed_at,
        ]);
        out.extend(self.texts.iter().map(|t| t as &(dyn ToSql + Sync)));
        out.extend(self.lowered.iter().map(|t| t as &(dyn ToSql + Sync)));
        out.push(&self.record);
        out
    }
}

/// A WHERE clause under construction, with its parameters.
#[derive(Default)]
pub struct Sql {
    pub params: Vec<Param>,
}

impl Sql {
    fn param(&mut self, value: Param) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// `column` compared with `t` (the domain's `TextMatch::matches`; ignoring case, the
    /// column's lowercased twin with the value lowercased the same way).
    fn text(&mut self, column: &str, t: &TextMatch) -> String {
        let value = if t.ignore_case {
            column_text(&t.value).to_lowercase()
        } else {
            column_text(&t.value)
        };
        let column = if t.ignore_case {
            format!("{column}_lower")
        } else {
            column.to_string()
        };
        let escaped = value
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        match t.method {
            TextMethod::Equals => {
                let p = self.param(Box::new(value));
                format!("{column} = {p}")
            }
            TextMethod::StartsWith => {
                let p = self.param(Box::new(format!("{escaped}%")));
                format!("{column} LIKE {p}")
            }
            TextMethod::Contains => {
                let p = self.param(Box::new(format!("%{escaped}%")));
                format!("{column} LIKE {p}")
            }
            TextMethod::EndsWith => {
                let p = self.param(Box::new(format!("%{escaped}")));
                format!("{column} LIKE {p}")
            }
        }
    }

    /// The SQL of a filter tree.
    pub fn filter(&mut self, f: &Filter) -> String {
        let leaf = |s: String| format!("COALESCE(({s}), false)");
        match f {
            Filter::And(all) if all.is_empty() => "true".into(),
            Filter::Or(any) if any.is_empty() => "false".into(),
            Filter::And(all) => {
                let parts: Vec<String> = all.iter().map(|f| self.filter(f)).collect();
                format!("({})", parts.join(" AND "))
            }
            Filter::Or(any) => {
                let parts: Vec<String> = any.iter().map(|f| self.filter(f)).collect();
                format!("({})", parts.join(" OR "))
            }
            Filter::Not(inner) => format!("(NOT {})", self.filter(inner)),
            Filter::Ids(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| column_text(i)).collect();
                let p = self.param(Box::new(ids));
                leaf(format!("id = ANY({p})"))
            }
            Filter::Id(t) => leaf(self.text("id", t)),
            Filter::Organization(t) => leaf(self.text("org", t)),
            Filter::Username(t) => leaf(self.text("username", t)),
            Filter::Email(t) => leaf(self.text("email", t)),
            Filter::Emails(list) => {
                let list: Vec<String> = list.iter().map(|e| column_text(e)).collect();
                let p = self.param(Box::new(list));
                leaf(format!("email = ANY({p})"))
            }
            Filter::Phone(t) => leaf(self.text("phone", t)),
            Filter::GivenName(t) => leaf(self.text("given_name", t)),
            Filter::FamilyName(t) => leaf(self.text("family_name", t)),
            Filter::NickName(t) => leaf(self.text("nick_name", t)),
            Filter::DisplayName(t) => leaf(self.text("display_name", t)),
            Filter::States(states) => {
                let numbers: Vec<i16> = states
                    .iter()
                    .map(|s| i16::try_from(s.number()).unwrap_or(0))
                    .collect();
                let p = self.param(Box::new(numbers));
                leaf(format!("state = ANY({p})"))
            }
            Filter::Kind(kind) => leaf(format!("kind = {}", kind_number(*kind))),
            Filter::SchemaId(id) => {
                let p = self.param(Box::new(column_text(id)));
                leaf(format!("schema_id = {p}"))
            }
        }
    }

    /// The WHERE clause of a listing: live users in `scope` that pass the filter.
    pub fn listing(&mut self, query: &ListQuery) -> String {
        let mut parts = vec!["state <> 3".to_string()];
        if let OrgScope::Orgs(orgs) = &query.scope {
            let orgs: Vec<String> = orgs.iter().map(|o| column_text(o)).collect();
            let p = self.param(Box::new(orgs));
            match &query.also {
                Some(id) => {
                    let id = self.param(Box::new(column_text(id)));
                    parts.push(format!("(org = ANY({p}) OR id = {id})"));
                }
                None => parts.push(format!("org = ANY({p})")),
            }
        }
        if let Some(f) = &query.filter {
            parts.push(self.filter(f));
        }
        parts.join(" AND ")
    }
}

/// The ORDER BY of a listing: the column (missing values first when ascending), then creation,
/// then id; descending reverses all of it, as the sled backend does.
pub fn order_by(sort: SortBy, asc: bool) -> String {
    let column = match sort {
        SortBy::Creation => None,
        SortBy::Username => Some("username"),
        SortBy::GivenName => Some("given_name"),
        SortBy::FamilyName => Some("family_name"),
        SortBy::NickName => Some("nick_name"),
        SortBy::DisplayName => Some("display_name"),
        SortBy::Email => Some("email"),
        SortBy::Phone => Some("phone"),
        SortBy::State => Some("state"),
        SortBy::Kind => Some("kind"),
        SortBy::Id => Some("id"),
        SortBy::Changed => Some("changed_at"),
    };
    let dir = if asc { "ASC" } else { "DESC" };
    let nulls = if asc { "NULLS FIRST" } else { "NULLS LAST" };
    match column {
        Some(c) => format!("{c} {dir} {nulls}, created_at {dir}, id {dir}"),
        None => format!("created_at {dir}, id {dir}"),
    }
}
