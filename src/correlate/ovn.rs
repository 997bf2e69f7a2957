//! What OVN says of a port, as the record shows it (`binding`) and as problems: where it
//! is bound against where it should be, whether its flows are in, and whether the
//! Southbound agrees with libvirt and with itself.

use std::time::{Duration, UNIX_EPOCH};

use crate::identity::{Faults, OvnFacts, OvnLookup};
use crate::inventory::problem::{Problem, ProblemKind};
use crate::inventory::record::{Binding, Vif};
use crate::ovn::SbPort;
use crate::ovsdb::OvsInterface;

/// The key of the host-level `ovn-chassis-missing` problem among the host problems
/// (`:` cannot occur in a device name, the other keys).
pub(super) const CHASSIS_KEY: &str = "ovn:chassis";

/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z): a later
/// `ovn-installed-ts` is not a time.
const LAST_MS: u64 = 253_402_300_799_999;

/// The record's `binding`: the Southbound row with the local flows' state.
pub(super) fn binding(port: &SbPort, row: Option<&OvsInterface>) -> Binding {
    let ts = row
        .and_then(|r| r.ovn_installed_ts)
        .filter(|ms| *ms <= LAST_MS);
    let installed_at = ts.map(|ms| {
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

/// The binding problems of one port: its faults once past their grace period (`fresh`),
/// and at once what no grace explains (no binding, another VM's, another network's).
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
    if !f.fresh.contains(id) {
        let installed = binding.is_some_and(|b| b.installed);
        let device = vif.device.as_deref().unwrap_or("the interface");
        out.extend(fault_problems(f, port, &f.faults(port, installed), device));
    }
    let device_id = port.device_id.as_deref();
    if let Some(d) = device_id.filter(|d| !d.eq_ignore_ascii_case(&vif.domain_uuid)) {
        let domain = &vif.domain_uuid;
        let what = format!("port {id} has neutron:device_id {d}, but the domain is {domain}");
        out.push((ProblemKind::DeviceIdMismatch, what));
    }
    let net = port.datapath.as_ref().and_then(|d| d.network_id());
    if let (Some(named), Some(net)) = (port.neutron_network_id(), net) {
        if named != net {
            let what = format!(
                "port {id} has neutron:network_name for network {named}, but its datapath is network {net}"
            );
            out.push((ProblemKind::NetIdMismatch, what));
        }
    }
    out
}

/// The faults as problems, with the sentences that name chassis and namespaces.
fn fault_problems(
    f: &OvnFacts,
    port: &SbPort,
    faults: &Faults,
    device: &str,
) -> Vec<(ProblemKind, String)> {
    let id = &port.logical_port;
    let me = f.chassis.system_id.as_deref().unwrap_or("(no system-id)");
    let mut out = Vec::new();
    if faults.unbound {
        let what = format!("port {id} is bound to no chassis");
        out.push((ProblemKind::OvnUnbound, what));
    }
    if let Some(c) = faults.bound_elsewhere {
        let what = format!("port {id} is bound to chassis {c}, not to this one ({me})");
        out.push((ProblemKind::OvnBoundElsewhere, what));
    }
    if faults.requested_elsewhere {
        let sb_host = f.state.chassis.as_ref().and_then(|c| c.hostname.as_deref());
        let host = f.chassis.hostname.as_deref().or(sb_host);
        let what = format!(
            "port {id} has requested-chassis {}, which is not this chassis ({me}, {})",
            port.requested_chassis.join(","),
            host.unwrap_or("no hostname")
        );
        out.push((ProblemKind::OvnRequestedElsewhere, what));
    }
    if faults.not_installed {
        let what = format!(
            "port {id} is bound here but ovn-controller has not marked {device} ovn-installed"
        );
        out.push((ProblemKind::OvnNotInstalled, what));
    }
    if faults.down {
        let what = format!("port {id} is bound here but its Port_Binding is not up");
        out.push((ProblemKind::OvnPortDown, what));
    }
    if let Some(ns) = &faults.metadata_missing {
        let what =
            format!("port {id}'s network has a metadata port but the host has no namespace {ns}");
        out.push((ProblemKind::OvnMetadataMissing, what));
    }
    out
}

/// `ovn-chassis-missing`: the host is an OVN chassis the Southbound does not know. Not
/// judged while the Southbound cannot be asked.
pub(super) fn chassis_problem(f: &OvnFacts) -> Option<Problem> {
    if f.state.chassis.is_some() || f.stale {
        return None;
    }
    let detail = match &f.chassis.system_id {
        Some(id) => format!(
            "the OVN Southbound DB has no Chassis named {id} (this host's system-id): ovn-controller has not registered it"
        ),
        None => "this host is an OVN chassis but Open_vSwitch has no external_ids:system-id"
            .to_string(),
    };
    Some(Problem {
        kind: ProblemKind::OvnChassisMissing,
        device: None,
        domain_uuid: None,
        mac_address: None,
        detail,
    })
}
