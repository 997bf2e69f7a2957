//! The record-level problems: what about one interface does not add up.

use crate::correlate::Devices;
use crate::inventory::problem::{Problem, ProblemKind};
use crate::libvirt::{Domain, DomainInterface, Network};
use crate::netlink::{DeviceKind, HostDevice};

/// Every problem of one interface, given the device matched to it (if any).
pub(crate) fn check_interface(
    dom: &Domain,
    iface: &DomainInterface,
    dev: Option<&HostDevice>,
    network: Option<&Network>,
    host: &Devices,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |kind, detail: String| {
        out.push(Problem {
            kind,
            device: dev.map(|d| d.name.clone()).or_else(|| iface.target.clone()),
            domain_uuid: Some(dom.uuid.clone()),
            mac_address: iface.mac,
            detail,
        })
    };
    let what = describe(dom, iface);
    let Some(dev) = dev else {
        if dom.state.has_process() && iface.has_host_netdev() {
            problem(
                ProblemKind::DeviceMissing,
                format!("{what}: no host device (domain is {})", dom.state.as_str()),
            );
        }
        return out;
    };
    if let Some(detail) = mac_problem(iface, dev) {
        problem(ProblemKind::MacMismatch, format!("{what}: {detail}"));
    }
    if let Some(detail) = master_problem(iface, dev, network, host) {
        problem(ProblemKind::WrongMaster, format!("{what}: {detail}"));
    }
    // A `<link state='down'/>` interface is down on purpose.
    let link_down = iface.link_state.as_deref() == Some("down");
    if dom.state.is_running() && dev.carrier == Some(false) && !link_down {
        problem(
            ProblemKind::NoCarrier,
            format!("{what}: {} has no carrier while the domain runs", dev.name),
        );
    }
    out
}

pub(crate) fn describe(dom: &Domain, iface: &DomainInterface) -> String {
    let mac = iface.mac.map(|m| m.to_string());
    format!(
        "domain {} interface {} ({})",
        dom.name,
        mac.as_deref().unwrap_or("without MAC"),
        iface.kind
    )
}

/// libvirt gives a tap it creates the guest MAC with the first byte 0xFE (0xFA when the
/// guest's is 0xFE); a macvtap carries the guest MAC; a `managed='no'` tap keeps its own.
fn mac_problem(iface: &DomainInterface, dev: &HostDevice) -> Option<String> {
    let guest = iface.mac?;
    let expected = match dev.kind {
        DeviceKind::Macvtap | DeviceKind::Macvlan => guest,
        DeviceKind::Tap | DeviceKind::Tun if iface.target_managed != Some(false) => {
            guest.libvirt_tap_mac()
        }
        _ => return None,
    };
    match dev.mac {
        Some(actual) if actual == expected => None,
        Some(actual) => Some(format!(
            "{} has MAC {actual}, expected {expected}",
            dev.name
        )),
        None => Some(format!("{} has no MAC, expected {expected}", dev.name)),
    }
}

/// The bridge the device should be enslaved to, checked against the one it is.
fn master_problem(
    iface: &DomainInterface,
    dev: &HostDevice,
    network: Option<&Network>,
    host: &Devices,
) -> Option<String> {
    let bridge = iface
        .source
        .bridge
        .as_deref()
        .or_else(|| network.and_then(|n| n.bridge.as_deref()))?;
    if !matches!(iface.kind.as_str(), "bridge" | "network") {
        return None;
    }
    let actual = dev.master.as_deref();
    let is_ovs = iface
        .virtualport
        .as_ref()
        .is_some_and(|v| v.kind.as_deref() == Some("openvswitch"));
    // An Open vSwitch port's kernel master is the datapath (`ovs-system`), not the bridge.
    let ok = if is_ovs {
        actual
            .and_then(|m| host.get(m))
            .is_some_and(|m| m.kind == DeviceKind::Openvswitch)
    } else {
        actual == Some(bridge)
    };
    if ok {
        return None;
    }
    let expected = if is_ovs {
        format!("Open vSwitch bridge {bridge}")
    } else {
        bridge.to_string()
    };
    Some(match actual {
        Some(m) => format!("{} is enslaved to {m}, expected {expected}", dev.name),
        None => format!(
            "{} is not enslaved to any bridge, expected {expected}",
            dev.name
        ),
    })
}
