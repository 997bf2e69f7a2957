//! The Southbound side of the served state: the last bindings read, whether the session is
//! up, and the grace clock of each port's binding faults.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use imbl::ordmap::DiffItem;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::collect::{chassis_id, ovn_bridge};
use crate::identity::{ChassisId, OvnFacts};
use crate::netlink::named_namespaces;
use crate::ovn::{SbChassis, SbPort, SbState};
use crate::ovsdb::OvsState;

pub(super) struct OvnSide {
    grace: Duration,
    /// The last state read: what is served, marked stale, while the session is down.
    last: Option<Arc<SbState>>,
    /// The session is up; `None` while the host is not an OVN chassis.
    up: Option<bool>,
    /// Since when the session is down: the clocks stop there, since what is served is
    /// the state of that moment.
    down_since: Option<Instant>,
    namespaces: Arc<BTreeSet<String>>,
    /// When each faulty port's faults began: one clock per port, kept while it has any
    /// fault (a port being plugged moves from one to the next).
    since: BTreeMap<String, Instant>,
    /// The faulty ports and what they were judged on, so that a Southbound change judges
    /// only the ports it changed.
    judged: Option<Judged>,
}

struct Judged {
    ovs: Arc<OvsState>,
    namespaces: Arc<BTreeSet<String>>,
    chassis: ChassisId,
    stale: bool,
    sb_chassis: Option<SbChassis>,
    ports: imbl::OrdMap<String, SbPort>,
    installed: HashMap<String, bool>,
    faulty: BTreeSet<String>,
}

impl OvnSide {
    pub(super) fn new(grace: Duration) -> Self {
        OvnSide {
            grace,
            last: None,
            up: None,
            down_since: None,
            namespaces: Arc::default(),
            since: BTreeMap::new(),
            judged: None,
        }
    }

    pub(super) fn up(&self) -> Option<bool> {
        self.up
    }

    /// A new state (`Some`), the session down (`None`).
    pub(super) fn set_state(&mut self, state: Option<SbState>, now: Instant) {
        self.up = Some(state.is_some());
        match state {
            Some(s) => {
                if self.last.is_none() {
                    // The first state: the namespaces are read from now on.
                    self.namespaces = Arc::new(named_namespaces());
                }
                self.last = Some(Arc::new(s));
                // The clocks resume where they stopped.
                if let Some(stopped) = self.down_since.take() {
                    let lost = now.saturating_duration_since(stopped);
                    self.since.values_mut().for_each(|t| *t += lost);
                }
            }
            None => {
                self.down_since.get_or_insert(now);
            }
        }
    }

    /// The last state read, if any.
    pub(super) fn last(&self) -> Option<&Arc<SbState>> {
        self.last.as_ref()
    }

    /// Starts from a state read before (by the refresher a reload replaced), with the
    /// session down until it is read again: served stale, the grace clocks stopped now.
    pub(super) fn resume(&mut self, last: Arc<SbState>, now: Instant) {
        self.namespaces = Arc::new(named_namespaces());
        (self.last, self.up, self.down_since) = (Some(last), Some(false), Some(now));
    }

    /// The host stopped being an OVN chassis.
    pub(super) fn off(&mut self) {
        (self.up, self.last, self.down_since) = (None, None, None);
        self.since.clear();
        self.judged = None;
    }

    /// Re-reads the host's namespaces; true when they changed. Not on a host that is no
    /// OVN chassis (yet): nothing reads them there.
    pub(super) fn reread_namespaces(&mut self) -> bool {
        if self.last.is_none() {
            return false;
        }
        let now = named_namespaces();
        if *self.namespaces == now {
            return false;
        }
        self.namespaces = Arc::new(now);
        true
    }

    /// The facts to correlate with, the grace clocks moved on to `now`.
    pub(super) fn facts(&mut self, ovs: Option<&Arc<OvsState>>, now: Instant) -> Option<OvnFacts> {
        let (state, ovs) = (self.last.clone()?, ovs?);
        let mut facts = OvnFacts {
            state,
            stale: self.up == Some(false),
            chassis: chassis_id(ovs),
            integration_bridge: ovn_bridge(ovs).to_string(),
            namespaces: self.namespaces.clone(),
            fresh: BTreeSet::new(),
        };
        let at = self.down_since.unwrap_or(now);
        let pending = self.judge(&facts, ovs);
        self.since.retain(|id, _| pending.contains(id));
        for id in pending {
            let began = *self.since.entry(id.clone()).or_insert(at);
            if at < began + self.grace {
                facts.fresh.insert(id);
            }
        }
        Some(facts)
    }

    /// The ports with a binding fault: only the ports the Southbound changed are judged
    /// again when nothing else did.
    fn judge(&mut self, facts: &OvnFacts, ovs: &Arc<OvsState>) -> BTreeSet<String> {
        let sb_chassis = facts.state.chassis.clone();
        let same = |j: &Judged| {
            Arc::ptr_eq(&j.ovs, ovs)
                && Arc::ptr_eq(&j.namespaces, &facts.namespaces)
                && (&j.chassis, j.stale, &j.sb_chassis)
                    == (&facts.chassis, facts.stale, &sb_chassis)
        };
        let ports = facts.state.ports.clone();
        let judged = match self.judged.take() {
            Some(mut j) if same(&j) => {
                let changed: Vec<String> = j.ports.diff(&ports).map(|d| key(d).clone()).collect();
                for id in changed {
                    let installed = j.installed.get(&id).copied();
                    match installed.is_some_and(|i| facts.is_pending(&id, i)) {
                        true => j.faulty.insert(id),
                        false => j.faulty.remove(&id),
                    };
                }
                j.ports = ports;
                j
            }
            _ => Judged {
                ovs: ovs.clone(),
                namespaces: facts.namespaces.clone(),
                chassis: facts.chassis.clone(),
                stale: facts.stale,
                sb_chassis,
                ports,
                installed: facts.installed(ovs),
                faulty: facts.pending(ovs),
            },
        };
        let faulty = judged.faulty.clone();
        self.judged = Some(judged);
        faulty
    }

    /// When the next port's grace runs out; none while the session is down.
    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.down_since.is_some() {
            return None;
        }
        let ends = self.since.values().map(|began| *began + self.grace);
        ends.filter(|end| *end > now).min()
    }
}

/// The port a diff item is about.
fn key<'a>(item: DiffItem<'a, 'a, String, SbPort>) -> &'a String {
    match item {
        DiffItem::Add(k, _) | DiffItem::Remove(k, _) => k,
        DiffItem::Update { new: (k, _), .. } => k,
    }
}

#[cfg(test)]
mod tests {
    use crate::ovn::{SbPort, SbState};
    use crate::ovsdb::{OvsHost, OvsInterface, OvsState};

    use super::*;

    const PORT: &str = "p1";

    fn ovs(installed: bool) -> OvsState {
        let row = OvsInterface {
            name: "tap1".into(),
            iface_id: Some(PORT.into()),
            bridge: Some("br-int".into()),
            ovn_installed: installed,
            ..Default::default()
        };
        OvsState {
            interfaces: [("tap1".to_string(), row)].into(),
            host: OvsHost {
                system_id: Some("hv-a".into()),
                ..Default::default()
            },
        }
    }

    fn sb(up: bool) -> SbState {
        let port = SbPort {
            logical_port: PORT.into(),
            chassis: Some("hv-a".into()),
            up: Some(up),
            ..Default::default()
        };
        SbState {
            ports: [(PORT.to_string(), port)].into_iter().collect(),
            asked: Arc::new([PORT.to_string()].into()),
            ..Default::default()
        }
    }

    fn fresh(side: &mut OvnSide, ovs: &OvsState, at: Instant) -> bool {
        let ovs = Arc::new(ovs.clone());
        side.facts(Some(&ovs), at).unwrap().fresh.contains(PORT)
    }

    #[test]
    fn one_clock_per_port_whichever_fault_it_passes_through() {
        let (t0, s) = (Instant::now(), Duration::from_secs(1));
        let mut side = OvnSide::new(10 * s);
        side.set_state(Some(sb(true)), t0);
        assert!(fresh(&mut side, &ovs(false), t0));
        side.set_state(Some(sb(false)), t0 + 5 * s);
        assert!(fresh(&mut side, &ovs(true), t0 + 5 * s));
        assert_eq!(side.next_deadline(t0 + 5 * s), Some(t0 + 10 * s));
        assert!(!fresh(&mut side, &ovs(true), t0 + 10 * s));
        // Healthy again: the clock goes.
        side.set_state(Some(sb(true)), t0 + 11 * s);
        assert!(!fresh(&mut side, &ovs(true), t0 + 11 * s));
        assert_eq!(side.next_deadline(t0 + 11 * s), None);
    }

    #[test]
    fn the_clocks_stop_while_the_southbound_is_down() {
        let (t0, s) = (Instant::now(), Duration::from_secs(1));
        let mut side = OvnSide::new(10 * s);
        side.set_state(Some(sb(false)), t0);
        assert!(fresh(&mut side, &ovs(true), t0));
        side.set_state(None, t0 + 6 * s);
        assert_eq!(side.next_deadline(t0 + 6 * s), None);
        assert!(
            fresh(&mut side, &ovs(true), t0 + 30 * s),
            "a fault raised from stale data"
        );
        side.set_state(Some(sb(false)), t0 + 30 * s);
        assert_eq!(side.next_deadline(t0 + 30 * s), Some(t0 + 34 * s));
    }
}
