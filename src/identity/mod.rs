//! Who a VIF belongs to: its network and port, and the addresses seen on it, each fact
//! tagged with the source it came from. Pure: callers gather the facts (OVSDB rows,
//! neighbours, leases) and this module only reads them.
//!
//! Resolvers are tried in the operator's order; the first that knows a field sets it.
//! `<virtualport>`'s interfaceid is the domain's own statement of its port and always
//! comes first.

mod addresses;
mod resolve;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::libvirt::Network;
use crate::mac::MacAddr;
use crate::netlink::Neighbour;
use crate::ovsdb::{OvsInterface, OvsState};

pub(crate) use resolve::{network_of, resolve, Context, Names};

/// A source of network and port identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolver {
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
    pub const DEFAULT_ORDER: [Resolver; 5] = [
        Resolver::Ovsdb,
        Resolver::LibvirtNetwork,
        Resolver::NovaMetadata,
        Resolver::Linuxbridge,
        Resolver::Config,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
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
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::DEFAULT_ORDER
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown resolver {s:?}: expected ovsdb, libvirt-network, nova-metadata, linuxbridge or config")
            })
    }
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

    fn by_mac(&self, mac: MacAddr) -> Option<&String> {
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
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid MAC prefix {s:?}: expected 1 to 6 hex octets separated by ':'");
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

/// OVSDB as last read, and whether that read is still current.
#[derive(Debug, Clone, PartialEq)]
pub struct OvsFacts {
    pub state: Arc<OvsState>,
    /// ovsdb-server is unreachable: these are the last known rows.
    pub stale: bool,
}

/// What the resolvers consult beyond libvirt's snapshot and the devices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// `None` while the ovsdb resolver is off or has never read the database.
    pub ovsdb: Option<OvsFacts>,
    /// Neighbour entries by their link-layer address.
    neighbours: HashMap<MacAddr, Vec<(String, IpAddr)>>,
}

impl Facts {
    pub fn new(ovsdb: Option<OvsFacts>, neighbours: &[Neighbour]) -> Self {
        let mut f = Facts {
            ovsdb,
            neighbours: HashMap::new(),
        };
        f.set_neighbours(neighbours);
        f
    }

    /// Replaces the neighbour table; returns the MACs whose entries changed.
    pub fn set_neighbours(&mut self, table: &[Neighbour]) -> BTreeSet<MacAddr> {
        let mut next: HashMap<MacAddr, Vec<(String, IpAddr)>> = HashMap::new();
        for n in table {
            next.entry(n.mac)
                .or_default()
                .push((n.device.clone(), n.address));
        }
        for v in next.values_mut() {
            v.sort();
            v.dedup();
        }
        let mut changed: BTreeSet<MacAddr> = BTreeSet::new();
        for (mac, entries) in &next {
            if self.neighbours.get(mac) != Some(entries) {
                changed.insert(*mac);
            }
        }
        changed.extend(self.neighbours.keys().filter(|m| !next.contains_key(m)));
        self.neighbours = next;
        changed
    }

    /// The neighbour entries (device, address) carrying this MAC.
    pub fn neighbours_of(&self, mac: MacAddr) -> &[(String, IpAddr)] {
        self.neighbours.get(&mac).map(Vec::as_slice).unwrap_or(&[])
    }

    fn ovs_interface(&self, name: &str) -> Option<(&OvsInterface, bool)> {
        let f = self.ovsdb.as_ref()?;
        f.state.interfaces.get(name).map(|i| (i, f.stale))
    }
}

/// Full network and port UUIDs the host knows, for the linuxbridge resolver's
/// abbreviated names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    nets: BTreeSet<String>,
    ports: BTreeSet<String>,
}

impl Known {
    pub fn gather(networks: &[Network], facts: &Facts, map: &NetworkMap) -> Self {
        let mut k = Known::default();
        k.nets
            .extend(networks.iter().map(|n| n.uuid.to_ascii_lowercase()));
        k.nets
            .extend(map.networks().map(|n| n.to_ascii_lowercase()));
        if let Some(o) = &facts.ovsdb {
            for i in o.state.interfaces.values() {
                k.nets
                    .extend(i.net_uuid.as_ref().map(|n| n.to_ascii_lowercase()));
                k.ports
                    .extend(i.iface_id.as_ref().map(|p| p.to_ascii_lowercase()));
            }
        }
        k
    }

    fn net_with_prefix(&self, prefix: &str) -> Option<&String> {
        unique_with_prefix(&self.nets, prefix)
    }

    fn port_with_prefix(&self, prefix: &str) -> Option<&String> {
        unique_with_prefix(&self.ports, prefix)
    }
}

/// The one UUID starting with `prefix`; none when two do (an abbreviation that could
/// name either is not an answer).
fn unique_with_prefix<'a>(set: &'a BTreeSet<String>, prefix: &str) -> Option<&'a String> {
    let prefix = prefix.to_ascii_lowercase();
    let mut hits = set
        .range(prefix.clone()..)
        .take_while(|u| u.starts_with(&prefix));
    let first = hits.next()?;
    hits.next().is_none().then_some(first)
}
