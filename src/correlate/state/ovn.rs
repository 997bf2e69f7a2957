//! Applying the Southbound: the records of the ports whose binding (or whose judgement)
//! changed, and the host-level `ovn-chassis-missing`.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::changes::Delta;
use super::Correlation;
use crate::correlate::ovn::{chassis_problem, CHASSIS_KEY};
use imbl::ordmap::DiffItem;

use crate::identity::{ChassisId, OvnFacts, OvsFacts};
use crate::ovn::SbChassis;
use crate::ovsdb::OvsInterface;

impl Correlation {
    /// The Southbound as now read (`stale` when it went away), or `None` (not a chassis,
    /// or the resolver is off).
    pub fn set_ovn(&mut self, ovn: Option<OvnFacts>) -> Vec<Delta> {
        let old = std::mem::replace(&mut self.facts.ovn, ovn);
        self.ovn_changed(old)
    }

    /// OVSDB and the OVN facts judged against it, at once: the records OVSDB changes are
    /// recomputed with the new OVN facts, so none is judged with one new and one old.
    pub fn set_ovsdb_and_ovn(
        &mut self,
        ovsdb: Option<OvsFacts>,
        ovn: Option<OvnFacts>,
    ) -> Vec<Delta> {
        let old = std::mem::replace(&mut self.facts.ovn, ovn);
        let mut out = self.set_ovsdb(ovsdb);
        out.extend(self.ovn_changed(old));
        out
    }

    /// Recomputes what the OVN facts changed from `old`.
    fn ovn_changed(&mut self, old: Option<OvnFacts>) -> Vec<Delta> {
        if old == self.facts.ovn {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.update_chassis_problem(&mut out);
        let ports = changed_ports(old.as_ref(), self.facts.ovn.as_ref());
        // The records of those ports: by device name, and vhost-user ones by socket.
        let touched = |i: &&OvsInterface| {
            let id = i.iface_id.as_ref();
            id.is_some_and(|id| ports.as_ref().is_none_or(|p| p.contains(id)))
        };
        let rows = self.facts.ovsdb.as_ref().map(|o| o.state.clone());
        let rows = rows.iter().flat_map(|s| s.interfaces.values());
        let (names, sockets): (Vec<_>, BTreeSet<_>) = rows
            .filter(touched)
            .map(|i| (i.name.clone(), i.vhost_socket.clone()))
            .unzip();
        let mut keys = self.claimants(names.iter().map(String::as_str));
        let sockets: BTreeSet<&str> = sockets.iter().flatten().map(String::as_str).collect();
        keys.extend(self.on_sockets(&sockets));
        out.extend(self.recompute_keys(keys));
        out
    }

    /// Raises or clears `ovn-chassis-missing` from the facts held.
    pub(super) fn update_chassis_problem(&mut self, out: &mut Vec<Delta>) {
        let new = self
            .facts
            .ovn
            .as_ref()
            .and_then(chassis_problem)
            .map(Arc::new);
        self.set_host_problem(CHASSIS_KEY, new, out);
    }
}

/// The iface-ids whose records may read differently; `None`: all of them (what every
/// port is judged against changed).
fn changed_ports(old: Option<&OvnFacts>, new: Option<&OvnFacts>) -> Option<BTreeSet<String>> {
    let (Some(a), Some(b)) = (old, new) else {
        return None;
    };
    fn global(f: &OvnFacts) -> (bool, &ChassisId, &BTreeSet<String>, Option<&SbChassis>) {
        (f.stale, &f.chassis, &f.namespaces, f.state.chassis.as_ref())
    }
    if global(a) != global(b) {
        return None;
    }
    let (sa, sb) = (&a.state, &b.state);
    // Persistent maps: the diff skips what the two states share.
    let mut out: BTreeSet<String> = BTreeSet::new();
    for item in sa.ports.diff(&sb.ports) {
        let key = match item {
            DiffItem::Add(k, _) | DiffItem::Remove(k, _) => k,
            DiffItem::Update { new: (k, _), .. } => k,
        };
        out.insert(key.clone());
    }
    if sa.asked != sb.asked {
        out.extend(sa.asked.symmetric_difference(&sb.asked).cloned());
    }
    out.extend(a.fresh.symmetric_difference(&b.fresh).cloned());
    Some(out)
}
