//! `POST` and `DELETE` of `os-interface`: Nova's attach and detach.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::{ip_field, uuid_field, JsonBody};
use super::{audit, Authorized};
use crate::actions::InterfaceRequest;
use crate::api::compute::attachments::{interface_attachment, InterfaceAttachmentBody, PortPath};
use crate::api::compute::lookup::server_uuid;
use crate::api::compute::vifs::ServerPath;
use crate::api::fault::Fault;
use crate::inventory::Vif;

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
              (status = 202, description = "Attached, but the inventory shows it without a MAC or port: `Location` names its record"),
              (status = 400, description = "A field is invalid"),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such server or network"),
              (status = 409, description = "MAC, port or device in use; libvirt refused")))]
pub async fn attach_interface(
    auth: Authorized,
    Path(path): Path<ServerPath>,
    JsonBody(body): JsonBody<AttachInterfaceRequest>,
) -> Result<Response, Fault> {
    let target = format!("server {}", path.server_id);
    let res = async {
        let uuid = server_uuid(&path.server_id)?;
        let req = request(body.interface_attachment)?;
        let asked = (req.net_id.clone(), req.port_id.clone());
        let done = auth.actions.attach_interface(&uuid, req).await?;
        Ok(attach_answer(done.vif, asked))
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

/// The answer to an attach that was done. The network and port come from the record, or
/// else from the request (the action plugged exactly those). An interface the inventory
/// shows without a MAC, or without a port nobody asked for, has no answer Nova's schema
/// takes: 202 with its record's location, never a fault for an action that happened.
/// (The address bound, if any, is not in `fixed_ips`: its subnet id is unknown.)
fn attach_answer(mut vif: Vif, (net_id, port_id): (String, Option<String>)) -> Response {
    vif.net_id = vif.net_id.or(Some(net_id));
    vif.port_id = vif.port_id.or(port_id);
    match interface_attachment(&(&vif).into()) {
        Some(attachment) => Json(InterfaceAttachmentBody {
            interface_attachment: attachment,
        })
        .into_response(),
        None => (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/v1/interfaces/{}", vif.id))],
        )
            .into_response(),
    }
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
