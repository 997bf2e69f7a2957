//! `os-interface` and `os-volume_attachments`, read-only: what the host carries.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Path;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lookup::server;
use super::vifs::ServerPath;
use crate::api::fault::Fault;
use crate::inventory::{OperState, Vif};
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

/// A fixed IP of a port, from Nova's `<nova:ip>` metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct FixedIp {
    pub ip_address: String,
    /// Not in the domain's metadata: always null.
    pub subnet_id: Option<String>,
}

/// An attached interface.
#[derive(Debug, Serialize, ToSchema)]
pub struct InterfaceAttachment {
    /// The Neutron port UUID (vifd's stable record id when no port is known).
    pub port_id: String,
    pub net_id: Option<String>,
    pub mac_addr: Option<String>,
    /// `ACTIVE` when the host device is up with carrier, else `DOWN`.
    pub port_state: &'static str,
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

/// An attached volume.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeAttachment {
    /// The volume UUID (as Nova, the attachment id is the volume id).
    pub id: String,
    pub volume_id: String,
    pub server_id: String,
    /// `/dev/` + the disk's target.
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

pub(crate) fn interface_attachment(v: &Vif) -> InterfaceAttachment {
    let up =
        v.carrier == Some(true) && matches!(v.operstate, Some(OperState::Up | OperState::Unknown));
    let port_id = v.port_id.clone().unwrap_or_else(|| v.id.clone());
    InterfaceAttachment {
        fixed_ips: fixed_ips(v),
        port_id,
        net_id: v.net_id.clone(),
        mac_addr: v.mac_address.map(|m| m.to_string()),
        port_state: if up { "ACTIVE" } else { "DOWN" },
    }
}

/// Every distinct address seen on the interface, whatever the source, except IPv6
/// link-local ones (every interface has one; Neutron never assigns them).
pub(crate) fn fixed_ips(v: &Vif) -> Vec<FixedIp> {
    let mut out: Vec<FixedIp> = Vec::new();
    for a in &v.ip_addresses {
        let link_local =
            matches!(a.address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        let text = a.address.to_string();
        if !link_local && !out.iter().any(|f| f.ip_address == text) {
            out.push(FixedIp {
                ip_address: text,
                subnet_id: None,
            });
        }
    }
    out
}

fn volume_attachment(server_id: &str, v: &Volume) -> VolumeAttachment {
    VolumeAttachment {
        id: v.volume_id.clone(),
        volume_id: v.volume_id.clone(),
        server_id: server_id.to_string(),
        device: v.device.clone(),
    }
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
    Ok(Json(InterfaceAttachmentList {
        interface_attachments: domain
            .interfaces
            .iter()
            .map(|v| interface_attachment(v))
            .collect(),
    }))
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
    let found = domain
        .interfaces
        .iter()
        .map(|v| interface_attachment(v))
        .find(|a| a.port_id.eq_ignore_ascii_case(&path.port_id))
        .ok_or_else(|| Fault::not_found(format!("Port {} could not be found.", path.port_id)))?;
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
            .map(|v| volume_attachment(uuid, v))
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
        .find(|v| v.volume_id.eq_ignore_ascii_case(&path.volume_id))
        .ok_or_else(|| Fault::not_found(format!("volume_id not found: {}", path.volume_id)))?;
    Ok(Json(VolumeAttachmentBody {
        volume_attachment: volume_attachment(uuid, found),
    }))
}
