//! One agent's interface record as it came over the wire, and its row in the table.
//!
//! Records stay JSON rather than becoming [`Vif`](crate::inventory::Vif)s: agents of a
//! fleet run different versions, and a field or problem kind this build does not know
//! must still reach `--json` untouched and show in the table as the agent wrote it. The
//! columns are those of `vifd list` (a test renders the same records both ways).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::output::cell;

/// The columns of `vifd list`, in its order.
pub use crate::cmd::list::HEADERS;

/// A record's fields in the agent's order (a JSON map would sort them).
#[derive(Debug, Clone, PartialEq)]
pub struct Record(Vec<(String, Value)>);

impl Record {
    /// Takes a field out (the fleet's `host`, which the output puts back in front).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A scalar field as text; `None` when absent or null.
    fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(scalar)
    }

    /// The cells under [`HEADERS`], as `vifd list` writes them.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.text("domain_name").unwrap_or_default(),
            self.text("domain_state").unwrap_or_default(),
            cell(self.text("mac_address")),
            self.text("type").unwrap_or_default(),
            cell(self.text("device")),
            cell(self.text("operstate")),
            self.source_and_master(),
            cell(self.text("net_id")),
            cell(self.text("port_id")),
            self.joined("ip_addresses", |a| a.get("address").and_then(scalar)),
            self.joined("problems", scalar),
        ]
    }

    /// What the XML asks for and, when it differs, where the device really is.
    fn source_and_master(&self) -> String {
        let source = |k: &str| self.get("source").and_then(|s| s.get(k)).and_then(scalar);
        let wanted = source("network")
            .map(|n| format!("network:{n}"))
            .or_else(|| source("bridge"))
            .or_else(|| {
                let mode = source("mode").unwrap_or_else(|| "vepa".into());
                source("dev").map(|d| format!("{d}/{mode}"))
            })
            .or_else(|| source("path"))
            .or_else(|| source("address"));
        match (wanted, self.text("master")) {
            (Some(w), Some(m)) if source("bridge").as_deref() != Some(m.as_str()) => {
                format!("{w} (on {m})")
            }
            (Some(w), _) => w,
            (None, Some(m)) => format!("(on {m})"),
            (None, None) => "-".into(),
        }
    }

    /// Each distinct value `pick` finds in the array `key`, comma-separated; `-` for none.
    fn joined(&self, key: &str, pick: impl Fn(&Value) -> Option<String>) -> String {
        let mut seen: Vec<String> = Vec::new();
        for v in self
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(text) = pick(v).filter(|t| !seen.contains(t)) {
                seen.push(text);
            }
        }
        if seen.is_empty() {
            "-".into()
        } else {
            seen.join(",")
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Record;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an interface record (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Record(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A record with the agent that sent it first: `{"host": URL, ...the record}`.
pub struct HostRecord<'a> {
    pub host: &'a str,
    pub record: &'a Record,
}

impl Serialize for HostRecord<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = &self.record.0;
        let mut map = s.serialize_map(Some(fields.len() + 1))?;
        map.serialize_entry("host", self.host)?;
        // An agent's own `host` field would make the key ambiguous: ours wins.
        for (k, v) in fields.iter().filter(|(k, _)| k != "host") {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests;
