//! Personal access tokens: userd's own opaque bearer tokens for machine users. A token names its
//! user and its id, so checking one is a point read of the user's record and a hash compare.
//!
//! Form: base64url (no padding) of `USER_ID:TOKEN_ID:SECRET`, SECRET being 32 random bytes in
//! hex. It has no `.`, so it is never mistaken for a JWT. Only the secret's SHA-256 is stored.

use crate::error::{ApiError, ErrorCode};
use base64::Engine as _;

/// A token's parts.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenParts {
    pub user_id: String,
    pub token_id: String,
    pub secret: String,
}

/// Whether `token` has the form of a personal access token (a JWT has dots).
pub fn looks_like_pat(token: &str) -> bool {
    !token.contains('.')
}

/// The parts of a personal access token, or None if it is not one.
pub fn parse(token: &str) -> Option<TokenParts> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (rest, secret) = text.rsplit_once(':')?;
    let (user_id, token_id) = rest.rsplit_once(':')?;
    if user_id.is_empty() || token_id.is_empty() || secret.len() != 64 {
        return None;
    }
    Some(TokenParts {
        user_id: user_id.to_string(),
        token_id: token_id.to_string(),
        secret: secret.to_string(),
    })
}

/// A fresh token for `user_id` and `token_id`: the token to hand out once, and the hash to keep.
pub fn issue(user_id: &str, token_id: &str) -> Result<(String, String), ApiError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|_| ApiError::from(ErrorCode::Internal))?;
    let secret = hex(&raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{user_id}:{token_id}:{secret}"));
    Ok((token, secret_hash(&secret)))
}

/// The hash kept of a token's secret: lower-case hex SHA-256.
pub fn secret_hash(secret: &str) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes()).as_ref())
}

/// Whether `secret` hashes to `stored` (compared in constant time).
pub fn matches(secret: &str, stored: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(
        secret_hash(secret).as_bytes(),
        stored.as_bytes(),
    )
    .is_ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_only_their_secret_matches() {
        let (token, hash) = issue("user:with:colons", "42").unwrap();
        assert!(looks_like_pat(&token));
        let parts = parse(&token).unwrap();
        assert_eq!(parts.user_id, "user:with:colons");
        assert_eq!(parts.token_id, "42");
        assert!(matches(&parts.secret, &hash));
        assert!(!matches(&"0".repeat(64), &hash));
        assert_eq!(parse("not base64 !"), None);
        assert_eq!(
            parse(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a:b:short")),
            None
        );
    }
}
