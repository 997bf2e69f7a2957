//! A domain as the correlation keeps it: its last read, its records and problems, and the
//! devices it claims.

use std::sync::Arc;

use crate::inventory::problem::Problem;
use crate::inventory::record::{DomainRecord, DomainSummary, Vif, Volume};
use crate::libvirt::Domain;

pub(super) struct Entry {
    pub(super) domain: Domain,
    pub(super) vifs: Vec<Arc<Vif>>,
    pub(super) problems: Vec<Arc<Problem>>,
    /// Device names this domain's interfaces name or were matched to.
    pub(super) claims: Vec<String>,
}

/// A domain as the inventory serves it.
pub(super) fn domain_record(e: &Entry) -> DomainRecord {
    let d = &e.domain;
    DomainRecord {
        summary: DomainSummary::from(d),
        interfaces: e.vifs.clone(),
        problems: e.problems.clone(),
        volumes: d
            .disks
            .iter()
            .filter_map(|disk| {
                Some(Volume {
                    volume_id: disk.serial.clone()?,
                    device: disk.target.as_ref().map(|t| format!("/dev/{t}")),
                })
            })
            .collect(),
    }
}
