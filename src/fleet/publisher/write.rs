//! The publisher's writes: a diff in guarded transactions, each with the meta. The
//! guard is the meta's mod revision as of our last write (or read), so another writer
//! under the same host name makes the transaction change nothing and is found.

use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};

use super::{Agent, Session, Written};
use crate::fleet::batch::{self, Op};
use crate::fleet::client;
use crate::fleet::codec::{self, Meta, Stale};
use crate::fleet::error::FleetError;
use crate::inventory::View;

impl Agent {
    /// `ops` in guarded transactions, each with the meta; the last one says the view's
    /// generation.
    pub(super) async fn write(
        &mut self,
        s: &mut Session,
        ops: Vec<Op>,
        view: &View,
    ) -> Result<Written, FleetError> {
        let stale = Stale::of(view);
        let txns = batch::chunks(ops, 1);
        let last = txns.len() - 1;
        for (i, chunk) in txns.into_iter().enumerate() {
            let generation = if i == last {
                view.generation
            } else {
                s.meta_of.0
            };
            let meta = self.meta(generation, stale).encode()?;
            if let Written::Conflict(other) = self.transaction(s, &chunk, meta).await? {
                return Ok(Written::Conflict(other));
            }
            batch::apply(&mut s.published, &chunk);
        }
        s.meta_of = (view.generation, stale);
        Ok(Written::Done)
    }

    async fn transaction(
        &self,
        s: &mut Session,
        chunk: &[Op],
        meta: codec::Value,
    ) -> Result<Written, FleetError> {
        let meta_key = self.keys.meta();
        let mut then: Vec<TxnOp> = chunk
            .iter()
            .map(|op| match op {
                Op::Put(k, v) => TxnOp::put(k.as_str(), v.to_vec(), None),
                Op::Delete(k) => TxnOp::delete(k.as_str(), None),
            })
            .collect();
        then.push(TxnOp::put(meta_key.as_str(), meta.to_vec(), None));
        let txn = Txn::new()
            .when([Compare::mod_revision(
                meta_key.as_str(),
                CompareOp::Equal,
                s.guard,
            )])
            .and_then(then)
            .or_else([TxnOp::get(meta_key.as_str(), None)]);
        let answer = client::write(s.client.txn(txn))
            .await
            .map_err(self.request("txn", &meta_key))?;
        if !answer.succeeded() {
            let other = answer.op_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().and_then(|kv| Meta::decode(kv.value())),
                _ => None,
            });
            return Ok(Written::Conflict(other));
        }
        if let Some(h) = answer.header() {
            s.guard = h.revision();
        }
        Ok(Written::Done)
    }

    pub(super) fn meta(&self, generation: u64, stale: Stale) -> Meta {
        Meta {
            instance: self.shared.instance().to_string(),
            generation,
            boot_time: self.boot_time.clone(),
            started_at: self.started_at.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            stale,
            published_at: codec::now(),
            conflict: (self.conflict.clone()).filter(|c| c.current(std::time::SystemTime::now())),
        }
    }
}
