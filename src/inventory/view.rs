//! What the API answers from: an immutable, indexed copy of one inventory. Requests never
//! wait on libvirt or netlink.
//!
//! A view is made of persistent maps: the next view shares every domain and index entry
//! a change did not touch, so publishing a change costs in proportion to the change, not
//! to the host.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use imbl::OrdMap;
use serde::ser::{Serialize, SerializeSeq, Serializer};

use super::problem::Problem;
use super::record::{DomainRecord, Vif};
use crate::correlate::{Changes, DomainKey};

/// One inventory, indexed for the lookups the API makes.
#[derive(Debug, Default, Clone)]
pub struct View {
    /// Increases each time the inventory's content changes; 0 before the first one.
    pub generation: u64,
    /// When the inventory was taken (RFC 3339, UTC).
    pub collected_at: String,
    /// libvirt could not be reached: the guest side is the last one read.
    pub stale: bool,
    /// Domains in name order, as libvirt lists them.
    domains: OrdMap<DomainKey, Arc<DomainRecord>>,
    /// Host-level problems (orphan devices), by device name.
    host_problems: OrdMap<String, Arc<Problem>>,
    /// Lower-case domain UUID → its key.
    by_uuid: OrdMap<String, DomainKey>,
    /// Lower-case record id → the records with it (one, unless two domains claim a port),
    /// in inventory order: a lookup answers the last, whatever the order of changes.
    by_id: OrdMap<String, Vec<Placed>>,
    interface_count: usize,
    problem_count: usize,
    /// `GET /v1/interfaces` without filters, serialized at most once per view, on
    /// first use: a change costs no serialization nobody asks for.
    all_interfaces_json: Arc<OnceLock<Result<Bytes, String>>>,
    /// The view's part of `GET /metrics`, one slot per exposition format, each rendered
    /// on first use like the above. Counters come with a new view (same generation), so
    /// they are never older than the view.
    metrics: Arc<[OnceLock<Result<Bytes, String>>; 2]>,
}

impl View {
    /// The view of `changes` applied to an empty one (a correlation's whole content).
    pub fn build(generation: u64, collected_at: SystemTime, changes: Changes) -> Self {
        View::default().next(generation, collected_at, changes)
    }

    /// This view with `changes` applied, at `generation`: shares everything they did not
    /// touch.
    pub fn next(&self, generation: u64, collected_at: SystemTime, changes: Changes) -> Self {
        let mut v = if changes.reset {
            View::default()
        } else {
            View {
                all_interfaces_json: Arc::default(),
                metrics: Arc::default(),
                ..self.clone()
            }
        };
        v.generation = generation;
        v.collected_at = humantime::format_rfc3339_seconds(collected_at).to_string();
        v.stale = changes.stale;
        for (key, record) in changes.domains {
            v.set_domain(key, record);
        }
        for (device, problem) in changes.host_problems {
            let old = match problem {
                Some(p) => {
                    v.problem_count += 1;
                    v.host_problems.insert(device, p)
                }
                None => v.host_problems.remove(&device),
            };
            v.problem_count -= usize::from(old.is_some());
        }
        v
    }

    /// Replaces (or removes) one domain and its index entries.
    fn set_domain(&mut self, key: DomainKey, record: Option<Arc<DomainRecord>>) {
        if let Some(old) = self.domains.remove(&key) {
            // A renamed domain keeps its UUID under a new key, which may come first.
            if self.by_uuid.get(&key.1) == Some(&key) {
                self.by_uuid.remove(&key.1);
            }
            self.interface_count -= old.interfaces.len();
            self.problem_count -= old.problems.len();
            for vif in &old.interfaces {
                let id = vif.id.to_ascii_lowercase();
                if let Some(same) = self.by_id.get_mut(&id) {
                    same.retain(|p| p.key != key);
                    if same.is_empty() {
                        self.by_id.remove(&id);
                    }
                }
            }
        }
        let Some(record) = record else { return };
        self.interface_count += record.interfaces.len();
        self.problem_count += record.problems.len();
        for (index, vif) in record.interfaces.iter().enumerate() {
            let placed = Placed {
                key: key.clone(),
                index,
                vif: vif.clone(),
            };
            let same = self.by_id.entry(vif.id.to_ascii_lowercase()).or_default();
            let at = same.partition_point(|p| (&p.key, p.index) < (&placed.key, index));
            same.insert(at, placed);
        }
        self.by_uuid.insert(key.1.clone(), key.clone());
        self.domains.insert(key, record);
    }

    /// Every domain, in name order.
    pub fn domains(&self) -> impl Iterator<Item = &DomainRecord> {
        self.domains.values().map(|d| &**d)
    }

    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// Every record: domains in name order, each domain's in XML order.
    pub fn interfaces(&self) -> impl Iterator<Item = &Arc<Vif>> {
        self.domains.values().flat_map(|d| d.interfaces.iter())
    }

    pub fn interface_count(&self) -> usize {
        self.interface_count
    }

    /// Every problem: those of the records (in record order), then the host-level ones.
    pub fn problems(&self) -> impl Iterator<Item = &Arc<Problem>> {
        let records = self.domains.values().flat_map(|d| d.problems.iter());
        records.chain(self.host_problems.values())
    }

    /// The host-level problems (orphan devices), by device name.
    pub fn host_problems(&self) -> impl Iterator<Item = &Arc<Problem>> {
        self.host_problems.values()
    }

    pub fn problem_count(&self) -> usize {
        self.problem_count
    }

    /// The domain with this UUID (any case).
    pub fn domain_by_uuid(&self, uuid: &str) -> Option<&DomainRecord> {
        let key = self.by_uuid.get(&uuid.to_ascii_lowercase())?;
        self.domains.get(key).map(|d| &**d)
    }

    /// The domain with this name or UUID.
    pub fn domain_by_name_or_uuid(&self, key: &str) -> Option<&DomainRecord> {
        self.domain_by_uuid(key)
            .or_else(|| self.domains().find(|d| d.summary.name == key))
    }

    pub fn vif_by_id(&self, id: &str) -> Option<&Vif> {
        let same = self.by_id.get(&id.to_ascii_lowercase())?;
        same.last().map(|p| &*p.vif)
    }

    /// The body of an unfiltered `GET /v1/interfaces`.
    pub fn all_interfaces_json(&self) -> Result<Bytes, String> {
        self.all_interfaces_json
            .get_or_init(|| {
                let count = self.interface_count;
                list_body(
                    self.generation,
                    &self.collected_at,
                    "interfaces",
                    count,
                    || self.interfaces(),
                )
                .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Where `GET /metrics` keeps this view's families once rendered, one slot per
    /// exposition format (the API numbers them).
    pub fn metrics_cache(&self) -> &[OnceLock<Result<Bytes, String>>; 2] {
        &self.metrics
    }
}

/// A record and its place in the inventory.
#[derive(Debug, Clone)]
struct Placed {
    key: DomainKey,
    index: usize,
    vif: Arc<Vif>,
}

/// Serializes as a JSON array the items of the iterator its function makes, without
/// collecting them.
pub struct Seq<F>(pub F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in (self.0)() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

/// `{"generation": N, "collected_at": "...", "<key>": [...]}`, the shape of every native
/// list response, written straight into one buffer: no JSON tree for thousands of records.
/// `count` (how many items `items` yields) sizes the buffer.
pub fn list_body<F, I>(
    generation: u64,
    collected_at: &str,
    key: &str,
    count: usize,
    items: F,
) -> Result<Bytes, serde_json::Error>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    let mut buf = Vec::with_capacity(256 + count * 768);
    buf.extend_from_slice(format!("{{\"generation\":{generation},\"collected_at\":").as_bytes());
    serde_json::to_writer(&mut buf, collected_at)?;
    buf.push(b',');
    serde_json::to_writer(&mut buf, key)?;
    buf.push(b':');
    serde_json::to_writer(&mut buf, &Seq(items))?;
    buf.push(b'}');
    Ok(Bytes::from(buf))
}
