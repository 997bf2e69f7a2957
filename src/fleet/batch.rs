//! What to write: the difference between what the host's keys hold (as last published or
//! read) and what the view says they should, as transactions of at most
//! [`MAX_TXN_OPS`] operations. Pure, apart from the encoding cache.
//!
//! Coalescing comes from diffing states, not replaying events: however many changes
//! happened while a transaction was in flight, the next diff sends each key's latest
//! value once (a removed record is a delete), and the work is bounded by the number of
//! records.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::codec::{self, Value};
use super::error::FleetError;
use super::keys::HostKeys;
use crate::inventory::{View, Vif};

/// etcd's default `--max-txn-ops`.
pub const MAX_TXN_OPS: usize = 128;

/// Key → value: the host's keys (the meta aside) as they are or should be.
pub type KeyValues = BTreeMap<String, Value>;

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(String, Value),
    Delete(String),
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Put(k, _) | Op::Delete(k) => k,
        }
    }
}

/// The writes that turn `published` into `desired`, in key order.
pub fn diff(published: &KeyValues, desired: &KeyValues) -> Vec<Op> {
    let mut ops = Vec::new();
    for (key, value) in desired {
        match published.get(key) {
            Some(old) if Arc::ptr_eq(old, value) || old == value => {}
            _ => ops.push(Op::Put(key.clone(), value.clone())),
        }
    }
    ops.extend(
        published
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .map(|k| Op::Delete(k.clone())),
    );
    ops
}

/// `ops` in transactions of at most `MAX_TXN_OPS - reserved` (each transaction also
/// carries `reserved` operations of its own: the meta). At least one transaction, empty
/// when there is nothing to write.
pub fn chunks(ops: Vec<Op>, reserved: usize) -> Vec<Vec<Op>> {
    let size = MAX_TXN_OPS.saturating_sub(reserved).max(1);
    if ops.is_empty() {
        return vec![Vec::new()];
    }
    let mut out = Vec::with_capacity(ops.len().div_ceil(size));
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        out.push(ops.by_ref().take(size).collect());
    }
    out
}

/// Applies written `ops` to `published`.
pub fn apply(published: &mut KeyValues, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(k, v) => published.insert(k.clone(), v.clone()),
            Op::Delete(k) => published.remove(k),
        };
    }
}

/// Builds the desired keys of a view, re-encoding only the records that are new objects
/// since the last call (a view shares every record a change did not touch).
#[derive(Debug, Default)]
pub struct Encoder {
    cache: HashMap<String, (Arc<Vif>, Value)>,
}

impl Encoder {
    /// The host's keys as `view` says they should be (the meta aside). Two records with
    /// one id (two domains claiming a port): the last in inventory order, as
    /// `/v1/interfaces/{id}` answers.
    pub fn desired(&mut self, keys: &HostKeys, view: &View) -> Result<KeyValues, FleetError> {
        let mut next = HashMap::with_capacity(self.cache.len());
        let mut out = KeyValues::new();
        for vif in view.interfaces() {
            let value = match self.cache.remove(&vif.id) {
                Some((seen, value)) if Arc::ptr_eq(&seen, vif) => value,
                _ => codec::record(vif)?,
            };
            out.insert(keys.vif(&vif.id), value.clone());
            next.insert(vif.id.clone(), (vif.clone(), value));
        }
        self.cache = next;
        out.insert(keys.problems(), codec::problems(view.host_problems())?);
        out.insert(keys.domains(), codec::domains(view)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> KeyValues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.as_bytes())))
            .collect()
    }

    #[test]
    fn only_what_differs_is_written() {
        let published = kv(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let desired = kv(&[("a", "1"), ("b", "9"), ("d", "4")]);
        let ops = diff(&published, &desired);
        assert_eq!(
            ops,
            [
                Op::Put("b".into(), Value::from(&b"9"[..])),
                Op::Put("d".into(), Value::from(&b"4"[..])),
                Op::Delete("c".into()),
            ]
        );
        let mut after = published.clone();
        apply(&mut after, &ops);
        assert_eq!(after, desired);
        assert!(diff(&after, &desired).is_empty());
    }

    #[test]
    fn transactions_stay_within_the_limit_with_the_meta() {
        let ops: Vec<Op> = (0..300).map(|i| Op::Delete(format!("k{i}"))).collect();
        let txns = chunks(ops.clone(), 1);
        assert_eq!(
            txns.iter().map(Vec::len).collect::<Vec<_>>(),
            [127, 127, 46]
        );
        assert_eq!(txns.concat(), ops);
        assert_eq!(chunks(Vec::new(), 1), [Vec::<Op>::new()]);
    }

    #[test]
    fn a_burst_coalesces_to_the_last_state() {
        // Three changes of "a" and an add-then-remove of "x" while a write was in
        // flight: one put of the last "a", nothing for "x".
        let published = kv(&[("a", "0")]);
        let mut desired = kv(&[("a", "1")]);
        desired.insert("x".into(), Value::from(&b"1"[..]));
        desired.insert("a".into(), Value::from(&b"2"[..]));
        desired.remove("x");
        desired.insert("a".into(), Value::from(&b"3"[..]));
        assert_eq!(
            diff(&published, &desired),
            [Op::Put("a".into(), Value::from(&b"3"[..]))]
        );
    }
}
