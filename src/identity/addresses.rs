//! The addresses seen on an interface: DHCP leases and host entries of libvirt networks, the host's
//! neighbour table, Nova's metadata and (when enabled) the guest agent.

use std::net::IpAddr;

use super::context::{Context, Names};
use super::options::Resolver;
use crate::inventory::kinds::AddressSource;
use crate::inventory::record::IpAddress;
use crate::libvirt::{Domain, DomainInterface, NovaPort};

/// One entry per address and source, sorted; nothing without a guest MAC to match on.
pub(super) fn addresses(
    ctx: &Context,
    dom: &Domain,
    iface: &DomainInterface,
    names: &Names,
    nova_port: Option<&NovaPort>,
) -> Vec<IpAddress> {
    let Some(mac) = iface.mac else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if ctx.opts.uses(Resolver::LibvirtNetwork) {
        let leases = ctx.networks.iter().flat_map(|n| &n.leases);
        out.extend(
            leases
                .filter(|l| l.mac == Some(mac))
                .map(|l| IpAddress::new(l.address, AddressSource::DhcpLease)),
        );
        let hosts = ctx.networks.iter().flat_map(|n| &n.hosts);
        out.extend(
            hosts
                .filter(|h| h.mac == Some(mac))
                .filter_map(|h| h.ip)
                .map(|a| IpAddress::new(a, AddressSource::DhcpHost)),
        );
    }
    // Only entries on this interface's own bridge or device: the same MAC seen through
    // another bridge is not this interface's address.
    let on_this = |dev: &str| Some(dev) == names.master || Some(dev) == names.device;
    out.extend(
        ctx.facts
            .neighbours_of(mac)
            .iter()
            .filter(|(dev, _)| on_this(dev))
            .map(|(_, addr)| IpAddress::new(*addr, AddressSource::Neighbour)),
    );
    if let Some(port) = nova_port {
        let ips = port
            .ips
            .iter()
            .filter_map(|ip| ip.address.parse::<IpAddr>().ok());
        out.extend(ips.map(|a| IpAddress::new(a, AddressSource::NovaMetadata)));
    }
    out.extend(
        dom.guest_addresses
            .iter()
            .filter(|g| g.mac == Some(mac))
            .map(|g| IpAddress::new(g.address, AddressSource::GuestAgent)),
    );
    out.sort();
    out.dedup();
    out
}
