//! libvirt's virtual networks and what their DHCP servers hand out.

use std::net::IpAddr;

use crate::mac::MacAddr;

/// A libvirt virtual network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub uuid: String,
    /// The Linux bridge the network's guests are plugged into, when it has one.
    pub bridge: Option<String>,
    pub active: bool,
    /// The network's DHCP leases (`virNetworkGetDHCPLeases`); empty when inactive.
    pub leases: Vec<DhcpLease>,
    /// The DHCP `<host>` entries of its live definition: addresses bound to a MAC.
    pub hosts: Vec<DhcpHost>,
}

/// What a libvirt network's DHCP server hands out, as it runs now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkDhcp {
    pub name: String,
    pub uuid: String,
    pub bridge: Option<String>,
    pub active: bool,
    pub persistent: bool,
    pub ranges: Vec<DhcpRange>,
    /// `<host>` entries: fixed MAC → address bindings.
    pub hosts: Vec<DhcpHost>,
    pub leases: Vec<DhcpLease>,
}

/// A `<range>` of an `<ip>` element, with that element's address and prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpRange {
    pub start: IpAddr,
    pub end: IpAddr,
    /// The network's own address on the bridge.
    pub gateway: IpAddr,
    pub prefix: u8,
}

/// A `<host>` entry of a network's DHCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpHost {
    pub mac: Option<MacAddr>,
    pub ip: Option<IpAddr>,
    pub name: Option<String>,
}

/// A lease dnsmasq handed out on a libvirt network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpLease {
    /// The client's MAC (IPv4 leases; DHCPv6 leases may only have a client id).
    pub mac: Option<MacAddr>,
    pub address: IpAddr,
    pub prefix: u32,
    pub hostname: Option<String>,
    /// Seconds since the epoch when the lease expires; 0 for an infinite lease.
    pub expiry: i64,
}
