//! Messages from ovsdb-server, decoded in one pass into typed values: no `serde_json::Value`
//! tree for the payload, and strings borrowed from the message bytes.
//!
//! JSON objects are unordered, so `params` could in principle precede the `method` that says
//! how to read it. ovsdb-server sends `method` first; should a peer not, `params` is kept as a
//! generic value and decoded afterwards (slower, same result).

use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::datum::{OptInt, Pairs, Str, UuidSet};

/// What a message from the server is.
pub(super) enum Message<'a> {
    /// The reply to our request: its `<table-updates>`, or the `error` the server returned.
    Reply(Result<TableUpdates<'a>, Value>),
    /// An `update` notification's `<table-updates>`.
    Update(TableUpdates<'a>),
    /// An `echo` request, to be answered with its params.
    Echo { id: Value, params: Value },
    /// Anything else (another method, a reply to a request we did not send).
    Other,
}

/// `<table-updates>` for the monitored tables; others are ignored.
#[derive(Deserialize, Default)]
pub(super) struct TableUpdates<'a> {
    #[serde(rename = "Interface", default, borrow)]
    pub interface: RowUpdates<IfaceCols<'a>>,
    #[serde(rename = "Port", default, borrow)]
    pub port: RowUpdates<PortCols<'a>>,
    #[serde(rename = "Bridge", default, borrow)]
    pub bridge: RowUpdates<BridgeCols<'a>>,
    #[serde(rename = "Open_vSwitch", default, borrow)]
    pub open_vswitch: RowUpdates<OpenVswitchCols<'a>>,
}

/// `<table-update>`: each row's uuid with its `new` columns, `None` when the row is deleted.
pub(super) struct RowUpdates<C>(pub Vec<(Uuid, Option<C>)>);

/// The columns of an Interface `new` object; absent columns are `None`.
#[derive(Deserialize)]
pub(super) struct IfaceCols<'a> {
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    #[serde(borrow)]
    pub external_ids: Option<Pairs<'a>>,
    #[serde(rename = "type", borrow)]
    pub iface_type: Option<Str<'a>>,
    #[serde(borrow)]
    pub options: Option<Pairs<'a>>,
}

#[derive(Deserialize)]
pub(super) struct PortCols<'a> {
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    pub interfaces: Option<UuidSet>,
    #[serde(borrow)]
    pub other_config: Option<Pairs<'a>>,
    pub tag: Option<OptInt>,
}

#[derive(Deserialize)]
pub(super) struct BridgeCols<'a> {
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    pub ports: Option<UuidSet>,
    #[serde(borrow)]
    pub datapath_type: Option<Str<'a>>,
}

/// The columns of the host's Open_vSwitch row.
#[derive(Deserialize)]
pub(super) struct OpenVswitchCols<'a> {
    #[serde(borrow)]
    pub external_ids: Option<Pairs<'a>>,
}

/// Decodes one message; `our_id` is the id of the only request we send.
pub(super) fn decode(bytes: &[u8], our_id: u64) -> Result<Message<'_>, serde_json::Error> {
    let env: Envelope = serde_json::from_slice(bytes)?;
    Ok(match (env.method.as_deref(), env.params) {
        (Some("update"), Some(Params::Update(updates))) => Message::Update(updates),
        (Some("update"), Some(Params::Raw(raw))) => {
            Message::Update(<(IgnoredAny, TableUpdates)>::deserialize(raw)?.1)
        }
        (Some("echo"), params) => Message::Echo {
            id: env.id,
            params: params.map_or(Value::Null, Params::into_value),
        },
        (Some(method), _) => {
            tracing::debug!(method, "ignoring an unexpected message from ovsdb-server");
            Message::Other
        }
        (None, _) if env.id.as_u64() != Some(our_id) => {
            tracing::debug!(id = %env.id, "ignoring a reply to a request we did not send");
            Message::Other
        }
        (None, _) if !env.error.is_null() => Message::Reply(Err(env.error)),
        (None, _) => match env.result {
            Some(updates) => Message::Reply(Ok(updates)),
            None => return Err(de::Error::custom("a reply with neither result nor error")),
        },
    })
}

/// A JSON-RPC message with the members ovsdb-server sends, decoded in one pass.
struct Envelope<'a> {
    method: Option<Str<'a>>,
    id: Value,
    error: Value,
    result: Option<TableUpdates<'a>>,
    params: Option<Params<'a>>,
}

/// `params` decoded as table updates when `method` ("update") came first, as ovsdb-server
/// sends it; otherwise kept as a generic value and decoded once the method is known.
enum Params<'a> {
    Update(TableUpdates<'a>),
    Raw(Value),
}

impl Params<'_> {
    fn into_value(self) -> Value {
        match self {
            Params::Raw(raw) => raw,
            Params::Update(_) => Value::Null,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Envelope<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Envelope<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON-RPC message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'a>, A::Error> {
                let mut env = Envelope {
                    method: None,
                    id: Value::Null,
                    error: Value::Null,
                    result: None,
                    params: None,
                };
                while let Some(key) = map.next_key::<Str>()? {
                    match &*key {
                        "method" => env.method = map.next_value()?,
                        "id" => env.id = map.next_value()?,
                        "error" => env.error = map.next_value()?,
                        // Only a reply has a result, and our only request is the monitor.
                        "result" if env.error.is_null() => env.result = map.next_value()?,
                        "params" if env.method.as_deref() == Some("update") => {
                            let (_, updates) = map.next_value::<(IgnoredAny, _)>()?;
                            env.params = Some(Params::Update(updates));
                        }
                        "params" => env.params = Some(Params::Raw(map.next_value()?)),
                        _ => drop(map.next_value::<IgnoredAny>()?),
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

impl<C> Default for RowUpdates<C> {
    fn default() -> Self {
        RowUpdates(Vec::new())
    }
}

#[derive(Deserialize)]
struct RowUpdate<C> {
    /// Absent for a deleted row. (`old` is not needed: `new` holds every monitored column.)
    new: Option<C>,
}

impl<'de, C: Deserialize<'de>> Deserialize<'de> for RowUpdates<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<C>(PhantomData<C>);
        impl<'de, C: Deserialize<'de>> Visitor<'de> for V<C> {
            type Value = RowUpdates<C>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of row uuid to row update")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut rows = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((uuid, row)) = map.next_entry::<Uuid, RowUpdate<C>>()? {
                    rows.push((uuid, row.new));
                }
                Ok(RowUpdates(rows))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRIDGE: &str =
        r#"{"Bridge":{"8ad4ee9e-e063-4c3d-a80e-bdf3c7eb304b":{"new":{"name":"b"}}}}"#;

    #[test]
    fn reads_updates_whatever_the_member_order() {
        for text in [
            format!(r#"{{"id":null,"method":"update","params":[null,{BRIDGE}]}}"#),
            format!(r#"{{"params":[null,{BRIDGE}],"id":null,"method":"update"}}"#),
        ] {
            let Message::Update(u) = decode(text.as_bytes(), 1).unwrap() else {
                panic!("not an update: {text}")
            };
            assert!(
                matches!(u.bridge.0.as_slice(), [(_, Some(b))] if b.name.as_deref() == Some("b"))
            );
        }
    }

    #[test]
    fn classifies_replies_and_requests() {
        let echo = br#"{"params":["x"],"method":"echo","id":"e"}"#;
        let Message::Echo { id, params } = decode(echo, 1).unwrap() else {
            panic!("not an echo")
        };
        assert_eq!((id, params), (Value::from("e"), serde_json::json!(["x"])));
        let error = br#"{"result":null,"id":1,"error":{"error":"e"}}"#;
        assert!(matches!(decode(error, 1).unwrap(), Message::Reply(Err(_))));
        let reply = format!(r#"{{"id":1,"result":{BRIDGE},"error":null}}"#);
        assert!(matches!(
            decode(reply.as_bytes(), 1).unwrap(),
            Message::Reply(Ok(_))
        ));
        assert!(matches!(
            decode(br#"{"id":2,"result":{}}"#, 1).unwrap(),
            Message::Other
        ));
        assert!(decode(br#"{"id":1}"#, 1).is_err());
        assert!(decode(br#"[1]"#, 1).is_err());
    }
}
