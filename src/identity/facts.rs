//! What the resolvers consult beyond libvirt's snapshot and the devices: OVSDB rows,
//! the neighbour table, and the UUIDs the host knows.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use super::options::NetworkMap;
use super::ovn::OvnFacts;
use crate::libvirt::Network;
use crate::mac::MacAddr;
use crate::netlink::Neighbour;
use crate::ovsdb::{OvsInterface, OvsState};

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
    /// `None` while the ovn resolver is off or the host is not an OVN chassis.
    pub ovn: Option<OvnFacts>,
    /// Neighbour entries by their link-layer address.
    neighbours: HashMap<MacAddr, Vec<(String, IpAddr)>>,
}

impl Facts {
    pub fn new(ovsdb: Option<OvsFacts>, neighbours: &[Neighbour]) -> Self {
        let mut f = Facts {
            ovsdb,
            ovn: None,
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

    pub(super) fn ovs_interface(&self, name: &str) -> Option<(&OvsInterface, bool)> {
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

    pub(super) fn net_with_prefix(&self, prefix: &str) -> Option<&String> {
        unique_with_prefix(&self.nets, prefix)
    }

    pub(super) fn port_with_prefix(&self, prefix: &str) -> Option<&String> {
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
