//! Reading both sides of the host at once and correlating them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use std::time::Duration;

use tracing::{debug, warn};

use crate::correlate::{correlate_with, CorrelateOptions};
use crate::identity::{Facts, OvsFacts};
use crate::inventory::Inventory;
use crate::libvirt::{LibvirtError, Session, Snapshot};
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

/// Runs `f` on the session on a blocking thread: every libvirt call blocks.
pub async fn with_session<T: Send + 'static>(
    session: Arc<Mutex<Session>>,
    f: impl FnOnce(&mut Session) -> Result<T, LibvirtError> + Send + 'static,
) -> Result<T, LibvirtError> {
    let uri = session
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .uri()
        .to_string();
    let joined = tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves a session that reconnects: usable.
        f(&mut session.lock().unwrap_or_else(|e| e.into_inner()))
    })
    .await;
    joined.unwrap_or_else(|e| {
        let reason = match e.try_into_panic() {
            Ok(payload) => crate::libvirt::panic_message(&*payload).to_string(),
            Err(_) => "cancelled".to_string(),
        };
        tracing::error!(%uri, panic = %reason, "libvirt worker thread stopped unexpectedly");
        Err(LibvirtError::Worker { uri, reason })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_libvirt_call_is_a_worker_error_with_the_panic_message() {
        let session = Arc::new(Mutex::new(Session::new("test:///default")));
        let res: Result<(), _> = with_session(session.clone(), |_| panic!("lost {}", "it")).await;
        match res {
            Err(e @ LibvirtError::Worker { .. }) => assert_eq!(
                e.to_string(),
                "libvirt worker for test:///default stopped unexpectedly: lost it"
            ),
            other => panic!("expected a worker error, got {other:?}"),
        }
        // The session is still usable afterwards.
        assert!(with_session(session, |_| Ok(1)).await.is_ok());
    }
}
