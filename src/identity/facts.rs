//! What the resolvers consult beyond libvirt's snapshot and the devices: OVSDB rows,
//! the neighbour table, and the UUIDs the host knows.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use super::options::NetworkMap;
use super::ovn::OvnFacts;
use crate::libvirt::{DomainInterface, Network};
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
    /// The vhost-user Interfaces of `ovsdb` by socket path.
    sockets: SocketIndex,
}

/// Interface names by vhost-user socket path, and the state they were taken from: a
/// vhostuser VIF has no host device whose name finds its row, only its socket.
#[derive(Debug, Clone, Default)]
struct SocketIndex {
    of: Option<Arc<OvsState>>,
    names: HashMap<String, String>,
}

impl PartialEq for SocketIndex {
    /// Derived from `ovsdb`, which `Facts` compares itself.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl SocketIndex {
    fn of(ovsdb: Option<&OvsFacts>) -> Self {
        let Some(f) = ovsdb else {
            return SocketIndex::default();
        };
        let rows = f.state.interfaces.values();
        let names = rows
            .filter_map(|i| Some((i.vhost_socket.clone()?, i.name.clone())))
            .collect();
        SocketIndex {
            of: Some(f.state.clone()),
            names,
        }
    }
}

impl Facts {
    pub fn new(ovsdb: Option<OvsFacts>, neighbours: &[Neighbour]) -> Self {
        let mut f = Facts {
            sockets: SocketIndex::of(ovsdb.as_ref()),
            ovsdb,
            ovn: None,
            neighbours: HashMap::new(),
        };
        f.set_neighbours(neighbours);
        f
    }

    /// Replaces OVSDB's facts (and the index kept from them); returns the old ones.
    pub fn set_ovsdb(&mut self, ovsdb: Option<OvsFacts>) -> Option<OvsFacts> {
        self.sockets = SocketIndex::of(ovsdb.as_ref());
        std::mem::replace(&mut self.ovsdb, ovsdb)
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

    /// Whether this host is an OVN chassis: the Southbound is read, or the local Open
    /// vSwitch names one (`ovn-remote`) even while it is not read yet.
    pub fn is_ovn_chassis(&self) -> bool {
        let remote = |o: &OvsFacts| o.state.host.ovn_remote.is_some();
        self.ovn.is_some() || self.ovsdb.as_ref().is_some_and(remote)
    }

    pub(super) fn ovs_interface(&self, name: &str) -> Option<(&OvsInterface, bool)> {
        let f = self.ovsdb.as_ref()?;
        f.state.interfaces.get(name).map(|i| (i, f.stale))
    }

    /// The OVS Interface of a `type='vhostuser'` interface: the one whose vhost-user socket
    /// is the XML's `<source path>`, on the side that pairs with `<source mode>` (libvirt's
    /// `server` with `dpdkvhostuserclient`, `client` with `dpdkvhostuser`: two servers or
    /// two clients on one path never connect, so they are not the same port).
    pub fn ovs_vhost_interface(&self, iface: &DomainInterface) -> Option<(&OvsInterface, bool)> {
        if iface.kind != "vhostuser" {
            return None;
        }
        let path = iface.source.path.as_deref()?;
        let f = self.ovsdb.as_ref()?;
        let row = match &self.sockets.of {
            Some(of) if Arc::ptr_eq(of, &f.state) => self
                .sockets
                .names
                .get(path)
                .and_then(|name| f.state.interfaces.get(name)),
            // `ovsdb` was assigned directly rather than through `set_ovsdb`: still right.
            _ => f
                .state
                .interfaces
                .values()
                .find(|i| i.vhost_socket.as_deref() == Some(path)),
        }?;
        let pairs = match iface.source.mode.as_deref() {
            Some("server") => row.iface_type == "dpdkvhostuserclient",
            Some("client") => row.iface_type == "dpdkvhostuser",
            _ => true,
        };
        pairs.then_some((row, f.stale))
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
