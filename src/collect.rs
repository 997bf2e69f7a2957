//! Reading both sides of the host at once and correlating them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use std::time::Duration;

use tracing::{debug, warn};

use crate::correlate::{correlate_with, CorrelateOptions};
use crate::identity::{Facts, OvsFacts};
use crate::inventory::record::Inventory;
use crate::libvirt::{with_session, LibvirtError, Session, Snapshot};
use crate::netlink::{self, NetlinkError, NetnsTarget};
use crate::ovsdb::{self, OvsState, OvsdbAddr};

/// How long one OVSDB read may take before the inventory goes on without it.
pub const OVSDB_TIMEOUT: Duration = Duration::from_secs(2);

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
    let ovs = read_ovsdb(src.ovsdb.as_ref());
    let (guests, host, ovs) = tokio::join!(guests, host, ovs);
    let (guests, (devices, neighbours)) = (guests?, host?);
    let ovs = ovs.map(|state| OvsFacts {
        state: Arc::new(state),
        stale: false,
    });
    let facts = Facts::new(ovs, &neighbours);
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

/// A libvirt snapshot read through `session` on a blocking thread.
pub async fn read_guests(session: Arc<Mutex<Session>>) -> Result<Snapshot, LibvirtError> {
    with_session(session, Session::fetch).await
}
