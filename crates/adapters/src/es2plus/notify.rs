//! `ES2+.HandleDownloadProgressInfo` (SGP.22 §5.3.5), the SM-DP+'s notification to the
//! operator about a profile's download: a pure parser and validator of its body, the
//! answers to give, and the inverse (a body from a value) for tests and the fake.
//!
//! The HTTP endpoint lives in crates/web. It should answer **204 No Content** with no
//! body once the notification is recorded ([`ACK_STATUS`]), and HTTP 200 with
//! [`DownloadProgressError::answer_body`] (a `Failed` function execution status naming
//! the bad field) when the body is refused.

use super::wire::{ExecutionStatus, StatusCode, answer_body, codes, parse_status_code_data};
use lineout_domain::values::{Eid, Iccid};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The HTTP status of a successful answer to a notification (no body).
pub const ACK_STATUS: u16 = 204;
/// The largest notification body accepted.
pub const MAX_NOTIFICATION_BYTES: usize = 64 * 1024;
const MAX_TEXT: usize = 256;
const MAX_RESULT_DATA: usize = 16 * 1024;

/// The step of the download a notification reports (`notificationPointId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationPoint {
    /// 1: eligibility and retry-limit check.
    EligibilityAndRetryLimitCheck,
    /// 2: the confirmation code was wrong.
    ConfirmationFailure,
    /// 3: the bound profile package was downloaded.
    BppDownload,
    /// 4: the bound profile package was installed (or failed to install) on the eUICC.
    BppInstallation,
    /// Any other id (later steps and vendor points are passed through as numbers).
    Other(u32),
}

impl NotificationPoint {
    pub fn from_id(id: u32) -> Self {
        match id {
            1 => Self::EligibilityAndRetryLimitCheck,
            2 => Self::ConfirmationFailure,
            3 => Self::BppDownload,
            4 => Self::BppInstallation,
            n => Self::Other(n),
        }
    }
    pub fn id(self) -> u32 {
        match self {
            Self::EligibilityAndRetryLimitCheck => 1,
            Self::ConfirmationFailure => 2,
            Self::BppDownload => 3,
            Self::BppInstallation => 4,
            Self::Other(n) => n,
        }
    }
}

/// A validated `HandleDownloadProgressInfo` notification. The ICCID and EID are personal
/// data: record them, never log them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadProgress {
    /// `header.functionRequesterIdentifier`: the SM-DP+ that sent it.
    pub function_requester_identifier: String,
    /// `header.functionCallIdentifier`: the SM-DP+'s id of this call (a repeat means a retry).
    pub function_call_identifier: String,
    /// A 20-digit ICCID's trailing `F` padding is removed.
    pub iccid: Iccid,
    pub eid: Option<Eid>,
    /// `profileType`: the operator-defined profile type.
    pub profile_type: String,
    /// When the SM-DP+ reached the notification point.
    pub timestamp: OffsetDateTime,
    pub notification_point: NotificationPoint,
    /// `notificationPointStatus.status`.
    pub status: ExecutionStatus,
    /// `notificationPointStatus.statusCodeData` (codes only).
    pub status_code: Option<StatusCode>,
    /// `resultData`: base64 of the eUICC's ProfileInstallationResultData, as sent.
    pub result_data: Option<String>,
}

/// Why a notification body was refused; the field is named, its value never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadProgressError {
    #[error("notification larger than {MAX_NOTIFICATION_BYTES} bytes")]
    TooLarge,
    #[error("notification is not a JSON object")]
    NotJson,
    #[error("mandatory element missing: {0}")]
    Missing(&'static str),
    #[error("invalid element: {0}")]
    Invalid(&'static str),
}

impl DownloadProgressError {
    /// The ES2+ status code for this refusal: 1.6 (function) with 2.2 (mandatory element
    /// missing) or 2.1 (invalid).
    pub fn status_code(&self) -> StatusCode {
        let reason = match self {
            Self::Missing(_) => codes::MANDATORY_ELEMENT_MISSING,
            Self::TooLarge | Self::NotJson | Self::Invalid(_) => codes::INVALID,
        };
        StatusCode::new(codes::FUNCTION, reason)
    }
    /// The ES2+ answer body (`Failed`, with the code and this error as the message).
    pub fn answer_body(&self) -> Vec<u8> {
        answer_body(ExecutionStatus::Failed, Some(&self.status_code()), Some(&self.to_string()))
    }
}

/// Parses and validates a `handleDownloadProgressInfo` request body. Never panics;
/// unknown fields (e.g. `tac`, `imei`) are ignored.
pub fn parse_download_progress(body: &[u8]) -> Result<DownloadProgress, DownloadProgressError> {
    use DownloadProgressError::{Invalid, Missing, NotJson, TooLarge};
    if body.len() > MAX_NOTIFICATION_BYTES {
        return Err(TooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| NotJson)?;
    let obj = value.as_object().ok_or(NotJson)?;

    let header = obj.get("header").ok_or(Missing("header"))?.as_object().ok_or(Invalid("header"))?;
    let requester = text(header, "functionRequesterIdentifier", "header.functionRequesterIdentifier")?;
    let call = text(header, "functionCallIdentifier", "header.functionCallIdentifier")?;

    let iccid = obj.get("iccid").ok_or(Missing("iccid"))?.as_str().ok_or(Invalid("iccid"))?;
    let iccid = parse_iccid(iccid).ok_or(Invalid("iccid"))?;
    let eid = match obj.get("eid") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().and_then(|s| Eid::parse(s).ok()).ok_or(Invalid("eid"))?),
    };
    let profile_type = text(obj, "profileType", "profileType")?;
    let timestamp = obj.get("timestamp").ok_or(Missing("timestamp"))?.as_str().ok_or(Invalid("timestamp"))?;
    let timestamp = OffsetDateTime::parse(timestamp, &Rfc3339).map_err(|_| Invalid("timestamp"))?;
    let point = obj.get("notificationPointId").ok_or(Missing("notificationPointId"))?;
    let point = match point {
        Value::Number(n) => n.as_u64(),
        // Some implementations send the integer as a decimal string.
        Value::String(s) if !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u32::try_from(n).ok())
    .ok_or(Invalid("notificationPointId"))?;

    let nps = obj
        .get("notificationPointStatus")
        .ok_or(Missing("notificationPointStatus"))?
        .as_object()
        .ok_or(Invalid("notificationPointStatus"))?;
    let status = nps.get("status").ok_or(Missing("notificationPointStatus.status"))?;
    let status = status.as_str().and_then(ExecutionStatus::parse).ok_or(Invalid("notificationPointStatus.status"))?;
    let status_code = parse_status_code_data(nps.get("statusCodeData"))
        .map_err(|_| Invalid("notificationPointStatus.statusCodeData"))?;

    let result_data = match obj.get("resultData") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = v.as_str().ok_or(Invalid("resultData"))?;
            if s.len() > MAX_RESULT_DATA || !s.bytes().all(is_base64_byte) {
                return Err(Invalid("resultData"));
            }
            Some(s.to_owned())
        }
    };
    Ok(DownloadProgress {
        function_requester_identifier: requester,
        function_call_identifier: call,
        iccid,
        eid,
        profile_type,
        timestamp,
        notification_point: NotificationPoint::from_id(point),
        status,
        status_code,
        result_data,
    })
}

/// A present, non-empty, bounded string field.
fn text(obj: &Map<String, Value>, key: &str, name: &'static str) -> Result<String, DownloadProgressError> {
    let v = obj.get(key).ok_or(DownloadProgressError::Missing(name))?;
    let s = v.as_str().ok_or(DownloadProgressError::Invalid(name))?;
    if s.is_empty() || s.len() > MAX_TEXT || s.chars().any(char::is_control) {
        return Err(DownloadProgressError::Invalid(name));
    }
    Ok(s.to_owned())
}

/// 19 or 20 digits; a 20th character `F`/`f` is padding and is removed.
fn parse_iccid(s: &str) -> Option<Iccid> {
    let digits = match s.strip_suffix(['F', 'f']) {
        Some(d) if s.len() == 20 => d,
        Some(_) => return None,
        None => s,
    };
    Iccid::parse(digits).ok().filter(|i| i.as_str() == digits)
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

impl DownloadProgress {
    /// The request body an SM-DP+ would send for this notification (the inverse of
    /// [`parse_download_progress`]).
    pub fn to_body(&self) -> Vec<u8> {
        let mut nps = Map::new();
        nps.insert("status".into(), json!(self.status.as_str()));
        if let Some(c) = &self.status_code {
            nps.insert("statusCodeData".into(), json!({ "subjectCode": c.subject, "reasonCode": c.reason }));
        }
        let mut body = Map::new();
        body.insert(
            "header".into(),
            json!({
                "functionRequesterIdentifier": self.function_requester_identifier,
                "functionCallIdentifier": self.function_call_identifier,
            }),
        );
        if let Some(eid) = &self.eid {
            body.insert("eid".into(), json!(eid.as_str()));
        }
        body.insert("iccid".into(), json!(self.iccid.as_str()));
        body.insert("profileType".into(), json!(self.profile_type));
        body.insert("timestamp".into(), json!(self.timestamp.format(&Rfc3339).unwrap_or_default()));
        body.insert("notificationPointId".into(), json!(self.notification_point.id()));
        body.insert("notificationPointStatus".into(), Value::Object(nps));
        if let Some(r) = &self.result_data {
            body.insert("resultData".into(), json!(r));
        }
        Value::Object(body).to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = r#"{
        "header": {"functionRequesterIdentifier": "SMDP-1", "functionCallIdentifier": "fc-42"},
        "eid": "89049032123451234512345678901235",
        "iccid": "8901260713156280780F",
        "profileType": "P9054-2",
        "timestamp": "2001-12-17T09:30:47Z",
        "notificationPointId": 4,
        "notificationPointStatus": {"status": "Failed",
            "statusCodeData": {"subjectCode": "8.2.10", "reasonCode": "4.2", "message": "install failed"}},
        "resultData": "vyeAAQ==",
        "tac": "35290611"
    }"#;

    fn good() -> Value {
        serde_json::from_str(GOOD).unwrap()
    }

    #[test]
    fn a_good_notification_parses() {
        let p = parse_download_progress(GOOD.as_bytes()).unwrap();
        assert_eq!(p.function_requester_identifier, "SMDP-1");
        assert_eq!(p.function_call_identifier, "fc-42");
        assert_eq!(p.iccid.as_str(), "8901260713156280780");
        assert_eq!(p.eid.as_ref().map(Eid::as_str), Some("89049032123451234512345678901235"));
        assert_eq!(p.profile_type, "P9054-2");
        assert_eq!(p.timestamp, time::macros::datetime!(2001-12-17 09:30:47 UTC));
        assert_eq!(p.notification_point, NotificationPoint::BppInstallation);
        assert_eq!(p.status, ExecutionStatus::Failed);
        assert_eq!(p.status_code, Some(StatusCode::new("8.2.10", "4.2")));
        assert_eq!(p.result_data.as_deref(), Some("vyeAAQ=="));
        assert_eq!(parse_download_progress(&p.to_body()).unwrap(), p);
    }

    #[test]
    fn optional_fields_may_be_absent_and_ids_may_be_strings() {
        let mut v = good();
        let o = v.as_object_mut().unwrap();
        o.remove("eid");
        o.remove("resultData");
        o.insert("notificationPointId".into(), json!("3"));
        o.insert("notificationPointStatus".into(), json!({"status": "Executed-Success"}));
        let p = parse_download_progress(v.to_string().as_bytes()).unwrap();
        assert_eq!(p.eid, None);
        assert_eq!(p.result_data, None);
        assert_eq!(p.notification_point, NotificationPoint::BppDownload);
        assert_eq!(p.status_code, None);
    }

    #[test]
    fn bad_bodies_name_the_field() {
        use DownloadProgressError::*;
        type Edit = fn(&mut Map<String, Value>);
        let cases: Vec<(Edit, DownloadProgressError)> = vec![
            (|o| drop(o.remove("header")), Missing("header")),
            (
                |o| drop(o.insert("header".into(), json!({"functionCallIdentifier": "x"}))),
                Missing("header.functionRequesterIdentifier"),
            ),
            (
                |o| {
                    drop(o.insert(
                        "header".into(),
                        json!({"functionRequesterIdentifier": "x", "functionCallIdentifier": ""}),
                    ))
                },
                Invalid("header.functionCallIdentifier"),
            ),
            (|o| drop(o.remove("iccid")), Missing("iccid")),
            (|o| drop(o.insert("iccid".into(), json!("8901260713156280781"))), Invalid("iccid")),
            (|o| drop(o.insert("iccid".into(), json!("890126071315628078F"))), Invalid("iccid")),
            (|o| drop(o.insert("eid".into(), json!("1234"))), Invalid("eid")),
            (|o| drop(o.remove("profileType")), Missing("profileType")),
            (|o| drop(o.insert("timestamp".into(), json!("yesterday"))), Invalid("timestamp")),
            (|o| drop(o.remove("timestamp")), Missing("timestamp")),
            (|o| drop(o.insert("notificationPointId".into(), json!(-1))), Invalid("notificationPointId")),
            (|o| drop(o.remove("notificationPointId")), Missing("notificationPointId")),
            (|o| drop(o.remove("notificationPointStatus")), Missing("notificationPointStatus")),
            (
                |o| drop(o.insert("notificationPointStatus".into(), json!({}))),
                Missing("notificationPointStatus.status"),
            ),
            (
                |o| drop(o.insert("notificationPointStatus".into(), json!({"status": "Done"}))),
                Invalid("notificationPointStatus.status"),
            ),
            (
                |o| {
                    drop(o.insert(
                        "notificationPointStatus".into(),
                        json!({"status": "Failed", "statusCodeData": {"subjectCode": "8"}}),
                    ))
                },
                Invalid("notificationPointStatus.statusCodeData"),
            ),
            (|o| drop(o.insert("resultData".into(), json!("not base64!"))), Invalid("resultData")),
        ];
        for (edit, want) in cases {
            let mut v = good();
            edit(v.as_object_mut().unwrap());
            assert_eq!(parse_download_progress(v.to_string().as_bytes()), Err(want.clone()), "{want}");
        }
        assert_eq!(parse_download_progress(b"[1]"), Err(NotJson));
        assert_eq!(parse_download_progress(b"{"), Err(NotJson));
        assert_eq!(parse_download_progress(&vec![b' '; MAX_NOTIFICATION_BYTES + 1]), Err(TooLarge));
    }

    #[test]
    fn refusals_answer_with_es2plus_codes_and_no_values() {
        let e = DownloadProgressError::Missing("iccid");
        assert_eq!(e.status_code(), StatusCode::new("1.6", "2.2"));
        let v: Value = serde_json::from_slice(&e.answer_body()).unwrap();
        assert_eq!(v["header"]["functionExecutionStatus"]["status"], "Failed");
        assert_eq!(v["header"]["functionExecutionStatus"]["statusCodeData"]["reasonCode"], "2.2");
        assert_eq!(DownloadProgressError::Invalid("eid").status_code(), StatusCode::new("1.6", "2.1"));
    }

    /// JSON values biased towards the notification's own keys.
    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[0-9F]{0,34}".prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
            Just(json!("2001-12-17T09:30:47Z")),
            Just(json!("Executed-Success")),
        ];
        let key = prop_oneof![
            Just("header".to_owned()),
            Just("functionRequesterIdentifier".to_owned()),
            Just("functionCallIdentifier".to_owned()),
            Just("iccid".to_owned()),
            Just("eid".to_owned()),
            Just("profileType".to_owned()),
            Just("timestamp".to_owned()),
            Just("notificationPointId".to_owned()),
            Just("notificationPointStatus".to_owned()),
            Just("status".to_owned()),
            Just("statusCodeData".to_owned()),
            Just("subjectCode".to_owned()),
            Just("reasonCode".to_owned()),
            Just("resultData".to_owned()),
            "[a-z]{1,8}",
        ];
        leaf.prop_recursive(4, 64, 10, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(key.clone(), inner, 0..10)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_download_progress(&bytes);
        }

        #[test]
        fn never_panics_on_json(v in arb_json()) {
            let _ = parse_download_progress(v.to_string().as_bytes());
        }

        #[test]
        fn never_panics_on_mutated_good_bodies(key in "[a-zA-Z.]{1,30}", v in arb_json()) {
            let mut good = good();
            if let Some(o) = good.as_object_mut() {
                o.insert(key, v.clone());
            }
            let _ = parse_download_progress(good.to_string().as_bytes());
            if let Some(o) = good.get_mut("notificationPointStatus").and_then(Value::as_object_mut) {
                o.insert("statusCodeData".into(), v);
            }
            let _ = parse_download_progress(good.to_string().as_bytes());
        }

        #[test]
        fn valid_notifications_round_trip(secs in 0i64..4_000_000_000, point in 0u32..100, warn in any::<bool>()) {
            let mut p = parse_download_progress(GOOD.as_bytes()).unwrap();
            p.timestamp = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            p.notification_point = NotificationPoint::from_id(point);
            if warn {
                p.status = ExecutionStatus::WithWarning;
                p.eid = None;
            }
            prop_assert_eq!(parse_download_progress(&p.to_body()).unwrap(), p);
        }
    }
}
