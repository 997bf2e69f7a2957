//! Reading both sides of the host at once and correlating them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use std::time::Duration;

use tracing::{debug, warn};

use crate::correlate::{correlate_with, CorrelateOptions};
use crate::identity::{ChassisId, Facts, OvnFacts, OvsFacts, DEFAULT_OVN_BRIDGE};
use crate::inventory::record::Inventory;
use crate::libvirt::{with_session, LibvirtError, Session, Snapshot};
use crate::netlink::{self, NetlinkError, NetnsTarget};
use crate::ovn::{self, OvnError, SbState, Wanted};
use crate::ovsdb::{self, OvsState, OvsdbAddr};

/// How long one OVSDB read may take before the inventory goes on without it.
pub const OVSDB_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one member of the OVN Southbound may take to answer: a remote database that
/// holds the whole cloud, so more than the local OVSDB.
pub const OVN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an inventory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Libvirt(#[from] LibvirtError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

/// What to read and how to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub libvirt_uri: String,
    pub netns: NetnsTarget,
    pub options: CorrelateOptions,
    /// Where OVSDB is, when the ovsdb resolver is on.
    pub ovsdb: Option<OvsdbSource>,
    /// The ovn resolver's Southbound, when that resolver is on.
    pub ovn: Option<OvnSource>,
    /// Ask guest agents for addresses, waiting at most this long for each.
    pub guest_agent: Option<Duration>,
}

/// The ovsdb resolver's server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsdbSource {
    pub addr: OvsdbAddr,
    /// Named by the operator. The default socket missing only means this host runs no
    /// Open vSwitch; a configured server missing is worth a warning.
    pub explicit: bool,
}

/// The ovn resolver's Southbound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvnSource {
    /// The members given (`--ovn-sb`); `None`: the local Open vSwitch's `ovn-remote`.
    pub remotes: Option<Vec<OvsdbAddr>>,
    /// How long a binding fault may last before it is reported (`vifd serve`).
    pub grace: Duration,
}

impl OvnSource {
    /// The members to read: the ones given, else the local `ovn-remote`; `None` when the
    /// host is not an OVN chassis.
    pub fn remotes(&self, ovs: &OvsState) -> Option<Result<Vec<OvsdbAddr>, OvnError>> {
        if let Some(r) = &self.remotes {
            return Some(Ok(r.clone()));
        }
        ovs.host.ovn_remote.as_deref().map(ovn::parse_remotes)
    }
}

/// What the Southbound is asked for: the local iface-ids and this chassis.
pub fn ovn_wanted(ovs: &OvsState) -> Wanted {
    let bridge = ovn_bridge(ovs);
    let local = ovs
        .interfaces
        .values()
        .filter(|i| i.bridge.as_deref() == Some(bridge));
    Wanted {
        ports: Arc::new(local.filter_map(|i| i.iface_id.clone()).collect()),
        system_id: ovs.host.system_id.clone(),
    }
}

/// The bridge ovn-controller binds ports on: `ovn-bridge`, default `br-int`.
pub fn ovn_bridge(ovs: &OvsState) -> &str {
    ovs.host.ovn_bridge.as_deref().unwrap_or(DEFAULT_OVN_BRIDGE)
}

/// This chassis, as the local Open vSwitch names it.
pub fn chassis_id(ovs: &OvsState) -> ChassisId {
    ChassisId {
        system_id: ovs.host.system_id.clone(),
        hostname: ovs.host.hostname.clone(),
    }
}

impl OvsdbSource {
    /// Whether to try at all: a default unix socket that does not exist is skipped.
    pub fn present(&self) -> bool {
        match &self.addr {
            OvsdbAddr::Unix(path) if !self.explicit => path.exists(),
            _ => true,
        }
    }
}

/// Reads libvirt (on a blocking thread), netlink (on its own thread) and OVSDB in
/// parallel, then correlates.
pub async fn collect(src: &Source) -> Result<Inventory, CollectError> {
    let started = Instant::now();
    let mut session = Session::new(&src.libvirt_uri);
    session.set_guest_agent(src.guest_agent);
    let session = Arc::new(Mutex::new(session));
    let guests = async {
        let res = read_guests(session).await;
        debug!(elapsed = ?started.elapsed(), "libvirt snapshot read");
        res
    };
    let host = async {
        let res = netlink::read_host(&src.netns).await;
        debug!(elapsed = ?started.elapsed(), "netlink snapshot read");
        res
    };
    let ovs = async {
        let ovs = read_ovsdb(src.ovsdb.as_ref()).await;
        let ovn = match (&src.ovn, &ovs) {
            (Some(o), Some(state)) => read_ovn(o, state).await,
            _ => None,
        };
        (ovs, ovn)
    };
    let (guests, host, (ovs, ovn)) = tokio::join!(guests, host, ovs);
    let (guests, (devices, neighbours)) = (guests?, host?);
    let ovs = ovs.map(|state| OvsFacts {
        state: Arc::new(state),
        stale: false,
    });
    let mut facts = Facts::new(ovs, &neighbours);
    facts.ovn = ovn;
    let inv = correlate_with(&guests, &devices, &facts, &src.options);
    debug!(elapsed = ?started.elapsed(), interfaces = inv.interfaces.len(), "correlated");
    Ok(inv)
}

/// OVSDB's rows in one round trip, or none: an unreachable server is logged and the
/// inventory goes on without it.
pub async fn read_ovsdb(src: Option<&OvsdbSource>) -> Option<OvsState> {
    let src = src?;
    if !src.present() {
        debug!(addr = %src.addr, "no ovsdb-server socket: the ovsdb resolver is off");
        return None;
    }
    match ovsdb::read_state(&src.addr, OVSDB_TIMEOUT).await {
        Ok(state) => Some(state),
        Err(e) => {
            warn!(error = %e, "ovsdb resolver skipped");
            None
        }
    }
}

/// The Southbound's bindings of the local ports in one conditional monitor (two round
/// trips), or none when the host is not an OVN chassis. An unreachable Southbound is
/// logged, and the records go without bindings.
pub async fn read_ovn(src: &OvnSource, ovs: &OvsState) -> Option<OvnFacts> {
    let remotes = match src.remotes(ovs)? {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "ovn resolver skipped");
            return None;
        }
    };
    let (state, stale) = match ovn::read_state(&remotes, ovn_wanted(ovs), OVN_TIMEOUT).await {
        Ok(state) => (state, false),
        Err(e) => {
            warn!(error = %e, "OVN Southbound unreachable: no bindings");
            (SbState::default(), true)
        }
    };
    Some(OvnFacts {
        state: Arc::new(state),
        stale,
        chassis: chassis_id(ovs),
        integration_bridge: ovn_bridge(ovs).to_string(),
        namespaces: Arc::new(netlink::named_namespaces()),
        fresh: Default::default(),
    })
}

/// A libvirt snapshot read through `session` on a blocking thread.
pub async fn read_guests(session: Arc<Mutex<Session>>) -> Result<Snapshot, LibvirtError> {
    with_session(session, Session::fetch).await
}
