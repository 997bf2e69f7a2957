//! The Southbound side of the served state: the last bindings read, whether the session is
//! up, and the grace clock of each port's binding fault.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::collect::chassis_id;
use crate::identity::{OvnFacts, Pending};
use crate::netlink::named_namespaces;
use crate::ovn::SbState;
use crate::ovsdb::OvsState;

pub(super) struct OvnSide {
    grace: Duration,
    /// The last state read: what is served, marked stale, while the session is down.
    last: Option<Arc<SbState>>,
    /// The session is up; `None` while the host is not an OVN chassis.
    up: Option<bool>,
    namespaces: Arc<BTreeSet<String>>,
    /// Each port's current fault and when it began.
    since: BTreeMap<String, (Pending, Instant)>,
}

impl OvnSide {
    pub(super) fn new(grace: Duration) -> Self {
        OvnSide {
            grace,
            last: None,
            up: None,
            namespaces: Arc::new(named_namespaces()),
            since: BTreeMap::new(),
        }
    }

    pub(super) fn up(&self) -> Option<bool> {
        self.up
    }

    /// A new state (`Some`), the session down (`None`).
    pub(super) fn set_state(&mut self, state: Option<SbState>) {
        self.up = Some(state.is_some());
        if let Some(s) = state {
            self.last = Some(Arc::new(s));
        }
    }

    /// The host stopped being an OVN chassis.
    pub(super) fn off(&mut self) {
        (self.up, self.last) = (None, None);
        self.since.clear();
    }

    /// Re-reads the host's namespaces; true when they changed.
    pub(super) fn reread_namespaces(&mut self) -> bool {
        let now = named_namespaces();
        if *self.namespaces == now {
            return false;
        }
        self.namespaces = Arc::new(now);
        true
    }

    /// The facts to correlate with, the grace clocks moved on to `now`.
    pub(super) fn facts(&mut self, ovs: Option<&OvsState>, now: Instant) -> Option<OvnFacts> {
        let (state, ovs) = (self.last.clone()?, ovs?);
        let mut facts = OvnFacts {
            state,
            stale: self.up == Some(false),
            chassis: chassis_id(ovs),
            namespaces: self.namespaces.clone(),
            fresh: BTreeSet::new(),
        };
        let pending = facts.pending(ovs);
        self.since.retain(|id, (p, _)| pending.get(id) == Some(p));
        for (id, p) in pending {
            let (_, began) = self.since.entry(id.clone()).or_insert((p, now));
            if now < *began + self.grace {
                facts.fresh.insert(id);
            }
        }
        Some(facts)
    }

    /// When the next fault's grace runs out.
    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let ends = self.since.values().map(|(_, began)| *began + self.grace);
        ends.filter(|end| *end > now).min()
    }
}
