//! What the API answers from: an immutable, indexed copy of one inventory, swapped whole
//! when a refresh brings a new one. Requests never wait on libvirt or netlink.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::feed::{Event, Feed, Start};
use crate::inventory::{DomainSummary, Inventory, Vif};
use crate::libvirt::Domain;

/// A volume attached to a domain: a `<disk>` whose `<serial>` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Volume {
    /// The disk's `<serial>`: Nova writes the Cinder volume UUID there.
    pub volume_id: String,
    /// `/dev/` + the disk's `<target dev>`.
    pub device: Option<String>,
}

/// One inventory, indexed for the lookups the API makes.
#[derive(Debug, Default)]
pub struct View {
    /// Increases each time the inventory's content changes; 0 before the first one.
    pub generation: u64,
    /// When the inventory was taken (RFC 3339, UTC).
    pub collected_at: String,
    pub inventory: Inventory,
    /// libvirt could not be reached: the guest side is the last one read.
    pub stale: bool,
    /// Lower-case domain UUID → index in `inventory.domains`.
    by_uuid: HashMap<String, usize>,
    /// Per domain (same order): indices of its records in `inventory.interfaces`.
    vifs_of: Vec<Vec<usize>>,
    /// Per domain (same order): its volumes.
    volumes_of: Vec<Vec<Volume>>,
    /// Record id → index in `inventory.interfaces`.
    by_id: HashMap<String, usize>,
    /// `GET /v1/interfaces` without filters, serialized at most once per generation, on
    /// first use: a change costs no serialization nobody asks for.
    all_interfaces_json: OnceLock<Result<Bytes, String>>,
    /// The view's part of `GET /metrics`, rendered on first use like the above. Counters
    /// come with a new view (same generation), so they are never older than the view.
    metrics: OnceLock<Result<Bytes, String>>,
}

impl View {
    /// Indexes `inventory`, correlated from `domains` at `collected_at`.
    pub fn build<'a>(
        generation: u64,
        collected_at: SystemTime,
        domains: impl IntoIterator<Item = &'a Domain>,
        inventory: Inventory,
    ) -> Self {
        let collected_at = humantime::format_rfc3339_seconds(collected_at).to_string();
        let by_uuid: HashMap<String, usize> = inventory
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| (d.uuid.to_ascii_lowercase(), i))
            .collect();
        let mut vifs_of = vec![Vec::new(); inventory.domains.len()];
        for (i, vif) in inventory.interfaces.iter().enumerate() {
            if let Some(&d) = by_uuid.get(&vif.domain_uuid.to_ascii_lowercase()) {
                vifs_of[d].push(i);
            }
        }
        let mut volumes_of = vec![Vec::new(); inventory.domains.len()];
        for dom in domains {
            if let Some(&d) = by_uuid.get(&dom.uuid.to_ascii_lowercase()) {
                volumes_of[d] = volumes(dom);
            }
        }
        let by_id = inventory
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, v)| (v.id.to_ascii_lowercase(), i))
            .collect();
        View {
            generation,
            collected_at,
            inventory,
            stale: false,
            by_uuid,
            vifs_of,
            volumes_of,
            by_id,
            all_interfaces_json: OnceLock::new(),
            metrics: OnceLock::new(),
        }
    }

    /// The same view, marked stale or not.
    pub fn with_stale(mut self, stale: bool) -> Self {
        self.stale = stale;
        self
    }

    /// The domain with this UUID (any case).
    pub fn domain_by_uuid(&self, uuid: &str) -> Option<usize> {
        self.by_uuid.get(&uuid.to_ascii_lowercase()).copied()
    }

    /// The domain with this name or UUID.
    pub fn domain_by_name_or_uuid(&self, key: &str) -> Option<usize> {
        self.domain_by_uuid(key)
            .or_else(|| self.inventory.domains.iter().position(|d| d.name == key))
    }

    pub fn domain(&self, idx: usize) -> &DomainSummary {
        &self.inventory.domains[idx]
    }

    /// The records of domain `idx`, in XML order.
    pub fn vifs_of(&self, idx: usize) -> impl Iterator<Item = &Vif> {
        self.vifs_of[idx]
            .iter()
            .map(|&i| &*self.inventory.interfaces[i])
    }

    pub fn volumes_of(&self, idx: usize) -> &[Volume] {
        &self.volumes_of[idx]
    }

    pub fn vif_by_id(&self, id: &str) -> Option<&Vif> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&i| &*self.inventory.interfaces[i])
    }

    /// The body of an unfiltered `GET /v1/interfaces`.
    pub fn all_interfaces_json(&self) -> Result<Bytes, String> {
        self.all_interfaces_json
            .get_or_init(|| {
                let items = &self.inventory.interfaces;
                list_body(self.generation, &self.collected_at, "interfaces", items)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Where `GET /metrics` keeps this view's families once rendered.
    pub(crate) fn metrics_cache(&self) -> &OnceLock<Result<Bytes, String>> {
        &self.metrics
    }
}

fn volumes(dom: &Domain) -> Vec<Volume> {
    dom.disks
        .iter()
        .filter_map(|d| {
            Some(Volume {
                volume_id: d.serial.clone()?,
                device: d.target.as_ref().map(|t| format!("/dev/{t}")),
            })
        })
        .collect()
}

/// `{"generation": N, "collected_at": "...", "<key>": [...]}`, the shape of every native
/// list response, written straight into one buffer: no JSON tree for thousands of records.
pub fn list_body<T: Serialize>(
    generation: u64,
    collected_at: &str,
    key: &str,
    items: &[T],
) -> Result<Bytes, serde_json::Error> {
    let mut buf = Vec::with_capacity(256 + items.len() * 768);
    buf.extend_from_slice(format!("{{\"generation\":{generation},\"collected_at\":").as_bytes());
    serde_json::to_writer(&mut buf, collected_at)?;
    buf.push(b',');
    serde_json::to_writer(&mut buf, key)?;
    buf.push(b':');
    serde_json::to_writer(&mut buf, items)?;
    buf.push(b'}');
    Ok(Bytes::from(buf))
}

/// Readiness: the first inventory is in and the last refresh reached libvirt.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Why the last refresh failed, if it did.
    pub last_error: Option<String>,
}

/// How the serve loop last found each source, and the cost of the last full read: what
/// `/metrics` reports beside the view (they change without a new one).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sources {
    /// The last read of libvirt succeeded.
    pub libvirt: bool,
    /// The link watcher runs and has applied a link table.
    pub netlink: bool,
    /// The OVSDB monitor is connected; `None` when there is no server to watch.
    pub ovsdb: Option<bool>,
    /// The last successful full read of libvirt, correlated and published.
    pub inventory_duration: Option<Duration>,
}

/// The current view, its change feed and health, shared by the refresher and every request.
pub struct Shared {
    view: RwLock<Arc<View>>,
    health: RwLock<Health>,
    sources: RwLock<Sources>,
    feed: Feed,
    /// Tells this daemon's generations from another's (they restart at 1).
    instance: String,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Shared {
            view: RwLock::default(),
            health: RwLock::default(),
            sources: RwLock::default(),
            feed: Feed::default(),
            instance: instance_id(),
            closing: tokio::sync::watch::channel(false).0,
        })
    }

    /// This daemon instance's id, sent in every `snapshot`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Ends every watch stream (at shutdown: they would otherwise hold the drain open).
    pub fn close_watchers(&self) {
        self.closing.send_replace(true);
    }

    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Starts serving `view` (used by tests).
    pub fn with_view(view: View) -> Arc<Self> {
        let s = Self::new();
        s.publish(view, Vec::new());
        s
    }

    pub fn current(&self) -> Arc<View> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc: the value is intact.
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Serves `view` and tells watchers the `events` that led to it.
    pub fn publish(&self, view: View, events: Vec<Arc<Event>>) {
        let generation = view.generation;
        let view = Arc::new(view);
        self.feed.record(generation, events, || {
            *self.view.write().unwrap_or_else(|e| e.into_inner()) = view;
        });
    }

    /// A watcher's start (snapshot of this view, or the events after `since`) and its
    /// live events, consistent with each other.
    pub fn subscribe(
        &self,
        since: Option<u64>,
    ) -> (
        Arc<View>,
        Start,
        tokio::sync::broadcast::Receiver<Arc<Event>>,
    ) {
        let mut view = None;
        let (start, rx) = self.feed.subscribe(since, || {
            let v = self.current();
            let g = v.generation;
            view = Some(v);
            g
        });
        (view.unwrap_or_else(|| self.current()), start, rx)
    }

    /// Waits until the served generation reaches `generation`, at most `timeout`.
    pub async fn wait_for(&self, generation: u64, timeout: std::time::Duration) -> Arc<View> {
        let mut rx = self.feed.generation();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|g| *g >= generation)).await;
        self.current()
    }

    pub fn set_error(&self, error: Option<String>) {
        self.health
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .last_error = error;
    }

    pub fn health(&self) -> Health {
        self.health
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes what is known of the sources (the serve loop's side).
    pub fn update_sources(&self, f: impl FnOnce(&mut Sources)) {
        f(&mut self.sources.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// A copy of what is known of the sources: no lock is held while it is used.
    pub fn sources(&self) -> Sources {
        *self.sources.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// 64 random bits, from the standard library's per-process hash keys and the clock.
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}
