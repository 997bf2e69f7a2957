//! What the kernel says about the host's devices and neighbours, as our own types.

use std::net::IpAddr;

use crate::mac::MacAddr;

/// A network device of the host, as the kernel reports it.
#[derive(Debug, Clone, PartialEq)]
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
    /// Traffic counters (`IFLA_STATS64`, else the 32-bit `IFLA_STATS`), from the same
    /// message as the rest; in a [`LinkWatch`](super::LinkWatch) with periodic counters,
    /// the latest read.
    pub stats: Option<LinkStats>,
}

impl HostDevice {
    /// A tap that is up and held open, with nothing else known (no MAC, MTU, master or
    /// counters): what the fuzz harnesses and tests correlate against.
    pub fn up_tap(ifindex: u32, name: impl Into<String>) -> Self {
        HostDevice {
            ifindex,
            name: name.into(),
            kind: DeviceKind::Tap,
            mac: None,
            master: None,
            operstate: "up".into(),
            carrier: Some(true),
            admin_up: true,
            mtu: None,
            link_ifindex: None,
            link_netnsid: None,
            lower: None,
            stats: None,
        }
    }
}

/// A device's traffic counters as the kernel keeps them, from the host's side (what
/// `ip -s link` shows): a tap's `rx` is what its guest sent, its `tx` what the guest got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// An entry of the neighbour table (ARP for IPv4, NDP for IPv6) with a link-layer address
/// and a usable state (not incomplete or failed). Its NUD state is left out on purpose: it
/// flips between reachable and stale all the time and says nothing about identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Neighbour {
    /// The device the entry is on (a bridge, or a routed tap).
    pub device: String,
    pub ifindex: u32,
    pub address: IpAddr,
    pub mac: MacAddr,
}

/// What kind of device it is, from `IFLA_INFO_KIND` (and the tun driver's own type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
