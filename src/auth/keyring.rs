//! The keys tokens are verified with: an HS256 secret, PEM public keys (RSA, EC P-256, Ed25519),
//! and JWKS keys from a file or a URL, refreshed in the background.
//!
//! Every key carries the one algorithm it was made for, and a token is tried only against keys
//! of its header's algorithm: `alg: none`, HS256 signed with a public key, and any algorithm a
//! key was not made for never verify. A failed JWKS refresh keeps the last good key set.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One verification key and the algorithm it accepts.
#[derive(Clone)]
pub struct VerifyKey {
    /// `None` matches any `kid` (keys configured without one, such as PEM files).
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A PEM public-key parser for one key family.
type PemParser = fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>;

/// Read a PEM public key and find out what it is.
pub fn load_pem(path: &Path) -> Result<VerifyKey, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "auth.public_key_pem_file: cannot read {}: {e}",
            path.display()
        )
    })?;
    let attempts: [(Algorithm, PemParser); 3] = [
        (Algorithm::RS256, DecodingKey::from_rsa_pem),
        (Algorithm::ES256, DecodingKey::from_ec_pem),
        (Algorithm::EdDSA, DecodingKey::from_ed_pem),
    ];
    for (alg, parse) in attempts {
        if let Ok(key) = parse(&bytes) {
            return Ok(VerifyKey {
                kid: None,
                alg,
                key,
            });
        }
    }
    Err(format!(
        "auth.public_key_pem_file: {} is not an RSA, EC P-256 or Ed25519 public key in PEM",
        path.display()
    ))
}

/// The algorithm a JWK is for: its `alg`, else what its key type implies.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        // Symmetric keys are never taken from a key set.
        _ => None,
    }?;
    match jwk.common.key_algorithm {
        None => Some(implied),
        Some(KeyAlgorithm::UNKNOWN_ALGORITHM) => None,
        Some(alg) => {
            let alg = Algorithm::from_str(&format!("{alg:?}")).ok()?;
            // The declared algorithm must belong to the key's family.
            let family_ok = matches!(
                (implied, alg),
                (
                    Algorithm::RS256,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                ) | (Algorithm::ES256, Algorithm::ES256)
                    | (Algorithm::ES384, Algorithm::ES384)
                    | (Algorithm::EdDSA, Algorithm::EdDSA)
            );
            family_ok.then_some(alg)
        }
    }
}

/// Parse a JWKS document; keys that cannot be used are skipped with a warning.
pub fn parse_jwks(text: &str) -> Result<Vec<VerifyKey>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("not a JWKS document: no \"keys\" array")?;
    let mut out = Vec::new();
    for (i, value) in keys.iter().enumerate() {
        let parsed = serde_json::from_value::<Jwk>(value.clone())
            .map_err(|e| e.to_string())
            .and_then(|jwk| {
                if matches!(
                    jwk.common.public_key_use,
                    Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
                ) {
                    return Err("an encryption key".into());
                }
                let alg = jwk_algorithm(&jwk).ok_or("an unsupported key type or algorithm")?;
                let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
                Ok(VerifyKey {
                    kid: jwk.common.key_id.clone(),
                    alg,
                    key,
                })
            });
        match parsed {
            Ok(key) => out.push(key),
            Err(why) => log::warn!("JWKS key {i} skipped: {why}"),
        }
    }
    Ok(out)
}

/// Where a JWKS comes from.
#[derive(Clone, Debug)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

impl JwksSource {
    fn fetch(&self) -> Result<Vec<VerifyKey>, String> {
        let text = match self {
            JwksSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            JwksSource::Url(url) => {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                agent
                    .get(url)
                    .call()
                    .map_err(|e| format!("cannot fetch {url}: {e}"))?
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_string()
                    .map_err(|e| format!("cannot read {url}: {e}"))?
            }
        };
        parse_jwks(&text)
    }

    fn describe(&self) -> String {
        match self {
            JwksSource::File(p) => p.display().to_string(),
            JwksSource::Url(u) => u.clone(),
        }
    }
}

/// A key set kept fresh by a background thread.
#[derive(Debug)]
pub struct Jwks {
    keys: RwLock<Arc<Vec<VerifyKey>>>,
    /// Counts key set replacements, so caches of verified tokens know when to forget.
    generation: AtomicU64,
    /// When the last on-demand refresh (for an unknown `kid`) was allowed.
    last_on_demand: Mutex<Option<Instant>>,
    interval: Duration,
    trigger: Mutex<mpsc::Sender<Option<oneshot::Sender<()>>>>,
}

impl Jwks {
    /// Fetch the set once now, then refresh it every `interval` in the background. A failed
    /// first fetch leaves an empty set (the caller decides whether that is fatal).
    pub fn start(
        sources: Vec<JwksSource>,
        interval: Duration,
    ) -> Result<(Arc<Jwks>, Option<String>), String> {
        let (keys, first_error) = fetch_all(&sources, None);
        let (tx, rx) = mpsc::channel();
        let jwks = Arc::new(Jwks {
            keys: RwLock::new(Arc::new(keys)),
            generation: AtomicU64::new(0),
            last_on_demand: Mutex::new(None),
            interval,
            trigger: Mutex::new(tx),
        });
        let weak = Arc::downgrade(&jwks);
        std::thread::Builder::new()
            .name("userd-jwks".into())
            .spawn(move || loop {
                let waiter = match rx.recv_timeout(interval) {
                    Ok(waiter) => waiter,
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                let Some(jwks) = weak.upgrade() else { return };
                let current = jwks.current();
                let (keys, error) = fetch_all(&sources, Some(&current));
                if error.is_none() {
                    if let Ok(mut slot) = jwks.keys.write() {
                        *slot = Arc::new(keys);
                        jwks.generation.fetch_add(1, Ordering::SeqCst);
                    }
                }
                if let Some(waiter) = waiter {
                    let _ = waiter.send(());
                }
            })
            .map_err(|e| format!("cannot start the JWKS thread: {e}"))?;
        Ok((jwks, first_error))
    }

    /// How many times the key set was replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The keys in force now.
    pub fn current(&self) -> Arc<Vec<VerifyKey>> {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Ask for a refresh because a token named an unknown `kid`: at most once per interval.
    /// Returns a receiver that fires when the refresh is done, or `None` if refused.
    pub fn refresh_for_unknown_kid(&self) -> Option<oneshot::Receiver<()>> {
        let mut last = self.last_on_demand.lock().ok()?;
        if last.is_some_and(|t| t.elapsed() < self.interval) {
            return None;
        }
        *last = Some(Instant::now());
        let (tx, rx) = oneshot::channel();
        self.trigger.lock().ok()?.send(Some(tx)).ok()?;
        Some(rx)
    }
}

/// Fetch every source; on a source's failure keep `previous` keys (if any) and report it.
fn fetch_all(
    sources: &[JwksSource],
    previous: Option<&Arc<Vec<VerifyKey>>>,
) -> (Vec<VerifyKey>, Option<String>) {
    let mut keys = Vec::new();
    let mut error = None;
    for source in sources {
        match source.fetch() {
            Ok(mut fetched) => {
                log::info!("JWKS from {}: {} keys", source.describe(), fetched.len());
                keys.append(&mut fetched);
            }
            Err(e) => {
                log::warn!(
                    "JWKS refresh from {} failed, keeping the last good keys: {e}",
                    source.describe()
                );
                error = Some(format!("JWKS from {}: {e}", source.describe()));
                if let Some(previous) = previous {
                    // Keep the whole previous set: which of its keys came from this source
                    // is not tracked, and keeping a key is safer than dropping a good one.
                    return (previous.as_ref().clone(), error);
                }
            }
        }
    }
    (keys, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_encryption_keys_are_never_taken_from_a_jwks() {
        let doc = r#"{"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "h"},
            {"kty": "RSA", "use": "enc", "n": "sXch", "e": "AQAB", "kid": "e"},
            {"kty": "EC", "crv": "P-256", "alg": "RS256", "kid": "bad",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "good",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}"#;
        let keys = parse_jwks(doc).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("good"));
        assert_eq!(keys[0].alg, Algorithm::ES256);
        assert!(parse_jwks("{}").is_err());
    }
}
