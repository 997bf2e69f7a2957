//! What OVN says of a port, as the record shows it (`binding`) and as problems: where it
//! is bound against where it should be, whether its flows are in, and whether the
//! Southbound agrees with libvirt and with itself.

use std::time::{Duration, UNIX_EPOCH};

use crate::identity::{OvnFacts, OvnLookup};
use crate::inventory::problem::{Problem, ProblemKind};
use crate::inventory::record::{Binding, Vif};
use crate::ovn::SbPort;
use crate::ovsdb::OvsInterface;

/// The key of the host-level `ovn-chassis-missing` problem among the host problems
/// (`:` cannot occur in a device name, the other keys).
pub(super) const CHASSIS_KEY: &str = "ovn:chassis";

/// The record's `binding`: the Southbound row with the local flows' state.
pub(super) fn binding(port: &SbPort, row: Option<&OvsInterface>) -> Binding {
    let installed_at = row.and_then(|r| r.ovn_installed_ts).map(|ms| {
        let at = UNIX_EPOCH + Duration::from_millis(ms);
        humantime::format_rfc3339_millis(at).to_string()
    });
    Binding {
        chassis: port.chassis.clone(),
        requested_chassis: port.requested_chassis.clone(),
        up: port.up,
        installed: row.is_some_and(|r| r.ovn_installed),
        installed_at,
        network_name: port.datapath.as_ref().and_then(|d| d.name2.clone()),
    }
}

/// The binding faults of one port. Unbound, not installed and down wait for the grace
/// period (`fresh`): a port being plugged passes through all three.
pub(super) fn port_problems(
    o: &OvnLookup,
    vif: &Vif,
    binding: Option<&Binding>,
) -> Vec<(ProblemKind, String)> {
    let (f, id) = (o.facts, o.iface_id);
    let mut out = Vec::new();
    let Some(port) = o.port else {
        if f.asked(id) && !f.stale {
            let what = format!("iface-id {id} has no Port_Binding in the OVN Southbound DB");
            out.push((ProblemKind::OvnPortMissing, what));
        }
        return out;
    };
    let fresh = f.fresh.contains(id);
    let me = f.chassis.system_id.as_deref().unwrap_or("(no system-id)");
    match &port.chassis {
        None if !fresh => out.push((
            ProblemKind::OvnUnbound,
            format!("port {id} is bound to no chassis"),
        )),
        Some(c) if c != me && !port.additional_chassis.iter().any(|a| a == me) => out.push((
            ProblemKind::OvnBoundElsewhere,
            format!("port {id} is bound to chassis {c}, not to this one ({me})"),
        )),
        _ => {}
    }
    if let Some(p) = requested_elsewhere(f, port, me) {
        out.push((ProblemKind::OvnRequestedElsewhere, p));
    }
    if f.bound_here(port) && !fresh {
        let device = vif.device.as_deref().unwrap_or("the interface");
        if !binding.is_some_and(|b| b.installed) {
            let what = format!(
                "port {id} is bound here but ovn-controller has not marked {device} ovn-installed"
            );
            out.push((ProblemKind::OvnNotInstalled, what));
        }
        if port.up != Some(true) {
            out.push((
                ProblemKind::OvnPortDown,
                format!("port {id} is bound here but its Port_Binding is not up"),
            ));
        }
    }
    if let Some(d) = port
        .device_id
        .as_deref()
        .filter(|d| !d.eq_ignore_ascii_case(&vif.domain_uuid))
    {
        let what = format!(
            "port {id} has neutron:device_id {d}, but the domain is {}",
            vif.domain_uuid
        );
        out.push((ProblemKind::DeviceIdMismatch, what));
    }
    out.extend(network_problems(f, port, id));
    out
}

fn requested_elsewhere(f: &OvnFacts, port: &SbPort, me: &str) -> Option<String> {
    let sb_host = f.state.chassis.as_ref().and_then(|c| c.hostname.as_deref());
    let requested = &port.requested_chassis;
    if requested.is_empty() || requested.iter().any(|r| f.chassis.is(r, sb_host)) {
        return None;
    }
    let host = f
        .chassis
        .hostname
        .as_deref()
        .or(sb_host)
        .unwrap_or("no hostname");
    Some(format!(
        "port {} has requested-chassis {}, which is not this chassis ({me}, {host})",
        port.logical_port,
        requested.join(",")
    ))
}

/// `net-id-mismatch` and `ovn-metadata-missing`.
fn network_problems(f: &OvnFacts, port: &SbPort, id: &str) -> Vec<(ProblemKind, String)> {
    let mut out = Vec::new();
    let Some(dp) = &port.datapath else { return out };
    let net = dp.network_id();
    if let (Some(named), Some(net)) = (port.neutron_network_id(), &net) {
        if named != *net {
            let what = format!("port {id} has neutron:network_name for network {named}, but its datapath is network {net}");
            out.push((ProblemKind::NetIdMismatch, what));
        }
    }
    if let Some(net) = net.filter(|_| dp.has_localport) {
        let ns = format!("ovnmeta-{net}");
        if !f.namespaces.contains(&ns) {
            let what =
                format!("network {net} has a metadata port but the host has no namespace {ns}");
            out.push((ProblemKind::OvnMetadataMissing, what));
        }
    }
    out
}

/// `ovn-chassis-missing`: the host is an OVN chassis the Southbound does not know.
pub(super) fn chassis_problem(f: &OvnFacts) -> Option<Problem> {
    if f.state.chassis.is_some() {
        return None;
    }
    let detail = match &f.chassis.system_id {
        Some(id) => format!("the OVN Southbound DB has no Chassis named {id} (this host's system-id): ovn-controller has not registered it"),
        None => "this host is an OVN chassis but Open_vSwitch has no external_ids:system-id".to_string(),
    };
    Some(Problem {
        kind: ProblemKind::OvnChassisMissing,
        device: None,
        domain_uuid: None,
        mac_address: None,
        detail,
    })
}
