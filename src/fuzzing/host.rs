//! The host the harnesses correlate against: one running domain as parsed, and taps.

use crate::libvirt::{Domain, DomainState, ParsedDomain, Snapshot};
use crate::mac::MacAddr;
use crate::netlink::{DeviceKind, HostDevice};

/// A snapshot of one running domain, as parsed from its XML.
pub(super) fn running(parsed: ParsedDomain) -> Snapshot {
    let domain = Domain {
        uuid: parsed.uuid.unwrap_or_default(),
        name: parsed.name.unwrap_or_default(),
        state: DomainState::Running,
        interfaces: parsed.interfaces,
        disks: parsed.disks,
        nova: parsed.nova,
        guest_addresses: vec![],
    };
    Snapshot {
        domains: vec![domain],
        networks: vec![],
    }
}

/// A tap that is up, with no MAC or MTU.
pub(super) fn tap(ifindex: u32, name: String) -> HostDevice {
    HostDevice {
        ifindex,
        name,
        kind: DeviceKind::Tap,
        mac: None,
        master: None,
        operstate: "up".into(),
        carrier: Some(true),
        admin_up: true,
        mtu: None,
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
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
        ..tap(ifindex, name)
    }
}
