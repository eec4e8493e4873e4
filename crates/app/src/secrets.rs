//! Hashing of short customer secrets (Number Transfer PINs, account PINs) with argon2id.
//!
//! Hashing is deliberately slow, so it never runs on the writer thread: callers hash on
//! a blocking thread first and hand the result to the write job.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's minimum argon2id settings: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `secret` with the given salt.
pub fn hash(secret: &str, salt: [u8; 16]) -> Result<String, crate::Error> {
    let salt = SaltString::encode_b64(&salt).map_err(|e| crate::Error::Internal(format!("salt: {e}")))?;
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| crate::Error::Internal(format!("hash: {e}")))
}

/// Whether `secret` matches the PHC string (an unreadable hash never matches).
pub fn verify(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| hasher().verify_password(secret.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let h = hash("48213907", [3; 16]).unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("48213907", &h));
        assert!(!verify("48213908", &h));
        assert!(!verify("48213907", "not a hash"));
    }
}
