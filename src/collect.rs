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
    Ok(collect_with_snapshot(src).await?.1)
}

/// Takes inventories of one source again and again over one libvirt connection.
pub struct Collector {
    source: Source,
    session: Arc<Mutex<Session>>,
}

impl Collector {
    pub fn new(source: Source) -> Self {
        let session = Arc::new(Mutex::new(Session::new(&source.libvirt_uri)));
        Collector { source, session }
    }

    /// An inventory, with libvirt's snapshot (the server reads disks from it).
    pub async fn collect(&self) -> Result<(Snapshot, Inventory), CollectError> {
        let started = Instant::now();
        let session = self.session.clone();
        let guests = tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves a session that reconnects: usable.
            let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
            let res = session.fetch();
            debug!(elapsed = ?started.elapsed(), "libvirt snapshot read");
            res
        });
        let devices = async {
            let res = netlink::read_devices(&self.source.netns).await;
            debug!(elapsed = ?started.elapsed(), "netlink snapshot read");
            res
        };
        let (guests, devices) = tokio::join!(guests, devices);
        let devices = devices?;
        let guests = guests.map_err(|_| LibvirtError::Worker {
            uri: self.source.libvirt_uri.clone(),
        })??;
        let inv = correlate(&guests, &devices, &self.source.options);
        debug!(elapsed = ?started.elapsed(), interfaces = inv.interfaces.len(), "correlated");
        Ok((guests, inv))
    }
}

/// As [`collect`], also returning libvirt's snapshot.
pub async fn collect_with_snapshot(src: &Source) -> Result<(Snapshot, Inventory), CollectError> {
    Collector::new(src.clone()).collect().await
}
