//! Applying what the identity sources say: OVSDB rows, the neighbour table, libvirt's
//! networks and leases, and counters. Each recomputes only the records the change can
//! reach, and falls back to a full rebuild when it changes what every record consults.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::changes::Delta;
use super::diff::{diff, records_of};
use super::entry::Entry;
use super::{Correlation, Key};
use crate::identity::{Context, Facts, Known, OvsFacts, Resolver};
use crate::libvirt::Network;
use crate::mac::MacAddr;
use crate::netlink::{LinkStats, Neighbour};
use crate::ovsdb::OvsInterface;

impl Correlation {
    /// What identity resolution reads, borrowed from the kept state.
    pub(super) fn context(&self) -> Context<'_> {
        Context {
            opts: &self.opts.identity,
            networks: &self.networks,
            former: &self.former,
            facts: &self.facts,
            known: &self.known,
        }
    }

    /// Replaces every fact at once (a one-shot read).
    pub fn set_facts(&mut self, facts: Facts) -> Vec<Delta> {
        let before = self.records();
        self.facts = facts;
        self.refresh_known();
        self.rebuild();
        self.diff_all(before)
    }

    /// OVSDB as now read (`stale` when ovsdb-server went away), or `None` (resolver off).
    pub fn set_ovsdb(&mut self, ovsdb: Option<OvsFacts>) -> Vec<Delta> {
        let old = self.facts.set_ovsdb(ovsdb);
        if old == self.facts.ovsdb {
            return Vec::new();
        }
        let names = changed_rows(old.as_ref(), self.facts.ovsdb.as_ref());
        if self.refresh_known() && self.opts.identity.uses(Resolver::Linuxbridge) {
            return self.rebuild_all();
        }
        let mut keys = self.claimants(names.iter().map(String::as_str));
        let sockets = changed_sockets(old.as_ref(), self.facts.ovsdb.as_ref(), &names);
        keys.extend(self.on_sockets(&sockets));
        self.recompute_keys(keys)
    }

    /// The neighbour table as now read.
    pub fn set_neighbours(&mut self, table: &[Neighbour]) -> Vec<Delta> {
        let macs = self.facts.set_neighbours(table);
        let keys = self.with_macs(&macs);
        self.recompute_keys(keys)
    }

    /// libvirt's networks (with their leases) as now read.
    pub fn set_networks(&mut self, networks: Vec<Network>) -> Vec<Delta> {
        let defs = |n: &[Network]| -> Vec<(String, String, Option<String>, bool)> {
            let mut v: Vec<_> = n
                .iter()
                .map(|n| (n.name.clone(), n.uuid.clone(), n.bridge.clone(), n.active))
                .collect();
            v.sort();
            v
        };
        if defs(&self.networks) != defs(&networks) {
            self.update_networks(networks);
            return self.rebuild_all();
        }
        let addresses = |n: &Network| (n.leases.clone(), n.hosts.clone());
        let old_addresses = self.networks.iter().map(addresses);
        let same = old_addresses.eq(networks.iter().map(addresses));
        let old = std::mem::replace(&mut self.networks, networks);
        if same {
            return Vec::new();
        }
        // A lease or host entry that changed address keeps its MAC: take every MAC of both
        // sides.
        let mut macs = lease_macs(&old);
        macs.extend(lease_macs(&self.networks));
        let keys = self.with_macs(&macs);
        self.recompute_keys(keys)
    }

    /// New counters for these devices: records take them in place, no delta.
    pub fn set_stats(&mut self, stats: &[(String, LinkStats)]) -> bool {
        let mut changed = false;
        for (name, s) in stats {
            let Some(dev) = self.devices.get_mut(name) else {
                continue;
            };
            if dev.stats == Some(*s) {
                continue;
            }
            dev.stats = Some(*s);
            changed = true;
            let keys = self.claimants(std::iter::once(name.as_str()));
            for key in keys {
                let Some(e) = self.domains.get_mut(&key) else {
                    continue;
                };
                self.dirty.domains.insert(key.clone());
                for v in e
                    .vifs
                    .iter_mut()
                    .filter(|v| v.device.as_deref() == Some(name))
                {
                    Arc::make_mut(v).stats = Some((*s).into());
                }
            }
        }
        changed
    }

    /// Keeps the networks, remembering those that vanished while a domain names them.
    pub(super) fn update_networks(&mut self, networks: Vec<Network>) {
        let old = std::mem::replace(&mut self.networks, networks);
        for n in old {
            if !self.networks.iter().any(|m| m.name == n.name) {
                self.former.retain(|f| f.name != n.name);
                self.former.push(Network {
                    active: false,
                    leases: Vec::new(),
                    ..n
                });
            }
        }
        let (current, domains) = (&self.networks, &self.domains);
        self.former.retain(|f| {
            let named = |e: &Entry| {
                e.domain.interfaces.iter().any(|i| {
                    i.source.network.as_deref() == Some(&f.name)
                        || (i.source.bridge.is_some() && i.source.bridge == f.bridge)
                })
            };
            !current.iter().any(|c| c.name == f.name) && domains.values().any(named)
        });
        self.refresh_known();
    }

    /// Recomputes the known UUIDs; true when they changed.
    fn refresh_known(&mut self) -> bool {
        let known = Known::gather(&self.networks, &self.facts, &self.opts.identity.map);
        let changed = known != self.known;
        self.known = known;
        changed
    }

    fn rebuild_all(&mut self) -> Vec<Delta> {
        let before = self.records();
        self.rebuild();
        self.diff_all(before)
    }

    /// The domains whose interfaces name or were matched to these devices.
    pub(super) fn claimants<'a>(&self, names: impl Iterator<Item = &'a str>) -> BTreeSet<Key> {
        let mut keys = BTreeSet::new();
        for name in names {
            for uuid in self.claimed_by.get(name).into_iter().flatten() {
                keys.extend(self.key_of.get(uuid).cloned());
            }
        }
        keys
    }

    /// The domains with an interface carrying one of these guest MACs.
    fn with_macs(&self, macs: &BTreeSet<MacAddr>) -> BTreeSet<Key> {
        if macs.is_empty() {
            return BTreeSet::new();
        }
        let has = |e: &Entry| {
            e.domain
                .interfaces
                .iter()
                .any(|i| i.mac.is_some_and(|m| macs.contains(&m)))
        };
        self.domains
            .iter()
            .filter(|(_, e)| has(e))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The domains with a vhostuser interface on one of these sockets: they claim no
    /// device, their OVSDB row is found by socket path.
    pub(super) fn on_sockets(&self, paths: &BTreeSet<&str>) -> BTreeSet<Key> {
        if paths.is_empty() {
            return BTreeSet::new();
        }
        let on = |i: &crate::libvirt::DomainInterface| {
            i.kind == "vhostuser" && i.source.path.as_deref().is_some_and(|p| paths.contains(p))
        };
        let domains = self.domains.iter();
        let hit = domains.filter(|(_, e)| e.domain.interfaces.iter().any(on));
        hit.map(|(k, _)| k.clone()).collect()
    }

    /// Recomputes these domains' records (identity only: claims do not change).
    pub(super) fn recompute_keys(&mut self, keys: BTreeSet<Key>) -> Vec<Delta> {
        if keys.is_empty() {
            return Vec::new();
        }
        if self.needs_rebuild() {
            return self.rebuild_all();
        }
        let mut out = Vec::new();
        for key in keys {
            let before = self.domains.get(&key).map(records_of).unwrap_or_default();
            self.recompute(&key);
            let after = self.domains.get(&key).map(records_of).unwrap_or_default();
            diff(before, after, &mut out);
        }
        out
    }
}

/// Interface names whose OVSDB row differs between two reads (or whose staleness did).
fn changed_rows(old: Option<&OvsFacts>, new: Option<&OvsFacts>) -> BTreeSet<String> {
    let (a, b) = (rows(old), rows(new));
    let mut out: BTreeSet<String> = BTreeSet::new();
    for (name, row) in &a {
        if b.get(name) != Some(row) {
            out.insert(name.to_string());
        }
    }
    out.extend(
        b.keys()
            .filter(|n| !a.contains_key(*n))
            .map(|n| n.to_string()),
    );
    out
}

/// The vhost-user sockets of these rows, before and after: a VIF on either may change.
fn changed_sockets<'a>(
    old: Option<&'a OvsFacts>,
    new: Option<&'a OvsFacts>,
    names: &BTreeSet<String>,
) -> BTreeSet<&'a str> {
    let sides = [old, new].into_iter().flatten();
    let rows = sides.flat_map(|f| names.iter().filter_map(|n| f.state.interfaces.get(n)));
    rows.filter_map(|r| r.vhost_socket.as_deref()).collect()
}

fn lease_macs(networks: &[Network]) -> BTreeSet<MacAddr> {
    let leases = networks
        .iter()
        .flat_map(|n| &n.leases)
        .filter_map(|l| l.mac);
    let hosts = networks.iter().flat_map(|n| &n.hosts).filter_map(|h| h.mac);
    leases.chain(hosts).collect()
}

fn rows(f: Option<&OvsFacts>) -> HashMap<&str, (&OvsInterface, bool)> {
    let Some(f) = f else {
        return HashMap::new();
    };
    let rows = f.state.interfaces.iter();
    rows.map(|(k, v)| (k.as_str(), (v, f.stale))).collect()
}
