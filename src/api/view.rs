//! What the API answers from: an immutable, indexed copy of one inventory, swapped whole
//! when a refresh brings a new one. Requests never wait on libvirt or netlink.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use crate::inventory::{DomainSummary, Inventory, Vif};
use crate::libvirt::{NovaIp, Snapshot};

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
    /// Lower-case domain UUID → index in `inventory.domains`.
    by_uuid: HashMap<String, usize>,
    /// Per domain (same order): indices of its records in `inventory.interfaces`.
    vifs_of: Vec<Vec<usize>>,
    /// Per domain (same order): its volumes.
    volumes_of: Vec<Vec<Volume>>,
    /// Record id → index in `inventory.interfaces`.
    by_id: HashMap<String, usize>,
    /// Nova port UUID → its fixed IPs from `<nova:ip>`.
    port_ips: HashMap<String, Vec<NovaIp>>,
    /// `GET /v1/interfaces` without filters, serialized once per generation.
    all_interfaces_json: Bytes,
}

impl View {
    /// Indexes `inventory`, taken together with `snapshot` at `collected_at`.
    pub fn build(
        generation: u64,
        collected_at: SystemTime,
        snapshot: &Snapshot,
        inventory: Inventory,
    ) -> Result<Self, serde_json::Error> {
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
        let mut port_ips = HashMap::new();
        for dom in &snapshot.domains {
            if let Some(&d) = by_uuid.get(&dom.uuid.to_ascii_lowercase()) {
                volumes_of[d] = volumes(dom);
            }
            for port in dom.nova.iter().flat_map(|n| &n.ports) {
                port_ips.insert(port.uuid.to_ascii_lowercase(), port.ips.clone());
            }
        }
        let by_id = inventory
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, v)| (v.id.to_ascii_lowercase(), i))
            .collect();
        let all_interfaces_json = list_body(
            generation,
            &collected_at,
            "interfaces",
            &inventory.interfaces,
        )?;
        Ok(View {
            generation,
            collected_at,
            inventory,
            by_uuid,
            vifs_of,
            volumes_of,
            by_id,
            port_ips,
            all_interfaces_json,
        })
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
            .map(|&i| &self.inventory.interfaces[i])
    }

    pub fn volumes_of(&self, idx: usize) -> &[Volume] {
        &self.volumes_of[idx]
    }

    pub fn vif_by_id(&self, id: &str) -> Option<&Vif> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&i| &self.inventory.interfaces[i])
    }

    pub fn port_ips(&self, port_id: &str) -> &[NovaIp] {
        self.port_ips
            .get(&port_id.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The body of an unfiltered `GET /v1/interfaces`.
    pub fn all_interfaces_json(&self) -> Bytes {
        self.all_interfaces_json.clone()
    }

    /// Whether an inventory taken with `snapshot` says what this view says.
    pub fn same_content(&self, snapshot: &Snapshot, inventory: &Inventory) -> bool {
        self.inventory == *inventory
            && snapshot.domains.iter().all(|dom| {
                self.domain_by_uuid(&dom.uuid)
                    .is_none_or(|i| self.volumes_of[i] == volumes(dom))
            })
    }
}

fn volumes(dom: &crate::libvirt::Domain) -> Vec<Volume> {
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

/// Readiness: the first inventory is in and the last refresh reached libvirt.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Why the last refresh failed, if it did.
    pub last_error: Option<String>,
}

/// The current view and health, shared by the refresher and every request.
#[derive(Debug, Default)]
pub struct Shared {
    view: RwLock<Arc<View>>,
    health: RwLock<Health>,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Starts serving `view` (used by tests and by the refresher).
    pub fn with_view(view: View) -> Arc<Self> {
        let s = Self::new();
        s.publish(view);
        s
    }

    pub fn current(&self) -> Arc<View> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc: the value is intact.
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn publish(&self, view: View) {
        *self.view.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(view);
    }

    pub fn set_error(&self, error: Option<String>) {
        self.health
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .last_error = error;
    }

    pub fn health(&self) -> Health {
        self.health
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
