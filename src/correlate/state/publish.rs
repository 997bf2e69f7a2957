//! What a new view needs from a correlation: everything, or what changed since the last.

use std::sync::Arc;

use super::changes::{Changes, DomainKey};
use super::entry::domain_record;
use super::Correlation;

impl Correlation {
    /// Everything, as changes to an empty view.
    pub fn everything(&self) -> Changes {
        Changes {
            reset: true,
            stale: self.stale,
            domains: self
                .domains
                .iter()
                .map(|(k, e)| (k.clone(), Some(Arc::new(domain_record(e)))))
                .collect(),
            host_problems: self
                .host_problems
                .iter()
                .map(|(name, p)| (name.clone(), Some(p.clone())))
                .collect(),
        }
    }

    /// What changed since the last call (since creation for the first): what the next
    /// view needs. Costs in proportion to the change.
    pub fn take_changes(&mut self) -> Changes {
        let dirty = std::mem::take(&mut self.dirty);
        if dirty.all {
            return self.everything();
        }
        let record = |k: &DomainKey| self.domains.get(k).map(|e| Arc::new(domain_record(e)));
        Changes {
            reset: false,
            stale: self.stale,
            domains: dirty
                .domains
                .into_iter()
                .map(|k| {
                    let r = record(&k);
                    (k, r)
                })
                .collect(),
            host_problems: dirty
                .host_problems
                .into_iter()
                .map(|name| {
                    let p = self.host_problems.get(&name).cloned();
                    (name, p)
                })
                .collect(),
        }
    }
}
