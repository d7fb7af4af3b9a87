//! Who is calling and what may they do: JWT bearer verification and ZITADEL's role claim mapped
//! to `user.read` / `user.write` / `user.delete` per organization.
//!
//! A token is accepted only if its signature verifies with the configured key and algorithm and
//! its `iss`, `aud`, `exp`, `nbf`, `iat` and `sub` hold (with `auth.leeway_seconds`). Nothing of
//! a token is ever logged.

mod keys;
mod roles;

use crate::domain::Timestamp;
use crate::error::{self, ApiError};
use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use std::collections::HashMap;

pub use keys::{resolve_hs256_secret, KeySource};
pub use roles::{Permission, RoleTable};

/// The claim that carries ZITADEL's project roles.
pub const ROLES_CLAIM: &str = "urn:zitadel:iam:org:project:roles";
/// The claim that carries the caller's own organization.
pub const RESOURCE_OWNER_CLAIM: &str = "urn:zitadel:iam:user:resourceowner:id";

/// The organizations in which a caller holds one permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrgScope {
    /// An instance role: every organization.
    Everywhere,
    /// Only these organizations (possibly none).
    Orgs(Vec<String>),
}

impl OrgScope {
    pub fn allows(&self, org: &str) -> bool {
        match self {
            OrgScope::Everywhere => true,
            OrgScope::Orgs(orgs) => orgs.iter().any(|o| o == org),
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub subject: String,
    pub resource_owner: Option<String>,
    pub issued_at: Option<Timestamp>,
    scopes: HashMap<Permission, OrgScope>,
}

impl Caller {
    /// Where the caller holds `permission`.
    pub fn scope(&self, permission: Permission) -> OrgScope {
        self.scopes
            .get(&permission)
            .cloned()
            .unwrap_or(OrgScope::Orgs(Vec::new()))
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    iat: Option<serde_json::Value>,
    #[serde(rename = "urn:zitadel:iam:org:project:roles")]
    roles: Option<HashMap<String, serde_json::Value>>,
    #[serde(rename = "urn:zitadel:iam:user:resourceowner:id")]
    resource_owner: Option<String>,
}

/// Verifies bearer tokens. Built once at start-up and shared by every worker.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    leeway_seconds: u64,
    roles: RoleTable,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn hs256(
        secret: &[u8],
        issuer: &str,
        audience: &[String],
        leeway_seconds: u64,
        roles: RoleTable,
    ) -> Verifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(audience);
        validation.leeway = leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Verifier {
            key: DecodingKey::from_secret(secret),
            validation,
            leeway_seconds,
            roles,
        }
    }

    /// Verify a token and read the caller's grants from it.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Caller, ApiError> {
        let invalid = || ApiError::from(error::TOKEN_INVALID);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                log::debug!("token rejected: {:?}", e.kind());
                invalid()
            })?;
        let claims = data.claims;
        let subject = claims.sub.filter(|s| !s.is_empty()).ok_or_else(invalid)?;
        let issued_at = match claims.iat {
            None => None,
            Some(v) => {
                let secs = v.as_f64().ok_or_else(invalid)?;
                let limit = now.unix_seconds() as f64 + self.leeway_seconds as f64;
                if !secs.is_finite() || secs > limit {
                    return Err(invalid());
                }
                Some(Timestamp((secs * 1e9) as i64))
            }
        };
        let scopes = self.roles.scopes(claims.roles.as_ref());
        Ok(Caller {
            subject,
            resource_owner: claims.resource_owner.filter(|s| !s.is_empty()),
            issued_at,
            scopes,
        })
    }
}

/// Read the bearer token of a request (the scheme name is case-insensitive).
fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::from(error::AUTH_HEADER_MISSING))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::from(error::TOKEN_INVALID))?
        .trim();
    if value.is_empty() {
        return Err(error::AUTH_HEADER_MISSING.into());
    }
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(error::TOKEN_INVALID.into()),
    }
}

/// Authenticate a request: its bearer token, verified now.
pub fn authenticate(req: &HttpRequest, verifier: &Verifier) -> Result<Caller, ApiError> {
    verifier.verify(bearer_token(req)?, Timestamp::now())
}

/// What `userd token` puts in a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    /// `(role, org)`; an empty org grants an instance role with an empty org map.
    pub roles: Vec<(String, Option<String>)>,
    pub resource_owner: Option<String>,
    pub ttl_seconds: i64,
}

/// Sign an HS256 token with the claims a ZITADEL access token carries.
pub fn mint_hs256(
    secret: &[u8],
    issuer: &str,
    audience: &[String],
    request: &TokenRequest,
    now: Timestamp,
) -> Result<String, String> {
    let mut roles = serde_json::Map::new();
    for (role, org) in &request.roles {
        let entry = roles
            .entry(role.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let (Some(org), serde_json::Value::Object(orgs)) = (org, entry) {
            orgs.insert(org.clone(), serde_json::Value::String(org.clone()));
        }
    }
    let iat = now.unix_seconds();
    let mut claims = serde_json::json!({
        "iss": issuer,
        "aud": audience,
        "sub": request.subject,
        "iat": iat,
        "nbf": iat,
        "exp": iat + request.ttl_seconds,
        ROLES_CLAIM: roles,
    });
    if let (Some(org), Some(map)) = (&request.resource_owner, claims.as_object_mut()) {
        map.insert(
            RESOURCE_OWNER_CLAIM.into(),
            serde_json::Value::String(org.clone()),
        );
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| format!("could not sign the token: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> Verifier {
        Verifier::hs256(
            b"secret",
            "iss",
            &["userd".into()],
            30,
            RoleTable::default(),
        )
    }

    fn token(roles: Vec<(&str, Option<&str>)>, ttl: i64) -> String {
        mint_hs256(
            b"secret",
            "iss",
            &["userd".into()],
            &TokenRequest {
                subject: "me".into(),
                roles: roles
                    .into_iter()
                    .map(|(r, o)| (r.to_string(), o.map(str::to_string)))
                    .collect(),
                resource_owner: Some("o1".into()),
                ttl_seconds: ttl,
            },
            Timestamp::now(),
        )
        .unwrap()
    }

    #[test]
    fn instance_roles_hold_everywhere_and_org_roles_in_their_orgs() {
        let v = verifier();
        let c = v
            .verify(&token(vec![("IAM_OWNER", None)], 60), Timestamp::now())
            .unwrap();
        assert_eq!(c.scope(Permission::Delete), OrgScope::Everywhere);
        let c = v
            .verify(
                &token(vec![("ORG_OWNER_VIEWER", Some("o2"))], 60),
                Timestamp::now(),
            )
            .unwrap();
        assert!(c.scope(Permission::Read).allows("o2"));
        assert!(!c.scope(Permission::Read).allows("o1"));
        assert!(!c.scope(Permission::Write).allows("o2"));
        assert_eq!(c.resource_owner.as_deref(), Some("o1"));
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let v = verifier();
        assert!(v.verify(&token(vec![], -120), Timestamp::now()).is_err());
        let other = Verifier::hs256(b"other", "iss", &["userd".into()], 30, RoleTable::default());
        assert!(other.verify(&token(vec![], 60), Timestamp::now()).is_err());
        assert!(v.verify("garbage", Timestamp::now()).is_err());
    }
}
