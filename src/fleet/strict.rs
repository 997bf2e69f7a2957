//! Reading a value as strict JSON without building it: every string (keys included) is
//! decoded, so invalid UTF-8 and lone surrogate escapes are errors, as they are to the
//! clients the fleet server hands the bytes to. serde_json's `IgnoredAny` skips strings
//! without decoding them, and a `serde_json::Value` allocates every member (the fleet
//! server reads 400,000 records at a cold start).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Any JSON value, checked and dropped.
pub struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

/// `bytes` read as one strict JSON value (trailing blanks allowed, nothing else).
pub fn check(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Checked>(bytes).map(drop)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn strings_are_decoded_everywhere() {
        assert!(check(br#"{"a":[1,-2,3.5,true,null,{"b":"\u00e9\ud83d\ude00"}]} "#).is_ok());
        for bad in [
            &br#"{"a":"\ud800"}"#[..],
            br#"{"\udc00":1}"#,
            b"{\"a\":\"\xff\"}",
            br#"{"a":"\x"}"#,
            br#"{"a":1} x"#,
            br#"{"a":1"#,
        ] {
            assert!(check(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
