//! Reading both sides of the host at once and correlating them.

use std::time::Instant;

use tracing::debug;

use crate::correlate::{correlate, CorrelateOptions};
use crate::inventory::Inventory;
use crate::libvirt::{self, LibvirtError, Snapshot};
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

/// As [`collect`], also returning libvirt's snapshot (the server reads disks from it).
pub async fn collect_with_snapshot(src: &Source) -> Result<(Snapshot, Inventory), CollectError> {
    let started = Instant::now();
    let uri = src.libvirt_uri.clone();
    let guests = tokio::task::spawn_blocking(move || {
        let res = libvirt::fetch(&uri);
        debug!(elapsed = ?started.elapsed(), "libvirt snapshot read");
        res
    });
    let devices = async {
        let res = netlink::read_devices(&src.netns).await;
        debug!(elapsed = ?started.elapsed(), "netlink snapshot read");
        res
    };
    let (guests, devices) = tokio::join!(guests, devices);
    let devices = devices?;
    let guests = guests.map_err(|_| LibvirtError::Worker {
        uri: src.libvirt_uri.clone(),
    })??;
    let inv = correlate(&guests, &devices, &src.options);
    debug!(elapsed = ?started.elapsed(), interfaces = inv.interfaces.len(), "correlated");
    Ok((guests, inv))
}
