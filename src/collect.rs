//! Reading both sides of the host at once and correlating them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::debug;

use crate::correlate::{correlate, CorrelateOptions};
use crate::inventory::Inventory;
use crate::libvirt::{LibvirtError, Session, Snapshot};
use crate::netlink::{self, NetlinkError, NetnsTarget};

/// Why an inventory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Libvirt(#[from] LibvirtError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

/// What to read and how to judge it.
#[derive(Debug, Clone)]
pub struct Source {
    pub libvirt_uri: String,
    pub netns: NetnsTarget,
    pub options: CorrelateOptions,
}

/// Reads libvirt (on a blocking thread) and netlink (on its own thread) in parallel,
/// then correlates.
pub async fn collect(src: &Source) -> Result<Inventory, CollectError> {
    let started = Instant::now();
    let session = Arc::new(Mutex::new(Session::new(&src.libvirt_uri)));
    let guests = async {
        let res = read_guests(session).await;
        debug!(elapsed = ?started.elapsed(), "libvirt snapshot read");
        res
    };
    let devices = async {
        let res = netlink::read_devices(&src.netns).await;
        debug!(elapsed = ?started.elapsed(), "netlink snapshot read");
        res
    };
    let (guests, devices) = tokio::join!(guests, devices);
    let (guests, devices) = (guests?, devices?);
    let inv = correlate(&guests, &devices, &src.options);
    debug!(elapsed = ?started.elapsed(), interfaces = inv.interfaces.len(), "correlated");
    Ok(inv)
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
    tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves a session that reconnects: usable.
        f(&mut session.lock().unwrap_or_else(|e| e.into_inner()))
    })
    .await
    .unwrap_or(Err(LibvirtError::Worker { uri }))
}
