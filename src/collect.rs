//! Reading both sides of the host at once and correlating them.

use crate::correlate::{correlate, CorrelateOptions};
use crate::inventory::Inventory;
use crate::libvirt::{self, LibvirtError};
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
    let uri = src.libvirt_uri.clone();
    let guests = tokio::task::spawn_blocking(move || libvirt::fetch(&uri));
    let devices = netlink::read_devices(&src.netns);
    let (guests, devices) = tokio::join!(guests, devices);
    let devices = devices?;
    let guests = guests.map_err(|_| LibvirtError::Worker {
        uri: src.libvirt_uri.clone(),
    })??;
    Ok(correlate(&guests, &devices, &src.options))
}
