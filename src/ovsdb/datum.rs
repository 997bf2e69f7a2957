//! OVSDB's JSON encodings of column values (RFC 7047 §5.1), decoded straight from the
//! message bytes by serde: no `serde_json::Value` tree, and strings borrowed from the input
//! unless they contain escapes. This is what keeps a 4,000-row reply cheap to read.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use uuid::Uuid;

/// A string, borrowed from the message when it holds no escape sequences.
#[derive(Debug)]
pub(super) struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Checks the tag of a tagged datum such as `["map", ...]`.
fn expect_tag<'de, A: SeqAccess<'de>>(seq: &mut A, want: &str) -> Result<(), A::Error> {
    let tag: Str = seq
        .next_element()?
        .ok_or_else(|| de::Error::invalid_length(0, &want))?;
    match &*tag == want {
        true => Ok(()),
        false => Err(de::Error::custom(format!(
            "expected [\"{want}\", ...], got \"{}\"",
            &*tag
        ))),
    }
}

/// The last element of a tagged datum, which must be there and be the last.
fn tail<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(seq: &mut A) -> Result<T, A::Error> {
    let value = seq
        .next_element()?
        .ok_or_else(|| de::Error::invalid_length(1, &"2 elements"))?;
    match seq.next_element::<de::IgnoredAny>()? {
        None => Ok(value),
        Some(_) => Err(de::Error::invalid_length(3, &"2 elements")),
    }
}

/// A string→string map column: `["map", [[k, v], ...]]`.
#[derive(Debug, Default)]
pub(super) struct Pairs<'a>(pub Vec<(Str<'a>, Str<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map datum [\"map\", [[key, value], ...]]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pairs<'a>, A::Error> {
                expect_tag(&mut seq, "map")?;
                tail(&mut seq).map(Pairs)
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// A set-of-uuids column: `["set", [["uuid", U], ...]]`, or `["uuid", U]` for one element.
#[derive(Debug, Default)]
pub(super) struct UuidSet(pub Vec<Uuid>);

/// One `["uuid", U]` atom.
struct UuidAtom(Uuid);

impl<'de> Deserialize<'de> for UuidAtom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tag, uuid): (Str, Uuid) = Deserialize::deserialize(d)?;
        match &*tag {
            "uuid" => Ok(UuidAtom(uuid)),
            other => Err(de::Error::custom(format!(
                "expected a uuid atom, got \"{other}\""
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for UuidSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UuidSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a uuid set datum")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UuidSet, A::Error> {
                let tag: Str = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                match &*tag {
                    "uuid" => Ok(UuidSet(vec![tail(&mut seq)?])),
                    "set" => Ok(UuidSet(
                        tail::<Vec<UuidAtom>, _>(&mut seq)?
                            .into_iter()
                            .map(|a| a.0)
                            .collect(),
                    )),
                    other => Err(de::Error::custom(format!(
                        "expected \"set\" or \"uuid\", got \"{other}\""
                    ))),
                }
            }
        }
        d.deserialize_seq(V)
    }
}

/// An optional integer column (`Port.tag`): `5`, `["set", []]` when empty, or `["set", [5]]`.
#[derive(Debug, Default)]
pub(super) struct OptInt(pub Option<i64>);

impl<'de> Deserialize<'de> for OptInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or [\"set\", [integer?]]")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<OptInt, E> {
                Ok(OptInt(Some(n)))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<OptInt, E> {
                i64::try_from(n).map(|n| OptInt(Some(n))).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OptInt, A::Error> {
                expect_tag(&mut seq, "set")?;
                match tail::<Vec<i64>, _>(&mut seq)?.as_slice() {
                    [] => Ok(OptInt(None)),
                    [n] => Ok(OptInt(Some(*n))),
                    _ => Err(de::Error::custom(
                        "more than one value in an optional integer",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_encoding() {
        let p: Pairs = serde_json::from_str(r#"["map", [["a", "b\"c"]]]"#).unwrap();
        assert_eq!((&*p.0[0].0, &*p.0[0].1), ("a", "b\"c"));
        let u = "cb99b761-479b-468f-87b6-8ca76d1f0625";
        let one: UuidSet = serde_json::from_str(&format!(r#"["uuid", "{u}"]"#)).unwrap();
        let two: UuidSet =
            serde_json::from_str(&format!(r#"["set", [["uuid", "{u}"], ["uuid", "{u}"]]]"#))
                .unwrap();
        assert_eq!((one.0.len(), two.0.len()), (1, 2));
        let tags: Vec<OptInt> = serde_json::from_str(r#"[5, ["set", []], ["set", [7]]]"#).unwrap();
        assert_eq!(
            tags.iter().map(|t| t.0).collect::<Vec<_>>(),
            [Some(5), None, Some(7)]
        );
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert!(serde_json::from_str::<Pairs>(r#"["set", []]"#).is_err());
        assert!(serde_json::from_str::<Pairs>(r#"["map", [], 1]"#).is_err());
        assert!(serde_json::from_str::<UuidSet>(r#"["uuid", "nope"]"#).is_err());
        assert!(serde_json::from_str::<OptInt>(r#"["set", [1, 2]]"#).is_err());
        assert!(serde_json::from_str::<OptInt>(r#""5""#).is_err());
    }
}
