//! What the ovn resolver reads: the Southbound's view of the local ports, which chassis
//! this host is, the namespaces the metadata agent made, and which ports are still inside
//! their grace period.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::ovn::{SbPort, SbState};
use crate::ovsdb::{OvsInterface, OvsState};

/// The Southbound as last read, and what it is judged against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvnFacts {
    pub state: Arc<SbState>,
    /// The Southbound is unreachable: these are the last known bindings.
    pub stale: bool,
    pub chassis: ChassisId,
    /// The host's named network namespaces (`ip netns`), for `ovnmeta-<net>`.
    pub namespaces: Arc<BTreeSet<String>>,
    /// Ports whose binding fault began less than the grace period ago: a port being
    /// plugged passes through unbound, not installed and down, and is not flagged for it.
    /// Empty for a one-shot read, which cannot know how long a state has lasted.
    pub fresh: BTreeSet<String>,
}

/// Which chassis this host is, from the local Open_vSwitch row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChassisId {
    /// `external_ids:system-id`: the Chassis name.
    pub system_id: Option<String>,
    /// `external_ids:hostname`.
    pub hostname: Option<String>,
}

impl ChassisId {
    /// Whether `name` (a chassis name or a hostname, as `requested-chassis` holds) is this
    /// chassis.
    pub fn is(&self, name: &str, sb_hostname: Option<&str>) -> bool {
        let mine = [
            self.system_id.as_deref(),
            self.hostname.as_deref(),
            sb_hostname,
        ];
        mine.into_iter().flatten().any(|m| m == name)
    }
}

/// A binding fault that waits for the grace period before it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pending {
    /// No chassis yet.
    Unbound,
    /// Bound here; flows not installed, or the binding not up.
    NotReady { installed: bool, up: bool },
}

impl OvnFacts {
    /// The Southbound's binding of a port this state was asked about; `None` also when it
    /// was not asked yet.
    pub fn port(&self, iface_id: &str) -> Option<&SbPort> {
        self.state.ports.get(iface_id)
    }

    /// Whether the Southbound was asked about this port (so its absence means something).
    pub fn asked(&self, iface_id: &str) -> bool {
        self.state.asked.contains(iface_id)
    }

    /// Whether a port is bound to this chassis.
    pub fn bound_here(&self, port: &SbPort) -> bool {
        matches!((&port.chassis, &self.chassis.system_id), (Some(c), Some(me)) if c == me)
    }

    /// Every local port's grace-bound fault, by iface-id: what the serve loop times.
    pub fn pending(&self, ovs: &OvsState) -> BTreeMap<String, Pending> {
        let mut out = BTreeMap::new();
        for row in ovs.interfaces.values() {
            let Some(id) = &row.iface_id else { continue };
            if let Some(p) = self.pending_of(row, id) {
                out.insert(id.clone(), p);
            }
        }
        out
    }

    fn pending_of(&self, row: &OvsInterface, id: &str) -> Option<Pending> {
        let port = self.port(id)?;
        if port.chassis.is_none() {
            return Some(Pending::Unbound);
        }
        let up = port.up == Some(true);
        (self.bound_here(port) && (!row.ovn_installed || !up)).then_some(Pending::NotReady {
            installed: row.ovn_installed,
            up,
        })
    }
}
