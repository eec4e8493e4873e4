//! Building the email: headers, the text part, and the Message-ID derived from the
//! idempotency key.

use lettre::address::Address;
use lettre::message::header::{ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0};
use lettre::message::{Mailbox, Message};
use lineout_app::ports::{AdapterError, OutgoingEmail};
use std::fmt::Write as _;
use std::time::SystemTime;
use time::OffsetDateTime;

/// Keys whose escaped form is longer than this are shortened and hashed.
const MAX_LEFT_LEN: usize = 128;

/// The Message-ID (with angle brackets) for the email sent under `idempotency_key`
/// from `domain`: `<{left}@{domain}>`.
///
/// `left` is the key as a dot-atom: ASCII letters, digits, `-` and `_` stay, `.` stays
/// where a dot-atom allows it (not first, not last, not after another dot), and every
/// other byte (including `=`) becomes `=XX` (upper-case hex). The mapping is one-to-one,
/// so different keys never share a Message-ID; outbox keys (`<case>.<seq>.<index>`)
/// come out unchanged. An escaped key longer than 128 characters is cut to 100 and
/// followed by `+` and a 64-bit FNV-1a hash of the whole key (`+` never appears
/// otherwise).
pub fn message_id(idempotency_key: &str, domain: &str) -> String {
    let bytes = idempotency_key.as_bytes();
    let mut left = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        let dot_ok = b == b'.' && i > 0 && i + 1 < bytes.len() && bytes[i - 1] != b'.';
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || dot_ok {
            left.push(char::from(b));
        } else {
            let _ = write!(left, "={b:02X}");
        }
    }
    if left.is_empty() {
        // Only the empty key gives this: `=` is otherwise always followed by two hex digits.
        left.push('=');
    }
    if left.len() > MAX_LEFT_LEN {
        // All ASCII, so any byte index is a character boundary.
        left.truncate(100);
        let _ = write!(left, "+{:016x}", fnv1a(bytes));
    }
    format!("<{left}@{domain}>")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// The message for `email`, or a permanent error when lettre refuses its recipient.
pub(super) fn build(
    from: &Mailbox,
    message_id: &str,
    email: &OutgoingEmail,
    now: OffsetDateTime,
) -> Result<Message, AdapterError> {
    let to: Address = email
        .to
        .as_str()
        .parse()
        .map_err(|_| AdapterError::permanent("smtp: the recipient address is not one SMTP can carry"))?;
    // No control characters (CR, LF, TAB) in a header; lettre encodes the rest (RFC 2047).
    let subject: String = email.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    // SMTP ends the data with CRLF "." CRLF, which also ends the last line: a text that
    // ended in a line break would arrive with an extra empty line.
    let text = email.text.trim_end_matches(['\r', '\n']).to_owned();
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject)
        .date(SystemTime::from(now))
        .message_id(Some(message_id.to_owned()))
        .raw_header(header("Content-Language", email.language.as_str()))
        .raw_header(header("Auto-Submitted", "auto-generated"))
        .raw_header(header("X-Auto-Response-Suppress", "All"))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|e| {
            AdapterError::permanent(format!("smtp: cannot build the message: {}", super::redact(&e.to_string())))
        })
}
