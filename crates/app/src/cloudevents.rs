//! Case events as CloudEvents 1.0 (structured JSON mode), the body of every webhook.
//!
//! Pure: [`event_json`] turns one stored case event into the exact JSON text that is
//! signed and posted. The envelope:
//!
//! | attribute | value |
//! |---|---|
//! | `specversion` | `1.0` |
//! | `id` | `<case id>.<seq>`: unique per event, the same on every delivery |
//! | `source` | the configured URI-reference, e.g. `/lineout/operator-x` |
//! | `type` | `com.lineout.case.<event type>`, e.g. `com.lineout.case.opened` |
//! | `subject` | the case id |
//! | `time` | when the event happened (RFC 3339, UTC) |
//! | `datacontenttype` | `application/json` |
//! | `data` | `case_id`, `seq`, `type`, `actor` (its kind only) and the event's fields |
//!
//! `data` is an allow-list per event type, not the stored event: the operator's own
//! systems receive it, but nothing beyond what they already hold goes out. An
//! `opened` event's `facts` keep only `account_id` and `line_id` (no MSISDN, ICCID,
//! IMSI, EID, device, balances); `device_received` leaves the IMEI out; an actor is
//! named by kind (`customer`, `staff`, `client`, `system`), never by id. Date-times
//! are RFC 3339 strings and dates `YYYY-MM-DD`. Every match below is exhaustive, so a
//! new event type cannot be sent before someone decides what it may carry.
//!
//! The text is deterministic: object keys are written in sorted order whatever
//! `serde_json` features the build enables, so the same event always gives the same
//! bytes (and the same signature for the same id and timestamp).

use lineout_domain::case::{Actor, CaseFacts, EventKind, Timing};
use lineout_domain::values::CaseId;
use lineout_domain::{Event, Money};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

/// `specversion` of every event.
pub const SPEC_VERSION: &str = "1.0";
/// Prefix of every `type`: `com.lineout.case.<event type>`.
pub const TYPE_PREFIX: &str = "com.lineout.case.";
/// `datacontenttype` of every event.
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// The HTTP `Content-Type` of a structured-mode CloudEvent.
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";
/// Longest `source` [`valid_source`] accepts.
pub const MAX_SOURCE_LEN: usize = 256;

/// The CloudEvents JSON of `event` of case `case_id`, from `source` (a URI-reference,
/// e.g. `/lineout/operator-x`; check configured values with [`valid_source`]).
pub fn event_json(case_id: &CaseId, event: &Event, source: &str) -> String {
    let envelope = Envelope {
        specversion: SPEC_VERSION,
        id: event_id(case_id, event.seq),
        source,
        kind: event_type(&event.kind),
        subject: case_id.as_str(),
        time: rfc3339(event.at),
        datacontenttype: DATA_CONTENT_TYPE,
        data: Sorted(&event_data(case_id, event)),
    };
    // Serialising strings, numbers and string-keyed maps cannot fail.
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// The CloudEvents `id` of event `seq` of a case: `<case id>.<seq>`.
pub fn event_id(case_id: &CaseId, seq: u64) -> String {
    format!("{}.{seq}", case_id.as_str())
}

/// The CloudEvents `type` of an event: `com.lineout.case.<name>`.
pub fn event_type(kind: &EventKind) -> String {
    format!("{TYPE_PREFIX}{}", kind.name())
}

/// Whether `source` is usable as the `source` attribute: a non-empty URI-reference of
/// at most [`MAX_SOURCE_LEN`] printable ASCII characters without spaces.
pub fn valid_source(source: &str) -> bool {
    !source.is_empty() && source.len() <= MAX_SOURCE_LEN && source.bytes().all(|b| b.is_ascii_graphic())
}

/// The `data` of the event: what the case event says, minus personal data.
pub fn event_data(case_id: &CaseId, event: &Event) -> Value {
    let mut data = Map::new();
    data.insert("case_id".into(), json!(case_id.as_str()));
    data.insert("seq".into(), json!(event.seq));
    data.insert("type".into(), json!(event.kind.name()));
    data.insert("actor".into(), json!(actor_kind(&event.actor)));
    for (key, value) in fields(&event.kind) {
        data.insert(key.into(), value);
    }
    Value::Object(data)
}

/// `customer`, `staff`, `client` or `system`.
pub fn actor_kind(actor: &Actor) -> &'static str {
    match actor {
        Actor::Customer => "customer",
        Actor::Staff(_) => "staff",
        Actor::Client(_) => "client",
        Actor::System => "system",
    }
}

/// The fields an event may carry out of lineout (an allow-list per event type).
fn fields(kind: &EventKind) -> Vec<(&'static str, Value)> {
    use EventKind as E;
    match kind {
        E::Opened { kind, channel, timing, facts, note } => vec![
            ("kind", json!(kind.as_str())),
            ("channel", json!(channel.as_str())),
            ("timing", timing_value(timing)),
            ("facts", facts_value(facts)),
            ("note", json!(note)),
        ],
        // Verification records go out without the client hash or the photo ID.
        E::IdentityVerified { method, channel, .. } => {
            vec![("method", value(method)), ("channel", json!(channel.map(|c| c.as_str())))]
        }
        E::VerificationCodeSent { code_id, destination, expires_at } => vec![
            ("code_id", json!(code_id)),
            ("destination", json!(destination.as_str())),
            ("expires_at", rfc3339_value(*expires_at)),
        ],
        E::VerificationFailed { method, reason, channel, failures, .. } => vec![
            ("method", value(method)),
            ("reason", value(reason)),
            ("channel", json!(channel.as_str())),
            ("failures", json!(failures)),
        ],
        E::VerificationLocked { until } => vec![("until", rfc3339_value(*until))],
        E::VerificationUnlocked => Vec::new(),
        E::KnowledgeAnswerRecorded { item, matched } => vec![("item", value(item)), ("matched", json!(matched))],
        E::SettlementRequired { owed } => vec![("owed", money(owed))],
        E::PaymentRecorded { amount, reference } => vec![("amount", money(amount)), ("reference", json!(reference))],
        E::BalanceWrittenOff { amount, reason, limit_cents } => {
            vec![("amount", money(amount)), ("reason", json!(reason)), ("limit_cents", json!(limit_cents))]
        }
        E::DeviceReturnRequested { rma, accessories, device_id, deadline } => vec![
            ("rma", json!(rma)),
            ("accessories", json!(accessories)),
            ("device_id", json!(device_id.as_str())),
            ("deadline", rfc3339_value(*deadline)),
        ],
        E::ShipmentRecorded { carrier, tracking } => vec![("carrier", value(carrier)), ("tracking", json!(tracking))],
        E::DeviceInspected { inspection, fees, fee } => vec![
            ("condition", value(&inspection.condition)),
            ("missing_accessories", json!(inspection.missing_accessories)),
            ("model_matches", json!(inspection.model_matches)),
            (
                "fees",
                json!(fees.iter().map(|f| json!({"label": f.label, "amount": money(&f.amount)})).collect::<Vec<_>>()),
            ),
            ("fee", money(fee)),
        ],
        E::ReturnReminderDue { deadline } => vec![("deadline", rfc3339_value(*deadline))],
        E::DeviceArrived | E::DeviceReceiptRefused => Vec::new(),
        // The IMEI stays out: it identifies the customer's handset.
        E::DeviceReceived { imei: _, condition, fee } => vec![("condition", value(condition)), ("fee", money(fee))],
        E::DeviceReturnWaived { reason } => vec![("reason", json!(reason))],
        E::DeviceNotReturned { fee } => vec![("fee", money(fee))],
        E::ReviewStarted { due_at } => vec![("due_at", rfc3339_value(*due_at))],
        E::Approved { by_rule, note, withdrawal_deadline, termination_at } => vec![
            ("by_rule", json!(by_rule)),
            ("note", json!(note)),
            ("withdrawal_deadline", rfc3339_value(*withdrawal_deadline)),
            ("termination_at", rfc3339_value(*termination_at)),
        ],
        E::Rejected { reason, note } => vec![("reason", value(reason)), ("note", json!(note))],
        E::Frozen { note } | E::Closed { note } => vec![("note", json!(note))],
        E::DeprovisioningConfirmed { effect_id } => vec![("effect_id", json!(effect_id))],
        E::RefundDecided { balance, fee, refund, forfeited } => vec![
            ("balance", money(balance)),
            ("fee", money(fee)),
            ("refund", money(refund)),
            ("forfeited", money(forfeited)),
        ],
        E::RefundIssued { effect_id, amount, reference } => {
            vec![("effect_id", json!(effect_id)), ("amount", money(amount)), ("reference", json!(reference))]
        }
        E::NoticeDelivered { effect_id, notice, channel } => {
            vec![("effect_id", json!(effect_id)), ("notice", value(notice)), ("channel", json!(channel))]
        }
        E::EffectDeadLettered { effect_id, effect, error } => {
            vec![("effect_id", json!(effect_id)), ("effect", json!(effect)), ("error", json!(error))]
        }
        E::EffectFailed { effect_id, effect, attempt, error } => vec![
            ("effect_id", json!(effect_id)),
            ("effect", json!(effect)),
            ("attempt", json!(attempt)),
            ("error", json!(error)),
        ],
        E::NoticeReceipt { effect_id, delivered, status } => {
            vec![("effect_id", json!(effect_id)), ("delivered", json!(delivered)), ("status", json!(status))]
        }
        E::TransferPinIssued { pin_id, expires_at } => {
            vec![("pin_id", json!(pin_id)), ("expires_at", rfc3339_value(*expires_at))]
        }
        E::PortRequestRefused { reason, attempts } => vec![("reason", value(reason)), ("attempts", json!(attempts))],
        E::TransferPinVoided { reason } => vec![("reason", value(reason))],
        E::PortValidated { new_operator } => vec![("new_operator", json!(new_operator))],
        E::EsimProgressReported { notification_point, status } => {
            vec![("notification_point", json!(notification_point)), ("status", json!(status))]
        }
        E::Superseded { by_case } => vec![("by_case", json!(by_case.as_str()))],
        E::CallbackRequested { due_at } => vec![("due_at", rfc3339_value(*due_at))],
        E::Settled
        | E::ReviewOverdue
        | E::CallbackOverdue
        | E::CallbackMade
        | E::Withdrawn
        | E::Expired
        | E::TerminationStarted
        | E::Terminated
        | E::OutcomeConfirmed
        | E::PortedOut => Vec::new(),
    }
}

/// Of the facts copied when the case opened, only the operator's own references.
fn facts_value(facts: &CaseFacts) -> Value {
    json!({ "account_id": facts.account_id.as_str(), "line_id": facts.line_id.as_str() })
}

fn timing_value(timing: &Timing) -> Value {
    match timing {
        Timing::Immediate => json!({ "kind": "immediate" }),
        Timing::EndOfCycle => json!({ "kind": "end_of_cycle" }),
        Timing::OnDate(date) => json!({ "kind": "on_date", "date": date_value(*date) }),
    }
}

/// `{"cents": 1234, "currency": "EUR"}`.
fn money(m: &Money) -> Value {
    json!({ "cents": m.cents, "currency": m.currency.as_str() })
}

/// A small enum as its serde name (`snake_case`).
fn value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// RFC 3339 in UTC, e.g. `2025-03-01T09:30:00Z`; `None` outside years 0-9999.
fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.to_offset(UtcOffset::UTC).format(&Rfc3339).ok()
}

fn rfc3339_value(t: OffsetDateTime) -> Value {
    rfc3339(t).map_or(Value::Null, Value::String)
}

/// `YYYY-MM-DD`; `null` outside years 0-9999.
fn date_value(d: Date) -> Value {
    if (0..=9999).contains(&d.year()) {
        Value::String(format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
    } else {
        Value::Null
    }
}

/// The structured-mode envelope, attributes in a fixed order.
#[derive(Serialize)]
struct Envelope<'a> {
    specversion: &'static str,
    id: String,
    source: &'a str,
    #[serde(rename = "type")]
    kind: String,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    datacontenttype: &'static str,
    data: Sorted<'a>,
}

/// Serialises a JSON value with every object's keys in sorted order.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    out.serialize_entry(k, &Sorted(v))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineout_domain::account::{AccountKind, LineStatus, Plan};
    use lineout_domain::case::{
        CaseKind, Channel, DeviceCondition, DeviceFact, Notice, PortRefusal, RejectReason, VerificationMethod,
    };
    use lineout_domain::values::{AccountId, ActorId, DeviceId, Eid, Iccid, Imei, Imsi, Language, LineId, Msisdn};
    use time::macros::{date, datetime};

    const MSISDN: &str = "4155550100";
    const ICCID: &str = "8901260713156280780";
    const IMSI: &str = "310260000000001";
    const IMEI: &str = "490154203237518";

    fn case_id() -> CaseId {
        CaseId::parse("C01JD3K5M2X7Q4T9A").unwrap()
    }

    fn facts() -> CaseFacts {
        CaseFacts {
            account_id: AccountId::parse("A1001").unwrap(),
            account_kind: AccountKind::Residential,
            line_id: LineId::parse("L2002").unwrap(),
            msisdn: Msisdn::parse(MSISDN).unwrap(),
            iccid: Some(Iccid::parse(ICCID).unwrap()),
            imsi: Some(Imsi::parse(IMSI).unwrap()),
            eid: Some(Eid::parse(&"8".repeat(32)).unwrap()),
            plan: Plan::Postpaid,
            line_status: LineStatus::Active,
            language: Language::En,
            billing_cycle_day: 15,
            cancellation_locked: false,
            port_out_locked: false,
            owed: Money::usd(1_250),
            prepaid_balance: Money::usd(0),
            device: Some(DeviceFact {
                device_id: DeviceId::parse("D3003").unwrap(),
                imei: Imei::parse(IMEI).unwrap(),
                price: Money::usd(79_900),
                model: "Pixel 9".into(),
            }),
        }
    }

    fn event(seq: u64, actor: Actor, kind: EventKind) -> Event {
        Event { seq, at: datetime!(2025-03-01 10:30:00 +01:00), actor, kind }
    }

    fn opened() -> Event {
        event(
            1,
            Actor::Staff(ActorId::parse("agent-7").unwrap()),
            EventKind::Opened {
                kind: CaseKind::Cancellation,
                channel: Channel::Store,
                timing: Timing::OnDate(date!(2025 - 04 - 30)),
                facts: Box::new(facts()),
                note: Some("customer moving abroad".into()),
            },
        )
    }

    /// One of every event type (a new one makes `fields` fail to compile first).
    fn every_event() -> Vec<Event> {
        let t = datetime!(2025-03-15 12:00:00 UTC);
        let usd = Money::usd;
        let kinds = vec![
            EventKind::IdentityVerified {
                method: VerificationMethod::OneTimeCode,
                channel: None,
                client: None,
                code_id: None,
                photo_id: None,
            },
            EventKind::SettlementRequired { owed: usd(1_250) },
            EventKind::PaymentRecorded { amount: usd(1_250), reference: "PAY-1".into() },
            EventKind::BalanceWrittenOff { amount: usd(90), reason: "small".into(), limit_cents: 500 },
            EventKind::Settled,
            EventKind::DeviceReturnRequested {
                rma: "RMA-C1".into(),
                accessories: vec!["charging cable".into()],
                device_id: DeviceId::parse("D3003").unwrap(),
                deadline: t,
            },
            EventKind::DeviceReceived {
                imei: Imei::parse(IMEI).unwrap(),
                condition: DeviceCondition::Good,
                fee: usd(0),
            },
            EventKind::DeviceReturnWaived { reason: "damaged beyond repair".into() },
            EventKind::DeviceNotReturned { fee: usd(79_900) },
            EventKind::ReviewStarted { due_at: t },
            EventKind::ReviewOverdue,
            EventKind::CallbackRequested { due_at: t },
            EventKind::CallbackOverdue,
            EventKind::CallbackMade,
            EventKind::Approved { by_rule: true, note: None, withdrawal_deadline: t, termination_at: t },
            EventKind::Rejected { reason: RejectReason::SuspectedFraud, note: Some("n".into()) },
            EventKind::Withdrawn,
            EventKind::Frozen { note: None },
            EventKind::Expired,
            EventKind::TerminationStarted,
            EventKind::DeprovisioningConfirmed { effect_id: "C01JD3K5M2X7Q4T9A.4.0".into() },
            EventKind::Terminated,
            EventKind::RefundDecided { balance: usd(500), fee: usd(0), refund: usd(500), forfeited: usd(0) },
            EventKind::RefundIssued {
                effect_id: "C01JD3K5M2X7Q4T9A.9.0".into(),
                amount: usd(500),
                reference: "R1".into(),
            },
            EventKind::NoticeDelivered {
                effect_id: "C01JD3K5M2X7Q4T9A.1.0".into(),
                notice: Notice::RequestReceived,
                channel: "email".into(),
            },
            EventKind::EffectDeadLettered {
                effect_id: "C01JD3K5M2X7Q4T9A.1.0".into(),
                effect: "notify".into(),
                error: "smtp: 550".into(),
            },
            EventKind::EffectFailed {
                effect_id: "C01JD3K5M2X7Q4T9A.1.0".into(),
                effect: "notify".into(),
                attempt: 2,
                error: "smtp: 451".into(),
            },
            EventKind::NoticeReceipt {
                effect_id: "C01JD3K5M2X7Q4T9A.1.0".into(),
                delivered: true,
                status: "DELIVRD".into(),
            },
            EventKind::OutcomeConfirmed,
            EventKind::TransferPinIssued { pin_id: "P1".into(), expires_at: t },
            EventKind::PortRequestRefused { reason: PortRefusal::PinInvalid, attempts: 2 },
            EventKind::TransferPinVoided { reason: PortRefusal::TooManyAttempts },
            EventKind::PortValidated { new_operator: "OTHER-NET".into() },
            EventKind::PortedOut,
            EventKind::EsimProgressReported { notification_point: "eligibility_check".into(), status: "ok".into() },
            EventKind::Superseded { by_case: CaseId::parse("C01JD3K5M2X7Q4T9B").unwrap() },
            EventKind::Closed { note: Some("done".into()) },
        ];
        let mut events = vec![opened()];
        events.extend(kinds.into_iter().enumerate().map(|(i, k)| event(i as u64 + 2, Actor::System, k)));
        events
    }

    #[test]
    fn snapshot_of_an_opened_event() {
        let json = event_json(&case_id(), &opened(), "/lineout/operator-x");
        let expected = concat!(
            r#"{"specversion":"1.0","id":"C01JD3K5M2X7Q4T9A.1","source":"/lineout/operator-x","#,
            r#""type":"com.lineout.case.opened","subject":"C01JD3K5M2X7Q4T9A","time":"2025-03-01T09:30:00Z","#,
            r#""datacontenttype":"application/json","data":{"actor":"staff","case_id":"C01JD3K5M2X7Q4T9A","#,
            r#""channel":"store","facts":{"account_id":"A1001","line_id":"L2002"},"kind":"cancellation","#,
            r#""note":"customer moving abroad","seq":1,"timing":{"date":"2025-04-30","kind":"on_date"},"#,
            r#""type":"opened"}}"#,
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn every_event_is_a_valid_cloudevent_without_personal_data() {
        let events = every_event();
        let mut ids = std::collections::HashSet::new();
        for e in &events {
            let json = event_json(&case_id(), e, "/lineout/operator-x");
            let v: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["specversion"], "1.0");
            assert_eq!(v["id"], format!("C01JD3K5M2X7Q4T9A.{}", e.seq));
            assert!(ids.insert(v["id"].as_str().unwrap().to_owned()), "ids are unique");
            assert_eq!(v["type"], format!("com.lineout.case.{}", e.kind.name()));
            assert_eq!(v["subject"], "C01JD3K5M2X7Q4T9A");
            assert_eq!(v["source"], "/lineout/operator-x");
            assert_eq!(v["datacontenttype"], "application/json");
            assert_eq!(v["time"], "2025-03-01T09:30:00Z");
            let data = &v["data"];
            assert_eq!(data["case_id"], "C01JD3K5M2X7Q4T9A");
            assert_eq!(data["seq"], e.seq);
            assert_eq!(data["type"], e.kind.name());
            assert!(["staff", "system"].contains(&data["actor"].as_str().unwrap()));
            for secret in [MSISDN, ICCID, IMSI, IMEI, "88888888", "agent-7", "D3003\",\"imei"] {
                assert!(!json.contains(secret), "{} leaks {secret}: {json}", e.kind.name());
            }
            // Date-times are RFC 3339 strings, never serde's tuples.
            assert!(!json.contains("[2025"), "{json}");
        }
        let all: String = events.iter().map(|e| event_json(&case_id(), e, "/x")).collect();
        assert!(all.contains(r#""deadline":"2025-03-15T12:00:00Z""#), "{all}");
        assert!(all.contains(r#""withdrawal_deadline":"2025-03-15T12:00:00Z""#));
        assert!(all.contains(r#""owed":{"cents":1250,"currency":"USD"}"#));
        assert!(all.contains(r#""condition":"good""#));
        assert!(all.contains(r#""by_case":"C01JD3K5M2X7Q4T9B""#));
    }

    #[test]
    fn the_same_event_gives_the_same_bytes() {
        let e = opened();
        assert_eq!(event_json(&case_id(), &e, "/a"), event_json(&case_id(), &e.clone(), "/a"));
        assert_eq!(event_id(&case_id(), 7), "C01JD3K5M2X7Q4T9A.7");
        assert_eq!(event_type(&EventKind::PortedOut), "com.lineout.case.ported_out");
    }

    #[test]
    fn actors_are_named_by_kind_only() {
        assert_eq!(actor_kind(&Actor::Customer), "customer");
        assert_eq!(actor_kind(&Actor::Client(ActorId::parse("tok1").unwrap())), "client");
        let e = event(3, Actor::Client(ActorId::parse("tok1").unwrap()), EventKind::Withdrawn);
        let json = event_json(&case_id(), &e, "/a");
        assert!(json.contains(r#""actor":"client""#) && !json.contains("tok1"), "{json}");
    }

    #[test]
    fn sources_are_checked() {
        assert!(valid_source("/lineout/operator-x"));
        assert!(valid_source("https://lineout.example.com/op"));
        assert!(valid_source("urn:lineout:operator-x"));
        assert!(!valid_source(""));
        assert!(!valid_source("/with space"));
        assert!(!valid_source(&"x".repeat(MAX_SOURCE_LEN + 1)));
    }

    #[test]
    fn an_unformattable_time_is_left_out_not_a_panic() {
        let mut e = event(2, Actor::System, EventKind::ReviewStarted { due_at: datetime!(2025-01-01 0:00 UTC) });
        e.at = Date::MIN.midnight().assume_utc();
        let json = event_json(&case_id(), &e, "/a");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert!(v.get("time").is_none(), "{json}");
        assert_eq!(date_value(date!(2025 - 01 - 02)), "2025-01-02");
        let _ = Language::En;
    }
}
