//! The operator's say in identity: which resolvers run in which order, and the `config`
//! resolver's table.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::mac::MacAddr;

/// A source of network and port identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolver {
    /// OVN's Southbound DB: the local port's binding, its datapath's Neutron network.
    Ovn,
    /// Open vSwitch's database: iface-id, net_uuid, tag.
    Ovsdb,
    /// libvirt networks: `<source network>` or a network's bridge; DHCP leases.
    LibvirtNetwork,
    /// Nova's `<nova:port>` matched by the tap name; its `<nova:ip>` addresses.
    NovaMetadata,
    /// Neutron linuxbridge names: `brq` + 11 and `tap` + 11 characters of a known UUID.
    Linuxbridge,
    /// The operator's `[networks]` table.
    Config,
}

impl Resolver {
    /// The order used when none is configured.
    pub const DEFAULT_ORDER: [Resolver; 6] = [
        Resolver::Ovn,
        Resolver::Ovsdb,
        Resolver::LibvirtNetwork,
        Resolver::NovaMetadata,
        Resolver::Linuxbridge,
        Resolver::Config,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ovn => "ovn",
            Self::Ovsdb => "ovsdb",
            Self::LibvirtNetwork => "libvirt-network",
            Self::NovaMetadata => "nova-metadata",
            Self::Linuxbridge => "linuxbridge",
            Self::Config => "config",
        }
    }
}

impl fmt::Display for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Resolver {
    type Err = OptionError;

    fn from_str(s: &str) -> Result<Self, OptionError> {
        Self::DEFAULT_ORDER
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| OptionError::UnknownResolver(s.to_string()))
    }
}

/// A resolver name or a MAC prefix that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error(
        "unknown resolver {0:?}: expected ovn, ovsdb, libvirt-network, nova-metadata, linuxbridge or config"
    )]
    UnknownResolver(String),
    #[error("invalid MAC prefix {0:?}: expected 1 to 6 hex octets separated by ':'")]
    MacPrefix(String),
}

/// How identity is resolved: which resolvers, in which order, and the operator's map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityOptions {
    pub order: Vec<Resolver>,
    pub map: NetworkMap,
}

impl Default for IdentityOptions {
    fn default() -> Self {
        IdentityOptions {
            order: Resolver::DEFAULT_ORDER.to_vec(),
            map: NetworkMap::default(),
        }
    }
}

impl IdentityOptions {
    pub fn uses(&self, r: Resolver) -> bool {
        self.order.contains(&r)
    }
}

/// The `config` resolver's table: a Linux bridge, an OVS bridge or a MAC prefix → a
/// network UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkMap {
    pub bridges: BTreeMap<String, String>,
    pub ovs_bridges: BTreeMap<String, String>,
    /// Longest prefix wins.
    pub mac_prefixes: Vec<(MacPrefix, String)>,
}

impl NetworkMap {
    /// Every network UUID the map names.
    pub fn networks(&self) -> impl Iterator<Item = &String> {
        self.bridges
            .values()
            .chain(self.ovs_bridges.values())
            .chain(self.mac_prefixes.iter().map(|(_, n)| n))
    }

    pub(super) fn by_mac(&self, mac: MacAddr) -> Option<&String> {
        self.mac_prefixes
            .iter()
            .filter(|(p, _)| p.matches(mac))
            .max_by_key(|(p, _)| p.0.len())
            .map(|(_, n)| n)
    }
}

/// One to six leading octets of a MAC address (`fa:16:3e`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacPrefix(pub Vec<u8>);

impl MacPrefix {
    pub fn matches(&self, mac: MacAddr) -> bool {
        mac.0.starts_with(&self.0)
    }
}

impl fmt::Display for MacPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let octets: Vec<String> = self.0.iter().map(|o| format!("{o:02x}")).collect();
        f.write_str(&octets.join(":"))
    }
}

impl FromStr for MacPrefix {
    type Err = OptionError;

    fn from_str(s: &str) -> Result<Self, OptionError> {
        let bad = || OptionError::MacPrefix(s.to_string());
        let octets: Vec<u8> = s
            .split(':')
            .map(|o| match o.len() {
                1 | 2 => u8::from_str_radix(o, 16).map_err(|_| bad()),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?;
        if octets.is_empty() || octets.len() > 6 {
            return Err(bad());
        }
        Ok(MacPrefix(octets))
    }
}
