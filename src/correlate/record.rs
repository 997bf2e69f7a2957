//! One interface's record: the domain's `<interface>`, its host device and its identity,
//! with the problems found on it.

use uuid::Uuid;

use super::devices::Devices;
use super::{convert, ovn, problems};
use crate::identity::{network_of, resolve, Context, Names};
use crate::inventory::problem::Problem;
use crate::inventory::record::Vif;
use crate::libvirt::{Domain, DomainInterface};
use crate::mac::MacAddr;
use crate::netlink::HostDevice;

/// UUID v5 namespace for VIF ids that have no Neutron port: never change it, or every
/// such id changes.
const VIF_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c2b8e_4d3a_4e7b_9c5d_1a2b3c4d5e6f);

pub(crate) fn build_record(
    dom: &Domain,
    index: usize,
    iface: &DomainInterface,
    dev: Option<&HostDevice>,
    ctx: &Context,
    host: &Devices,
    stale: bool,
) -> (Vif, Vec<Problem>) {
    let device = dev.map(|d| d.name.clone()).or_else(|| iface.target.clone());
    let names = Names {
        device: device.as_deref(),
        master: dev.and_then(|d| d.master.as_deref()),
    };
    let who = resolve(ctx, dom, iface, &names);
    let (port_id, port_id_source) = who.port.unzip();
    let (net_id, net_id_source) = who.net.unzip();
    let id = port_id
        .clone()
        .unwrap_or_else(|| stable_id(&dom.uuid, iface.mac, index));
    let mut vif = Vif {
        id,
        domain_uuid: dom.uuid.clone(),
        domain_name: dom.name.clone(),
        domain_state: dom.state.into(),
        mac_address: iface.mac,
        kind: convert::interface_type(iface),
        model: iface.model.clone(),
        alias: iface.alias.clone(),
        source: (&iface.source).into(),
        net_id,
        net_id_source,
        port_id,
        port_id_source,
        vlan: who.vlan,
        ovs_bridge: who.ovs_bridge,
        binding: who
            .ovn
            .and_then(|o| o.port)
            .map(|p| ovn::binding(p, who.ovs_row)),
        ip_addresses: who.addresses,
        stale_sources: who.stale,
        target_managed: iface.target_managed,
        virtualport: iface.virtualport.as_ref().map(Into::into),
        link_state: convert::link_state(iface),
        device,
        ifindex: dev.map(|d| d.ifindex),
        device_kind: dev.map(|d| (&d.kind).into()),
        host_mac: dev.and_then(|d| d.mac),
        master: dev.and_then(|d| d.master.clone()),
        operstate: dev.map(convert::oper_state),
        admin_up: dev.map(|d| d.admin_up),
        carrier: dev.and_then(|d| d.carrier),
        mtu: dev.and_then(|d| d.mtu).or(iface.mtu),
        stats: dev.and_then(|d| d.stats).map(Into::into),
        problems: Vec::new(),
        stale,
    };
    // Checks compare against the network the XML names, not one guessed from the master.
    let network = network_of(iface, None, ctx.networks);
    // On an OVN chassis no agent writes net_uuid.
    let ovs = who.ovs_row.map(|row| (row, ctx.facts.is_ovn_chassis()));
    let mut problems = problems::record_problems(&vif, dom, iface, dev, network, host, ovs);
    if let Some(o) = &who.ovn {
        let found = ovn::port_problems(o, &vif, vif.binding.as_ref());
        problems.extend(
            found
                .into_iter()
                .map(|(kind, detail)| problems::problem(&vif, kind, detail)),
        );
    }
    vif.problems = problems.iter().map(|p| p.kind).collect();
    (vif, problems)
}

/// A UUID that stays the same across restarts for the same domain and guest MAC.
fn stable_id(domain_uuid: &str, mac: Option<MacAddr>, index: usize) -> String {
    let key = match mac {
        Some(m) => format!("{domain_uuid}/{m}"),
        None => format!("{domain_uuid}/#{index}"),
    };
    Uuid::new_v5(&VIF_ID_NAMESPACE, key.as_bytes()).to_string()
}
