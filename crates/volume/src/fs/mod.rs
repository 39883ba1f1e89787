//! Files as the rest of voxmark writes them: crash-safe replacement ([`atomic`]: temp file +
//! fsync + rename + folder fsync, fault injection), one writer per file ([`lock`]), UTC
//! timestamps ([`clock`]) and content hashes. Pure `std` (plus `sha2`), so every crate that
//! writes a file — the journal, a PNG, a project export — shares one implementation.

pub mod atomic;
pub mod clock;
pub mod lock;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
