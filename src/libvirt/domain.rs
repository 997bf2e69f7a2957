//! libvirt domains as their live XML (and the guest agent) describe them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::mac::MacAddr;

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
