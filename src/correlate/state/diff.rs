//! What changed between two sets of records, as deltas for watchers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::changes::Delta;
use super::entry::Entry;
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
    // Problems are a multiset: count them rather than search lists. The deltas follow
    // the lists' order (cleared ones first), so the same change always reads the same.
    let mut counts: HashMap<&Arc<Problem>, isize> = HashMap::new();
    for p in &before.problems {
        *counts.entry(p).or_default() -= 1;
    }
    for p in &after.problems {
        *counts.entry(p).or_default() += 1;
    }
    for p in &before.problems {
        if let Some(n) = counts.get_mut(p).filter(|n| **n < 0) {
            *n += 1;
            out.push(Delta::ProblemCleared(p.clone()));
        }
    }
    for p in &after.problems {
        if let Some(n) = counts.get_mut(p).filter(|n| **n > 0) {
            *n -= 1;
            out.push(Delta::ProblemRaised(p.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::problem::ProblemKind;

    fn orphan(n: usize) -> Arc<Problem> {
        Arc::new(Problem {
            kind: ProblemKind::OrphanDevice,
            device: Some(format!("tap{n}")),
            domain_uuid: None,
            mac_address: None,
            detail: format!("tap tap{n} is not claimed by any domain"),
        })
    }

    fn problems(list: &[Arc<Problem>]) -> Records {
        Records {
            vifs: BTreeMap::new(),
            problems: list.to_vec(),
        }
    }

    #[test]
    fn problem_deltas_follow_the_lists_order() {
        let before: Vec<_> = (0..8).map(orphan).collect();
        let after: Vec<_> = (4..12).rev().map(orphan).collect();
        let mut out = Vec::new();
        diff(problems(&before), problems(&after), &mut out);
        let mut want: Vec<Delta> = (0..4).map(|n| Delta::ProblemCleared(orphan(n))).collect();
        want.extend((8..12).rev().map(|n| Delta::ProblemRaised(orphan(n))));
        assert_eq!(out, want);
    }

    #[test]
    fn a_repeated_problem_is_raised_as_often_as_it_appears() {
        let mut out = Vec::new();
        diff(
            problems(&[orphan(1)]),
            problems(&[orphan(1), orphan(1)]),
            &mut out,
        );
        assert_eq!(out, [Delta::ProblemRaised(orphan(1))]);
    }
}
