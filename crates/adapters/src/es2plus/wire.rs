//! The ES2+ wire format shared by the client, the notification parser and the fake
//! SM-DP+ (GSMA SGP.22 v2.5 §6.5): function paths and headers, the function execution
//! status of every answer, status codes (subject / reason), and the answer builder.

use serde_json::{Map, Value, json};

/// The HTTP header that names the protocol version on every ES2+ request and answer.
pub const ADMIN_PROTOCOL_HEADER: &str = "X-Admin-Protocol";
/// The version lineout speaks unless configured otherwise.
pub const DEFAULT_ADMIN_PROTOCOL: &str = "gsma/rsp/v2.5.0";
/// ES2+ bodies are JSON both ways.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Every ES2+ function is `POST {base}{PATH_PREFIX}{function}`.
pub const PATH_PREFIX: &str = "/gsma/rsp2/es2plus/";

/// The ES2+ functions lineout calls or receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// SGP.22 §5.3.3, operator → SM-DP+.
    CancelOrder,
    /// SGP.22 §5.3.4, operator → SM-DP+.
    ReleaseProfile,
    /// SGP.22 §5.3.5, SM-DP+ → operator (a notification; answered 204 No Content).
    HandleDownloadProgressInfo,
}

impl Function {
    /// The function's name as it appears in the path.
    pub fn name(self) -> &'static str {
        match self {
            Self::CancelOrder => "cancelOrder",
            Self::ReleaseProfile => "releaseProfile",
            Self::HandleDownloadProgressInfo => "handleDownloadProgressInfo",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::CancelOrder, Self::ReleaseProfile, Self::HandleDownloadProgressInfo]
            .into_iter()
            .find(|f| f.name() == name)
    }
    /// The path below the SM-DP+'s (or the operator's) base URL.
    pub fn path(self) -> String {
        format!("{PATH_PREFIX}{}", self.name())
    }
}

/// `functionExecutionStatus.status` (SGP.22 §6.5.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    /// `Executed-Success`
    Success,
    /// `Executed-WithWarning`: done, with a status code saying what to note.
    WithWarning,
    /// `Failed`: not done; the status code says why.
    Failed,
    /// `Expired`: the request's validity ended before it was executed (not done).
    Expired,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "Executed-Success",
            Self::WithWarning => "Executed-WithWarning",
            Self::Failed => "Failed",
            Self::Expired => "Expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Executed-Success" => Self::Success,
            "Executed-WithWarning" => Self::WithWarning,
            "Failed" => Self::Failed,
            "Expired" => Self::Expired,
            _ => return None,
        })
    }
    /// Whether the function was executed (success or warning).
    pub fn executed(self) -> bool {
        matches!(self, Self::Success | Self::WithWarning)
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `statusCodeData`'s subject and reason codes (dotted OIDs such as `8.2.1` / `3.9`).
/// The free-text `message` and `subjectIdentifier` are deliberately not kept: they may
/// carry an ICCID or EID, and these codes end up in logs and outbox errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusCode {
    pub subject: String,
    pub reason: String,
}

impl StatusCode {
    pub fn new(subject: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { subject: subject.into(), reason: reason.into() }
    }
    pub fn is(&self, subject: &str, reason: &str) -> bool {
        self.subject == subject && self.reason == reason
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "subjectCode={} reasonCode={}", self.subject, self.reason)
    }
}

/// The subject and reason codes lineout acts on (SGP.22 §5.2.6 tables and the
/// function-specific tables of §5.3.3 / §5.3.4).
pub mod codes {
    /// Subject 1.1: the function requester (us).
    pub const FUNCTION_REQUESTER: &str = "1.1";
    /// Subject 1.2: the function provider (the SM-DP+ itself).
    pub const FUNCTION_PROVIDER: &str = "1.2";
    /// Subject 1.6: the function (its input parameters).
    pub const FUNCTION: &str = "1.6";
    /// Subject 8.1.1: the EID.
    pub const EID: &str = "8.1.1";
    /// Subject 8.2.1: the Profile ICCID.
    pub const PROFILE_ICCID: &str = "8.2.1";
    /// Subject 8.2.6: the Matching ID.
    pub const MATCHING_ID: &str = "8.2.6";

    /// Reason 1.2: not allowed (authorisation).
    pub const NOT_ALLOWED: &str = "1.2";
    /// Reason 2.1: invalid (format or value).
    pub const INVALID: &str = "2.1";
    /// Reason 2.2: mandatory element missing.
    pub const MANDATORY_ELEMENT_MISSING: &str = "2.2";
    /// Reason 3.3: already in use (uniqueness) / not available.
    pub const ALREADY_IN_USE: &str = "3.3";
    /// Reason 3.5: invalid transition (the profile's state does not allow the function).
    pub const INVALID_TRANSITION: &str = "3.5";
    /// Reason 3.9: unknown.
    pub const UNKNOWN: &str = "3.9";
    /// Reason 3.10: invalid association (e.g. a different EID is associated with this ICCID).
    pub const INVALID_ASSOCIATION: &str = "3.10";
    /// Reason 4.2: execution error (the provider's internal error).
    pub const EXECUTION_ERROR: &str = "4.2";
    /// Reason 4.4: busy (not possible to process the function for the moment).
    pub const BUSY: &str = "4.4";
}

/// An ES2+ answer body: `{"header": {"functionExecutionStatus": {...}}}` plus `fields`.
/// `message` is human text for the peer; never put personal data in it.
pub fn answer_body(status: ExecutionStatus, code: Option<&StatusCode>, message: Option<&str>) -> Vec<u8> {
    answer_value(status, code, message, Map::new()).to_string().into_bytes()
}

/// The answer as a JSON value, with extra top-level `fields` (e.g. a function's output).
pub fn answer_value(
    status: ExecutionStatus,
    code: Option<&StatusCode>,
    message: Option<&str>,
    fields: Map<String, Value>,
) -> Value {
    let mut fes = Map::new();
    fes.insert("status".into(), json!(status.as_str()));
    if let Some(code) = code {
        let mut data = Map::new();
        data.insert("subjectCode".into(), json!(code.subject));
        data.insert("reasonCode".into(), json!(code.reason));
        if let Some(m) = message {
            data.insert("message".into(), json!(m));
        }
        fes.insert("statusCodeData".into(), Value::Object(data));
    }
    let mut body = Map::new();
    body.insert("header".into(), json!({ "functionExecutionStatus": Value::Object(fes) }));
    body.extend(fields);
    Value::Object(body)
}

/// A parsed `functionExecutionStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionAnswer {
    pub status: ExecutionStatus,
    pub code: Option<StatusCode>,
}

/// Reads `header.functionExecutionStatus` from an answer body. The error names what
/// was wrong (never the body's content).
pub fn parse_answer(body: &[u8]) -> Result<FunctionAnswer, &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    let fes = value
        .get("header")
        .ok_or("no header")?
        .get("functionExecutionStatus")
        .ok_or("no header.functionExecutionStatus")?;
    let status = fes.get("status").and_then(Value::as_str).ok_or("no functionExecutionStatus.status")?;
    let status = ExecutionStatus::parse(status).ok_or("unknown functionExecutionStatus.status")?;
    let code = parse_status_code_data(fes.get("statusCodeData"))?;
    Ok(FunctionAnswer { status, code })
}

/// Reads an optional `statusCodeData` object (subjectCode and reasonCode are mandatory in it).
pub(crate) fn parse_status_code_data(data: Option<&Value>) -> Result<Option<StatusCode>, &'static str> {
    match data {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            let subject = o.get("subjectCode").and_then(Value::as_str).ok_or("no statusCodeData.subjectCode")?;
            let reason = o.get("reasonCode").and_then(Value::as_str).ok_or("no statusCodeData.reasonCode")?;
            if !is_code(subject) || !is_code(reason) {
                return Err("malformed statusCodeData code");
            }
            Ok(Some(StatusCode::new(subject, reason)))
        }
        Some(_) => Err("statusCodeData is not an object"),
    }
}

/// A dotted numeric code such as `8.2.1` (bounded, digits and dots only).
fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !s.starts_with('.')
        && !s.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        let code = StatusCode::new("8.2.1", "3.9");
        let body = answer_body(ExecutionStatus::Failed, Some(&code), Some("unknown profile"));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["header"]["functionExecutionStatus"]["status"], "Failed");
        assert_eq!(v["header"]["functionExecutionStatus"]["statusCodeData"]["subjectCode"], "8.2.1");
        assert_eq!(parse_answer(&body).unwrap(), FunctionAnswer { status: ExecutionStatus::Failed, code: Some(code) });
        assert_eq!(
            parse_answer(&answer_body(ExecutionStatus::Success, None, None)).unwrap(),
            FunctionAnswer { status: ExecutionStatus::Success, code: None }
        );
    }

    #[test]
    fn malformed_answers_are_named() {
        assert_eq!(parse_answer(b"{"), Err("not JSON"));
        assert_eq!(parse_answer(b"{}"), Err("no header"));
        assert_eq!(parse_answer(br#"{"header":{}}"#), Err("no header.functionExecutionStatus"));
        assert_eq!(
            parse_answer(br#"{"header":{"functionExecutionStatus":{"status":"Done"}}}"#),
            Err("unknown functionExecutionStatus.status")
        );
        assert_eq!(
            parse_answer(br#"{"header":{"functionExecutionStatus":{"status":"Failed","statusCodeData":{"subjectCode":"8.2.1"}}}}"#),
            Err("no statusCodeData.reasonCode")
        );
    }

    #[test]
    fn functions_have_their_paths() {
        assert_eq!(Function::CancelOrder.path(), "/gsma/rsp2/es2plus/cancelOrder");
        assert_eq!(Function::from_name("releaseProfile"), Some(Function::ReleaseProfile));
        assert_eq!(Function::from_name("downloadOrder"), None);
    }
}
