//! The served state between changes: the kept correlation, libvirt's connection state
//! and health, and publishing a new view with the events that led to it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use tracing::{debug, info};

use super::carry::Carry;
use super::guests::GuestUpdate;
use crate::correlate::{CorrelateOptions, Correlation, Delta};
use crate::identity::{Facts, OvsFacts};
use crate::inventory::feed;
use crate::inventory::{DegradedSource, Shared};
use crate::libvirt::{Domain, Network, Snapshot};
use crate::netlink::{HostDevice, LinkStats, Neighbour};
use crate::ovn::SbState;
use crate::ovsdb::OvsState;

mod ovn;
#[cfg(test)]
mod tests;

use ovn::OvnSide;

/// Both sides as last applied, and what is wrong with either.
pub(super) struct Live {
    shared: Arc<Shared>,
    opts: CorrelateOptions,
    /// Set once both a libvirt snapshot and the link table are in.
    corr: Option<Correlation>,
    /// The first libvirt snapshot, while the links are not in yet.
    pending_guests: Option<Snapshot>,
    /// The first link table, while libvirt is not in yet.
    pending_devices: Option<Vec<HostDevice>>,
    /// OVSDB and neighbours, kept here until the correlation exists.
    pending_facts: Facts,
    /// The last OVSDB state read: what is served, marked stale, while it is down.
    last_ovs: Option<Arc<OvsState>>,
    libvirt_error: Option<String>,
    links_error: Option<String>,
    links_ready: bool,
    /// The OVSDB monitor is connected; `None` while there is no server to watch.
    ovsdb_up: Option<bool>,
    ovn: OvnSide,
    /// The last OVSDB and Southbound states, for the refresher after a reload.
    carry: Carry,
}

impl Live {
    /// Starts from what `carry` holds (a reload's predecessor's last OVSDB and Southbound
    /// states), served stale until each is read again.
    pub(super) fn new(
        shared: Arc<Shared>,
        opts: CorrelateOptions,
        ovn_grace: Duration,
        carry: Carry,
    ) -> Self {
        let mut live = Live {
            shared,
            opts,
            corr: None,
            pending_guests: None,
            pending_devices: None,
            pending_facts: Facts::default(),
            last_ovs: None,
            libvirt_error: None,
            links_error: None,
            links_ready: false,
            ovsdb_up: None,
            ovn: OvnSide::new(ovn_grace),
            carry,
        };
        let last = live.carry.get();
        if let Some(state) = last.ovs {
            live.last_ovs = Some(state.clone());
            live.pending_facts
                .set_ovsdb(Some(OvsFacts { state, stale: true }));
        }
        if let Some(sb) = last.sb {
            let now = Instant::now();
            live.ovn.resume(sb, now);
            live.pending_facts.ovn = live.ovn.facts(live.last_ovs.as_ref(), now);
        }
        live
    }

    /// A full libvirt read. `reason` names why it counts as a resync for watchers.
    pub(super) fn apply_guests(&mut self, guests: Snapshot, reason: Option<&str>) {
        self.libvirt_error = None;
        match &mut self.corr {
            Some(c) => {
                let old: Vec<Domain> = c.domains().cloned().collect();
                let deltas = c.replace_guests(guests);
                let others = !old.iter().eq(c.domains());
                if reason.is_none() && !deltas.is_empty() {
                    info!(
                        changes = deltas.len(),
                        "the periodic refresh found changes no event reported"
                    );
                }
                let reason = reason.or((!deltas.is_empty()).then_some("periodic refresh"));
                self.publish(deltas, reason, others);
            }
            None => {
                self.pending_guests = Some(guests);
                self.start();
            }
        }
    }

    /// What the libvirt task read (or found wrong).
    pub(super) fn apply_guest_update(&mut self, update: GuestUpdate) {
        match update {
            GuestUpdate::Snapshot {
                snapshot,
                reason,
                took,
            } => {
                self.apply_guests(snapshot, reason);
                self.inventory_took(took);
            }
            GuestUpdate::Domains(domains) => {
                for (uuid, domain) in domains {
                    self.apply_domain(&uuid, domain);
                }
            }
            GuestUpdate::Networks(networks) => self.apply_networks(networks),
            GuestUpdate::Unreachable(error) => self.disconnected(error),
        }
    }

    /// One domain re-read after an event (`None`: it is gone).
    pub(super) fn apply_domain(&mut self, uuid: &str, domain: Option<Domain>) {
        let Some(c) = &mut self.corr else { return };
        let old = c.domain(uuid).cloned();
        // Disks, Nova IPs and domains without interfaces are served too, with no record
        // changing: they still make a new view.
        let others = old != domain;
        let deltas = c.set_domain(uuid, domain);
        self.publish(deltas, None, others);
    }

    /// The whole link table, after a dump. `resync` when it replaces a live one.
    pub(super) fn apply_devices(&mut self, devices: Vec<HostDevice>, reason: Option<&str>) {
        self.links_ready = true;
        self.links_error = None;
        match &mut self.corr {
            Some(c) => {
                let deltas = c.replace_devices(devices);
                self.publish(deltas, reason, false);
            }
            None => {
                self.pending_devices = Some(devices);
                self.start();
            }
        }
    }

    /// Links changed, by name.
    pub(super) fn apply_links(&mut self, changes: Vec<(String, Option<HostDevice>)>) {
        match &mut self.corr {
            Some(c) => {
                let deltas = c.set_devices(changes);
                self.publish(deltas, None, false);
            }
            // The link table is in but libvirt's first read is not (it comes from a task of
            // its own): the table must stay current until the correlation starts from it.
            None => {
                if let Some(devices) = &mut self.pending_devices {
                    for (name, device) in changes {
                        devices.retain(|d| d.name != name);
                        devices.extend(device);
                    }
                }
            }
        }
    }

    /// ovsdb-server is gone or hangs (`why`): its last state, stale.
    pub(super) fn ovsdb_down(&mut self, why: String) {
        self.shared.set_degraded(DegradedSource::Ovsdb, Some(why));
        self.apply_ovsdb(None);
    }

    /// OVSDB as now read (`Some`), or ovsdb-server gone (`None`: last state, stale).
    pub(super) fn apply_ovsdb(&mut self, state: Option<OvsState>) {
        let was = self.ovsdb_up;
        let up = state.is_some();
        self.ovsdb_up = Some(up);
        let facts = match state {
            Some(s) => {
                self.shared.set_degraded(DegradedSource::Ovsdb, None);
                let s = Arc::new(s);
                self.carry.set_ovs(&s);
                self.last_ovs = Some(s.clone());
                Some(OvsFacts {
                    state: s,
                    stale: false,
                })
            }
            None => self
                .last_ovs
                .clone()
                .map(|state| OvsFacts { state, stale: true }),
        };
        // Installed flags, iface-ids and the chassis name live in the local OVSDB: the OVN
        // facts (grace clocks included) follow it, applied with it so that no record is
        // judged with one new and the other old.
        let ovn = self.ovn.facts(self.last_ovs.as_ref(), Instant::now());
        match &mut self.corr {
            Some(c) => {
                let deltas = c.set_ovsdb_and_ovn(facts, ovn);
                self.publish(deltas, None, false);
            }
            None => {
                self.pending_facts.set_ovsdb(facts);
                self.pending_facts.ovn = ovn;
                self.update_health();
            }
        }
        if was != self.ovsdb_up {
            // After the sources are published: /metrics already says so.
            debug!(up, "ovsdb source state changed");
        }
    }

    /// No Southbound member answers (`why`): the last bindings, stale.
    pub(super) fn ovn_down(&mut self, why: String) {
        self.shared.set_degraded(DegradedSource::Ovn, Some(why));
        self.apply_ovn(None);
    }

    /// The Southbound as now read (`Some`), or its session down (`None`: last, stale).
    pub(super) fn apply_ovn(&mut self, state: Option<SbState>) {
        if state.is_some() {
            self.shared.set_degraded(DegradedSource::Ovn, None);
        }
        self.ovn.set_state(state, Instant::now());
        self.carry.set_sb(self.ovn.last());
        self.update_ovn();
    }

    /// The host is no longer an OVN chassis.
    pub(super) fn ovn_off(&mut self) {
        self.shared.set_degraded(DegradedSource::Ovn, None);
        self.ovn.off();
        self.carry.set_sb(None);
        self.update_ovn();
    }

    /// Re-reads what is polled for OVN (the metadata namespaces).
    pub(super) fn poll_ovn(&mut self) {
        if self.ovn.reread_namespaces() {
            self.update_ovn();
        }
    }

    /// When a binding fault's grace runs out: [`update_ovn`](Self::update_ovn) then.
    pub(super) fn ovn_deadline(&self) -> Option<Instant> {
        self.ovn.next_deadline(Instant::now())
    }

    /// Recomputes the OVN facts (grace clocks included) and the records they change.
    pub(super) fn update_ovn(&mut self) {
        let facts = self.ovn.facts(self.last_ovs.as_ref(), Instant::now());
        match &mut self.corr {
            Some(c) => {
                let deltas = c.set_ovn(facts);
                self.publish(deltas, None, false);
            }
            None => {
                self.pending_facts.ovn = facts;
                self.update_health();
            }
        }
    }

    /// The neighbour table as now read.
    pub(super) fn apply_neighbours(&mut self, table: &[Neighbour]) {
        match &mut self.corr {
            Some(c) => {
                let deltas = c.set_neighbours(table);
                self.publish(deltas, None, false);
            }
            None => {
                self.pending_facts.set_neighbours(table);
            }
        }
    }

    /// libvirt's networks and their leases, as polled.
    pub(super) fn apply_networks(&mut self, networks: Vec<Network>) {
        let Some(c) = &mut self.corr else { return };
        let deltas = c.set_networks(networks);
        self.publish(deltas, None, false);
    }

    /// Fresh counters: the same generation with new numbers, no event.
    pub(super) fn apply_stats(&mut self, stats: &[(String, LinkStats)]) {
        let Some(c) = &mut self.corr else { return };
        if !c.set_stats(stats) {
            return;
        }
        let current = self.shared.current();
        let view = current.next(current.generation, SystemTime::now(), c.take_changes());
        self.shared.publish(view, Vec::new());
        // After publishing: the new numbers are already served.
        debug!(links = stats.len(), "counters changed");
    }

    /// libvirt is unreachable: records turn stale, readiness fails.
    pub(super) fn disconnected(&mut self, error: String) {
        self.libvirt_error = Some(error);
        if let Some(c) = &mut self.corr {
            let deltas = c.set_stale(true);
            self.publish(deltas, None, false);
        }
        self.update_health();
    }

    /// Whether an OVSDB server is expected (configured, or its socket present): one that
    /// is counts as down until the monitor connects.
    pub(super) fn ovsdb_expected(&mut self, expected: bool) {
        self.ovsdb_up = expected.then_some(false);
        self.update_health();
    }

    /// The link watcher could not start or stopped: readiness fails until a dump is in.
    pub(super) fn links_failed(&mut self, error: String) {
        self.links_error = Some(error);
        self.links_ready = false;
        self.update_health();
    }

    /// Publishes readiness and the sources' state from what this holds.
    fn update_health(&self) {
        let error = self
            .libvirt_error
            .clone()
            .or_else(|| self.links_error.clone())
            .or_else(|| (!self.links_ready).then(|| "host links not read yet".to_string()));
        self.shared.set_error(error);
        // libvirt counts as up once a read is in (correlated or waiting for the links)
        // and none has failed since.
        let libvirt_read = self.corr.is_some() || self.pending_guests.is_some();
        self.shared.update_sources(|s| {
            s.libvirt = libvirt_read && self.libvirt_error.is_none();
            s.netlink = self.links_ready && self.links_error.is_none();
            s.ovsdb = self.ovsdb_up;
            s.ovn = self.ovn.up();
        });
    }

    /// A full libvirt read, correlated and published, took `took` (for `/metrics`).
    pub(super) fn inventory_took(&self, took: Duration) {
        self.shared
            .update_sources(|s| s.inventory_duration = Some(took));
    }

    /// The first inventory, once both sides are in.
    fn start(&mut self) {
        let (Some(_), Some(_)) = (&self.pending_guests, &self.pending_devices) else {
            self.update_health();
            return;
        };
        let (Some(guests), Some(devices)) =
            (self.pending_guests.take(), self.pending_devices.take())
        else {
            return;
        };
        let facts = std::mem::take(&mut self.pending_facts);
        self.corr = Some(Correlation::with_facts(
            guests,
            devices,
            facts,
            self.opts.clone(),
        ));
        // After a reload restarted the refresher, watchers' state may be off: resync them.
        let restarted = self.shared.current().generation > 0;
        self.publish(
            Vec::new(),
            restarted.then_some("configuration reloaded"),
            true,
        );
        let interfaces = self.shared.current().interface_count();
        info!(interfaces, "first inventory in");
    }

    /// Serves a new view when anything changed: one generation per event, or one for a
    /// change that no record shows (`others`).
    fn publish(&mut self, deltas: Vec<Delta>, resync: Option<&str>, others: bool) {
        self.update_health();
        let Some(c) = &mut self.corr else { return };
        if deltas.is_empty() && resync.is_none() && !others {
            // Nothing a client sees changed (a periodic full read that found the host as
            // it was): what the correlation recomputed equals the view, so the next change
            // must not rebuild the whole view for it.
            drop(c.take_changes());
            return;
        }
        let current = self.shared.current();
        let events = feed::events(current.generation + 1, resync, &deltas);
        let generation = current.generation + (events.len() as u64).max(1);
        let view = current.next(generation, SystemTime::now(), c.take_changes());
        debug!(generation, events = events.len(), "inventory changed");
        self.shared.publish(view, events);
    }
}
