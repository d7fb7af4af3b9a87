//! The search filters of `zitadel.resources.user.v3alpha.ZITADELUsers/SearchUsers`, in protojson
//! form: a tree of `orFilter`/`andFilter`/`notFilter` over field filters, applied to each user.
//!
//! Text filters take ZITADEL's `TextFilterMethod` (by name or number). userd keeps no user
//! schemas, so `schemaTypeFilter` is refused rather than silently matching nothing.

use crate::domain::{Profile, User, UserState};
use crate::error::ApiError;
use serde_json::{Map, Value};

const ERROR_ID: &str = "USERD-SEARCH-0002";

fn bad(text: impl Into<String>) -> ApiError {
    ApiError::invalid_argument(ERROR_ID, text)
}

/// One node of a filter tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Or(Vec<Filter>),
    And(Vec<Filter>),
    Not(Box<Filter>),
    Id(Text),
    Organization(Text),
    Username(Text),
    Email(Text),
    Phone(Text),
    /// A state by this service's name for it (INITIAL users show as UNSPECIFIED).
    State(&'static str),
    SchemaId(String),
}

/// A text to match and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub value: String,
    pub method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Equals,
    EqualsIgnoreCase,
    StartsWith,
    StartsWithIgnoreCase,
    Contains,
}

const METHODS: [(&str, Method); 5] = [
    ("TEXT_FILTER_METHOD_EQUALS", Method::Equals),
    (
        "TEXT_FILTER_METHOD_EQUALS_IGNORE_CASE",
        Method::EqualsIgnoreCase,
    ),
    ("TEXT_FILTER_METHOD_STARTS_WITH", Method::StartsWith),
    (
        "TEXT_FILTER_METHOD_STARTS_WITH_IGNORE_CASE",
        Method::StartsWithIgnoreCase,
    ),
    ("TEXT_FILTER_METHOD_CONTAINS", Method::Contains),
];

impl Text {
    fn matches(&self, have: &str) -> bool {
        let want = &self.value;
        match self.method {
            Method::Equals => have == want,
            Method::EqualsIgnoreCase => have.to_lowercase() == want.to_lowercase(),
            Method::StartsWith => have.starts_with(want.as_str()),
            Method::StartsWithIgnoreCase => have.to_lowercase().starts_with(&want.to_lowercase()),
            Method::Contains => have.contains(want.as_str()),
        }
    }
}

/// The filters of a request (all must hold), or None when there are none.
pub fn parse_filters(filters: Option<&Value>) -> Result<Option<Filter>, ApiError> {
    match filters {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) if list.is_empty() => Ok(None),
        Some(Value::Array(list)) => Ok(Some(Filter::And(
            list.iter().map(parse_filter).collect::<Result<_, _>>()?,
        ))),
        Some(_) => Err(bad("filters must be a list")),
    }
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| bad(format!("{what} must be an object")))
}

fn string(map: &Map<String, Value>, key: &str, what: &str) -> Result<String, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(format!("{what}.{key} must be a string"))),
    }
}

fn text(map: &Map<String, Value>, key: &str, what: &str) -> Result<Text, ApiError> {
    let method = match map.get("method") {
        None | Some(Value::Null) => Method::Equals,
        Some(Value::String(name)) => METHODS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| *m)
            .ok_or_else(|| bad(format!("{what}.method: unknown text filter method {name}")))?,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| METHODS.get(usize::try_from(n).ok()?))
            .map(|(_, m)| *m)
            .ok_or_else(|| bad(format!("{what}.method: unknown text filter method {n}")))?,
        Some(_) => return Err(bad(format!("{what}.method must be a text filter method"))),
    };
    Ok(Text {
        value: string(map, key, what)?,
        method,
    })
}

fn queries(map: &Map<String, Value>, what: &str) -> Result<Vec<Filter>, ApiError> {
    match map.get("queries") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list.iter().map(parse_filter).collect(),
        Some(_) => Err(bad(format!("{what}.queries must be a list"))),
    }
}

fn parse_filter(value: &Value) -> Result<Filter, ApiError> {
    let map = object(value, "a filter")?;
    let mut found = map.iter().filter(|(_, v)| !v.is_null());
    let (Some((name, inner)), None) = (found.next(), found.next()) else {
        return Err(bad("each filter must set exactly one kind of filter"));
    };
    let inner_map = object(inner, name)?;
    Ok(match name.as_str() {
        "orFilter" => Filter::Or(queries(inner_map, name)?),
        "andFilter" => Filter::And(queries(inner_map, name)?),
        "notFilter" => match inner_map.get("query") {
            Some(query) if !query.is_null() => Filter::Not(Box::new(parse_filter(query)?)),
            _ => return Err(bad("notFilter.query is required")),
        },
        "userIdFilter" => Filter::Id(text(inner_map, "id", name)?),
        "organizationIdFilter" => Filter::Organization(text(inner_map, "id", name)?),
        "usernameFilter" => Filter::Username(text(inner_map, "username", name)?),
        "emailFilter" => Filter::Email(text(inner_map, "address", name)?),
        "phoneFilter" => Filter::Phone(text(inner_map, "number", name)?),
        "stateFilter" => {
            let state = match inner_map.get("state") {
                None | Some(Value::Null) => Some(UserState::Unspecified),
                Some(Value::String(s)) => UserState::from_name(s),
                Some(Value::Number(n)) => n.as_i64().and_then(UserState::from_number),
                Some(_) => None,
            }
            .filter(|s| *s != UserState::Initial)
            .ok_or_else(|| {
                bad("stateFilter.state must be a user state such as USER_STATE_ACTIVE")
            })?;
            Filter::State(state.name())
        }
        "schemaIdFilter" => Filter::SchemaId(string(inner_map, "id", name)?),
        "schemaTypeFilter" => {
            return Err(bad(
                "schemaTypeFilter is not supported: userd keeps no user schemas",
            ))
        }
        other => return Err(bad(format!("unknown filter {other}"))),
    })
}

impl Filter {
    /// Whether `user` passes.
    pub fn keeps(&self, user: &User) -> bool {
        match self {
            Filter::Or(all) => all.iter().any(|f| f.keeps(user)),
            Filter::And(all) => all.iter().all(|f| f.keeps(user)),
            Filter::Not(inner) => !inner.keeps(user),
            Filter::Id(t) => t.matches(&user.id),
            Filter::Organization(t) => t.matches(&user.org),
            Filter::Username(t) => match &user.profile {
                Profile::V2(human) => t.matches(&human.username),
                Profile::V3 { .. } => false,
            },
            Filter::Email(t) => user
                .profile
                .contact()
                .email
                .is_some_and(|e| t.matches(&e.address)),
            Filter::Phone(t) => user
                .profile
                .contact()
                .phone
                .is_some_and(|p| t.matches(&p.number)),
            Filter::State(name) => {
                let state = match user.state {
                    UserState::Initial => UserState::Unspecified,
                    other => other,
                };
                state.name() == *name
            }
            Filter::SchemaId(id) => {
                matches!(&user.profile, Profile::V3 { schema_id, .. } if schema_id == id)
            }
        }
    }
}
