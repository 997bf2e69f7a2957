//! The live store: the view being served, its change feed and what is known of the
//! sources' health, shared by the serve loop (the writer) and every request.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use super::feed::{Event, Feed, Start};
use super::kinds::DegradedSource;
use super::view::View;

/// Readiness: the first inventory is in and the last refresh reached libvirt.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Why the last refresh failed, if it did.
    pub last_error: Option<String>,
    /// The sources the inventory does without that are down now, and why.
    pub degraded: BTreeMap<DegradedSource, String>,
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
    /// The OVN Southbound monitor is connected; `None` when the host is not an OVN chassis.
    pub ovn: Option<bool>,
    /// The fleet publisher is connected to etcd; `None` when the fleet is off.
    pub fleet: Option<bool>,
    /// Times the fleet publisher found another writer on its host's keys.
    pub fleet_conflicts: u64,
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
        let mut old = None;
        self.feed.record(generation, events, || {
            let mut slot = self.view.write().unwrap_or_else(|e| e.into_inner());
            old = Some(std::mem::replace(&mut *slot, view));
        });
        // The old view is freed here, outside the locks (often the last reference).
        drop(old);
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

    /// A receiver of the served generation: marked changed at each publication (new
    /// counters included), never holding up the writer.
    pub fn generations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.feed.generation()
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

    /// Says that `source` is down (`Some(why)`) or up again (`None`).
    pub fn set_degraded(&self, source: DegradedSource, why: Option<String>) {
        let mut health = self.health.write().unwrap_or_else(|e| e.into_inner());
        match why {
            Some(why) => health.degraded.insert(source, why),
            None => health.degraded.remove(&source),
        };
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
