//! Delivery receipts: a `deliver_sm` whose `esm_class` message type is 0x04 carries,
//! in its short message, the de-facto standard text of SMPP 3.4 Appendix B:
//!
//! ```text
//! id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//! ```
//!
//! Only `id` and `stat` matter here. Keys are matched case-insensitively, values run
//! to the next space. When the text lacks them, the optional parameters
//! `receipted_message_id` (0x001E) and `message_state` (0x0427) are used instead.

use super::pdu::{Sm, tag};
use lineout_app::ports::DeliveryReceipt;

/// `esm_class` bits 2–5: the message type.
pub const ESM_CLASS_TYPE_MASK: u8 = 0x3C;
/// Message type: SMSC delivery receipt.
pub const ESM_CLASS_DELIVERY_RECEIPT: u8 = 0x04;

/// Whether a `deliver_sm` is a delivery receipt.
pub fn is_receipt(sm: &Sm) -> bool {
    sm.esm_class & ESM_CLASS_TYPE_MASK == ESM_CLASS_DELIVERY_RECEIPT
}

/// The value after `key:` in a receipt text (case-insensitive key), up to the next space.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let needle = format!("{key}:");
    let mut from = 0;
    while let Some(found) = lower.get(from..)?.find(&needle) {
        let at = from + found;
        // A key starts the text or follows a space ("submit date:" must not match "date:").
        let starts_word = at == 0 || lower.as_bytes().get(at - 1) == Some(&b' ');
        if starts_word {
            let rest = text.get(at + needle.len()..)?;
            let value = rest.split(' ').next().unwrap_or("");
            return Some(value);
        }
        from = at + needle.len();
    }
    None
}

/// The SMPP `message_state` values, as the receipt text names them.
fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ENROUTE",
        2 => "DELIVRD",
        3 => "EXPIRED",
        4 => "DELETED",
        5 => "UNDELIV",
        6 => "ACCEPTD",
        8 => "REJECTD",
        _ => "UNKNOWN",
    }
}

/// Reads a delivery receipt; `None` if the PDU is not one or names no message.
pub fn parse(sm: &Sm) -> Option<DeliveryReceipt> {
    if !is_receipt(sm) {
        return None;
    }
    let text = String::from_utf8_lossy(&sm.short_message);
    let tlv_id = sm
        .tlv(tag::RECEIPTED_MESSAGE_ID)
        .map(|v| String::from_utf8_lossy(v.split(|&b| b == 0).next().unwrap_or_default()).into_owned())
        .filter(|s| !s.is_empty());
    let message_id = field(&text, "id").filter(|s| !s.is_empty()).map(str::to_owned).or(tlv_id)?;
    let status = match field(&text, "stat").filter(|s| !s.is_empty()) {
        Some(s) => s.to_ascii_uppercase(),
        None => state_name(*sm.tlv(tag::MESSAGE_STATE)?.first()?).to_owned(),
    };
    // Bound what an SMSC can make us keep.
    let message_id: String = message_id.chars().take(64).collect();
    let status: String = status.chars().take(16).collect();
    Some(DeliveryReceipt { delivered: status == "DELIVRD", message_id, status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::pdu::Tlv;
    use proptest::prelude::*;

    fn receipt(text: &str) -> Sm {
        Sm { esm_class: 0x04, short_message: text.as_bytes().to_vec(), ..Sm::default() }
    }

    #[test]
    fn reads_the_appendix_b_format() {
        let r = parse(&receipt(
            "id:1a2b0003 sub:001 dlvrd:001 submit date:2507011200 done date:2507011201 stat:DELIVRD err:000 text:Hello",
        ))
        .unwrap();
        assert_eq!(r, DeliveryReceipt { message_id: "1a2b0003".into(), delivered: true, status: "DELIVRD".into() });
        let r =
            parse(&receipt("ID:77 SUB:001 DLVRD:000 SUBMIT DATE:2507011200 DONE DATE:2507011201 STAT:undeliv ERR:001"))
                .unwrap();
        assert_eq!((r.message_id.as_str(), r.delivered, r.status.as_str()), ("77", false, "UNDELIV"));
    }

    #[test]
    fn falls_back_to_tlvs() {
        let sm = Sm {
            esm_class: 0x04,
            tlvs: vec![
                Tlv { tag: tag::RECEIPTED_MESSAGE_ID, value: b"abc\0".to_vec() },
                Tlv { tag: tag::MESSAGE_STATE, value: vec![3] },
            ],
            ..Sm::default()
        };
        let r = parse(&sm).unwrap();
        assert_eq!((r.message_id.as_str(), r.delivered, r.status.as_str()), ("abc", false, "EXPIRED"));
    }

    #[test]
    fn other_messages_are_not_receipts() {
        assert_eq!(parse(&Sm { esm_class: 0x00, short_message: b"id:1 stat:DELIVRD".to_vec(), ..Sm::default() }), None);
        assert_eq!(parse(&receipt("no fields here")), None);
        // A key must start a word: "xid:" is not "id:".
        assert_eq!(field("xid:5 id:9", "id"), Some("9"));
        assert_eq!(field("xid:5", "id"), None);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..254), text in "\\PC{0,100}") {
            let _ = parse(&Sm { esm_class: 0x04, short_message: bytes, ..Sm::default() });
            let _ = parse(&receipt(&text));
        }
    }
}
