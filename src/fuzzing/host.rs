//! The host the harnesses correlate against: one running domain as parsed, and taps.

use crate::libvirt::{DomainState, ParsedDomain, Snapshot};
use crate::mac::MacAddr;
use crate::netlink::HostDevice;

/// A snapshot of one running domain, as parsed from its XML.
pub(super) fn running(parsed: ParsedDomain) -> Snapshot {
    Snapshot {
        domains: vec![parsed.into_domain(None, None, DomainState::Running)],
        networks: vec![],
    }
}

/// A tap that is up, with no MAC or MTU.
pub(super) fn tap(ifindex: u32, name: String) -> HostDevice {
    HostDevice::up_tap(ifindex, name)
}

/// A tap that is up, with `mac` and `mtu` when given.
pub(super) fn tap_with(
    ifindex: u32,
    name: String,
    mac: Option<MacAddr>,
    mtu: Option<u32>,
) -> HostDevice {
    HostDevice {
        mac,
        mtu,
        ..HostDevice::up_tap(ifindex, name)
    }
}
