//! The guest side: libvirt domains and networks, read through the `virt` crate.
//!
//! Everything this module returns is our own type; no `virt` handle leaves it.

mod agent;
pub mod device;
mod error;
mod events;
mod fetch;
mod ffi;
mod leases;
mod netxml;
mod read;
mod write;
mod xml;

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::mac::MacAddr;

pub use error::{panic_message, EventLoopError, Failure, LibvirtCause, LibvirtError};
pub use events::{EventCause, EventSink, GuestEvent};
pub use fetch::{fetch, with_session, Session};
pub use write::{Applied, PoolVolume};
pub use xml::{parse_domain_xml, ParsedDomain, XmlError};

/// What libvirt knows about the host at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub domains: Vec<Domain>,
    pub networks: Vec<Network>,
}

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

/// An address the QEMU guest agent reports on one of the guest's interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestAddress {
    /// The guest interface's MAC (`hwaddr`): how the address is matched to a VIF.
    pub mac: Option<MacAddr>,
    pub address: IpAddr,
    pub prefix: u32,
}

/// A libvirt domain with the interfaces of its live XML.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub uuid: String,
    pub name: String,
    pub state: DomainState,
    pub interfaces: Vec<DomainInterface>,
    /// The `<disk>` devices, in XML order.
    pub disks: Vec<DomainDisk>,
    /// Nova's `<nova:instance>` metadata, when the domain is a Nova instance.
    pub nova: Option<NovaInstance>,
    /// Addresses from the QEMU guest agent: empty unless asked for and the agent answered.
    pub guest_addresses: Vec<GuestAddress>,
}

/// One `<disk>` of a domain's XML: what a volume attachment is made of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainDisk {
    /// `<target dev>`: the guest-side name (`vda`, `sdb`).
    pub target: Option<String>,
    /// `<serial>`: Nova writes the Cinder volume UUID here.
    pub serial: Option<String>,
    /// The `device` attribute: `disk`, `cdrom`, `floppy`, `lun`.
    pub device: Option<String>,
}

/// libvirt's `virDomainState`, named as `virsh domstate` names it (without spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainState {
    Nostate,
    Running,
    Blocked,
    Paused,
    Shutdown,
    Shutoff,
    Crashed,
    Pmsuspended,
}

impl DomainState {
    /// Maps libvirt's numeric state; unknown future values count as `nostate`.
    pub fn from_raw(v: u32) -> Self {
        match v {
            1 => Self::Running,
            2 => Self::Blocked,
            3 => Self::Paused,
            4 => Self::Shutdown,
            5 => Self::Shutoff,
            6 => Self::Crashed,
            7 => Self::Pmsuspended,
            _ => Self::Nostate,
        }
    }

    /// A QEMU process exists, so the domain's host devices must exist too.
    pub fn has_process(self) -> bool {
        matches!(
            self,
            Self::Running | Self::Blocked | Self::Paused | Self::Shutdown | Self::Pmsuspended
        )
    }

    /// The guest is executing, so its NICs should have carrier.
    pub fn is_running(self) -> bool {
        matches!(self, Self::Running | Self::Blocked)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nostate => "nostate",
            Self::Running => "running",
            Self::Blocked => "blocked",
            Self::Paused => "paused",
            Self::Shutdown => "shutdown",
            Self::Shutoff => "shutoff",
            Self::Crashed => "crashed",
            Self::Pmsuspended => "pmsuspended",
        }
    }
}

/// One `<interface>` of a domain's XML.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DomainInterface {
    /// The `type` attribute as written (`bridge`, `network`, `ethernet`, `direct`, ...).
    pub kind: String,
    pub mac: Option<MacAddr>,
    /// `<target dev>`: the host device name.
    pub target: Option<String>,
    /// `<target managed>`: `Some(false)` for a pre-created tap libvirt must not touch.
    pub target_managed: Option<bool>,
    pub source: InterfaceSource,
    pub model: Option<String>,
    pub alias: Option<String>,
    /// `<link state>`: `up` or `down`.
    pub link_state: Option<String>,
    pub mtu: Option<u32>,
    pub virtualport: Option<Virtualport>,
}

impl DomainInterface {
    /// Whether this interface type is carried by a host netdev (tap or macvtap). vhostuser,
    /// hostdev, user-mode and socket interfaces are not, and are reported without one.
    pub fn has_host_netdev(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "bridge" | "network" | "ethernet" | "direct"
        )
    }
}

/// The interface's `<source>`: which fields are set depends on the interface type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Virtualport {
    pub kind: Option<String>,
    pub interfaceid: Option<String>,
}

/// Nova's `<nova:instance>` metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NovaInstance {
    pub name: Option<String>,
    pub project_uuid: Option<String>,
    pub project_name: Option<String>,
    pub user_uuid: Option<String>,
    pub user_name: Option<String>,
    pub ports: Vec<NovaPort>,
}

/// A `<nova:port>`: a Neutron port plugged into the instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NovaPort {
    pub uuid: String,
    pub ips: Vec<NovaIp>,
}

/// A `<nova:ip>` of a port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NovaIp {
    pub kind: Option<String>,
    pub address: String,
    pub version: Option<u8>,
}
