//! Who is calling and what may they do: JWT bearer verification and ZITADEL's role claim mapped
//! to `user.read` / `user.write` / `user.delete` per organization.
//!
//! A token is accepted only if its signature verifies with the configured key and algorithm and
//! its `iss`, `aud`, `exp`, `nbf`, `iat` and `sub` hold (with `auth.leeway_seconds`). Nothing of
//! a token is ever logged.

mod keyring;
mod keys;
mod roles;

use crate::config::Config;
use crate::domain::{OrgScope, Permission, Timestamp, User, UserState};
use crate::error::{ApiError, ErrorCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keyring::{Jwks, JwksSource};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use keyring::{load_pem, parse_jwks, VerifyKey};
pub use keys::{resolve_hs256_secret, KeySource, DEV_SECRET_FILE};
pub mod members;
pub mod pat;
pub use roles::RoleTable;

/// The claim that carries ZITADEL's project roles.
pub const ROLES_CLAIM: &str = "urn:zitadel:iam:org:project:roles";
/// The claim that carries the caller's own organization.
pub const RESOURCE_OWNER_CLAIM: &str = "urn:zitadel:iam:user:resourceowner:id";

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub subject: String,
    pub resource_owner: Option<String>,
    pub issued_at: Option<Timestamp>,
    scopes: HashMap<Permission, OrgScope>,
}

impl Caller {
    /// Every organization the caller holds any permission in.
    pub fn authority(&self) -> OrgScope {
        self.scopes
            .values()
            .cloned()
            .fold(OrgScope::Orgs(Vec::new()), OrgScope::union)
    }

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
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<serde_json::Value>,
    #[serde(rename = "urn:zitadel:iam:org:project:roles")]
    roles: Option<HashMap<String, serde_json::Value>>,
    #[serde(rename = "urn:zitadel:iam:user:resourceowner:id")]
    resource_owner: Option<String>,
}

/// Verifies bearer tokens. Built once at start-up and shared by every worker.
pub struct Verifier {
    /// HS256 secret and PEM keys.
    static_keys: Vec<VerifyKey>,
    jwks: Option<Arc<Jwks>>,
    /// The claim checks, one per algorithm in use (only the algorithm differs).
    validations: HashMap<Algorithm, Validation>,
    issuer: String,
    audience: Vec<String>,
    leeway_seconds: u64,
    roles: RoleTable,
    /// Roles of userd's own users (`[[authz.members]]` and the members file).
    members: Arc<members::Members>,
    /// Tokens verified before, so a token used again costs a lookup, not a signature check.
    /// Bounded (quick_cache evicts the least used); an entry holds only within the token's
    /// `nbf`..`exp` window and for the JWKS generation it was verified with.
    cache: quick_cache::sync::Cache<Box<str>, VerifiedToken>,
}

/// A token that verified: its caller, for the window its `nbf` and `exp` allow (leeway
/// included), for one generation of the JWKS.
#[derive(Clone)]
struct VerifiedToken {
    caller: Arc<Caller>,
    valid_from: f64,
    valid_until: f64,
    jwks_generation: u64,
}

/// How many verified tokens the cache keeps.
const TOKEN_CACHE_CAPACITY: usize = 65_536;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("static_keys", &self.static_keys)
            .field("jwks", &self.jwks.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(
        static_keys: Vec<VerifyKey>,
        jwks: Option<Arc<Jwks>>,
        issuer: &str,
        audience: &[String],
        leeway_seconds: u64,
        roles: RoleTable,
    ) -> Verifier {
        Verifier {
            static_keys,
            jwks,
            validations: HashMap::new(),
            issuer: issuer.to_string(),
            audience: audience.to_vec(),
            leeway_seconds,
            roles,
            members: Arc::new(members::Members::new(Vec::new(), None)),
            cache: quick_cache::sync::Cache::new(TOKEN_CACHE_CAPACITY),
        }
        .with_validations()
    }

    /// Give userd's own users roles (see `members`).
    pub fn with_members(mut self, members: Arc<members::Members>) -> Self {
        self.members = members;
        self
    }

    /// Whether `name` is a role of this instance (for memberships the API grants).
    pub fn is_role(&self, name: &str) -> bool {
        self.roles.is_role(name)
    }

    /// The members the verifier knows (to read their file again when it changes).
    pub fn members(&self) -> Arc<members::Members> {
        self.members.clone()
    }

    /// The caller a personal access token of user `subject` (of organization `org`) stands
    /// for: the roles its memberships give it, none otherwise, each only within `issuer_scope`
    /// (where whoever issued the token could write).
    pub fn member_caller(
        &self,
        subject: &str,
        org: &str,
        issued_at: Timestamp,
        issuer_scope: &OrgScope,
    ) -> Caller {
        let scopes = self
            .roles
            .scopes(self.members.claim(subject).as_ref())
            .into_iter()
            .map(|(permission, scope)| (permission, scope.intersect(issuer_scope)))
            .collect();
        Caller {
            subject: subject.to_string(),
            resource_owner: Some(org.to_string()),
            issued_at: Some(issued_at),
            scopes,
        }
    }

    /// A verifier with one HS256 secret.
    pub fn hs256(
        secret: &[u8],
        issuer: &str,
        audience: &[String],
        leeway_seconds: u64,
        roles: RoleTable,
    ) -> Verifier {
        let key = VerifyKey {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        };
        Verifier::new(vec![key], None, issuer, audience, leeway_seconds, roles)
    }

    fn with_validations(mut self) -> Self {
        use Algorithm::*;
        for alg in [
            HS256, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
        ] {
            let mut v = Validation::new(alg);
            v.set_issuer(&[&self.issuer]);
            v.set_audience(&self.audience);
            v.leeway = self.leeway_seconds;
            v.validate_exp = true;
            v.validate_nbf = true;
            v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            self.validations.insert(alg, v);
        }
        self
    }

    /// Try `token` against every key of its algorithm (and its `kid`, when both have one).
    fn decode_with(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
        keys: &[VerifyKey],
    ) -> Option<Claims> {
        let validation = self.validations.get(&header.alg)?;
        keys.iter()
            .filter(|k| k.alg == header.alg)
            .filter(|k| match (&k.kid, &header.kid) {
                (Some(key_kid), Some(token_kid)) => key_kid == token_kid,
                _ => true,
            })
            .find_map(|k| jsonwebtoken::decode::<Claims>(token, &k.key, validation).ok())
            .map(|data| data.claims)
    }

    /// Does any key of the JWKS carry this `kid`?
    fn jwks_knows(&self, kid: &str) -> bool {
        self.jwks
            .as_ref()
            .is_some_and(|j| j.current().iter().any(|k| k.kid.as_deref() == Some(kid)))
    }

    fn jwks_generation(&self) -> u64 {
        self.jwks.as_ref().map_or(0, |j| j.generation())
    }

    /// A token verified before, still within its window and the same JWKS generation.
    fn cached(&self, token: &str, now: Timestamp) -> Option<Arc<Caller>> {
        let hit = self.cache.get(token)?;
        let now = now.0 as f64 / 1e9;
        (hit.valid_from <= now
            && now <= hit.valid_until
            && hit.jwks_generation == self.jwks_generation())
        .then_some(hit.caller)
    }

    /// Verify a token and read the caller's grants from it. A `kid` that no key carries asks
    /// for one JWKS refresh (at most one per refresh interval) before the token is refused.
    /// A token that verified once is remembered until its `exp` (a JWKS refresh forgets all).
    pub async fn verify(&self, token: &str, now: Timestamp) -> Result<Arc<Caller>, ApiError> {
        if let Some(caller) = self.cached(token, now) {
            return Ok(caller);
        }
        let generation = self.jwks_generation();
        let (caller, window) = self.verify_uncached(token, now).await?;
        let caller = Arc::new(caller);
        let leeway = self.leeway_seconds as f64;
        self.cache.insert(
            token.into(),
            VerifiedToken {
                caller: caller.clone(),
                valid_from: window.0.map_or(f64::MIN, |nbf| nbf - leeway),
                valid_until: window.1 + leeway,
                jwks_generation: generation,
            },
        );
        Ok(caller)
    }

    /// Verify without the cache: signature, claims and roles every time. Returns the caller and
    /// the token's `nbf` (if any) and `exp`.
    pub async fn verify_uncached(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<(Caller, (Option<f64>, f64)), ApiError> {
        let invalid = || ApiError::from(ErrorCode::TokenInvalid);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        // RFC 7515 §4.1.11: extensions marked critical must be understood; userd knows none.
        if header.crit.is_some() {
            return Err(invalid());
        }
        let mut claims = self.decode_with(token, &header, &self.static_keys);
        if claims.is_none() {
            if let Some(jwks) = &self.jwks {
                let unknown_kid = header.kid.as_deref().filter(|kid| !self.jwks_knows(kid));
                if unknown_kid.is_some() {
                    if let Some(done) = jwks.refresh_for_unknown_kid() {
                        let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
                    }
                }
                claims = self.decode_with(token, &header, &jwks.current());
            }
        }
        let claims = claims.ok_or_else(invalid)?;
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
        let exp = claims.exp.ok_or_else(invalid)?;
        let scopes = self.roles.scopes(claims.roles.as_ref());
        let caller = Caller {
            subject,
            resource_owner: claims.resource_owner.filter(|s| !s.is_empty()),
            issued_at,
            scopes,
        };
        Ok((caller, (claims.nbf, exp)))
    }
}

/// Build the verifier the configuration asks for. With no key configured at all, the
/// development HS256 secret is used (created if `create_dev_secret`).
pub fn verifier_from_config(config: &Config, create_dev_secret: bool) -> Result<Verifier, String> {
    let auth = &config.auth;
    let mut keys = Vec::new();
    let explicit_hs = auth.hs256_secret.is_some() || auth.hs256_secret_file.is_some();
    let asymmetric =
        !auth.public_key_pem_file.is_empty() || auth.jwks_file.is_some() || auth.jwks_url.is_some();
    if explicit_hs || !asymmetric {
        let (secret, source) = resolve_hs256_secret(
            auth.hs256_secret.as_deref(),
            auth.hs256_secret_file.as_deref(),
            config.data_dir(),
            create_dev_secret,
        )?;
        if let KeySource::DevelopmentSecret(path) = &source {
            log::warn!(
                "no auth key configured: using the development HS256 secret in {} \
                 (for local development only; configure auth keys in production)",
                path.display()
            );
        }
        keys.push(VerifyKey {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(&secret),
        });
    }
    for path in &auth.public_key_pem_file {
        keys.push(keyring::load_pem(path)?);
    }
    let mut sources = Vec::new();
    if let Some(path) = &auth.jwks_file {
        sources.push(JwksSource::File(path.clone()));
    }
    if let Some(url) = &auth.jwks_url {
        sources.push(JwksSource::Url(url.clone()));
    }
    let jwks = if sources.is_empty() {
        None
    } else {
        let interval = Duration::from_secs(auth.jwks_refresh_seconds.max(1));
        let (jwks, error) = Jwks::start(sources, interval)?;
        if let Some(error) = error {
            if keys.is_empty() && jwks.current().is_empty() {
                return Err(format!("no auth key could be loaded: {error}"));
            }
            log::warn!("{error}; starting with the other keys");
        }
        Some(jwks)
    };
    if keys.is_empty() && jwks.as_ref().is_none_or(|j| j.current().is_empty()) {
        return Err("no auth key could be loaded".into());
    }
    let roles = RoleTable::default().with_overrides(&config.authz.parsed);
    Ok(Verifier::new(
        keys,
        jwks,
        &auth.issuer,
        &auth.audience,
        auth.leeway_seconds,
        roles,
    )
    .with_members(Arc::new(members::Members::new(
        config.authz.members.clone(),
        Some(members::file_in(config.data_dir())),
    ))))
}

/// May a token of `caller` act, given the stored user named by its `sub` (if any)? A subject
/// that is INACTIVE, LOCKED or DELETED is refused, and so is a token issued before the
/// subject's latest deactivate, lock or delete, for good: reactivation never revives it.
///
/// A user's state speaks for a token only if the token's authority stays within where the
/// user's creator could create users: an organization's owner who creates a user whose id is
/// another principal's `sub` cannot lock out a token with authority beyond that organization.
pub fn check_subject(caller: &Caller, subject: Option<&User>) -> Result<(), ApiError> {
    let Some(user) = subject else {
        return Ok(());
    };
    if !caller.authority().within(&user.creator_scope) {
        return Ok(());
    }
    if !matches!(user.state, UserState::Active | UserState::Initial) {
        return Err(ErrorCode::SubjectNotActive.into());
    }
    if let Some(revoked_at) = user.revoked_at {
        if caller.issued_at.is_none_or(|iat| iat < revoked_at) {
            return Err(ErrorCode::TokenRevoked.into());
        }
    }
    Ok(())
}

/// The token of an `Authorization` header value (the scheme name is case-insensitive).
pub fn bearer_token(header: Option<&str>) -> Result<&str, ApiError> {
    let value = header
        .ok_or_else(|| ApiError::from(ErrorCode::AuthHeaderMissing))?
        .trim();
    if value.is_empty() {
        return Err(ErrorCode::AuthHeaderMissing.into());
    }
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ErrorCode::TokenInvalid.into()),
    }
}

/// Authenticate an `Authorization` header value: its bearer token, verified now.
pub async fn authenticate(
    header: Option<&str>,
    verifier: &Verifier,
) -> Result<Arc<Caller>, ApiError> {
    verifier
        .verify(bearer_token(header)?, Timestamp::now())
        .await
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

/// A PEM private-key parser for one key family.
type PrivatePemParser = fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>;

/// A key `userd token` signs with.
pub struct SigningKey {
    pub alg: Algorithm,
    pub key: EncodingKey,
    pub kid: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn hs256(secret: &[u8]) -> SigningKey {
        SigningKey {
            alg: Algorithm::HS256,
            key: EncodingKey::from_secret(secret),
            kid: None,
        }
    }

    /// A private key in PEM: RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA). `alg` picks the
    /// algorithm; without it the key's type decides.
    pub fn from_pem(
        bytes: &[u8],
        alg: Option<&str>,
        kid: Option<String>,
    ) -> Result<SigningKey, String> {
        let wanted = alg
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| format!("unknown algorithm {a}"))
            })
            .transpose()?;
        let attempts: [(Algorithm, PrivatePemParser); 3] = [
            (Algorithm::RS256, EncodingKey::from_rsa_pem),
            (Algorithm::ES256, EncodingKey::from_ec_pem),
            (Algorithm::EdDSA, EncodingKey::from_ed_pem),
        ];
        for (family, parse) in attempts {
            if let Ok(key) = parse(bytes) {
                let alg = wanted.unwrap_or(family);
                return Ok(SigningKey { alg, key, kid });
            }
        }
        Err("not an RSA, EC P-256 or Ed25519 private key in PEM".into())
    }
}

/// Sign a token with the claims a ZITADEL access token carries. `iat` has millisecond
/// precision, so a token minted right after a reactivation is told apart from one minted
/// before the deactivation in the same second.
pub fn mint(
    key: &SigningKey,
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
    let secs = now.unix_seconds();
    let iat_ms = now.0.div_euclid(1_000_000);
    let mut claims = serde_json::json!({
        "iss": issuer,
        "aud": audience,
        "sub": request.subject,
        "iat": iat_ms as f64 / 1000.0,
        "nbf": secs,
        "exp": secs + request.ttl_seconds,
        ROLES_CLAIM: roles,
    });
    if let (Some(org), Some(map)) = (&request.resource_owner, claims.as_object_mut()) {
        map.insert(
            RESOURCE_OWNER_CLAIM.into(),
            serde_json::Value::String(org.clone()),
        );
    }
    let mut header = Header::new(key.alg);
    header.kid = key.kid.clone();
    jsonwebtoken::encode(&header, &claims, &key.key)
        .map_err(|e| format!("could not sign the token: {e}"))
}

/// Sign an HS256 token (see [`mint`]).
pub fn mint_hs256(
    secret: &[u8],
    issuer: &str,
    audience: &[String],
    request: &TokenRequest,
    now: Timestamp,
) -> Result<String, String> {
    mint(&SigningKey::hs256(secret), issuer, audience, request, now)
}

/// The console's one-click development sign-in: short-lived instance-owner tokens signed with
/// the development secret, which exists only while no key is configured. Whether a request may
/// have one (it comes from this machine) is the HTTP surface's decision.
pub struct DevSignIn {
    key: SigningKey,
    issuer: String,
    audience: Vec<String>,
}

impl std::fmt::Debug for DevSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSignIn").finish_non_exhaustive()
    }
}

impl DevSignIn {
    /// The subject of development sign-in tokens.
    pub const SUBJECT: &'static str = "userd-console";
    /// How long a development sign-in token lives.
    pub const TTL_SECONDS: i64 = 900;

    /// Some when the development secret is the key in use (nothing configured); it must exist
    /// already (the verifier creates it first).
    pub fn from_config(config: &Config) -> Option<DevSignIn> {
        let auth = &config.auth;
        let configured = auth.hs256_secret.is_some()
            || auth.hs256_secret_file.is_some()
            || !auth.public_key_pem_file.is_empty()
            || auth.jwks_file.is_some()
            || auth.jwks_url.is_some();
        if configured {
            return None;
        }
        match resolve_hs256_secret(None, None, config.data_dir(), false) {
            Ok((secret, KeySource::DevelopmentSecret(_))) => Some(DevSignIn {
                key: SigningKey::hs256(&secret),
                issuer: auth.issuer.clone(),
                audience: auth.audience.clone(),
            }),
            _ => None,
        }
    }

    /// A token for the instance owner role, valid for [`Self::TTL_SECONDS`].
    pub fn mint(&self, now: Timestamp) -> Result<String, String> {
        let request = TokenRequest {
            subject: Self::SUBJECT.into(),
            roles: vec![("IAM_OWNER".into(), None)],
            resource_owner: None,
            ttl_seconds: Self::TTL_SECONDS,
        };
        mint(&self.key, &self.issuer, &self.audience, &request, now)
    }
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

    fn verify(v: &Verifier, token: &str) -> Result<Arc<Caller>, ApiError> {
        futures_util::FutureExt::now_or_never(v.verify(token, Timestamp::now()))
            .expect("no JWKS: verification does not wait")
    }

    #[test]
    fn instance_roles_hold_everywhere_and_org_roles_in_their_orgs() {
        let v = verifier();
        let c = verify(&v, &token(vec![("IAM_OWNER", None)], 60)).unwrap();
        assert_eq!(c.scope(Permission::Delete), OrgScope::Everywhere);
        let c = verify(&v, &token(vec![("ORG_OWNER_VIEWER", Some("o2"))], 60)).unwrap();
        assert!(c.scope(Permission::Read).allows("o2"));
        assert!(!c.scope(Permission::Read).allows("o1"));
        assert!(!c.scope(Permission::Write).allows("o2"));
        assert_eq!(c.resource_owner.as_deref(), Some("o1"));
    }

    #[test]
    fn subjects_that_are_not_active_or_were_revoked_after_iat_are_refused() {
        use crate::domain::{self, Contact, NewUser, Operation, Profile};
        let (user, _) = domain::create(
            NewUser {
                id: "me".into(),
                org: "o1".into(),
                initial_state: UserState::Active,
                creator_scope: crate::domain::OrgScope::Everywhere,
                editor: String::new(),
                profile: Profile::V3 {
                    schema_id: "s".into(),
                    data_json: "{}".into(),
                    contact: Contact::default(),
                },
            },
            Timestamp(1_000_000_000_000),
        );
        let mut caller = (*verify(&verifier(), &token(vec![], 60)).unwrap()).clone();
        caller.issued_at = Some(Timestamp(2_000_000_000_000));
        assert!(check_subject(&caller, None).is_ok());
        assert!(check_subject(&caller, Some(&user)).is_ok());
        let e = domain::decide(Operation::Deactivate, &user, Timestamp(3_000_000_000_000)).unwrap();
        let inactive = domain::apply(&user, &e);
        assert_eq!(
            check_subject(&caller, Some(&inactive)).unwrap_err().code,
            ErrorCode::SubjectNotActive
        );
        let e = domain::reactivate(&inactive, Timestamp(4_000_000_000_000)).unwrap();
        let active_again = domain::apply(&inactive, &e);
        assert_eq!(
            check_subject(&caller, Some(&active_again))
                .unwrap_err()
                .code,
            ErrorCode::TokenRevoked
        );
        caller.issued_at = Some(Timestamp(3_500_000_000_000));
        assert!(check_subject(&caller, Some(&active_again)).is_ok());
        caller.issued_at = None;
        assert!(check_subject(&caller, Some(&active_again)).is_err());
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let v = verifier();
        assert!(verify(&v, &token(vec![], -120)).is_err());
        let other = Verifier::hs256(b"other", "iss", &["userd".into()], 30, RoleTable::default());
        assert!(verify(&other, &token(vec![], 60)).is_err());
        assert!(verify(&v, "garbage").is_err());
    }
}
