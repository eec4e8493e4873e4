//! The signature of a refund request, both sides.
//!
//! - Key: the shared secret's bytes exactly as configured (32-512 printable ASCII
//!   characters, no spaces; see [`super::PaymentsConfig::secret`]).
//! - Signed content: `{timestamp}.{body}`: the exact text of the
//!   `X-Lineout-Timestamp` header (unix seconds, plain decimal digits), a full stop,
//!   and the exact body bytes as sent (before any JSON parsing).
//! - `X-Lineout-Signature`: `v1=` followed by the lower-case hex of the HMAC-SHA256
//!   (64 characters).
//!
//! A receiver recomputes the HMAC over the raw body, compares in constant time, and
//! refuses a timestamp further than its tolerance (5 minutes by default) from its own
//! clock either way, so that a captured request cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a signature (the scheme's version).
pub const SIGNATURE_PREFIX: &str = "v1=";
/// The tolerance the fake (and, we suggest, the payment service) allows between a
/// request's timestamp and its own clock: 5 minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// A timestamp has at most this many digits (seconds until the year 33658).
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// The `X-Lineout-Signature` value (`v1=<hex>`) of a request body sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body).finalize().into_bytes();
    format!("{SIGNATURE_PREFIX}{}", to_hex(&tag))
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a received request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("X-Lineout-Timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("X-Lineout-Timestamp is older than the tolerance")]
    TooOld,
    #[error("X-Lineout-Timestamp is further in the future than the tolerance")]
    TooNew,
    #[error("X-Lineout-Signature is not v1=<64 hex digits>")]
    Malformed,
    #[error("the signature does not match")]
    Mismatch,
}

/// Verifies a received refund request, as the payment service should: `timestamp` and
/// `signature` are the texts of the `X-Lineout-Timestamp` and `X-Lineout-Signature`
/// headers, `body` the raw bytes received, `now` the receiver's clock. The timestamp
/// must be within `tolerance_secs` of `now` either way; the HMAC is compared in
/// constant time.
///
/// A verified request may still be a retry: deduplicate on `Idempotency-Key`.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: OffsetDateTime,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let sent = parse_timestamp(timestamp).ok_or(VerifyError::BadTimestamp)?;
    let age = i128::from(now.unix_timestamp()) - i128::from(sent);
    if age > i128::from(tolerance_secs) {
        return Err(VerifyError::TooOld);
    }
    if -age > i128::from(tolerance_secs) {
        return Err(VerifyError::TooNew);
    }
    let tag = signature.strip_prefix(SIGNATURE_PREFIX).and_then(from_hex).ok_or(VerifyError::Malformed)?;
    if tag.len() != 32 {
        return Err(VerifyError::Malformed);
    }
    // `verify_slice` compares in constant time.
    mac(secret, timestamp, body).verify_slice(&tag).map_err(|_| VerifyError::Mismatch)
}

/// Unix seconds written as plain decimal digits (no sign, no spaces, no fraction).
fn parse_timestamp(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > MAX_TIMESTAMP_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex (either case); `None` for an odd length or a non-hex character.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "pay_test_secret_0123456789abcdefghijklmnop";
    const TS: i64 = 1_740_821_400;
    const BODY: &str =
        r#"{"account_id":"A-1001","amount_cents":1850,"currency":"USD","reference":"C01JD3K5M2X7Q4T9A.7.1"}"#;
    /// Computed independently: `hmac.new(SECRET, b"1740821400." + BODY, sha256).hexdigest()`.
    const SIGNATURE: &str = "v1=1e84560d05a56da3a9c164dd6371b34d0f601f56a9646569a61ec4dee7596843";

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn signs_like_an_independent_implementation() {
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), SIGNATURE);
        assert_eq!(verify(SECRET, "1740821400", BODY.as_bytes(), SIGNATURE, at(TS), 300), Ok(()));
        // Upper-case hex is accepted too.
        let upper = format!("v1={}", SIGNATURE["v1=".len()..].to_ascii_uppercase());
        assert_eq!(verify(SECRET, "1740821400", BODY.as_bytes(), &upper, at(TS), 300), Ok(()));
    }

    #[test]
    fn anything_changed_fails() {
        let check =
            |secret: &str, ts: &str, body: &str, sig: &str| verify(secret, ts, body.as_bytes(), sig, at(TS), 300);
        assert_eq!(check(SECRET, "1740821400", &BODY.replace("1850", "1851"), SIGNATURE), Err(VerifyError::Mismatch));
        assert_eq!(check(SECRET, "1740821401", BODY, SIGNATURE), Err(VerifyError::Mismatch));
        assert_eq!(check(&SECRET.replace('0', "1"), "1740821400", BODY, SIGNATURE), Err(VerifyError::Mismatch));
        let flipped = SIGNATURE.replace("6843", "6844");
        assert_eq!(check(SECRET, "1740821400", BODY, &flipped), Err(VerifyError::Mismatch));
        for bad in ["", "v1=", "v2=00", "v1=xyz", &SIGNATURE[3..], &SIGNATURE[..SIGNATURE.len() - 2], "v1=abc"] {
            assert_eq!(check(SECRET, "1740821400", BODY, bad), Err(VerifyError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn stale_future_and_malformed_timestamps_are_refused() {
        let check = |now: i64| verify(SECRET, "1740821400", BODY.as_bytes(), SIGNATURE, at(now), 300);
        assert_eq!(check(TS + 300), Ok(()));
        assert_eq!(check(TS - 300), Ok(()));
        assert_eq!(check(TS + 301), Err(VerifyError::TooOld));
        assert_eq!(check(TS - 301), Err(VerifyError::TooNew));
        for bad in ["", "-1740821400", "+1740821400", " 1740821400", "1740821400.0", "17408214000000", "abc"] {
            assert_eq!(
                verify(SECRET, bad, BODY.as_bytes(), SIGNATURE, at(TS), 300),
                Err(VerifyError::BadTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex(""), Some(Vec::new()));
    }
}
