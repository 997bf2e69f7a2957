//! What a correlation tells the rest: a delta per change for watchers, and the changed
//! domains for the next view.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::inventory::problem::Problem;
use crate::inventory::record::{DomainRecord, Vif};

/// One change to the inventory, as watchers are told about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Added(Arc<Vif>),
    /// The same NIC (domain and guest MAC) with a new record; `previous_id` is set when
    /// its id changed (a port id became known).
    Changed {
        record: Arc<Vif>,
        previous_id: Option<String>,
    },
    /// The record as it was last.
    Removed(Arc<Vif>),
    ProblemRaised(Arc<Problem>),
    ProblemCleared(Arc<Problem>),
}

/// A domain's place in the inventory: its name, then its lower-case UUID. Domains are
/// kept in name order, as libvirt snapshots are sorted.
pub type DomainKey = (String, String);
/// What a new view needs from a correlation since the last one: the domains and
/// host-level problems whose content changed (`None`: gone).
#[derive(Debug, Default)]
pub struct Changes {
    /// Start from an empty view: every domain and host problem is listed.
    pub reset: bool,
    /// libvirt cannot be reached: the records are the last ones read.
    pub stale: bool,
    pub domains: Vec<(DomainKey, Option<Arc<DomainRecord>>)>,
    pub host_problems: Vec<(String, Option<Arc<Problem>>)>,
}

/// What changed since the last [`Correlation::take_changes`].
#[derive(Default)]
pub(super) struct Dirty {
    pub(super) all: bool,
    pub(super) domains: BTreeSet<DomainKey>,
    pub(super) host_problems: BTreeSet<String>,
}
