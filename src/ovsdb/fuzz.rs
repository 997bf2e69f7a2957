//! Fuzz harnesses of the OVSDB decoding (see [`crate::fuzzing`]): here because the
//! decoders are private to this module. Each takes arbitrary bytes and must not panic.

use serde_json::{json, Value};
use uuid::Uuid;

use super::datum::{OptInt, Pairs, UuidSet};
use super::message::{decode, Message};
use super::tables::Tables;
use super::wire::Scanner;

/// The id our one request carries, as the session sends it.
const OUR_ID: u64 = 1;

/// A byte stream from ovsdb-server: cut into messages as [`super::wire`] cuts its read
/// buffer (in one read and in two, which must agree), each decoded and applied to the
/// tables, then joined into the state vifd reports.
pub fn messages(data: &[u8]) {
    let whole = frames(&[data]);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(cut);
    assert_eq!(
        frames(&[a, b]),
        whole,
        "framing depends on how the bytes arrive"
    );
    let mut tables = Tables::default();
    for range in whole.iter().flatten() {
        match decode(&data[range.clone()], OUR_ID) {
            Ok(Message::Reply(Ok(updates)) | Message::Update(updates)) => tables.apply(updates),
            Ok(Message::Echo { params, .. }) => drop(serde_json::to_vec(&params)),
            Ok(Message::Reply(Err(_)) | Message::Other) | Err(_) => {}
        }
    }
    let state = tables.state();
    for (name, iface) in &state.interfaces {
        assert_eq!(name, &iface.name, "the state is keyed by interface name");
    }
}

/// The frames (as ranges of the concatenated chunks) found when the bytes arrive in
/// `chunks`, then the error that stopped the scan, if any.
fn frames(chunks: &[&[u8]]) -> Result<Vec<std::ops::Range<usize>>, String> {
    let (mut buf, mut scan, mut out) = (Vec::new(), Scanner::default(), Vec::new());
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(end) = scan.find_end(&buf)? {
            out.push(scan.start..end);
            scan.start = end;
        }
    }
    Ok(out)
}

/// One column value in each of the datum encodings vifd reads (a string map, a uuid set,
/// an optional integer). What decodes must agree with a plain JSON reading of the same
/// bytes, and re-encode to a value that decodes the same again.
pub fn datum(data: &[u8]) {
    let generic: Option<Value> = serde_json::from_slice(data).ok();
    if let Ok(pairs) = serde_json::from_slice::<Pairs>(data) {
        let pairs: Vec<(String, String)> = pairs
            .0
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let encoded = json!(["map", pairs]);
        assert_eq!(
            Some(&encoded),
            generic.as_ref(),
            "a map decodes as JSON reads it"
        );
        let text = encoded.to_string();
        let again: Pairs = serde_json::from_str(&text).expect("an encoded map decodes");
        let again: Vec<(String, String)> = again
            .0
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(again, pairs, "a map survives a round trip");
    }
    if let Ok(set) = serde_json::from_slice::<UuidSet>(data) {
        let atoms: Vec<Value> = set.0.iter().map(|u| json!(["uuid", u])).collect();
        let again: UuidSet =
            serde_json::from_value(json!(["set", atoms])).expect("an encoded set decodes");
        assert_eq!(again.0, set.0, "a uuid set survives a round trip");
        assert_eq!(
            generic_uuids(generic.as_ref()),
            Some(set.0),
            "a set decodes as JSON reads it"
        );
    }
    if let Ok(OptInt(n)) = serde_json::from_slice::<OptInt>(data) {
        let encoded = match n {
            Some(n) => json!(["set", [n]]),
            None => json!(["set", []]),
        };
        let again: OptInt = serde_json::from_value(encoded).expect("an encoded integer decodes");
        assert_eq!(again.0, n, "an optional integer survives a round trip");
        let plain: OptInt = serde_json::from_value(json!(n)).unwrap_or(OptInt(None));
        assert_eq!(plain.0, n, "an integer decodes bare as in a set");
    }
}

/// The uuids of `["uuid", U]` or `["set", [["uuid", U], ...]]` read from a JSON tree.
fn generic_uuids(v: Option<&Value>) -> Option<Vec<Uuid>> {
    let atom = |a: &Value| match a.as_array()?.as_slice() {
        [Value::String(t), Value::String(u)] if t == "uuid" => Uuid::parse_str(u).ok(),
        _ => None,
    };
    match v?.as_array()?.as_slice() {
        [Value::String(t), _, ..] if t == "uuid" => Some(vec![atom(v?)?]),
        [Value::String(t), Value::Array(atoms)] if t == "set" => atoms.iter().map(atom).collect(),
        _ => None,
    }
}
