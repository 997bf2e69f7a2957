//! `POST` and `DELETE` of `os-interface`: Nova's attach and detach.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::{ip_field, uuid_field, JsonBody};
use super::{audit, Authorized};
use crate::actions::InterfaceRequest;
use crate::api::compute::attachments::{interface_attachment, InterfaceAttachmentBody, PortPath};
use crate::api::compute::vifs::ServerPath;
use crate::api::fault::Fault;

/// `{"interfaceAttachment": {...}}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachInterfaceRequest {
    #[serde(rename = "interfaceAttachment")]
    pub interface_attachment: AttachInterfaceFields,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachInterfaceFields {
    /// The network: a libvirt network's UUID or one mapped to a bridge in the config.
    /// Required here, unlike in Nova: vifd cannot look a port's network up in Neutron.
    #[schema(value_type = String, required = true, format = "uuid")]
    pub net_id: Option<String>,
    /// The port's UUID: the tap becomes `tap` + its first 11 characters. Generated when absent.
    #[schema(format = "uuid")]
    pub port_id: Option<String>,
    /// At most one IPv4 address, bound to the new MAC on the libvirt network.
    #[schema(max_items = 1)]
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedIpRequest {
    #[schema(format = "ipv4")]
    pub ip_address: String,
}

/// A path's server id, validated; 400 unless a UUID.
pub(crate) fn server_uuid(server_id: &str) -> Result<String, Fault> {
    uuid::Uuid::try_parse(server_id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            Fault::bad_request(format!(
                "Invalid server id {server_id:?}: it must be a UUID."
            ))
        })
}

fn request(fields: AttachInterfaceFields) -> Result<InterfaceRequest, Fault> {
    const F: &str = "interfaceAttachment";
    let net_id = fields.net_id.ok_or_else(|| {
        super::body::invalid(
            &format!("{F}.net_id"),
            "is required (vifd cannot look a port's network up in Neutron)",
        )
    })?;
    let net_id = uuid_field(&format!("{F}.net_id"), &net_id)?;
    let port_id = fields
        .port_id
        .map(|p| uuid_field(&format!("{F}.port_id"), &p))
        .transpose()?;
    let ips = fields.fixed_ips.unwrap_or_default();
    if ips.len() > 1 {
        return Err(super::body::invalid(
            &format!("{F}.fixed_ips"),
            "at most one address: a libvirt network's DHCP binds one address per MAC",
        ));
    }
    let fixed_ip = ips
        .first()
        .map(|f| ip_field(&format!("{F}.fixed_ips[0].ip_address"), &f.ip_address))
        .transpose()?;
    if fixed_ip.is_some_and(|ip| ip.is_ipv6()) {
        return Err(super::body::invalid(
            &format!("{F}.fixed_ips[0].ip_address"),
            "only IPv4 addresses can be bound to a MAC",
        ));
    }
    Ok(InterfaceRequest {
        net_id,
        port_id,
        mac: None,
        fixed_ip,
        allocate_ip: false,
    })
}

#[utoipa::path(post, path = "/v2.1/servers/{server_id}/os-interface", tag = "actions",
    params(("server_id" = String, Path, description = "Server (domain) UUID")),
    request_body = AttachInterfaceRequest,
    responses((status = 200, description = "Attached; the interface as the host now shows it", body = InterfaceAttachmentBody),
              (status = 400, description = "A field is invalid"),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such server or network"),
              (status = 409, description = "MAC, port or device in use; libvirt refused")))]
pub async fn attach_interface(
    auth: Authorized,
    Path(path): Path<ServerPath>,
    JsonBody(body): JsonBody<AttachInterfaceRequest>,
) -> Result<Json<InterfaceAttachmentBody>, Fault> {
    let target = format!("server {}", path.server_id);
    let res = async {
        let uuid = server_uuid(&path.server_id)?;
        let req = request(body.interface_attachment)?;
        let done = auth.actions.attach_interface(&uuid, req).await?;
        // The address bound, if any, is not in `fixed_ips`: its subnet id is unknown (see
        // `attachments`). An interface whose port or network the inventory does not show
        // has no answer Nova's schema takes: /v1 shows it.
        let attachment = interface_attachment(&(&done.vif).into()).ok_or_else(|| {
            Fault::internal(format!(
                "interface {} attached, but its port, network or MAC is not known: see /v1/interfaces/{}",
                done.vif.id, done.vif.id
            ))
        })?;
        Ok(Json(InterfaceAttachmentBody {
            interface_attachment: attachment,
        }))
    }
    .await;
    audit(
        &auth.caller,
        "attach-interface",
        &target,
        &res,
        StatusCode::OK,
    );
    res
}

#[utoipa::path(delete, path = "/v2.1/servers/{server_id}/os-interface/{port_id}", tag = "actions",
    params(("server_id" = String, Path, description = "Server (domain) UUID"),
           ("port_id" = String, Path, description = "Port UUID (or the record id)")),
    responses((status = 202, description = "Detach requested; a guest that has not let go yet still shows it"),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such server or port")))]
pub async fn detach_interface(
    auth: Authorized,
    Path(path): Path<PortPath>,
) -> Result<StatusCode, Fault> {
    let target = format!("server {} port {}", path.server_id, path.port_id);
    let res = async {
        let uuid = server_uuid(&path.server_id)?;
        auth.actions.detach_interface(&uuid, &path.port_id).await?;
        Ok(StatusCode::ACCEPTED)
    }
    .await;
    audit(
        &auth.caller,
        "detach-interface",
        &target,
        &res,
        StatusCode::ACCEPTED,
    );
    res
}
