//! The host side: network devices read over rtnetlink, in this or another namespace.
//!
//! Netlink types stay inside this module; callers get [`HostDevice`].

mod convert;
mod dump;
mod monitor;
mod netns;

use serde::Serialize;

use crate::mac::MacAddr;

pub use dump::read_devices;
pub use monitor::{LinkEvent, LinkWatch};
pub use netns::NetnsTarget;

/// Failures reading host devices.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("network namespace {name:?} not found at {path}: {source}")]
    NetnsMissing {
        name: String,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {name:?}: {source}")]
    NetnsEnter { name: String, source: nix::Error },
    #[error("cannot open a netlink socket in {ns}: {source}")]
    Socket { ns: String, source: std::io::Error },
    #[error("netlink link dump in {ns} failed: {message}")]
    Dump { ns: String, message: String },
    #[error("netlink worker thread for {ns} failed: {message}")]
    Worker { ns: String, message: String },
}

/// A network device of the host, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostDevice {
    pub ifindex: u32,
    pub name: String,
    pub kind: DeviceKind,
    pub mac: Option<MacAddr>,
    /// The device this one is enslaved to (a bridge, or `ovs-system` for Open vSwitch).
    pub master: Option<String>,
    pub operstate: String,
    /// Whether the lower layer is up; for a tap, whether a process holds it open.
    pub carrier: Option<bool>,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    pub mtu: Option<u32>,
    /// `IFLA_LINK`: the veth peer's or macvtap lower device's ifindex.
    pub link_ifindex: Option<u32>,
    /// `IFLA_LINK_NETNSID`: set when the peer or lower device lives in another namespace.
    pub link_netnsid: Option<i32>,
    /// The macvtap/macvlan lower device's name, when it is in this namespace.
    pub lower: Option<String>,
}

/// What kind of device it is, from `IFLA_INFO_KIND` (and the tun driver's own type).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Tap,
    Tun,
    Macvtap,
    Macvlan,
    Veth,
    Bridge,
    Openvswitch,
    Vxlan,
    Vlan,
    Bond,
    Dummy,
    Loopback,
    /// No `IFLA_INFO_KIND`: a NIC driver's own device.
    Physical,
    /// Any other kind, named as the kernel names it.
    #[serde(untagged)]
    Other(String),
}

impl DeviceKind {
    /// Devices that carry a guest NIC and that a domain is expected to claim.
    pub fn is_guest_carrier(&self) -> bool {
        matches!(self, Self::Tap | Self::Tun | Self::Macvtap)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Tap => "tap",
            Self::Tun => "tun",
            Self::Macvtap => "macvtap",
            Self::Macvlan => "macvlan",
            Self::Veth => "veth",
            Self::Bridge => "bridge",
            Self::Openvswitch => "openvswitch",
            Self::Vxlan => "vxlan",
            Self::Vlan => "vlan",
            Self::Bond => "bond",
            Self::Dummy => "dummy",
            Self::Loopback => "loopback",
            Self::Physical => "physical",
            Self::Other(s) => s,
        }
    }
}
