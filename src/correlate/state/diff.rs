//! What changed between two sets of records, as deltas for watchers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Delta, Entry};
use crate::inventory::problem::Problem;
use crate::inventory::record::Vif;
use crate::mac::MacAddr;

/// Records and problems keyed for diffing. Records are keyed by NIC (domain, guest MAC,
/// occurrence), not by id: a NIC whose port id becomes known is the same NIC, changed.
#[derive(Default)]
pub(super) struct Records {
    pub(super) vifs: BTreeMap<(String, Option<MacAddr>, usize), Arc<Vif>>,
    pub(super) problems: Vec<Arc<Problem>>,
}

impl Records {
    pub(super) fn extend(&mut self, other: Records) {
        self.vifs.extend(other.vifs);
        self.problems.extend(other.problems);
    }
}

pub(super) fn records_of(e: &Entry) -> Records {
    let mut seen: HashMap<Option<MacAddr>, usize> = HashMap::new();
    let vifs = e.vifs.iter().map(|v| {
        let n = seen.entry(v.mac_address).or_default();
        *n += 1;
        let key = (v.domain_uuid.to_ascii_lowercase(), v.mac_address, *n);
        (key, v.clone())
    });
    Records {
        vifs: vifs.collect(),
        problems: e.problems.clone(),
    }
}

pub(super) fn diff(before: Records, mut after: Records, out: &mut Vec<Delta>) {
    for (key, old) in before.vifs {
        match after.vifs.remove(&key) {
            None => out.push(Delta::Removed(old)),
            // Untouched records are the same allocation: no field-by-field compare.
            Some(new) if !Arc::ptr_eq(&new, &old) && !same_but_counters(&new, &old) => {
                out.push(Delta::Changed {
                    previous_id: (new.id != old.id).then(|| old.id.clone()),
                    record: new,
                })
            }
            Some(_) => {}
        }
    }
    out.extend(after.vifs.into_values().map(Delta::Added));
    // Problems are a multiset: count them rather than search lists.
    let mut counts: HashMap<Arc<Problem>, isize> = HashMap::new();
    for p in before.problems {
        *counts.entry(p).or_default() -= 1;
    }
    for p in after.problems {
        *counts.entry(p).or_default() += 1;
    }
    for (p, n) in counts {
        for _ in 0..n.unsigned_abs() {
            out.push(if n < 0 {
                Delta::ProblemCleared(p.clone())
            } else {
                Delta::ProblemRaised(p.clone())
            });
        }
    }
}

/// Equal but for the counters: counters move all the time and are not a change
/// watchers are told about.
fn same_but_counters(a: &Vif, b: &Vif) -> bool {
    if a.stats == b.stats {
        return a == b;
    }
    let mut a = a.clone();
    a.stats = b.stats;
    a == *b
}
