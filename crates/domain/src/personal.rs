//! Personal data kept out of the hash-chained event bodies, so it can be erased
//! without breaking a chain.
//!
//! Before an event is hashed, [`split`] walks its JSON and replaces the value of every
//! field named in [`PERSONAL_KEYS`] (at any depth) with a reference object
//! `{"$personal": "<seq>.<n>"}`; the values go to an erasable side table. Reading an
//! event, [`join`] puts the values back, or [`ERASED`] where a value was erased. The
//! chained body never contains the value, so erasing it changes no hash.
//!
//! A new event keeps personal data out of its chained body by naming its personal
//! fields with one of these keys (or by adding its key here). Erased values read back
//! as the text [`ERASED`]; the value types (`Msisdn`, `Iccid`, …) accept it when read
//! from storage, never from outside input.

use serde_json::{Map, Value};

/// What an erased personal value reads as.
pub const ERASED: &str = "[erased]";

/// The key of a reference object standing in for a personal value in a chained body.
pub const REF_KEY: &str = "$personal";

/// Field names whose values are personal data wherever they appear in an event body.
/// Each must deserialise from the text [`ERASED`] (a string, an optional string, or a
/// value type that accepts it).
/// Adapter `error` texts are included: they may quote a recipient ("550 <ada@…> unknown").
pub const PERSONAL_KEYS: &[&str] = &[
    "msisdn",
    "iccid",
    "imsi",
    "eid",
    "imei",
    "email",
    "alt_phone",
    "holder_name",
    "note",
    "notes",
    "tracking",
    "error",
    // A photo ID's last 4 characters (the document type and expiry date identify no one).
    "last4",
];

/// The fields kept for the required-records period after an account's other personal
/// data is erased: the number a cancellation or port-out record is about.
pub const RECORD_KEYS: &[&str] = &["msisdn"];

/// One personal value taken out of an event body.
#[derive(Debug, Clone, PartialEq)]
pub struct Personal {
    /// The reference left in the body (`<seq>.<n>`), unique within the case.
    pub reference: String,
    /// The field name (one of [`PERSONAL_KEYS`]).
    pub key: String,
    /// The value, as JSON.
    pub value: Value,
}

/// Replaces every personal value in `body` by a reference; returns the values taken.
/// Null values are left in place (there is nothing to erase).
pub fn split(body: &mut Value, seq: u64) -> Vec<Personal> {
    let mut out = Vec::new();
    walk_split(body, seq, &mut out);
    out
}

fn walk_split(v: &mut Value, seq: u64, out: &mut Vec<Personal>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if PERSONAL_KEYS.contains(&k.as_str()) && !child.is_null() && reference_of(child).is_none() {
                    let reference = format!("{seq}.{}", out.len());
                    let value = std::mem::replace(child, reference_value(&reference));
                    out.push(Personal { reference, key: k.clone(), value });
                } else {
                    walk_split(child, seq, out);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk_split(i, seq, out)),
        _ => {}
    }
}

fn reference_value(reference: &str) -> Value {
    let mut m = Map::new();
    m.insert(REF_KEY.to_owned(), Value::String(reference.to_owned()));
    Value::Object(m)
}

/// The reference of a reference object, if `v` is one.
pub fn reference_of(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get(REF_KEY).and_then(Value::as_str),
        _ => None,
    }
}

/// Puts personal values back into a chained body: each reference becomes the value
/// `lookup` finds, or [`ERASED`] when it finds none.
pub fn join(body: &mut Value, lookup: &dyn Fn(&str) -> Option<Value>) {
    match body {
        Value::Object(map) => {
            for child in map.values_mut() {
                if let Some(r) = reference_of(child) {
                    *child = lookup(r).unwrap_or_else(|| Value::String(ERASED.to_owned()));
                } else {
                    join(child, lookup);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| join(i, lookup)),
        _ => {}
    }
}

/// Replaces every non-null personal value in a (non-chained) document, such as a case
/// projection, by [`ERASED`], except fields named in `keep`.
pub fn erase(doc: &mut Value, keep: &[&str]) {
    match doc {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if PERSONAL_KEYS.contains(&k.as_str()) && !keep.contains(&k.as_str()) {
                    if !child.is_null() {
                        *child = Value::String(ERASED.to_owned());
                    }
                } else {
                    erase(child, keep);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| erase(i, keep)),
        _ => {}
    }
}

/// The personal keys that carry a plain value (not a reference) in a chained body:
/// empty for every event written with this module.
pub fn leaks(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_leaks(body, &mut out);
    out
}

fn walk_leaks(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if PERSONAL_KEYS.contains(&k.as_str()) {
                    if !child.is_null() && reference_of(child).is_none() {
                        out.push(k.clone());
                    }
                } else {
                    walk_leaks(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk_leaks(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_then_join_restores_the_body_and_erasure_reads_as_erased() {
        let original = json!({"type": "opened", "note": null, "facts": {"msisdn": "+14155550100", "iccid": "8901",
            "device": {"imei": "490154203237518", "model": "X"}}, "list": [{"tracking": "1Z"}]});
        let mut body = original.clone();
        let taken = split(&mut body, 3);
        assert_eq!(taken.len(), 4);
        assert_eq!(taken[0].reference, "3.0");
        assert!(leaks(&body).is_empty(), "{body}");
        assert!(!body.to_string().contains("4155550100"));
        assert_eq!(body["note"], Value::Null);
        let mut back = body.clone();
        join(&mut back, &|r| taken.iter().find(|p| p.reference == r).map(|p| p.value.clone()));
        assert_eq!(back, original);
        let mut erased = body.clone();
        join(&mut erased, &|r| taken.iter().find(|p| p.reference == r && p.key == "msisdn").map(|p| p.value.clone()));
        assert_eq!(erased["facts"]["msisdn"], "+14155550100");
        assert_eq!(erased["facts"]["iccid"], ERASED);
        assert_eq!(erased["facts"]["device"]["imei"], ERASED);
        assert_eq!(erased["list"][0]["tracking"], ERASED);
    }

    #[test]
    fn erase_keeps_named_keys_and_leaks_finds_plain_values() {
        let mut doc = json!({"facts": {"msisdn": "+14155550100", "iccid": "8901", "eid": null}});
        assert_eq!(leaks(&doc), vec!["iccid".to_owned(), "msisdn".to_owned()]);
        erase(&mut doc, RECORD_KEYS);
        assert_eq!(doc, json!({"facts": {"msisdn": "+14155550100", "iccid": ERASED, "eid": null}}));
        erase(&mut doc, &[]);
        assert_eq!(doc["facts"]["msisdn"], ERASED);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary JSON documents whose keys are drawn from personal and other names.
    fn doc() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec!["msisdn", "iccid", "note", "type", "amount", "facts", "items", "imei"]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z0-9+ ]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn split_leaves_no_personal_value_and_join_restores_the_document(original in doc(), seq in 1u64..1000) {
            let mut body = original.clone();
            let taken = split(&mut body, seq);
            prop_assert!(leaks(&body).is_empty());
            let refs: std::collections::HashSet<_> = taken.iter().map(|p| p.reference.clone()).collect();
            prop_assert_eq!(refs.len(), taken.len(), "references are unique");
            let mut back = body.clone();
            join(&mut back, &|r| taken.iter().find(|p| p.reference == r).map(|p| p.value.clone()));
            prop_assert_eq!(back, original);
            // With everything erased, the document holds only erased markers in personal fields.
            let mut erased = body;
            join(&mut erased, &|_| None);
            let mut again = erased.clone();
            erase(&mut again, &[]);
            prop_assert_eq!(again, erased, "a joined erased document is already erased");
        }
    }
}
