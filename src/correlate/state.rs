//! Correlation kept current change by change. A domain change recomputes that domain's
//! records; a device change recomputes the records of the domains that name it and its
//! own orphan status. Each apply returns what changed, so callers can tell watchers.
//!
//! Interfaces without a target on a domain that has a process are matched by MAC among
//! unclaimed devices; that matching depends on every domain at once, so while such an
//! interface exists every apply falls back to a full rebuild. Live XML always names the
//! target, so on a real host this is the exception.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

mod changes;
mod diff;
mod entry;
mod facts;
mod mac_match;
mod ovn;
mod publish;
mod targetless;

use diff::{diff, records_of, Records};
use entry::Entry;
use targetless::has_mac_matched;

use changes::Dirty;
pub use changes::{Changes, Delta, DomainKey};

use super::devices::Devices;
use super::options::{is_watched, CorrelateOptions};
use super::problems::orphan_problem;
use super::record::build_record;
use crate::identity::{Facts, Known};
use crate::inventory::problem::Problem;
use crate::inventory::record::{DomainSummary, Inventory};
use crate::libvirt::{Domain, Network, Snapshot};
use crate::netlink::{DeviceKind, HostDevice};

type Key = DomainKey;

/// The inventory of a host, kept current one domain or device at a time.
pub struct Correlation {
    opts: CorrelateOptions,
    networks: Vec<Network>,
    /// Networks libvirt stopped listing that a domain still names: their last known
    /// identity, served as stale.
    former: Vec<Network>,
    facts: Facts,
    /// Full UUIDs known from the networks, OVSDB and the map (linuxbridge resolver).
    known: Known,
    devices: Devices,
    domains: BTreeMap<Key, Entry>,
    /// Lower-case domain UUID → its key.
    key_of: HashMap<String, Key>,
    /// Device name → lower-case UUIDs of the domains whose interfaces name it.
    claimed_by: HashMap<String, BTreeSet<String>>,
    /// Host-level problems by key: a device name (orphans) or `ovn:chassis`.
    host_problems: BTreeMap<String, Arc<Problem>>,
    stale: bool,
    /// How many domains have interfaces matched by MAC (see `needs_rebuild`).
    mac_matched: usize,
    dirty: Dirty,
}

impl Correlation {
    pub fn new(guests: Snapshot, devices: Vec<HostDevice>, opts: CorrelateOptions) -> Self {
        Self::with_facts(guests, devices, Facts::default(), opts)
    }

    /// As [`new`](Self::new), with OVSDB's rows and the neighbour table.
    pub fn with_facts(
        guests: Snapshot,
        devices: Vec<HostDevice>,
        facts: Facts,
        opts: CorrelateOptions,
    ) -> Self {
        let known = Known::gather(&guests.networks, &facts, &opts.identity.map);
        let mut c = Correlation {
            opts,
            networks: guests.networks,
            former: Vec::new(),
            facts,
            known,
            devices: devices.into_iter().map(|d| (d.name.clone(), d)).collect(),
            domains: BTreeMap::new(),
            key_of: HashMap::new(),
            claimed_by: HashMap::new(),
            host_problems: BTreeMap::new(),
            stale: false,
            mac_matched: 0,
            dirty: Dirty::default(),
        };
        for dom in guests.domains {
            c.insert_domain(dom);
        }
        c.rebuild();
        c
    }

    /// The inventory as a client sees it: domains by name, records in XML order.
    pub fn inventory(&self) -> Inventory {
        let records = self.domains.values().map(|e| e.vifs.len()).sum();
        let problems = self
            .domains
            .values()
            .map(|e| e.problems.len())
            .sum::<usize>();
        let mut inv = Inventory {
            domains: Vec::with_capacity(self.domains.len()),
            interfaces: Vec::with_capacity(records),
            problems: Vec::with_capacity(problems + self.host_problems.len()),
        };
        for e in self.domains.values() {
            inv.domains.push(DomainSummary::from(&e.domain));
            inv.interfaces.extend(e.vifs.iter().cloned());
            inv.problems.extend(e.problems.iter().cloned());
        }
        inv.problems.extend(self.host_problems.values().cloned());
        inv
    }

    /// The domains as last read, in name order.
    pub fn domains(&self) -> impl Iterator<Item = &Domain> {
        self.domains.values().map(|e| &e.domain)
    }

    /// The domain with this UUID, as last read.
    pub fn domain(&self, uuid: &str) -> Option<&Domain> {
        let key = self.key_of.get(&uuid.to_ascii_lowercase())?;
        self.domains.get(key).map(|e| &e.domain)
    }

    /// Replaces everything libvirt said (a full read), which also makes records fresh again.
    pub fn replace_guests(&mut self, guests: Snapshot) -> Vec<Delta> {
        let before = self.records();
        self.stale = false;
        self.update_networks(guests.networks);
        self.domains.clear();
        self.key_of.clear();
        self.mac_matched = 0;
        for dom in guests.domains {
            self.insert_domain(dom);
        }
        self.rebuild();
        self.diff_all(before)
    }

    /// Replaces every host device (a dump).
    pub fn replace_devices(&mut self, devices: Vec<HostDevice>) -> Vec<Delta> {
        let before = self.records();
        self.devices = devices.into_iter().map(|d| (d.name.clone(), d)).collect();
        self.rebuild();
        self.diff_all(before)
    }

    /// Marks every record stale (libvirt unreachable) or fresh again.
    pub fn set_stale(&mut self, stale: bool) -> Vec<Delta> {
        if self.stale == stale {
            return Vec::new();
        }
        self.stale = stale;
        self.dirty.all = true;
        let mut out = Vec::new();
        for e in self.domains.values_mut() {
            for v in &mut e.vifs {
                Arc::make_mut(v).stale = stale;
                out.push(Delta::Changed {
                    record: v.clone(),
                    previous_id: None,
                });
            }
        }
        out
    }

    /// A domain as re-read from libvirt, or its disappearance (`None`).
    pub fn set_domain(&mut self, uuid: &str, domain: Option<Domain>) -> Vec<Delta> {
        let uuid = uuid.to_ascii_lowercase();
        let old = self
            .key_of
            .remove(&uuid)
            .and_then(|k| self.remove_domain(&k));
        if let Some(dom) = domain {
            self.insert_domain(dom);
        }
        if self.needs_rebuild() || old.as_ref().is_some_and(|o| has_mac_matched(&o.domain)) {
            let mut before = self.records();
            if let Some(o) = &old {
                before.extend(records_of(o));
            }
            self.rebuild();
            return self.diff_all(before);
        }
        let mut touched: BTreeSet<String> = BTreeSet::new();
        if let Some(o) = &old {
            for name in &o.claims {
                self.unclaim(name, &uuid);
                touched.insert(name.clone());
            }
        }
        let mut out = Vec::new();
        if let Some(key) = self.key_of.get(&uuid).cloned() {
            touched.extend(self.recompute(&key));
        }
        let before = old.as_ref().map(records_of).unwrap_or_default();
        let after = self
            .key_of
            .get(&uuid)
            .and_then(|k| self.domains.get(k))
            .map(records_of)
            .unwrap_or_default();
        diff(before, after, &mut out);
        for name in touched {
            self.update_orphan(&name, &mut out);
        }
        out
    }

    /// Devices added or changed (`Some`) or gone (`None`), by name.
    pub fn set_devices(&mut self, changes: Vec<(String, Option<HostDevice>)>) -> Vec<Delta> {
        let ovs = |d: &HostDevice| d.kind == DeviceKind::Openvswitch;
        let mut full = self.needs_rebuild();
        let mut names = BTreeSet::new();
        for (name, dev) in changes {
            let old = match dev {
                Some(d) => {
                    full |= ovs(&d);
                    self.devices.insert(name.clone(), d)
                }
                None => self.devices.remove(&name),
            };
            full |= old.as_ref().is_some_and(ovs);
            names.insert(name);
        }
        if full {
            // Records check their master's kind; a datapath changing is rare.
            let before = self.records();
            self.rebuild();
            return self.diff_all(before);
        }
        let mut domains = BTreeSet::new();
        for name in &names {
            for uuid in self.claimed_by.get(name).into_iter().flatten() {
                domains.extend(self.key_of.get(uuid).cloned());
            }
        }
        let mut out = Vec::new();
        for key in domains {
            let before = self.domains.get(&key).map(records_of).unwrap_or_default();
            names.extend(self.recompute(&key));
            let after = self.domains.get(&key).map(records_of).unwrap_or_default();
            diff(before, after, &mut out);
        }
        for name in names {
            self.update_orphan(&name, &mut out);
        }
        out
    }

    /// Adds a domain with no records yet: the caller recomputes.
    fn insert_domain(&mut self, domain: Domain) {
        let key = (domain.name.clone(), domain.uuid.to_ascii_lowercase());
        self.key_of.insert(key.1.clone(), key.clone());
        self.mac_matched += usize::from(has_mac_matched(&domain));
        self.dirty.domains.insert(key.clone());
        let entry = Entry {
            domain,
            vifs: Vec::new(),
            problems: Vec::new(),
            claims: Vec::new(),
        };
        self.domains.insert(key, entry);
    }

    /// Takes a domain out (the caller keeps `key_of` right).
    fn remove_domain(&mut self, key: &Key) -> Option<Entry> {
        let e = self.domains.remove(key)?;
        self.mac_matched -= usize::from(has_mac_matched(&e.domain));
        self.dirty.domains.insert(key.clone());
        Some(e)
    }

    fn needs_rebuild(&self) -> bool {
        self.mac_matched > 0
    }

    /// Recomputes one domain's records against the devices by name. Returns the device
    /// names it claimed before and claims now.
    fn recompute(&mut self, key: &Key) -> Vec<String> {
        let Some(entry) = self.domains.get(key) else {
            return Vec::new();
        };
        let old_claims = entry.claims.clone();
        let ctx = self.context();
        let mut vifs = Vec::new();
        let mut problems = Vec::new();
        let mut claims = Vec::new();
        for (i, iface) in entry.domain.interfaces.iter().enumerate() {
            // A target is claimed even before its device exists: the device's arrival
            // must find this domain.
            claims.extend(iface.target.clone());
            let dev = iface.target.as_deref().and_then(|t| self.devices.get(t));
            let (vif, p) = build_record(
                &entry.domain,
                i,
                iface,
                dev,
                &ctx,
                &self.devices,
                self.stale,
            );
            vifs.push(Arc::new(vif));
            problems.extend(p.into_iter().map(Arc::new));
        }
        for name in &old_claims {
            self.unclaim(name, &key.1);
        }
        for name in &claims {
            self.claimed_by
                .entry(name.clone())
                .or_default()
                .insert(key.1.clone());
        }
        if let Some(e) = self.domains.get_mut(key) {
            (e.vifs, e.problems) = (vifs, problems);
            e.claims = claims.clone();
        }
        self.dirty.domains.insert(key.clone());
        claims.extend(old_claims);
        claims
    }

    fn unclaim(&mut self, name: &str, uuid: &str) {
        if let Some(set) = self.claimed_by.get_mut(name) {
            set.remove(uuid);
            if set.is_empty() {
                self.claimed_by.remove(name);
            }
        }
    }

    /// Recomputes every record: name matching first, then MAC matching among the rest.
    fn rebuild(&mut self) {
        self.dirty.all = true;
        self.claimed_by.clear();
        let keys: Vec<Key> = self.domains.keys().cloned().collect();
        for key in &keys {
            if let Some(e) = self.domains.get_mut(key) {
                e.claims.clear();
            }
            self.recompute(key);
        }
        if self.needs_rebuild() {
            self.match_by_mac(&keys);
        }
        self.host_problems.clear();
        let names: Vec<String> = self.devices.keys().cloned().collect();
        for name in names {
            self.update_orphan(&name, &mut Vec::new());
        }
        self.update_chassis_problem(&mut Vec::new());
    }

    /// Raises or clears the orphan problem of one device.
    fn update_orphan(&mut self, name: &str, out: &mut Vec<Delta>) {
        let now = self.devices.get(name).filter(|d| {
            d.kind.is_guest_carrier()
                && !self.claimed_by.contains_key(name)
                && is_watched(name, &self.opts)
        });
        let new = now.map(|d| Arc::new(orphan_problem(d)));
        self.set_host_problem(name, new, out);
    }

    /// Sets (or clears) the host-level problem under `key`, telling `out` what changed.
    pub(super) fn set_host_problem(
        &mut self,
        key: &str,
        new: Option<Arc<Problem>>,
        out: &mut Vec<Delta>,
    ) {
        if self.host_problems.get(key) == new.as_ref() {
            return;
        }
        self.dirty.host_problems.insert(key.to_string());
        if let Some(o) = self.host_problems.remove(key) {
            out.push(Delta::ProblemCleared(o));
        }
        if let Some(p) = new {
            out.push(Delta::ProblemRaised(p.clone()));
            self.host_problems.insert(key.to_string(), p);
        }
    }

    /// Every record and host-level problem, for diffing around a full rebuild.
    fn records(&self) -> Records {
        let mut r = Records::default();
        for e in self.domains.values() {
            r.extend(records_of(e));
        }
        r.problems.extend(self.host_problems.values().cloned());
        r
    }

    fn diff_all(&self, before: Records) -> Vec<Delta> {
        let mut out = Vec::new();
        diff(before, self.records(), &mut out);
        out
    }
}
