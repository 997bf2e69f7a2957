//! The resolvers themselves: one interface, its device, and the facts → identity.

use super::addresses::addresses;
use super::context::{Context, Names};
use super::options::Resolver;
use super::ovn::OvnFacts;
use crate::inventory::kinds::{NetIdSource, PortIdSource, StaleSource};
use crate::inventory::record::IpAddress;
use crate::libvirt::{Domain, DomainInterface, Network, NovaPort};
use crate::ovn::SbPort;
use crate::ovsdb::OvsInterface;

/// Nova and Neutron abbreviate a UUID to its first 11 characters in device names.
const ABBREV: usize = 11;

/// The identity of one interface.
#[derive(Debug, Default)]
pub(crate) struct Resolved<'a> {
    /// `(value, source)`.
    pub net: Option<(String, NetIdSource)>,
    pub port: Option<(String, PortIdSource)>,
    pub vlan: Option<u16>,
    pub ovs_bridge: Option<String>,
    pub addresses: Vec<IpAddress>,
    /// Sources down whose last known values were used.
    pub stale: Vec<StaleSource>,
    /// The device's OVSDB Interface row, when the ovsdb resolver has one: what the
    /// `ovsdb-mismatch` and `port-unbound` problems are checked against.
    pub ovs_row: Option<&'a OvsInterface>,
    /// The device's port as the Southbound knows it, when the ovn resolver is on and the
    /// host is an OVN chassis: what the binding and its problems come from.
    pub ovn: Option<OvnLookup<'a>>,
}

/// An `iface-id` looked up in the Southbound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OvnLookup<'a> {
    pub facts: &'a OvnFacts,
    pub iface_id: &'a str,
    /// Its `Port_Binding`; `None` when there is none (or it was not asked about yet).
    pub port: Option<&'a SbPort>,
}

pub(crate) fn resolve<'a>(
    ctx: &Context<'a>,
    dom: &Domain,
    iface: &DomainInterface,
    names: &Names,
) -> Resolved<'a> {
    let mut r = Resolved::default();
    let ovs_on = ctx.opts.uses(Resolver::Ovsdb) || ctx.opts.uses(Resolver::Ovn);
    let ovs = ovs_on
        .then(|| {
            // A vhostuser interface has no host device: its row is found by its socket.
            let by_socket = ctx.facts.ovs_vhost_interface(iface);
            by_socket.or_else(|| names.device.and_then(|d| ctx.facts.ovs_interface(d)))
        })
        .flatten();
    r.ovn = ctx
        .opts
        .uses(Resolver::Ovn)
        .then(|| ovn_lookup(ctx, ovs.map(|o| o.0)))
        .flatten();
    let (mut used_ovs, mut used_ovn) = (false, false);
    if let Some(id) = iface
        .virtualport
        .as_ref()
        .and_then(|v| v.interfaceid.clone())
    {
        r.port = Some((id, PortIdSource::Virtualport));
    } else if let Some(id) = iface.alias.as_deref().and_then(port_of_alias) {
        r.port = Some((id, PortIdSource::LibvirtAlias));
    }
    for &res in &ctx.opts.order {
        if r.port.is_none() {
            r.port = match res {
                Resolver::Ovn => r
                    .ovn
                    .and_then(|o| o.port.map(|_| o.iface_id.to_string()))
                    .map(|id| (id, PortIdSource::Ovn)),
                _ => port_from(res, ctx, dom, names, ovs.map(|o| o.0)),
            };
            used_ovs |= r.port.is_some() && matches!(res, Resolver::Ovsdb | Resolver::Ovn);
            used_ovn |= r.port.is_some() && res == Resolver::Ovn;
        }
        if r.net.is_none() {
            let (net, stale) = match res {
                Resolver::Ovn => net_from_ovn(r.ovn),
                _ => net_from(res, ctx, iface, names, ovs.map(|o| o.0)),
            };
            r.net = net;
            used_ovs |= r.net.is_some() && res == Resolver::Ovsdb;
            used_ovn |= r.net.is_some() && res == Resolver::Ovn;
            if r.net.is_some() {
                r.stale.extend(stale);
            }
        }
    }
    if let Some((row, stale)) = ovs {
        r.vlan = row.vlan;
        r.ovs_bridge = row.bridge.clone();
        used_ovs |= row.vlan.is_some() || row.bridge.is_some();
        r.ovs_row = Some(row);
        if stale && used_ovs {
            r.stale.insert(0, StaleSource::Ovsdb);
        }
    }
    let ovn_stale = used_ovn && r.ovn.is_some_and(|o| o.facts.stale);
    if ovn_stale && !r.stale.contains(&StaleSource::Ovn) {
        r.stale.insert(0, StaleSource::Ovn);
    }
    let nova_port = ctx
        .opts
        .uses(Resolver::NovaMetadata)
        .then(|| nova_port(dom, names.device, r.port.as_ref().map(|p| p.0.as_str())))
        .flatten();
    r.addresses = addresses(ctx, dom, iface, names, nova_port);
    r
}

/// The device's `iface-id` in the Southbound, on an OVN chassis.
fn ovn_lookup<'a>(ctx: &Context<'a>, row: Option<&'a OvsInterface>) -> Option<OvnLookup<'a>> {
    let facts = ctx.facts.ovn.as_ref()?;
    let row = row.filter(|r| facts.is_local_port(r))?;
    let iface_id = row.iface_id.as_deref()?;
    Some(OvnLookup {
        facts,
        iface_id,
        port: facts.port(iface_id),
    })
}

/// The network of the port's datapath (`neutron-<uuid>`), and `ovn` when that is a last
/// known value.
fn net_from_ovn(ovn: Option<OvnLookup>) -> (Option<(String, NetIdSource)>, Option<StaleSource>) {
    let Some(o) = ovn else { return (None, None) };
    let net = o.port.and_then(|p| p.datapath.as_ref()?.network_id());
    let stale = (net.is_some() && o.facts.stale).then_some(StaleSource::Ovn);
    (net.map(|n| (n, NetIdSource::Ovn)), stale)
}

/// The port of a user alias `ua-<port UUID>`: how `vifd` names the interfaces it
/// attaches, so that the port survives in the live and the persistent XML.
pub(crate) fn port_of_alias(alias: &str) -> Option<String> {
    let rest = alias.strip_prefix("ua-")?;
    uuid::Uuid::try_parse(rest)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

fn port_from(
    res: Resolver,
    ctx: &Context,
    dom: &Domain,
    names: &Names,
    ovs: Option<&OvsInterface>,
) -> Option<(String, PortIdSource)> {
    let abbrev = names.device.and_then(|d| abbreviation(d, "tap"));
    match res {
        Resolver::Ovsdb => {
            let id = ovs.and_then(|o| o.iface_id.clone());
            id.map(|i| (i, PortIdSource::Ovsdb))
        }
        Resolver::NovaMetadata => {
            let nova = dom.nova.as_ref()?;
            let p = abbrev?;
            let port = nova.ports.iter().find(|port| port.uuid.starts_with(p));
            port.map(|port| (port.uuid.clone(), PortIdSource::NovaMetadata))
        }
        Resolver::Linuxbridge => {
            let id = ctx.known.port_with_prefix(abbrev?).cloned();
            id.map(|i| (i, PortIdSource::Linuxbridge))
        }
        Resolver::Ovn | Resolver::LibvirtNetwork | Resolver::Config => None,
    }
}

/// The network from one resolver, and the source that is down when it is a last known
/// value.
fn net_from(
    res: Resolver,
    ctx: &Context,
    iface: &DomainInterface,
    names: &Names,
    ovs: Option<&OvsInterface>,
) -> (Option<(String, NetIdSource)>, Option<StaleSource>) {
    let tag = |id: Option<String>, source| id.map(|i| (i, source));
    match res {
        Resolver::Ovsdb => {
            let id = ovs.and_then(|o| o.net_uuid.clone());
            (tag(id, NetIdSource::Ovsdb), None)
        }
        Resolver::LibvirtNetwork => {
            let source = NetIdSource::LibvirtNetwork;
            if let Some(n) = network_of(iface, names.master, ctx.networks) {
                return (tag(Some(n.uuid.clone()), source), None);
            }
            let former = network_of(iface, names.master, ctx.former);
            let stale = former.is_some().then_some(StaleSource::LibvirtNetwork);
            (tag(former.map(|n| n.uuid.clone()), source), stale)
        }
        Resolver::Linuxbridge => {
            let abbrev = names.master.and_then(|m| abbreviation(m, "brq"));
            let id = abbrev.and_then(|p| ctx.known.net_with_prefix(p).cloned());
            (tag(id, NetIdSource::Linuxbridge), None)
        }
        Resolver::Config => (
            tag(from_map(ctx, iface, names, ovs), NetIdSource::Config),
            None,
        ),
        Resolver::Ovn | Resolver::NovaMetadata => (None, None),
    }
}

/// The libvirt network of a `<source network>`, or the one whose bridge the source (or,
/// without one, the device's master) is.
pub(crate) fn network_of<'a>(
    iface: &DomainInterface,
    master: Option<&str>,
    networks: &'a [Network],
) -> Option<&'a Network> {
    if let Some(name) = iface.source.network.as_deref() {
        return networks.iter().find(|n| n.name == name);
    }
    let bridge = iface.source.bridge.as_deref().or(master)?;
    networks
        .iter()
        .find(|n| n.bridge.as_deref() == Some(bridge))
}

fn from_map(
    ctx: &Context,
    iface: &DomainInterface,
    names: &Names,
    ovs: Option<&OvsInterface>,
) -> Option<String> {
    let map = &ctx.opts.map;
    let bridge = iface.source.bridge.as_deref().or(names.master);
    bridge
        .and_then(|b| map.bridges.get(b))
        .or_else(|| {
            ovs.and_then(|o| o.bridge.as_ref())
                .and_then(|b| map.ovs_bridges.get(b))
        })
        .or_else(|| iface.mac.and_then(|m| map.by_mac(m)))
        .cloned()
}

/// The 11 characters after `prefix` in a device name of exactly that shape.
fn abbreviation<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix).filter(|p| p.len() == ABBREV)
}

/// The `<nova:port>` of this interface: the one the port id names, else the one the tap
/// name abbreviates.
fn nova_port<'a>(
    dom: &'a Domain,
    device: Option<&str>,
    port: Option<&str>,
) -> Option<&'a NovaPort> {
    let ports = &dom.nova.as_ref()?.ports;
    if let Some(id) = port {
        if let Some(p) = ports.iter().find(|p| p.uuid.eq_ignore_ascii_case(id)) {
            return Some(p);
        }
    }
    let abbrev = device.and_then(|d| abbreviation(d, "tap"))?;
    ports.iter().find(|p| p.uuid.starts_with(abbrev))
}

#[cfg(test)]
mod tests {
    use super::port_of_alias;

    #[test]
    fn a_user_alias_naming_a_uuid_is_the_port() {
        assert_eq!(
            port_of_alias("ua-0D7F7E5C-3C5A-4A51-9A8E-4F1C2B3A4D5E").as_deref(),
            Some("0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e")
        );
        for other in [
            "net0",
            "ua-web",
            "ua-",
            "0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e",
        ] {
            assert_eq!(port_of_alias(other), None, "{other}");
        }
    }
}
