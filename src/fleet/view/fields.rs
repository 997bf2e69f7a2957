//! A record's [`Fields`] and its strict check in one reading: each member the fields name
//! is decoded into them, every other one checked as strict JSON. Read twice (checked whole,
//! then decoded), a record cost two parses of its 1.2 KB at each of the 400,000 of a
//! cold start.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::fleet::strict::{self, Checked};
use crate::mac::MacAddr;

/// The fields of a record the fleet server reads; the rest stays in its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Fields {
    pub id: String,
    pub domain_uuid: String,
    pub domain_name: String,
    pub mac_address: Option<MacAddr>,
    pub host_mac: Option<MacAddr>,
    pub net_id: Option<String>,
    pub port_id: Option<String>,
    pub device: Option<String>,
    pub master: Option<String>,
    pub operstate: Option<String>,
    pub carrier: Option<bool>,
    /// Problem kinds by name (an agent newer than this server may name more).
    #[serde(default)]
    pub problems: Vec<String>,
}

/// A record's fields, the whole value checked as [`strict::check`] does: accepted and
/// refused exactly as that check followed by `Fields`' derived decoding.
pub(super) fn decode(raw: &[u8]) -> Result<Fields, serde_json::Error> {
    match raw.trim_ascii_start().first() {
        Some(b'{') => serde_json::from_slice::<Strict>(raw).map(|s| s.0),
        // Not an object (the derived decoding takes a sequence too): read as before.
        _ => {
            strict::check(raw)?;
            serde_json::from_slice(raw)
        }
    }
}

struct Strict(Fields);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StrictVisitor).map(Strict)
    }
}

/// The members [`Fields`] names (as the derive names them), by type.
const REQUIRED: [&str; 3] = ["id", "domain_uuid", "domain_name"];
const MACS: [&str; 2] = ["mac_address", "host_mac"];
const TEXTS: [&str; 5] = ["net_id", "port_id", "device", "master", "operstate"];

/// A member's name: an index in one of the tables above, or another.
enum Member {
    Required(usize),
    Mac(usize),
    Text(usize),
    Carrier,
    Problems,
    Other,
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(MemberVisitor)
    }
}

struct MemberVisitor;

impl Visitor<'_> for MemberVisitor {
    type Value = Member;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Member, E> {
        let at = |table: &[&str]| table.iter().position(|n| *n == name);
        Ok((at(&REQUIRED).map(Member::Required))
            .or_else(|| at(&MACS).map(Member::Mac))
            .or_else(|| at(&TEXTS).map(Member::Text))
            .unwrap_or(match name {
                "carrier" => Member::Carrier,
                "problems" => Member::Problems,
                _ => Member::Other,
            }))
    }
}

struct StrictVisitor;

/// The next value into `slot`; a member named twice is an error, as the derive has it.
fn take<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut required: [Option<String>; 3] = Default::default();
        let mut macs: [Option<Option<MacAddr>>; 2] = Default::default();
        let mut texts: [Option<Option<String>>; 5] = Default::default();
        let (mut carrier, mut problems) = (None, None);
        while let Some(member) = map.next_key::<Member>()? {
            let m = &mut map;
            match member {
                Member::Required(i) => take(m, &mut required[i], REQUIRED[i])?,
                Member::Mac(i) => take(m, &mut macs[i], MACS[i])?,
                Member::Text(i) => take(m, &mut texts[i], TEXTS[i])?,
                Member::Carrier => take(m, &mut carrier, "carrier")?,
                Member::Problems => take(m, &mut problems, "problems")?,
                Member::Other => {
                    m.next_value::<Checked>()?;
                }
            }
        }
        let [id, domain_uuid, domain_name] = required;
        let required =
            |value: Option<String>, i| value.ok_or_else(|| de::Error::missing_field(REQUIRED[i]));
        // A missing `Option` is `None`, a missing `problems` empty, as the derive has it.
        let [mac_address, host_mac] = macs.map(Option::flatten);
        let [net_id, port_id, device, master, operstate] = texts.map(Option::flatten);
        Ok(Fields {
            id: required(id, 0)?,
            domain_uuid: required(domain_uuid, 1)?,
            domain_name: required(domain_name, 2)?,
            mac_address,
            host_mac,
            net_id,
            port_id,
            device,
            master,
            operstate,
            carrier: carrier.flatten(),
            problems: problems.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check, then the derived decoding: what `decode` must agree with.
    fn twice(raw: &[u8]) -> Result<Fields, serde_json::Error> {
        strict::check(raw)?;
        serde_json::from_slice(raw)
    }

    #[test]
    fn one_reading_accepts_and_refuses_what_the_check_and_the_derive_did() {
        let head = r#""id":"r1","domain_uuid":"U","domain_name":"web""#;
        let cases = [
            format!(r#"{{{head}}}"#),
            format!(
                r#" {{{head},"mac_address":"52:54:00:00:00:01","host_mac":null,"net_id":"n",
                "port_id":"p","device":"tap1","master":"br0","operstate":"up","carrier":true,
                "problems":["a","b"],"extra":{{"x":[1,2.5,-3,true,null,"\u00e9"]}}}} "#
            ),
            r#"{"i\u0064":"r1","domain_uuid":"U","domain_name":"web"}"#.to_string(),
            format!(r#"{{{head},"id":"again"}}"#),
            format!(r#"{{{head},"extra":1,"extra":2}}"#),
            format!(r#"{{{head},"extra":"\ud800"}}"#),
            format!(r#"{{{head},"\udc00":1}}"#),
            format!("{{{head},\"extra\":\"\u{ff}\"}}"),
            format!(r#"{{{head},"mac_address":"nope"}}"#),
            format!(r#"{{{head},"carrier":"yes"}}"#),
            format!(r#"{{{head},"problems":null}}"#),
            format!(r#"{{{head}}} x"#),
            format!(r#"{{{head}"#),
            r#"{"id":"r1","domain_uuid":"U"}"#.to_string(),
            r#"["r1","U","web",null,null,null,null,null,null,null,null,[]]"#.to_string(),
            r#"["r1","U","web",null,null,null,null,null,null,null,null]"#.to_string(),
            "[]".to_string(),
            "7".to_string(),
            String::new(),
        ];
        let mut bytes: Vec<Vec<u8>> = cases.iter().map(|c| c.clone().into_bytes()).collect();
        bytes.push(
            [
                &br#"{"id":"r1","domain_uuid":"U","domain_name":"web","x":""#[..],
                b"\xff\"}",
            ]
            .concat(),
        );
        for raw in bytes {
            let (once, before) = (decode(&raw), twice(&raw));
            assert_eq!(
                once.as_ref().ok(),
                before.as_ref().ok(),
                "{}: {once:?} / {before:?}",
                String::from_utf8_lossy(&raw)
            );
        }
    }
}
