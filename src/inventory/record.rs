//! The VIF record and the inventory of a host: the JSON contract served to clients.
//!
//! Field names are stable. Unknown values serialize as `null`; no field is omitted.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::kinds::{
    AddressSource, DeviceKind, DomainState, InterfaceType, LinkState, NetIdSource, OperState,
    PortIdSource, StaleSource, VirtualportType,
};
use super::problem::{Problem, ProblemKind};
use crate::mac::MacAddr;

/// Everything known about the host's virtual interfaces at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Inventory {
    /// Every domain, in libvirt's order.
    pub domains: Vec<DomainSummary>,
    /// One record per domain interface, in domain then XML order. Shared: a change makes
    /// a new inventory that keeps every record it did not touch.
    pub interfaces: Vec<Arc<Vif>>,
    /// Every problem: those of the records, then the host-level ones. Shared like the records.
    pub problems: Vec<Arc<Problem>>,
}

/// A domain, without its interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DomainSummary {
    pub uuid: String,
    pub name: String,
    pub state: DomainState,
    pub interface_count: usize,
}

/// One domain as served: its summary, its records in XML order, its problems and the
/// volumes attached to it. Shared: a change replaces the records of the domains it touched.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRecord {
    pub summary: DomainSummary,
    pub interfaces: Vec<Arc<Vif>>,
    /// The problems of its records, in record order.
    pub problems: Vec<Arc<Problem>>,
    pub volumes: Vec<Volume>,
}

/// A volume attached to a domain: a `<disk>` whose `<serial>` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Volume {
    /// The disk's `<serial>`: Nova writes the Cinder volume UUID there.
    pub volume_id: String,
    /// `/dev/` + the disk's `<target dev>`.
    pub device: Option<String>,
}

impl Inventory {
    /// The domain with this name or UUID.
    pub fn find_domain(&self, name_or_uuid: &str) -> Option<&DomainSummary> {
        self.domains
            .iter()
            .find(|d| d.uuid.eq_ignore_ascii_case(name_or_uuid) || d.name == name_or_uuid)
    }
}

/// A virtual interface: a domain's NIC matched to the host device that carries it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Vif {
    /// The Neutron port UUID when known, else a UUID v5 of domain UUID + guest MAC.
    pub id: String,
    pub domain_uuid: String,
    pub domain_name: String,
    pub domain_state: DomainState,
    /// The guest's MAC, from `<mac address>`.
    #[schema(value_type = Option<String>, example = "52:54:00:12:34:56")]
    pub mac_address: Option<MacAddr>,
    /// The interface type of the XML (`bridge`, `network`, `ethernet`, `direct`,
    /// `vhostuser`, `hostdev`, `user`, ...; a type libvirt adds shows as written).
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "bridge")]
    pub kind: InterfaceType,
    pub model: Option<String>,
    /// libvirt's device alias (`net0`).
    pub alias: Option<String>,
    pub source: InterfaceSource,
    /// The network this interface belongs to.
    pub net_id: Option<String>,
    /// Where `net_id` came from: `ovn`, `ovsdb`, `libvirt-network`, `linuxbridge` or
    /// `config`.
    pub net_id_source: Option<NetIdSource>,
    /// The Neutron port (or other switch port) this interface is.
    pub port_id: Option<String>,
    /// Where `port_id` came from: `virtualport`, `libvirt-alias` (a user alias
    /// `ua-<port UUID>`, as `vifd` names the interfaces it attaches), `ovn`, `ovsdb`,
    /// `nova-metadata` or `linuxbridge`.
    pub port_id_source: Option<PortIdSource>,
    /// The port's local VLAN tag in Open vSwitch (`Port.tag`).
    pub vlan: Option<u16>,
    /// The Open vSwitch bridge the port is on (`br-int`), from OVSDB.
    pub ovs_bridge: Option<String>,
    /// The port's OVN binding, from the Southbound DB; null when the host is not an OVN
    /// chassis or the port has no `Port_Binding` (the `ovn-port-missing` problem).
    pub binding: Option<Binding>,
    /// Addresses seen on this interface, one entry per address and source, sorted.
    pub ip_addresses: Vec<IpAddress>,
    /// Sources that are down and whose last known values this record shows (`ovn`,
    /// `ovsdb`, `libvirt-network`); empty when every fact is current.
    pub stale_sources: Vec<StaleSource>,
    /// `<target managed>`: false for a pre-created tap that keeps its own MAC.
    pub target_managed: Option<bool>,
    pub virtualport: Option<Virtualport>,
    /// `<link state>` of the XML: `up` or `down`.
    pub link_state: Option<LinkState>,
    /// The host device carrying the interface.
    pub device: Option<String>,
    pub ifindex: Option<u32>,
    /// `tap`, `macvtap`, `veth`, ... or the kernel's own kind name.
    #[schema(value_type = Option<String>, example = "tap")]
    pub device_kind: Option<DeviceKind>,
    #[schema(value_type = Option<String>)]
    pub host_mac: Option<MacAddr>,
    /// The bridge (or `ovs-system`) the host device is enslaved to.
    pub master: Option<String>,
    /// The host device's operational state (`up`, `down`, `lowerlayerdown`, ...).
    pub operstate: Option<OperState>,
    /// Administratively up (`ip link set up`); a tap without carrier is `down` either way.
    pub admin_up: Option<bool>,
    pub carrier: Option<bool>,
    /// The host device's MTU (the XML's `<mtu>` when there is no device).
    pub mtu: Option<u32>,
    /// The host device's counters (`ip -s link`): rx is what the guest sent. Counters
    /// move without a new generation or a watch event.
    pub stats: Option<LinkStats>,
    pub problems: Vec<ProblemKind>,
    /// True while libvirt cannot be reached: the guest side is the last one read.
    pub stale: bool,
}

/// A port's binding in OVN: where it is bound, where it should be, and whether its flows
/// are in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Binding {
    /// The chassis (`system-id`) the port is bound to; null while unbound.
    pub chassis: Option<String>,
    /// `requested-chassis`: the chassis names or hostnames the port should be bound to
    /// (two during a live migration); empty when any chassis may claim it.
    pub requested_chassis: Vec<String>,
    /// The binding's `up`; null until a controller has reported on it.
    pub up: Option<bool>,
    /// ovn-controller marked the local interface `ovn-installed`: its flows are in place.
    pub installed: bool,
    /// When it did (`ovn-installed-ts`), RFC 3339.
    pub installed_at: Option<String>,
    /// The network's own name (the datapath's `name2`).
    pub network_name: Option<String>,
}

/// An IP address seen on an interface, and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
pub struct IpAddress {
    #[schema(value_type = String, example = "10.0.0.5")]
    pub address: IpAddr,
    /// 4 or 6.
    pub version: u8,
    /// `dhcp-lease` (libvirt network), `dhcp-host` (a libvirt network's host entry for the
    /// MAC), `neighbour` (the host's ARP/NDP table on the
    /// interface's bridge or device), `nova-metadata` (`<nova:ip>`), `guest-agent`.
    pub source: AddressSource,
}

impl IpAddress {
    pub fn new(address: IpAddr, source: AddressSource) -> Self {
        IpAddress {
            address,
            version: if address.is_ipv4() { 4 } else { 6 },
            source,
        }
    }
}

/// The interface's `<source>`: which fields are set depends on the interface type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct InterfaceSource {
    /// `type='bridge'` (and live `type='network'`): the bridge.
    pub bridge: Option<String>,
    /// `type='network'`: the libvirt network name.
    pub network: Option<String>,
    /// `type='direct'`: the lower device of the macvtap.
    pub dev: Option<String>,
    /// `type='direct'` macvtap mode, or `type='vhostuser'` socket mode.
    pub mode: Option<String>,
    /// `type='vhostuser'`: the socket path.
    pub path: Option<String>,
    /// `type='hostdev'`: the host device address (`0000:03:10.2` for PCI).
    pub address: Option<String>,
    /// Attributes of `<source>` not covered above, kept as written.
    pub other: BTreeMap<String, String>,
}

/// `<virtualport>`: the switch the port belongs to and the port's identity there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Virtualport {
    /// `openvswitch`, `802.1Qbg`, `802.1Qbh`, `midonet`, or another type as written.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<VirtualportType>,
    pub interfaceid: Option<String>,
}

/// A device's traffic counters as the kernel keeps them, from the host's side (what
/// `ip -s link` shows): a tap's `rx` is what its guest sent, its `tx` what the guest got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct LinkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}
