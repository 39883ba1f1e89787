//! Passwords and tokens: argon2id password hashes (PHC strings, OWASP's parameters), bearer
//! tokens of 256 random bits stored only as their sha256, and the failed-login rate limit.
//!
//! The rate limit lives in the project database (`login_failures`), so that every server
//! process on one PostgreSQL project shares it: after [`FREE_FAILURES`] failures for one
//! account name (or [`FREE_FAILURES_PER_REMOTE`] from one address) within
//! [`FAILURE_WINDOW_S`], further attempts are refused with 429 for a delay that doubles with
//! each failure, up to [`MAX_DELAY_S`].

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use sha2::Digest;
use voxmark_volume::error::{Error, Result};

/// Failed logins for one account name allowed in [`FAILURE_WINDOW_S`] before a delay.
pub const FREE_FAILURES: i64 = 5;
/// Failed logins from one remote address allowed in the window before a delay.
pub const FREE_FAILURES_PER_REMOTE: i64 = 20;
/// The window over which failures count.
pub const FAILURE_WINDOW_S: i64 = 15 * 60;
/// The longest delay.
pub const MAX_DELAY_S: i64 = 15 * 60;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's password storage cheat sheet).
fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| Error::invalid(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Worker(format!("no system randomness: {e}")))?;
    Ok(b)
}

/// An argon2id PHC string for `password` (a fresh 128-bit salt).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| Error::invalid(format!("salt: {e}")))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::invalid(format!("hashing the password: {e}")))?
        .to_string())
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    // The parameters come from the hash itself, so an older cost still verifies.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash to verify against when the account does not exist, so that a wrong name and a
/// wrong password take the same time.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("voxmark decoy password").unwrap_or_default())
}

/// Refuses a password that is too short, or the account's own name.
pub fn check_password(user: &str, password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.eq_ignore_ascii_case(user) {
        return Err(Error::invalid("the password must not be the account name"));
    }
    Ok(())
}

/// A new bearer token: `vxm_` and 256 random bits in base64url.
pub fn new_token() -> Result<String> {
    Ok(format!(
        "vxm_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// What the database stores of a token.
pub fn token_sha256(token: &str) -> String {
    let d = sha2::Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds a client must wait after `failures` failures (0: none), the latest at `latest`.
pub fn retry_after(by_user: i64, by_remote: i64, latest: i64, now: i64) -> i64 {
    let over = (by_user - FREE_FAILURES + 1).max(by_remote - FREE_FAILURES_PER_REMOTE + 1);
    if over <= 0 {
        return 0;
    }
    let delay = (15i64 << (over - 1).min(10)).min(MAX_DELAY_S);
    (latest + delay - now).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterz"));
        assert!(!verify_password("not a hash", "x"));
        // Salted: the same password hashes differently.
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn tokens_are_random_and_stored_as_sha256() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(token_sha256(&a).len(), 64);
        assert_ne!(token_sha256(&a), token_sha256(&b));
    }

    #[test]
    fn the_delay_starts_after_the_free_failures_and_doubles() {
        assert_eq!(retry_after(4, 0, 100, 100), 0);
        assert_eq!(retry_after(5, 0, 100, 100), 15);
        assert_eq!(retry_after(6, 0, 100, 100), 30);
        assert_eq!(retry_after(6, 0, 100, 120), 10);
        assert_eq!(retry_after(40, 0, 100, 100), MAX_DELAY_S);
        assert_eq!(retry_after(0, 20, 100, 100), 15);
    }

    #[test]
    fn short_or_name_passwords_are_refused() {
        assert!(check_password("alice", "short").is_err());
        assert!(check_password("alicealice", "AliceAlice").is_err());
        assert!(check_password("alice", "a long enough one").is_ok());
    }
}
