//! What the ovn resolver reads: the Southbound's view of the local ports, which chassis
//! this host is, the namespaces the metadata agent made, and which ports are still inside
//! their grace period.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::ovn::{SbPort, SbState};
use crate::ovsdb::{OvsInterface, OvsState};

/// The integration bridge when `ovn-bridge` is not set.
pub const DEFAULT_OVN_BRIDGE: &str = "br-int";

/// The Southbound as last read, and what it is judged against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvnFacts {
    pub state: Arc<SbState>,
    /// The Southbound is unreachable: these are the last known bindings.
    pub stale: bool,
    pub chassis: ChassisId,
    /// The bridge ovn-controller binds ports on (`ovn-bridge`, default `br-int`).
    pub integration_bridge: String,
    /// The host's named network namespaces (`ip netns`), for `ovnmeta-<net>`.
    pub namespaces: Arc<BTreeSet<String>>,
    /// Ports whose binding faults (see [`Faults`]) began less than the grace period ago:
    /// not reported yet. Empty for a one-shot read, which cannot know how long a state has
    /// lasted.
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

/// What is wrong with a port's binding. Each of these waits for the grace period in
/// `vifd serve`: a port being plugged passes through unbound, not installed and down, one
/// being migrated is bound or requested elsewhere for a moment, and the metadata agent
/// makes a network's namespace only once a port of it is bound here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Faults<'a> {
    pub unbound: bool,
    /// The other chassis it is bound to (this one is not an additional chassis).
    pub bound_elsewhere: Option<&'a str>,
    /// `requested-chassis` is set and names neither this chassis nor its hostname.
    pub requested_elsewhere: bool,
    /// Bound here, and the interface is not `ovn-installed`.
    pub not_installed: bool,
    /// Bound here, and the binding is not `up`.
    pub down: bool,
    /// Bound here, on a network with a metadata port, and this namespace is missing.
    pub metadata_missing: Option<String>,
}

impl Faults<'_> {
    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
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

    /// Whether an OVSDB row is one ovn-controller binds: an iface-id on the integration
    /// bridge.
    pub fn is_local_port(&self, row: &OvsInterface) -> bool {
        row.iface_id.is_some() && row.bridge.as_deref() == Some(&self.integration_bridge)
    }

    /// Whether a port is bound to this chassis.
    pub fn bound_here(&self, port: &SbPort) -> bool {
        matches!((&port.chassis, &self.chassis.system_id), (Some(c), Some(me)) if c == me)
    }

    /// Whether `requested-chassis` (names or hostnames) names this chassis.
    fn requested_here(&self, port: &SbPort) -> bool {
        let sb_host = self
            .state
            .chassis
            .as_ref()
            .and_then(|c| c.hostname.as_deref());
        let requested = &port.requested_chassis;
        requested.is_empty() || requested.iter().any(|r| self.chassis.is(r, sb_host))
    }

    /// The binding's faults, given whether ovn-controller installed the interface.
    pub fn faults<'a>(&self, port: &'a SbPort, installed: bool) -> Faults<'a> {
        let me = self.chassis.system_id.as_deref();
        let here = self.bound_here(port);
        let additional = port
            .additional_chassis
            .iter()
            .any(|a| Some(a.as_str()) == me);
        let elsewhere = port
            .chassis
            .as_deref()
            .filter(|c| Some(*c) != me && !additional);
        Faults {
            unbound: port.chassis.is_none(),
            bound_elsewhere: elsewhere,
            requested_elsewhere: !self.requested_here(port),
            not_installed: here && !installed,
            down: here && port.up != Some(true),
            metadata_missing: here.then(|| self.metadata_missing(port)).flatten(),
        }
    }

    fn metadata_missing(&self, port: &SbPort) -> Option<String> {
        let dp = port.datapath.as_ref().filter(|d| d.has_localport)?;
        let ns = format!("ovnmeta-{}", dp.network_id()?);
        (!self.namespaces.contains(&ns)).then_some(ns)
    }

    /// The local ports (by iface-id) with a binding fault: what the serve loop times.
    pub fn pending(&self, ovs: &OvsState) -> BTreeSet<String> {
        let installed = self.installed(ovs);
        let faulty = installed.iter().filter(|(id, i)| self.is_pending(id, **i));
        faulty.map(|(id, _)| id.clone()).collect()
    }

    /// Each local port's iface-id and whether ovn-controller installed it.
    pub fn installed(&self, ovs: &OvsState) -> HashMap<String, bool> {
        let rows = ovs.interfaces.values().filter(|r| self.is_local_port(r));
        let ids = rows.filter_map(|r| Some((r.iface_id.clone()?, r.ovn_installed)));
        ids.collect()
    }

    /// Whether this local port has a binding fault.
    pub fn is_pending(&self, iface_id: &str, installed: bool) -> bool {
        let port = self.port(iface_id);
        port.is_some_and(|p| self.faults(p, installed).any())
    }
}
