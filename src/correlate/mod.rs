//! Matching the guest side to the host side: a pure function of two snapshots, and the
//! same matching kept current one domain or device at a time.

mod convert;
mod devices;
mod options;
mod ovn;
mod problems;
mod record;
mod state;

use crate::identity::Facts;
use crate::inventory::record::Inventory;
use crate::libvirt::Snapshot;
use crate::netlink::HostDevice;

pub use options::{glob_match, CorrelateOptions};
pub use state::{Changes, Correlation, Delta, DomainKey};

/// Builds the inventory from what libvirt and the kernel say.
pub fn correlate(guests: &Snapshot, devices: &[HostDevice], opts: &CorrelateOptions) -> Inventory {
    correlate_with(guests, devices, &Facts::default(), opts)
}

/// As [`correlate`], with what OVSDB and the neighbour table say.
pub fn correlate_with(
    guests: &Snapshot,
    devices: &[HostDevice],
    facts: &Facts,
    opts: &CorrelateOptions,
) -> Inventory {
    Correlation::with_facts(
        guests.clone(),
        devices.to_vec(),
        facts.clone(),
        opts.clone(),
    )
    .inventory()
}
