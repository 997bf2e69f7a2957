//! What the API answers from: an immutable, indexed copy of one inventory, swapped whole
//! when a refresh brings a new one. Requests never wait on libvirt or netlink.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::record::{DomainSummary, Inventory, Vif};
use crate::libvirt::Domain;

/// A volume attached to a domain: a `<disk>` whose `<serial>` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Volume {
    /// The disk's `<serial>`: Nova writes the Cinder volume UUID there.
    pub volume_id: String,
    /// `/dev/` + the disk's `<target dev>`.
    pub device: Option<String>,
}

/// One inventory, indexed for the lookups the API makes.
#[derive(Debug, Default)]
pub struct View {
    /// Increases each time the inventory's content changes; 0 before the first one.
    pub generation: u64,
    /// When the inventory was taken (RFC 3339, UTC).
    pub collected_at: String,
    pub inventory: Inventory,
    /// libvirt could not be reached: the guest side is the last one read.
    pub stale: bool,
    /// Lower-case domain UUID → index in `inventory.domains`.
    by_uuid: HashMap<String, usize>,
    /// Per domain (same order): indices of its records in `inventory.interfaces`.
    vifs_of: Vec<Vec<usize>>,
    /// Per domain (same order): its volumes.
    volumes_of: Vec<Vec<Volume>>,
    /// Record id → index in `inventory.interfaces`.
    by_id: HashMap<String, usize>,
    /// `GET /v1/interfaces` without filters, serialized at most once per generation, on
    /// first use: a change costs no serialization nobody asks for.
    all_interfaces_json: OnceLock<Result<Bytes, String>>,
    /// The view's part of `GET /metrics`, rendered on first use like the above. Counters
    /// come with a new view (same generation), so they are never older than the view.
    metrics: OnceLock<Result<Bytes, String>>,
}

impl View {
    /// Indexes `inventory`, correlated from `domains` at `collected_at`.
    pub fn build<'a>(
        generation: u64,
        collected_at: SystemTime,
        domains: impl IntoIterator<Item = &'a Domain>,
        inventory: Inventory,
    ) -> Self {
        let collected_at = humantime::format_rfc3339_seconds(collected_at).to_string();
        let by_uuid: HashMap<String, usize> = inventory
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| (d.uuid.to_ascii_lowercase(), i))
            .collect();
        let mut vifs_of = vec![Vec::new(); inventory.domains.len()];
        for (i, vif) in inventory.interfaces.iter().enumerate() {
            if let Some(&d) = by_uuid.get(&vif.domain_uuid.to_ascii_lowercase()) {
                vifs_of[d].push(i);
            }
        }
        let mut volumes_of = vec![Vec::new(); inventory.domains.len()];
        for dom in domains {
            if let Some(&d) = by_uuid.get(&dom.uuid.to_ascii_lowercase()) {
                volumes_of[d] = volumes(dom);
            }
        }
        let by_id = inventory
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, v)| (v.id.to_ascii_lowercase(), i))
            .collect();
        View {
            generation,
            collected_at,
            inventory,
            stale: false,
            by_uuid,
            vifs_of,
            volumes_of,
            by_id,
            all_interfaces_json: OnceLock::new(),
            metrics: OnceLock::new(),
        }
    }

    /// The same view, marked stale or not.
    pub fn with_stale(mut self, stale: bool) -> Self {
        self.stale = stale;
        self
    }

    /// The domain with this UUID (any case).
    pub fn domain_by_uuid(&self, uuid: &str) -> Option<usize> {
        self.by_uuid.get(&uuid.to_ascii_lowercase()).copied()
    }

    /// The domain with this name or UUID.
    pub fn domain_by_name_or_uuid(&self, key: &str) -> Option<usize> {
        self.domain_by_uuid(key)
            .or_else(|| self.inventory.domains.iter().position(|d| d.name == key))
    }

    pub fn domain(&self, idx: usize) -> &DomainSummary {
        &self.inventory.domains[idx]
    }

    /// The records of domain `idx`, in XML order.
    pub fn vifs_of(&self, idx: usize) -> impl Iterator<Item = &Vif> {
        self.vifs_of[idx]
            .iter()
            .map(|&i| &*self.inventory.interfaces[i])
    }

    pub fn volumes_of(&self, idx: usize) -> &[Volume] {
        &self.volumes_of[idx]
    }

    pub fn vif_by_id(&self, id: &str) -> Option<&Vif> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&i| &*self.inventory.interfaces[i])
    }

    /// The body of an unfiltered `GET /v1/interfaces`.
    pub fn all_interfaces_json(&self) -> Result<Bytes, String> {
        self.all_interfaces_json
            .get_or_init(|| {
                let items = &self.inventory.interfaces;
                list_body(self.generation, &self.collected_at, "interfaces", items)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Where `GET /metrics` keeps this view's families once rendered.
    pub(crate) fn metrics_cache(&self) -> &OnceLock<Result<Bytes, String>> {
        &self.metrics
    }
}

fn volumes(dom: &Domain) -> Vec<Volume> {
    dom.disks
        .iter()
        .filter_map(|d| {
            Some(Volume {
                volume_id: d.serial.clone()?,
                device: d.target.as_ref().map(|t| format!("/dev/{t}")),
            })
        })
        .collect()
}

/// `{"generation": N, "collected_at": "...", "<key>": [...]}`, the shape of every native
/// list response, written straight into one buffer: no JSON tree for thousands of records.
pub fn list_body<T: Serialize>(
    generation: u64,
    collected_at: &str,
    key: &str,
    items: &[T],
) -> Result<Bytes, serde_json::Error> {
    let mut buf = Vec::with_capacity(256 + items.len() * 768);
    buf.extend_from_slice(format!("{{\"generation\":{generation},\"collected_at\":").as_bytes());
    serde_json::to_writer(&mut buf, collected_at)?;
    buf.push(b',');
    serde_json::to_writer(&mut buf, key)?;
    buf.push(b':');
    serde_json::to_writer(&mut buf, items)?;
    buf.push(b'}');
    Ok(Bytes::from(buf))
}
