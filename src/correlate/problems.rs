//! Every problem vifd reports is made here: its kind, what it concerns (device, domain,
//! guest MAC) and the sentence for a human. A record's problems come from its host device
//! and from the device's OVSDB row; a host-level problem from a device no domain claims.

use super::devices::Devices;
use crate::inventory::kinds::{InterfaceType, LinkState, VirtualportType};
use crate::inventory::problem::{Problem, ProblemKind};
use crate::inventory::record::Vif;
use crate::libvirt::{Domain, DomainInterface, Network};
use crate::mac::MacAddr;
use crate::netlink::{DeviceKind, HostDevice};
use crate::ovsdb::OvsInterface;

/// Every problem of one record, given the device matched to it (if any), the network its
/// XML names and the device's OVSDB row (when the ovsdb resolver has one, with whether the
/// host is an OVN chassis): the device's first, then OVSDB's.
pub(crate) fn record_problems(
    vif: &Vif,
    dom: &Domain,
    iface: &DomainInterface,
    dev: Option<&HostDevice>,
    network: Option<&Network>,
    host: &Devices,
    ovs: Option<(&OvsInterface, bool)>,
) -> Vec<Problem> {
    let row = ovs.map(|(row, _)| row);
    let mut found = device_problems(vif, dom, iface, dev, network, host, row);
    if let Some((row, ovn_chassis)) = ovs {
        found.extend(ovs_problems(row, vif, ovn_chassis));
    }
    found
        .into_iter()
        .map(|(kind, detail)| problem(vif, kind, detail))
        .collect()
}

/// A problem of this record.
pub(crate) fn problem(vif: &Vif, kind: ProblemKind, detail: String) -> Problem {
    Problem {
        kind,
        device: vif.device.clone(),
        domain_uuid: Some(vif.domain_uuid.clone()),
        mac_address: vif.mac_address,
        detail: format!("{}: {detail}", describe(vif)),
    }
}

/// A guest-carrier device that no domain claims.
pub(crate) fn orphan_problem(dev: &HostDevice) -> Problem {
    Problem {
        kind: ProblemKind::OrphanDevice,
        device: Some(dev.name.clone()),
        domain_uuid: None,
        mac_address: dev.mac,
        detail: format!(
            "{} {} is not claimed by any domain",
            dev.kind.as_str(),
            dev.name
        ),
    }
}

/// How a record's problems name it: `domain web interface 52:54:00:.. (bridge)`.
fn describe(vif: &Vif) -> String {
    let mac = vif.mac_address.map(|m| m.to_string());
    format!(
        "domain {} interface {} ({})",
        vif.domain_name,
        mac.as_deref().unwrap_or("without MAC"),
        vif.kind
    )
}

/// `device-missing`, `mac-mismatch`, `wrong-master` and `no-carrier`.
fn device_problems(
    vif: &Vif,
    dom: &Domain,
    iface: &DomainInterface,
    dev: Option<&HostDevice>,
    network: Option<&Network>,
    host: &Devices,
    ovs: Option<&OvsInterface>,
) -> Vec<(ProblemKind, String)> {
    let mut out = Vec::new();
    let Some(dev) = dev else {
        if dom.state.has_process() && iface.has_host_netdev() {
            out.push((
                ProblemKind::DeviceMissing,
                format!("no host device (domain is {})", vif.domain_state),
            ));
        }
        return out;
    };
    if let Some(detail) = mac_problem(vif, dev) {
        out.push((ProblemKind::MacMismatch, detail));
    }
    if let Some(detail) = master_problem(vif, dev, network, host, ovs) {
        out.push((ProblemKind::WrongMaster, detail));
    }
    // A `<link state='down'/>` interface is down on purpose.
    let link_down = vif.link_state == Some(LinkState::Down);
    if dom.state.is_running() && dev.carrier == Some(false) && !link_down {
        out.push((
            ProblemKind::NoCarrier,
            format!("{} has no carrier while the domain runs", dev.name),
        ));
    }
    out
}

/// libvirt gives a tap it creates the guest MAC with the first byte 0xFE (0xFA when the
/// guest's is 0xFE); a macvtap carries the guest MAC; a `managed='no'` tap keeps its own.
fn mac_problem(vif: &Vif, dev: &HostDevice) -> Option<String> {
    let guest = vif.mac_address?;
    let expected = match dev.kind {
        DeviceKind::Macvtap | DeviceKind::Macvlan => guest,
        DeviceKind::Tap | DeviceKind::Tun if vif.target_managed != Some(false) => {
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

/// What a device's kernel master should be.
enum Expected<'a> {
    /// This Linux bridge.
    Bridge(&'a str),
    /// The kernel datapath (`ovs-system`), as a port of this Open vSwitch bridge.
    KernelDatapath(&'a str),
    /// None: a port of this userspace (`netdev`) Open vSwitch bridge is read by
    /// ovs-vswitchd itself, not enslaved to anything.
    Userspace(&'a str),
}

/// The bridge the device should be enslaved to, checked against the one it is.
///
/// Open vSwitch ports are told by `<virtualport type='openvswitch'>` or by an OVSDB row
/// that puts the device on a bridge; the latter also covers Nova's (>= 24) `type='ethernet'`
/// taps, which os-vif plugs with no source or virtualport in the XML. The row's
/// `datapath_type` then decides: kernel datapath, master `ovs-system`; `netdev`, no master.
/// Without a row (ovsdb resolver off, or no such Interface) the kernel datapath is assumed
/// for a virtualport, as before, and an ethernet tap is not checked.
fn master_problem(
    vif: &Vif,
    dev: &HostDevice,
    network: Option<&Network>,
    host: &Devices,
    ovs: Option<&OvsInterface>,
) -> Option<String> {
    let xml_bridge = vif
        .source
        .bridge
        .as_deref()
        .or_else(|| network.and_then(|n| n.bridge.as_deref()));
    // A row read from OVSDB has a datapath_type whenever it has a bridge; one without says
    // nothing about the datapath.
    let row = ovs.filter(|r| r.bridge.is_some() && r.datapath_type.is_some());
    let checked = match vif.kind {
        InterfaceType::Bridge | InterfaceType::Network => xml_bridge.is_some(),
        InterfaceType::Ethernet => row.is_some(),
        _ => false,
    };
    if !checked {
        return None;
    }
    let virtualport = vif
        .virtualport
        .as_ref()
        .is_some_and(|v| v.kind == Some(VirtualportType::Openvswitch));
    let expected = match (row, xml_bridge) {
        (Some(r), _) => {
            let name = r.bridge.as_deref().unwrap_or_default();
            match r.is_userspace_datapath() {
                true => Expected::Userspace(name),
                false => Expected::KernelDatapath(name),
            }
        }
        (None, Some(b)) if virtualport => Expected::KernelDatapath(b),
        (None, Some(b)) => Expected::Bridge(b),
        (None, None) => return None,
    };
    let actual = dev.master.as_deref();
    let ok = match expected {
        Expected::Bridge(b) => actual == Some(b),
        // An Open vSwitch port's kernel master is the datapath (`ovs-system`), not the bridge.
        Expected::KernelDatapath(_) => actual
            .and_then(|m| host.get(m))
            .is_some_and(|m| m.kind == DeviceKind::Openvswitch),
        Expected::Userspace(_) => actual.is_none(),
    };
    if ok {
        return None;
    }
    let want = match expected {
        Expected::Bridge(b) => b.to_string(),
        Expected::KernelDatapath(b) => format!("Open vSwitch bridge {b}"),
        Expected::Userspace(b) => format!("no kernel master ({b} is a userspace netdev bridge)"),
    };
    Some(match actual {
        Some(m) => format!("{} is enslaved to {m}, expected {want}", dev.name),
        None => format!(
            "{} is not enslaved to any bridge, expected {want}",
            dev.name
        ),
    })
}

/// `ovsdb-mismatch` and `port-unbound`, from the device's OVSDB row. On an OVN chassis no
/// agent writes `net_uuid`, so `port-unbound` does not apply.
fn ovs_problems(row: &OvsInterface, vif: &Vif, ovn_chassis: bool) -> Vec<(ProblemKind, String)> {
    let mut out = Vec::new();
    let mut wrong = Vec::new();
    if let (Some(text), Some(guest)) = (&row.attached_mac, vif.mac_address) {
        if text.parse::<MacAddr>().ok() != Some(guest) {
            wrong.push(format!("attached-mac {text} (libvirt: {guest})"));
        }
    }
    if let Some(vm) = &row.vm_uuid {
        if !vm.eq_ignore_ascii_case(&vif.domain_uuid) {
            wrong.push(format!("vm-uuid {vm} (libvirt: {})", vif.domain_uuid));
        }
    }
    if !wrong.is_empty() {
        out.push((
            ProblemKind::OvsdbMismatch,
            format!("OVSDB Interface {} has {}", row.name, wrong.join(" and ")),
        ));
    }
    if let (Some(id), None, false) = (&row.iface_id, &row.net_uuid, ovn_chassis) {
        let port = row.port.as_deref().unwrap_or(&row.name);
        out.push((
            ProblemKind::PortUnbound,
            format!("OVS port {port} has iface-id {id} but no net_uuid: no agent has bound it"),
        ));
    }
    out
}
