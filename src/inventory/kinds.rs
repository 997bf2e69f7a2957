//! The named values of the records: each closed set is an enum that serializes to its
//! contract string (and is listed as a string enum in the OpenAPI document); each set
//! that grows upstream keeps an untagged `Other` with the name as written, and is
//! documented as a string.
//!
//! `as_str` gives the same names as serde: `names_are_the_serialized_strings` checks.

use std::fmt;

use serde::Serialize;
use utoipa::ToSchema;

/// `as_str`, `ALL`, `from_name` and `Display` of a closed set.
macro_rules! closed_set {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The value with this name; `None` for a name outside the set.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().find(|v| v.as_str() == name).cloned()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// `as_str`, `KNOWN`, `from_name` and `Display` of a set with an `Other(String)`.
macro_rules! open_set {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every named value, in declaration order (not `Other`).
            pub const KNOWN: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(&self) -> &str {
                match self {
                    $($ty::$variant => $name,)+
                    $ty::Other(name) => name,
                }
            }

            /// The named value, or `Other` with the name as written: never `Other` of a
            /// known name.
            pub fn from_name(name: &str) -> Self {
                Self::KNOWN
                    .iter()
                    .find(|v| v.as_str() == name)
                    .cloned()
                    .unwrap_or_else(|| $ty::Other(name.to_string()))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// libvirt's `virDomainState`, named as `virsh domstate` names it (without spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
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

closed_set!(DomainState {
    Nostate => "nostate",
    Running => "running",
    Blocked => "blocked",
    Paused => "paused",
    Shutdown => "shutdown",
    Shutoff => "shutoff",
    Crashed => "crashed",
    Pmsuspended => "pmsuspended",
});

/// The `type` of a domain's `<interface>`: libvirt's names, or a newer one as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceType {
    Bridge,
    Network,
    Ethernet,
    Direct,
    Vhostuser,
    Hostdev,
    User,
    Server,
    Client,
    Mcast,
    Udp,
    Internal,
    Vdpa,
    Null,
    Vds,
    /// A type this list does not name, as the XML writes it.
    #[serde(untagged)]
    Other(String),
}

open_set!(InterfaceType {
    Bridge => "bridge",
    Network => "network",
    Ethernet => "ethernet",
    Direct => "direct",
    Vhostuser => "vhostuser",
    Hostdev => "hostdev",
    User => "user",
    Server => "server",
    Client => "client",
    Mcast => "mcast",
    Udp => "udp",
    Internal => "internal",
    Vdpa => "vdpa",
    Null => "null",
    Vds => "vds",
});

/// The `type` of an interface's `<virtualport>`: the switch the port belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum VirtualportType {
    #[serde(rename = "openvswitch")]
    Openvswitch,
    #[serde(rename = "802.1Qbg")]
    Qbg,
    #[serde(rename = "802.1Qbh")]
    Qbh,
    #[serde(rename = "midonet")]
    Midonet,
    /// A type this list does not name, as the XML writes it.
    #[serde(untagged)]
    Other(String),
}

open_set!(VirtualportType {
    Openvswitch => "openvswitch",
    Qbg => "802.1Qbg",
    Qbh => "802.1Qbh",
    Midonet => "midonet",
});

/// `<link state>` of an interface's XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Up,
    Down,
}

closed_set!(LinkState {
    Up => "up",
    Down => "down",
});

/// What kind of host device it is, from the kernel's `IFLA_INFO_KIND` (and the tun
/// driver's own type).
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

open_set!(DeviceKind {
    Tap => "tap",
    Tun => "tun",
    Macvtap => "macvtap",
    Macvlan => "macvlan",
    Veth => "veth",
    Bridge => "bridge",
    Openvswitch => "openvswitch",
    Vxlan => "vxlan",
    Vlan => "vlan",
    Bond => "bond",
    Dummy => "dummy",
    Loopback => "loopback",
    Physical => "physical",
});

/// The host device's RFC 2863 operational state, as `/sys/class/net/*/operstate`
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperState {
    Up,
    Down,
    Lowerlayerdown,
    Notpresent,
    Testing,
    Dormant,
    Unknown,
}

closed_set!(OperState {
    Up => "up",
    Down => "down",
    Lowerlayerdown => "lowerlayerdown",
    Notpresent => "notpresent",
    Testing => "testing",
    Dormant => "dormant",
    Unknown => "unknown",
});

/// Where a record's `net_id` came from: the resolver that named the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NetIdSource {
    /// The OVN Southbound datapath of the port's binding (`neutron-<net uuid>`).
    Ovn,
    /// The OVSDB Interface row's `net_uuid`.
    Ovsdb,
    /// The libvirt network of `<source network>` or of the bridge.
    LibvirtNetwork,
    /// A Neutron linuxbridge bridge name (`brq` + 11 characters of a known network).
    Linuxbridge,
    /// The operator's `[networks]` table.
    Config,
}

closed_set!(NetIdSource {
    Ovn => "ovn",
    Ovsdb => "ovsdb",
    LibvirtNetwork => "libvirt-network",
    Linuxbridge => "linuxbridge",
    Config => "config",
});

/// Where a record's `port_id` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PortIdSource {
    /// `<virtualport>`'s `interfaceid`.
    Virtualport,
    /// A user alias `ua-<port UUID>`, as `vifd` names the interfaces it attaches.
    LibvirtAlias,
    /// The OVSDB Interface row's `iface-id`, bound in the OVN Southbound DB.
    Ovn,
    /// The OVSDB Interface row's `iface-id`.
    Ovsdb,
    /// Nova's `<nova:port>` that the tap name abbreviates.
    NovaMetadata,
    /// A Neutron linuxbridge tap name (`tap` + 11 characters of a known port).
    Linuxbridge,
}

closed_set!(PortIdSource {
    Virtualport => "virtualport",
    LibvirtAlias => "libvirt-alias",
    Ovn => "ovn",
    Ovsdb => "ovsdb",
    NovaMetadata => "nova-metadata",
    Linuxbridge => "linuxbridge",
});

/// A source the inventory does without while it is down: its last known values are
/// served (marked stale on the records they reach) and `/readyz` stays 200, naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DegradedSource {
    /// The local ovsdb-server.
    Ovsdb,
    /// The OVN Southbound DB.
    Ovn,
    /// etcd, which the fleet publisher writes to.
    Fleet,
}

closed_set!(DegradedSource {
    Ovsdb => "ovsdb",
    Ovn => "ovn",
    Fleet => "fleet",
});

/// A source that is down and whose last known values a record shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StaleSource {
    /// The OVN Southbound DB is unreachable: its last known bindings.
    Ovn,
    /// ovsdb-server is unreachable: OVSDB's last known rows.
    Ovsdb,
    /// libvirt no longer has the network the record names: its last known identity.
    LibvirtNetwork,
}

closed_set!(StaleSource {
    Ovn => "ovn",
    Ovsdb => "ovsdb",
    LibvirtNetwork => "libvirt-network",
});

/// Where an address was seen.
// Declared in name order: records sort their addresses by it, as they sorted by the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AddressSource {
    /// A libvirt network's DHCP host entry for the MAC.
    DhcpHost,
    /// A libvirt network's DHCP lease.
    DhcpLease,
    /// The QEMU guest agent.
    GuestAgent,
    /// The host's ARP/NDP table on the interface's bridge or device.
    Neighbour,
    /// Nova's `<nova:ip>`.
    NovaMetadata,
}

closed_set!(AddressSource {
    DhcpHost => "dhcp-host",
    DhcpLease => "dhcp-lease",
    GuestAgent => "guest-agent",
    Neighbour => "neighbour",
    NovaMetadata => "nova-metadata",
});

#[cfg(test)]
mod tests {
    use super::*;

    fn serialized<T: Serialize>(v: &T) -> String {
        match serde_json::to_value(v).expect("serializes") {
            serde_json::Value::String(s) => s,
            other => panic!("not a string: {other}"),
        }
    }

    fn check<T: Serialize + fmt::Display + fmt::Debug>(all: &[T], as_str: impl Fn(&T) -> &str) {
        for v in all {
            assert_eq!(serialized(v), as_str(v), "{v:?}");
            assert_eq!(v.to_string(), as_str(v), "{v:?}");
        }
    }

    #[test]
    fn names_are_the_serialized_strings() {
        check(DomainState::ALL, |v| v.as_str());
        check(LinkState::ALL, |v| v.as_str());
        check(OperState::ALL, |v| v.as_str());
        check(NetIdSource::ALL, |v| v.as_str());
        check(PortIdSource::ALL, |v| v.as_str());
        check(StaleSource::ALL, |v| v.as_str());
        check(AddressSource::ALL, |v| v.as_str());
        check(InterfaceType::KNOWN, |v| v.as_str());
        check(VirtualportType::KNOWN, |v| v.as_str());
        check(DeviceKind::KNOWN, |v| v.as_str());
    }

    #[test]
    fn names_read_back_and_other_names_are_kept_as_written() {
        for v in AddressSource::ALL {
            assert_eq!(AddressSource::from_name(v.as_str()), Some(*v));
        }
        assert_eq!(LinkState::from_name("sideways"), None);
        for v in InterfaceType::KNOWN {
            assert_eq!(&InterfaceType::from_name(v.as_str()), v);
        }
        let odd = InterfaceType::from_name("Bridge");
        assert_eq!(odd, InterfaceType::Other("Bridge".into()));
        assert_eq!(serialized(&odd), "Bridge");
        assert_eq!(serialized(&DeviceKind::Other("ipvlan".into())), "ipvlan");
        assert_eq!(VirtualportType::from_name("802.1Qbh"), VirtualportType::Qbh);
    }

    #[test]
    fn address_sources_order_as_their_names() {
        let mut by_name = AddressSource::ALL.to_vec();
        by_name.sort_by_key(|s| s.as_str());
        assert_eq!(by_name, AddressSource::ALL);
        assert!(AddressSource::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
