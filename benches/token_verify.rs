//! Cost of verifying one bearer token, per algorithm: `cargo bench --bench token_verify`.
//! Prints the time of a full verification (signature, claims and role table) for HS256, RS256,
//! ES256 and EdDSA, each one's ratio to HS256, and the time of a repeated token (served from
//! the verifier's cache), all measured in the same run.

use futures_util::FutureExt;
use std::path::Path;
use std::time::Instant;
use userd::auth::{load_pem, mint, RoleTable, SigningKey, TokenRequest, Verifier};
use userd::domain::Timestamp;

const ISSUER: &str = "http://localhost:8080";

fn main() {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    let audience = vec!["userd".to_string()];
    let request = TokenRequest {
        subject: "bench".into(),
        roles: vec![("ORG_OWNER".into(), Some("org-1".into()))],
        resource_owner: Some("org-1".into()),
        ttl_seconds: 3600,
    };
    let mut results: Vec<(&str, f64, f64)> = Vec::new();
    for (name, private, public) in [
        ("HS256", None, None),
        ("RS256", Some("rsa-a.pem"), Some("rsa-a.pub.pem")),
        ("ES256", Some("ec.pem"), Some("ec.pub.pem")),
        ("EdDSA", Some("ed.pem"), Some("ed.pub.pem")),
    ] {
        let (signing, verifier) = match (private, public) {
            (Some(private), Some(public)) => {
                let pem = std::fs::read(keys.join(private)).expect("private key");
                let signing = SigningKey::from_pem(&pem, None, None).expect("signing key");
                let key = load_pem(&keys.join(public)).expect("public key");
                let verifier =
                    Verifier::new(vec![key], None, ISSUER, &audience, 30, RoleTable::default());
                (signing, verifier)
            }
            _ => (
                SigningKey::hs256(b"bench-secret"),
                Verifier::hs256(b"bench-secret", ISSUER, &audience, 30, RoleTable::default()),
            ),
        };
        let token = mint(&signing, ISSUER, &audience, &request, Timestamp::now()).expect("mint");
        let full = time_it(|| {
            verifier
                .verify_uncached(&token, Timestamp::now())
                .now_or_never()
                .expect("no JWKS: never waits")
                .expect("valid token")
        });
        let cached = time_it(|| {
            verifier
                .verify(&token, Timestamp::now())
                .now_or_never()
                .expect("no JWKS: never waits")
                .expect("valid token")
        });
        results.push((name, full, cached));
    }
    let hs = results[0].1;
    println!("token verification, per request (same run):");
    println!("  alg        full check   vs HS256   full checks/s/core   repeated token (cache)");
    for (name, full, cached) in &results {
        println!(
            "  {name:<6} {:>11.1} µs {:>9.1}x {:>20.0} {:>19.2} µs",
            full / 1000.0,
            full / hs,
            1e9 / full,
            cached / 1000.0
        );
    }
}

/// Nanoseconds per call of `f`: warm up for 100 ms, then time about half a second of calls.
fn time_it<T>(mut f: impl FnMut() -> T) -> f64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_millis() < 100 {
        std::hint::black_box(f());
        n += 1;
    }
    let iterations = (n * 5).max(100);
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(f());
    }
    started.elapsed().as_nanos() as f64 / iterations as f64
}
