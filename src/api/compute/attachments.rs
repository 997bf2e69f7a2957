//! `os-interface` and `os-volume_attachments`, read-only: what the host carries, as far
//! as Nova's response schemas can hold it (the rule is in [`super::fields`]):
//! - os-interface lists an interface only when its Neutron port, its network and its MAC
//!   are known, and `GET os-interface/{port_id}` finds only those;
//! - `fixed_ips` holds an address only with its subnet's UUID, which no source gives: it
//!   is `[]`, and the addresses are in /v1's `ip_addresses`;
//! - os-volume_attachments lists a disk only when its `<serial>` is a UUID, and its
//!   `device` is null unless Nova's device pattern takes it.

use std::sync::Arc;

use axum::extract::Path;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts::VifFacts;
use super::fields;
use super::lookup::server;
use super::vifs::ServerPath;
use crate::api::fault::Fault;
use crate::inventory::OperState;
use crate::inventory::{View, Volume};

#[derive(Debug, Deserialize)]
pub struct PortPath {
    pub server_id: String,
    pub port_id: String,
}

#[derive(Debug, Deserialize)]
pub struct VolumePath {
    pub server_id: String,
    pub volume_id: String,
}

/// A fixed IP of a port, with its subnet (Nova's schema requires both).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedIp {
    /// An IPv4 or IPv6 address.
    pub ip_address: String,
    #[schema(format = "uuid")]
    pub subnet_id: String,
}

/// An attached interface: one whose Neutron port, network and MAC vifd knows, each in the
/// form Nova's schema requires. Interfaces missing any of them are not listed here; /v1
/// shows them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceAttachment {
    /// The Neutron port UUID.
    #[schema(format = "uuid")]
    pub port_id: String,
    /// The network UUID.
    #[schema(format = "uuid")]
    pub net_id: String,
    #[schema(format = "mac-address", pattern = "^([0-9a-f]{2}:){5}[0-9a-f]{2}$")]
    pub mac_addr: String,
    /// `ACTIVE` when the host device is up with carrier, else `DOWN`.
    pub port_state: &'static str,
    /// The port's addresses whose subnet is known: none today, since neither the domain
    /// (`<nova:ip>`) nor any other source names an address's subnet, and Nova's schema
    /// requires `subnet_id`. The addresses seen are in /v1's `ip_addresses`.
    pub fixed_ips: Vec<FixedIp>,
}

#[derive(Serialize, ToSchema)]
pub struct InterfaceAttachmentList {
    #[serde(rename = "interfaceAttachments")]
    pub interface_attachments: Vec<InterfaceAttachment>,
}

#[derive(Serialize, ToSchema)]
pub struct InterfaceAttachmentBody {
    #[serde(rename = "interfaceAttachment")]
    pub interface_attachment: InterfaceAttachment,
}

/// An attached volume: a disk whose `<serial>` is a UUID (Nova writes the Cinder volume's
/// there; a disk with another serial is no Cinder volume and is not listed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeAttachment {
    /// The volume UUID (as Nova, the attachment id is the volume id).
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub volume_id: String,
    #[schema(format = "uuid")]
    pub server_id: String,
    /// `/dev/` + the disk's target; null when unknown or not of the form Nova's pattern
    /// takes (`/dev/` + letters + digits: an `nvme0n1` target is null).
    #[schema(pattern = "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$")]
    pub device: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VolumeAttachmentList {
    #[serde(rename = "volumeAttachments")]
    pub volume_attachments: Vec<VolumeAttachment>,
}

#[derive(Serialize, ToSchema)]
pub struct VolumeAttachmentBody {
    #[serde(rename = "volumeAttachment")]
    pub volume_attachment: VolumeAttachment,
}

/// The interface as os-interface shows it, when vifd knows its port, network and MAC.
pub(crate) fn interface_attachment(v: &VifFacts) -> Option<InterfaceAttachment> {
    let port_id = fields::uuid(v.port_id?)?;
    let net_id = fields::uuid(v.net_id?)?;
    let mac_addr = v.mac_address?.to_string();
    let up =
        v.carrier == Some(true) && matches!(v.operstate, Some(OperState::Up | OperState::Unknown));
    Some(InterfaceAttachment {
        port_id,
        net_id,
        mac_addr,
        port_state: if up { "ACTIVE" } else { "DOWN" },
        fixed_ips: Vec::new(),
    })
}

/// The attachment of a volume, when its id is a UUID (see [`VolumeAttachment`]).
pub(crate) fn volume_attachment(
    server_id: &str,
    volume_id: &str,
    device: Option<&str>,
) -> Option<VolumeAttachment> {
    let id = fields::uuid(volume_id)?;
    Some(VolumeAttachment {
        volume_id: id.clone(),
        id,
        server_id: fields::uuid(server_id)?,
        device: device.and_then(fields::device).map(String::from),
    })
}

fn attached(server_id: &str, v: &Volume) -> Option<VolumeAttachment> {
    volume_attachment(server_id, &v.volume_id, v.device.as_deref())
}

#[utoipa::path(get, path = "/v2.1/servers/{server_id}/os-interface", tag = "compute",
    params(("server_id" = String, Path, description = "Server (domain) UUID")),
    responses((status = 200, description = "The server's interfaces", body = InterfaceAttachmentList),
              (status = 400, description = "Server id not a UUID"),
              (status = 404, description = "No such server")))]
pub async fn interfaces(
    Extension(view): Extension<Arc<View>>,
    Path(path): Path<ServerPath>,
) -> Result<Json<InterfaceAttachmentList>, Fault> {
    let domain = server(&view, &path.server_id)?;
    let facts: Vec<VifFacts> = domain.interfaces.iter().map(|v| (&**v).into()).collect();
    Ok(interface_list(&facts))
}

/// The os-interface list of a server's records.
pub fn interface_list(facts: &[VifFacts]) -> Json<InterfaceAttachmentList> {
    Json(InterfaceAttachmentList {
        interface_attachments: facts.iter().filter_map(interface_attachment).collect(),
    })
}

#[utoipa::path(get, path = "/v2.1/servers/{server_id}/os-interface/{port_id}", tag = "compute",
    params(("server_id" = String, Path, description = "Server (domain) UUID"),
           ("port_id" = String, Path, description = "Port UUID")),
    responses((status = 200, description = "The interface", body = InterfaceAttachmentBody),
              (status = 404, description = "No such server, or no such port on it")))]
pub async fn interface(
    Extension(view): Extension<Arc<View>>,
    Path(path): Path<PortPath>,
) -> Result<Json<InterfaceAttachmentBody>, Fault> {
    let domain = server(&view, &path.server_id)?;
    let facts: Vec<VifFacts> = domain.interfaces.iter().map(|v| (&**v).into()).collect();
    interface_found(&facts, &path.port_id)
}

/// `os-interface/{port_id}` among a server's records.
pub fn interface_found(
    facts: &[VifFacts],
    port_id: &str,
) -> Result<Json<InterfaceAttachmentBody>, Fault> {
    let found = facts
        .iter()
        .filter_map(interface_attachment)
        .find(|a| a.port_id.eq_ignore_ascii_case(port_id))
        .ok_or_else(|| Fault::not_found(format!("Port {port_id} could not be found.")))?;
    Ok(Json(InterfaceAttachmentBody {
        interface_attachment: found,
    }))
}

#[utoipa::path(get, path = "/v2.1/servers/{server_id}/os-volume_attachments", tag = "compute",
    params(("server_id" = String, Path, description = "Server (domain) UUID")),
    responses((status = 200, description = "Disks with a serial", body = VolumeAttachmentList),
              (status = 400, description = "Server id not a UUID"),
              (status = 404, description = "No such server")))]
pub async fn volumes(
    Extension(view): Extension<Arc<View>>,
    Path(path): Path<ServerPath>,
) -> Result<Json<VolumeAttachmentList>, Fault> {
    let domain = server(&view, &path.server_id)?;
    let uuid = &domain.summary.uuid;
    Ok(Json(VolumeAttachmentList {
        volume_attachments: domain
            .volumes
            .iter()
            .filter_map(|v| attached(uuid, v))
            .collect(),
    }))
}

#[utoipa::path(get, path = "/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", tag = "compute",
    params(("server_id" = String, Path, description = "Server (domain) UUID"),
           ("volume_id" = String, Path, description = "Volume UUID (the disk's serial)")),
    responses((status = 200, description = "The attachment", body = VolumeAttachmentBody),
              (status = 404, description = "No such server, or the volume is not attached to it")))]
pub async fn volume(
    Extension(view): Extension<Arc<View>>,
    Path(path): Path<VolumePath>,
) -> Result<Json<VolumeAttachmentBody>, Fault> {
    let domain = server(&view, &path.server_id)?;
    let uuid = &domain.summary.uuid;
    let found = domain
        .volumes
        .iter()
        .filter_map(|v| attached(uuid, v))
        .find(|a| a.volume_id.eq_ignore_ascii_case(&path.volume_id))
        .ok_or_else(|| Fault::not_found(format!("volume_id not found: {}", path.volume_id)))?;
    Ok(Json(VolumeAttachmentBody {
        volume_attachment: found,
    }))
}
