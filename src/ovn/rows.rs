//! The rows a conditional monitor holds, kept by uuid, and RFC 7047's `update2` rules for
//! applying what the server sends: `initial`/`insert` carry whole rows (columns left out
//! hold their default), `modify` carries differences (a new atom, the elements to toggle
//! in a set, the pairs to add, drop or change in a map), `delete` drops the row.
//!
//! Only the rows of local ports are ever requested, so a generic representation costs
//! little; the column kinds are declared per table because an atom and a one-element set
//! look the same on the wire.

use std::collections::{BTreeMap, HashMap};

use serde_json::value::RawValue;

use serde_json::{Map, Value};
use uuid::Uuid;

/// How a column is encoded, which decides how a `modify` applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Exactly one value (`min` = `max` = 1): a modify carries the new value.
    Atom,
    /// An optional value (a set of at most one): a modify carries the new value, as for
    /// an atom (ovsdb-server diffs only sets that can hold more than one element).
    Optional,
    /// A set of any size: a modify carries the elements to toggle.
    Set,
    /// A string → string map: a modify carries the pairs to add, drop or change.
    Map,
}

/// A table's monitored columns and their kinds.
pub(super) type Columns = &'static [(&'static str, Kind)];

/// One scalar: what vifd reads of OVSDB's atoms.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Atom {
    Str(String),
    Uuid(Uuid),
    Bool(bool),
    /// Numbers and anything else, kept only to compare.
    Other(Value),
}

/// One column's value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Col {
    Atom(Atom),
    Set(Vec<Atom>),
    Map(BTreeMap<String, String>),
}

/// A row: the monitored columns that are not at their default.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Row(HashMap<&'static str, Col>);

impl Row {
    pub(super) fn str(&self, column: &str) -> Option<&str> {
        match self.0.get(column)? {
            Col::Atom(Atom::Str(s)) => Some(s),
            Col::Set(v) => match v.as_slice() {
                [Atom::Str(s)] => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// A reference column: one uuid (an atom or a set of at most one).
    pub(super) fn uuid(&self, column: &str) -> Option<Uuid> {
        self.uuids(column).first().copied()
    }

    pub(super) fn uuids(&self, column: &str) -> Vec<Uuid> {
        let atoms: &[Atom] = match self.0.get(column) {
            Some(Col::Atom(a)) => std::slice::from_ref(a),
            Some(Col::Set(v)) => v,
            _ => &[],
        };
        atoms
            .iter()
            .filter_map(|a| match a {
                Atom::Uuid(u) => Some(*u),
                _ => None,
            })
            .collect()
    }

    pub(super) fn bool(&self, column: &str) -> Option<bool> {
        match self.0.get(column)? {
            Col::Atom(Atom::Bool(b)) => Some(*b),
            Col::Set(v) => match v.as_slice() {
                [Atom::Bool(b)] => Some(*b),
                _ => None,
            },
            _ => None,
        }
    }

    pub(super) fn map_get(&self, column: &str, key: &str) -> Option<&str> {
        match self.0.get(column)? {
            Col::Map(m) => m.get(key).map(String::as_str),
            _ => None,
        }
    }
}

/// One table's rows.
#[derive(Debug, Default)]
pub(super) struct Table {
    pub rows: HashMap<Uuid, Row>,
}

/// Why an update could not be applied: the server sent something its schema does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} row {row}: {reason}")]
pub(super) struct UpdateError {
    pub table: &'static str,
    pub row: String,
    pub reason: String,
}

/// A `<table-update2>`'s rows, each left as its text until it is applied: a first answer
/// of thousands of rows is never decoded into one tree.
pub(super) type RawRows<'a> = Vec<(&'a str, &'a RawValue)>;

/// The members of a JSON object, each left as its text (table updates by table name, row
/// updates by uuid).
pub(super) fn members<'a>(
    table: &'static str,
    raw: &'a RawValue,
) -> Result<RawRows<'a>, UpdateError> {
    let map: HashMap<&'a str, &'a RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| UpdateError {
            table,
            row: "-".into(),
            reason: format!("not an object of rows: {e}"),
        })?;
    Ok(map.into_iter().collect())
}

impl Table {
    /// Applies one table's `<table-update2>` rows.
    pub(super) fn apply(
        &mut self,
        table: &'static str,
        columns: Columns,
        rows: &RawRows,
    ) -> Result<(), UpdateError> {
        let bad = |row: &str, reason: String| UpdateError {
            table,
            row: row.to_string(),
            reason,
        };
        for &(id, raw) in rows {
            let uuid = Uuid::try_parse(id).map_err(|_| bad(id, "not a uuid".into()))?;
            let change: Value =
                serde_json::from_str(raw.get()).map_err(|e| bad(id, e.to_string()))?;
            let Some((how, row)) = change.as_object().and_then(single) else {
                return Err(bad(id, "a row update must have exactly one member".into()));
            };
            match how.as_str() {
                "initial" | "insert" => {
                    let mut fresh = Row::default();
                    merge(&mut fresh, columns, row, false).map_err(|r| bad(id, r))?;
                    self.rows.insert(uuid, fresh);
                }
                "modify" => {
                    let Some(existing) = self.rows.get_mut(&uuid) else {
                        return Err(bad(id, "modify of a row never inserted".into()));
                    };
                    merge(existing, columns, row, true).map_err(|r| bad(id, r))?;
                }
                "delete" => {
                    self.rows.remove(&uuid);
                }
                other => return Err(bad(id, format!("unknown row update {other:?}"))),
            }
        }
        Ok(())
    }
}

fn single(object: &Map<String, Value>) -> Option<(&String, &Value)> {
    let mut members = object.iter();
    let first = members.next()?;
    members.next().is_none().then_some(first)
}

/// Sets (or, for a modify, changes) the declared columns present in `row`.
fn merge(into: &mut Row, columns: Columns, row: &Value, diff: bool) -> Result<(), String> {
    let Some(values) = row.as_object() else {
        return Err("the row is not an object".into());
    };
    for &(name, kind) in columns {
        let Some(value) = values.get(name) else {
            continue;
        };
        let bad = |what: &str| format!("column {name}: {what}");
        let new = match kind {
            Kind::Atom => Col::Atom(atom(value).ok_or_else(|| bad("not an atom"))?),
            Kind::Set | Kind::Optional => Col::Set(set(value).ok_or_else(|| bad("not a set"))?),
            Kind::Map => Col::Map(map(value).ok_or_else(|| bad("not a string map"))?),
        };
        let merged = match (diff && kind != Kind::Optional, into.0.remove(name), new) {
            (true, Some(Col::Set(old)), Col::Set(toggle)) => Col::Set(toggled(old, toggle)),
            (true, Some(Col::Map(old)), Col::Map(changes)) => Col::Map(changed(old, changes)),
            (_, _, new) => new,
        };
        if !is_default(&merged) {
            into.0.insert(name, merged);
        }
    }
    Ok(())
}

fn is_default(col: &Col) -> bool {
    match col {
        Col::Set(v) => v.is_empty(),
        Col::Map(m) => m.is_empty(),
        Col::Atom(_) => false,
    }
}

/// A set's symmetric difference with the elements a modify names.
fn toggled(mut old: Vec<Atom>, toggle: Vec<Atom>) -> Vec<Atom> {
    for a in toggle {
        match old.iter().position(|o| *o == a) {
            Some(i) => {
                old.swap_remove(i);
            }
            None => old.push(a),
        }
    }
    old
}

/// A map after a modify: a key not there is added; one there with the same value is
/// dropped; one there with another value takes the new one.
fn changed(
    mut old: BTreeMap<String, String>,
    changes: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    for (k, v) in changes {
        match old.get(&k) {
            Some(o) if *o == v => {
                old.remove(&k);
            }
            _ => {
                old.insert(k, v);
            }
        }
    }
    old
}

fn atom(v: &Value) -> Option<Atom> {
    Some(match v {
        Value::String(s) => Atom::Str(s.clone()),
        Value::Bool(b) => Atom::Bool(*b),
        Value::Number(_) => Atom::Other(v.clone()),
        Value::Array(a) => match a.as_slice() {
            [Value::String(tag), Value::String(id)] if tag == "uuid" || tag == "named-uuid" => {
                Atom::Uuid(Uuid::try_parse(id).ok()?)
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// `["set", [atoms]]` or a bare atom (a set of one).
fn set(v: &Value) -> Option<Vec<Atom>> {
    match v.as_array().map(Vec::as_slice) {
        Some([Value::String(tag), Value::Array(items)]) if tag == "set" => {
            items.iter().map(atom).collect()
        }
        _ => Some(vec![atom(v)?]),
    }
}

/// `["map", [[k, v], ...]]` with string keys and values.
fn map(v: &Value) -> Option<BTreeMap<String, String>> {
    let [Value::String(tag), Value::Array(pairs)] = v.as_array()?.as_slice() else {
        return None;
    };
    if tag != "map" {
        return None;
    }
    pairs
        .iter()
        .map(|p| match p.as_array()?.as_slice() {
            [Value::String(k), Value::String(v)] => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COLS: Columns = &[
        ("name", Kind::Atom),
        ("up", Kind::Optional),
        ("chassis", Kind::Optional),
        ("others", Kind::Set),
        ("external_ids", Kind::Map),
    ];
    const R: &str = "6603ef07-deb9-4864-919b-2e461fa24935";
    const C1: &str = "8ad4ee9e-e063-4c3d-a80e-bdf3c7eb304b";
    const C2: &str = "cb99b761-479b-468f-87b6-8ca76d1f0625";

    fn apply_json(t: &mut Table, update: &Value) -> Result<(), UpdateError> {
        let raw = RawValue::from_string(update.to_string()).unwrap();
        t.apply("T", COLS, &members("T", &raw)?)
    }

    fn table() -> Table {
        let mut t = Table::default();
        let initial = json!({R: {"initial": {"name": "p1", "chassis": ["uuid", C1],
            "external_ids": ["map", [["a", "1"], ["b", "2"]]]}}});
        apply_json(&mut t, &initial).unwrap();
        t
    }

    #[test]
    fn left_out_columns_are_defaults_and_refs_read_as_uuids() {
        let t = table();
        let row = &t.rows[&Uuid::parse_str(R).unwrap()];
        assert_eq!(row.str("name"), Some("p1"));
        assert_eq!(row.bool("up"), None);
        assert_eq!(row.uuid("chassis"), Uuid::try_parse(C1).ok());
        assert_eq!(row.map_get("external_ids", "b"), Some("2"));
    }

    #[test]
    fn modify_toggles_sets_and_patches_maps() {
        let mut t = table();
        let modify = json!({R: {"modify": {"up": true,
            "chassis": ["uuid", C2],
            "others": ["set", [["uuid", C1], ["uuid", C2]]],
            "external_ids": ["map", [["a", "1"], ["b", "3"], ["c", "4"]]]}}});
        apply_json(&mut t, &modify).unwrap();
        let row = &t.rows[&Uuid::parse_str(R).unwrap()];
        assert_eq!(row.bool("up"), Some(true));
        assert_eq!(row.uuids("chassis"), [Uuid::parse_str(C2).unwrap()]);
        let toggled = json!({R: {"modify": {"others": ["uuid", C1]}}});
        apply_json(&mut t, &toggled).unwrap();
        let row = &t.rows[&Uuid::parse_str(R).unwrap()];
        assert_eq!(row.uuids("others"), [Uuid::parse_str(C2).unwrap()]);
        assert_eq!(row.map_get("external_ids", "a"), None);
        assert_eq!(row.map_get("external_ids", "b"), Some("3"));
        assert_eq!(row.map_get("external_ids", "c"), Some("4"));
        // An optional value is replaced, and an empty set clears it.
        apply_json(&mut t, &json!({R: {"modify": {"up": false}}})).unwrap();
        assert_eq!(t.rows[&Uuid::parse_str(R).unwrap()].bool("up"), Some(false));
        apply_json(&mut t, &json!({R: {"modify": {"up": ["set", []]}}})).unwrap();
        assert_eq!(t.rows[&Uuid::parse_str(R).unwrap()].bool("up"), None);
        apply_json(&mut t, &json!({R: {"delete": null}})).unwrap();
        assert!(t.rows.is_empty());
    }

    #[test]
    fn malformed_updates_are_errors_not_panics() {
        for bad in [
            json!([]),
            json!({"x": {"insert": {}}}),
            json!({R: {"insert": {}, "delete": null}}),
            json!({R: {"modify": {"name": "x"}}}),
            json!({R: {"insert": {"external_ids": ["map", [["a", 1]]]}}}),
            json!({R: {"insert": {"chassis": ["uuid", "nope"]}}}),
            json!({R: {"upsert": {}}}),
        ] {
            assert!(apply_json(&mut Table::default(), &bad).is_err(), "{bad}");
        }
    }
}
