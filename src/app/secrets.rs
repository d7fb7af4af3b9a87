//! Passwords and one-time codes: the complexity policy, hashing, checking, and drawing codes.
//!
//! Hashing and checking are slow on purpose (Argon2id, bcrypt): callers run them off the request
//! threads, bounded (`Core::blocking_secret`). Nothing here logs or returns a secret or a hash.

use crate::domain::{OneTimeCode, Timestamp};
use crate::error::{ApiError, ErrorCode};

/// ZITADEL's default password complexity policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub has_uppercase: bool,
    pub has_lowercase: bool,
    pub has_number: bool,
    pub has_symbol: bool,
}

impl PasswordPolicy {
    pub const DEFAULT: PasswordPolicy = PasswordPolicy {
        min_length: 8,
        has_uppercase: true,
        has_lowercase: true,
        has_number: true,
        has_symbol: true,
    };

    /// The first rule `password` breaks, in ZITADEL's order: length, lowercase, uppercase,
    /// number, symbol.
    pub fn check(&self, password: &str) -> Result<(), ErrorCode> {
        // ZITADEL counts bytes, and its classes are ASCII: `[a-z]`, `[A-Z]`, `[0-9]`, and
        // anything else is a symbol.
        if password.len() < self.min_length {
            return Err(ErrorCode::PasswordTooShort);
        }
        if self.has_lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
            return Err(ErrorCode::PasswordNoLowercase);
        }
        if self.has_uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ErrorCode::PasswordNoUppercase);
        }
        if self.has_number && !password.chars().any(|c| c.is_ascii_digit()) {
            return Err(ErrorCode::PasswordNoNumber);
        }
        if self.has_symbol && !password.chars().any(is_symbol) {
            return Err(ErrorCode::PasswordNoSymbol);
        }
        Ok(())
    }
}

fn is_symbol(c: char) -> bool {
    !c.is_ascii_alphanumeric()
}

/// Argon2id with a fresh salt and the crate's defaults (19 MiB, 2 passes), as a PHC string:
/// for passwords.
pub fn hash_secret(clear: &[u8]) -> Result<String, ApiError> {
    hash_with(argon2::Argon2::default(), clear)
}

/// Argon2id with lighter parameters (4 MiB, 1 pass) for one-time codes: they live an hour at
/// most, and a verification must stay cheap enough for load tests, yet guessing a code from a
/// copied store still costs a memory-hard hash per guess.
pub fn hash_code(clear: &[u8]) -> Result<String, ApiError> {
    let params =
        argon2::Params::new(4096, 1, 1, None).map_err(|_| ApiError::from(ErrorCode::Internal))?;
    hash_with(
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params),
        clear,
    )
}

fn hash_with(hasher: argon2::Argon2<'_>, clear: &[u8]) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|_| ApiError::from(ErrorCode::Internal))?;
    let salt = SaltString::encode_b64(&raw).map_err(|_| ApiError::from(ErrorCode::Internal))?;
    hasher
        .hash_password(clear, &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            log::error!("hashing a secret failed: {e}");
            ApiError::from(ErrorCode::Internal)
        })
}

/// Whether `clear` matches `hash`: an Argon2 PHC string, or a bcrypt hash (`$2a$`, `$2b$`,
/// `$2y$`) as imported from another user store. A hash of any other form matches nothing.
pub fn verify_secret(clear: &[u8], hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    // A hash whose cost is out of bounds (stored before the bounds) is not worked on.
    if !is_accepted_hash(hash) {
        return false;
    }
    if is_bcrypt(hash) {
        return bcrypt::verify(clear, hash).unwrap_or(false);
    }
    match argon2::PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(clear, &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Whether a `hashedPassword` can be stored: Argon2id in PHC format, or bcrypt with 53
/// characters of salt and hash. Costs are bounded (bcrypt 4 to 16, Argon2id at most 64 MiB, 16
/// passes, 8 lanes), so checking a password against an imported hash stays a bounded job.
pub fn is_accepted_hash(hash: &str) -> bool {
    if is_bcrypt(hash) {
        return hash
            .parse::<bcrypt::HashParts>()
            .is_ok_and(|parts| (4..=16).contains(&parts.get_cost()));
    }
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    hash.starts_with("$argon2id$")
        && argon2::Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() <= 65_536 && p.t_cost() <= 16 && p.p_cost() <= 8)
}

/// ZITADEL's default code alphabet and length: 6 of uppercase letters and digits.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const CODE_LENGTH: usize = 6;

/// A fresh code in clear text (uniform over the alphabet: rejection sampling).
pub fn draw_code() -> Result<String, ApiError> {
    let mut out = String::with_capacity(CODE_LENGTH);
    // 252 is the largest multiple of 36 below 256: larger bytes are drawn again.
    let limit = (256 / CODE_ALPHABET.len() * CODE_ALPHABET.len()) as u8;
    while out.len() < CODE_LENGTH {
        let mut buf = [0u8; 16];
        getrandom::fill(&mut buf).map_err(|_| ApiError::from(ErrorCode::Internal))?;
        for b in buf {
            if b < limit && out.len() < CODE_LENGTH {
                let i = usize::from(b) % CODE_ALPHABET.len();
                if let Some(c) = CODE_ALPHABET.get(i) {
                    out.push(char::from(*c));
                }
            }
        }
    }
    Ok(out)
}

/// A drawn code and what is stored of it.
#[derive(Debug)]
pub struct DrawnCode {
    pub clear: String,
    pub stored: OneTimeCode,
}

/// Draw and hash a code valid for `lifetime_seconds` from `now` (slow: off the request
/// threads).
pub fn new_code(now: Timestamp, lifetime_seconds: i64) -> Result<DrawnCode, ApiError> {
    let clear = draw_code()?;
    let hash = hash_code(clear.as_bytes())?;
    let expires_at = Timestamp(
        now.0
            .saturating_add(lifetime_seconds.saturating_mul(1_000_000_000)),
    );
    Ok(DrawnCode {
        clear,
        stored: OneTimeCode { hash, expires_at },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_the_first_broken_rule() {
        let p = PasswordPolicy::DEFAULT;
        assert_eq!(p.check("Ab1!"), Err(ErrorCode::PasswordTooShort));
        assert_eq!(p.check("ABCDEFG1!"), Err(ErrorCode::PasswordNoLowercase));
        assert_eq!(p.check("abcdefg1!"), Err(ErrorCode::PasswordNoUppercase));
        assert_eq!(p.check("Abcdefgh!"), Err(ErrorCode::PasswordNoNumber));
        assert_eq!(p.check("Abcdefgh1"), Err(ErrorCode::PasswordNoSymbol));
        assert_eq!(p.check("Abcdefg1!"), Ok(()));
    }

    #[test]
    fn codes_are_six_of_the_alphabet_and_verify() {
        let code = draw_code().unwrap();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        let drawn = new_code(Timestamp(0), 3600).unwrap();
        assert!(verify_secret(drawn.clear.as_bytes(), &drawn.stored.hash));
        assert!(!verify_secret(b"WRONG1", &drawn.stored.hash));
        assert_eq!(drawn.stored.expires_at, Timestamp(3_600_000_000_000));
    }

    #[test]
    fn bcrypt_and_argon2_hashes_are_accepted_and_checked() {
        let bcrypt_hash = bcrypt::hash_with_salt("Secret1!", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        assert!(is_accepted_hash(&bcrypt_hash));
        assert!(verify_secret(b"Secret1!", &bcrypt_hash));
        assert!(!verify_secret(b"Secret2!", &bcrypt_hash));
        let argon = hash_secret(b"Secret1!").unwrap();
        assert!(is_accepted_hash(&argon));
        assert!(verify_secret(b"Secret1!", &argon));
        assert!(!is_accepted_hash("$1$md5$abc"));
        let costly = bcrypt_hash.replacen("$04$", "$17$", 1);
        assert!(!is_accepted_hash(&costly), "bcrypt cost over 16");
        let huge = "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0$OFvBd7lINUadmFLUSf7aanp0Q9FNjVzakvzxBvrE+5A";
        assert!(!is_accepted_hash(huge), "1 GiB of memory per check");
        assert!(is_accepted_hash(&hash_code(b"ABC123").unwrap()));
        assert!(!is_accepted_hash("$2b$04$short"));
        assert!(!verify_secret(b"x", "plain"));
    }
}
