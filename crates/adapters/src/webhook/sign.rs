//! The Standard Webhooks signature scheme (symmetric, `v1`), both sides.
//!
//! - Secret: `whsec_` followed by the base64 of 24 to 64 random bytes; the HMAC key is
//!   the decoded bytes.
//! - Signed content: `{webhook-id}.{webhook-timestamp}.{body}`, the exact header texts
//!   and the exact body bytes.
//! - `webhook-signature`: `v1,` followed by the standard base64 (with padding) of the
//!   HMAC-SHA256. The header is a space-separated list (several during a secret
//!   rotation); one matching `v1` entry is enough.
//!
//! See <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a serialised secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The fewest secret bytes accepted (the specification's minimum, 192 bits).
pub const MIN_SECRET_BYTES: usize = 24;
/// The most secret bytes accepted (512 bits).
pub const MAX_SECRET_BYTES: usize = 64;
/// The version prefix of a symmetric signature.
pub const SIGNATURE_VERSION: &str = "v1";
/// The tolerance receivers usually allow between a timestamp and their clock (5 minutes).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// At most this many entries of a `webhook-signature` header are looked at.
const MAX_SIGNATURES: usize = 16;
/// A `webhook-timestamp` has at most this many digits (seconds until the year 33658).
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// Base64 that accepts a secret with or without its padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signing secret (the decoded key). Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Parses `whsec_<base64>` (24 to 64 bytes once decoded).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.trim().strip_prefix(SECRET_PREFIX).ok_or(SecretError::Prefix)?;
        let key = LENIENT.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` value (`v1,<base64>`) of a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, &timestamp.to_string(), body).finalize().into_bytes();
        format!("{SIGNATURE_VERSION},{}", STANDARD.encode(tag))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length; `parse` bounds it anyway.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Why a secret was refused (the message never contains the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret starts with `whsec_`")]
    Prefix,
    #[error("a secret is `whsec_` followed by standard base64")]
    Base64,
    #[error("a secret decodes to 24-64 bytes, not {0}")]
    Length(usize),
}

/// Why a received webhook was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unusable secret: {0}")]
    Secret(SecretError),
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is older than the tolerance")]
    TooOld,
    #[error("webhook-timestamp is further in the future than the tolerance")]
    TooNew,
    #[error("webhook-signature has no v1 signature")]
    NoSignature,
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies a received webhook, as a receiver should: `secret` is the endpoint's
/// `whsec_…` secret; `id`, `timestamp` and `signature_header` are the texts of the
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers; `body` the raw
/// bytes received (before any JSON parsing); `now` the receiver's clock. The timestamp
/// must be within `tolerance_secs` of `now` either way (replay protection), and one
/// `v1` signature must match; HMACs are compared in constant time.
///
/// A verified message may still be a redelivery: deduplicate on `webhook-id`.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature_header: &str,
    now: OffsetDateTime,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let secret = WebhookSecret::parse(secret).map_err(VerifyError::Secret)?;
    let sent = parse_timestamp(timestamp).ok_or(VerifyError::BadTimestamp)?;
    let age = i128::from(now.unix_timestamp()) - i128::from(sent);
    if age > i128::from(tolerance_secs) {
        return Err(VerifyError::TooOld);
    }
    if -age > i128::from(tolerance_secs) {
        return Err(VerifyError::TooNew);
    }
    let expected = secret.mac(id, timestamp, body);
    let mut seen_v1 = false;
    let mut matched = false;
    for entry in signature_header.split(' ').filter(|s| !s.is_empty()).take(MAX_SIGNATURES) {
        let Some((version, encoded)) = entry.split_once(',') else { continue };
        if version != SIGNATURE_VERSION {
            continue;
        }
        seen_v1 = true;
        if let Ok(tag) = STANDARD.decode(encoded) {
            // `verify_slice` compares in constant time (and refuses a wrong length).
            matched |= expected.clone().verify_slice(&tag).is_ok();
        }
    }
    match (matched, seen_v1) {
        (true, _) => Ok(()),
        (false, true) => Err(VerifyError::Mismatch),
        (false, false) => Err(VerifyError::NoSignature),
    }
}

/// Unix seconds written as plain decimal digits (no sign, no spaces, no fraction).
fn parse_timestamp(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > MAX_TIMESTAMP_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn signs_like_the_reference_implementations() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TS, BODY.as_bytes()), SIGNATURE);
        assert_eq!(verify(SECRET, ID, "1614265330", BODY.as_bytes(), SIGNATURE, at(TS), 300), Ok(()));
    }

    #[test]
    fn anything_changed_fails() {
        let ok = |id: &str, ts: &str, body: &str, sig: &str| verify(SECRET, id, ts, body.as_bytes(), sig, at(TS), 300);
        assert_eq!(ok(ID, "1614265330", r#"{"test": 2432232315}"#, SIGNATURE), Err(VerifyError::Mismatch));
        assert_eq!(ok("msg_other", "1614265330", BODY, SIGNATURE), Err(VerifyError::Mismatch));
        assert_eq!(ok(ID, "1614265331", BODY, SIGNATURE), Err(VerifyError::Mismatch));
        assert_eq!(
            ok(ID, "1614265330", BODY, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(ok(ID, "1614265330", BODY, "v1,not-base64!"), Err(VerifyError::Mismatch));
        assert_eq!(ok(ID, "1614265330", BODY, "v1a,abc v2,abc"), Err(VerifyError::NoSignature));
        assert_eq!(ok(ID, "1614265330", BODY, ""), Err(VerifyError::NoSignature));
        let other = "whsec_".to_owned() + &STANDARD.encode([7u8; 32]);
        assert_eq!(
            verify(&other, ID, "1614265330", BODY.as_bytes(), SIGNATURE, at(TS), 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn one_matching_signature_in_a_list_is_enough() {
        let header = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,xyz {SIGNATURE} v1a,abc");
        assert_eq!(verify(SECRET, ID, "1614265330", BODY.as_bytes(), &header, at(TS), 300), Ok(()));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let check = |now: i64| verify(SECRET, ID, "1614265330", BODY.as_bytes(), SIGNATURE, at(now), 300);
        assert_eq!(check(TS + 300), Ok(()));
        assert_eq!(check(TS - 300), Ok(()));
        assert_eq!(check(TS + 301), Err(VerifyError::TooOld));
        assert_eq!(check(TS - 301), Err(VerifyError::TooNew));
        for bad in ["", "-1614265330", "+1614265330", " 1614265330", "1614265330.0", "16142653300000000", "abc"] {
            assert_eq!(
                verify(SECRET, ID, bad, BODY.as_bytes(), SIGNATURE, at(TS), 300),
                Err(VerifyError::BadTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        assert_eq!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Err(SecretError::Prefix));
        assert_eq!(WebhookSecret::parse("whsec_***"), Err(SecretError::Base64));
        assert_eq!(
            WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 16]))),
            Err(SecretError::Length(16))
        );
        assert_eq!(
            WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 65]))),
            Err(SecretError::Length(65))
        );
        // Unpadded base64 is accepted too.
        let padded = format!("whsec_{}", STANDARD.encode([3u8; 32]));
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(WebhookSecret::parse(&padded), WebhookSecret::parse(unpadded));
        let shown = format!("{:?}", WebhookSecret::parse(SECRET).unwrap());
        assert!(!shown.contains("MfKQ") && shown.contains("redacted"), "{shown}");
        assert!(matches!(
            verify("nope", ID, "1614265330", BODY.as_bytes(), SIGNATURE, at(TS), 300),
            Err(VerifyError::Secret(SecretError::Prefix))
        ));
    }
}
