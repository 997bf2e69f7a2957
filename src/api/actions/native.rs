//! vifd's own write endpoints, after the Melange blueprint "Interfaces API clean up":
//! one interface per POST, and more addresses for an interface.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::{ip_field, mac_field, uuid_field, JsonBody, OptionalJsonBody};
use super::{audit, Authorized};
use crate::actions::{Allocation, InterfaceRequest};
use crate::api::fault::Fault;
use crate::inventory::View;
use crate::inventory::Vif;

/// `POST /v1/domains/{domain}/interfaces`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInterfaceRequest {
    /// A libvirt network's UUID, or one mapped to a bridge in `[networks.bridges]`.
    #[schema(format = "uuid")]
    pub net_id: String,
    /// A unicast MAC; generated in 52:54:00 when absent; never one already on the host.
    #[schema(pattern = "^[0-9A-Fa-f]?[02468AaCcEe](:[0-9A-Fa-f]{1,2}){5}$")]
    pub mac_address: Option<String>,
    /// The port's UUID; generated when absent.
    #[schema(format = "uuid")]
    pub port_id: Option<String>,
    /// Also bind a free address of the network's DHCP range (libvirt networks).
    pub allocate_ip: Option<bool>,
}

/// The new interface's record, and its address when one was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewInterfaceBody {
    pub interface: Vif,
    /// Present only when `allocate_ip` was true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<Allocation>,
}

/// `POST /v1/interfaces/{id}/ip_addresses`: no fields yet; the body may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddressRequest {}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressBody {
    pub ip_address: Allocation,
}

#[derive(Debug, Deserialize)]
pub struct AddressPath {
    pub id: String,
    pub address: String,
}

fn request(body: NewInterfaceRequest) -> Result<InterfaceRequest, Fault> {
    Ok(InterfaceRequest {
        net_id: uuid_field("net_id", &body.net_id)?,
        port_id: body
            .port_id
            .map(|p| uuid_field("port_id", &p))
            .transpose()?,
        mac: body
            .mac_address
            .map(|m| mac_field("mac_address", &m))
            .transpose()?,
        fixed_ip: None,
        allocate_ip: body.allocate_ip.unwrap_or(false),
    })
}

#[utoipa::path(post, path = "/v1/domains/{domain}/interfaces", tag = "actions",
    params(("domain" = String, Path, description = "Domain UUID or name")),
    request_body = NewInterfaceRequest,
    responses((status = 201, description = "Attached: the record as the inventory shows it", body = NewInterfaceBody),
              (status = 400, description = "A field is invalid"),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such domain or network"),
              (status = 409, description = "MAC, port or device in use; no free address; libvirt refused")))]
pub async fn create_interface(
    auth: Authorized,
    Extension(view): Extension<Arc<View>>,
    Path(domain): Path<String>,
    JsonBody(body): JsonBody<NewInterfaceRequest>,
) -> Result<(StatusCode, Json<NewInterfaceBody>), Fault> {
    let target = format!("domain {domain}");
    let res = async {
        let uuid = match view.domain_by_name_or_uuid(&domain) {
            Some(d) => d.summary.uuid.clone(),
            None => {
                return Err(Fault::not_found(format!(
                    "Domain {domain} could not be found."
                )))
            }
        };
        let done = auth.actions.attach_interface(&uuid, request(body)?).await?;
        Ok((
            StatusCode::CREATED,
            Json(NewInterfaceBody {
                interface: done.vif,
                ip_address: done.address,
            }),
        ))
    }
    .await;
    audit(
        &auth.caller,
        "create-interface",
        &target,
        &res,
        StatusCode::CREATED,
    );
    res
}

#[utoipa::path(post, path = "/v1/interfaces/{id}/ip_addresses", tag = "actions",
    params(("id" = String, Path, description = "Record id or port id")),
    request_body(content = Option<NewAddressRequest>, description = "Optional; no fields yet"),
    responses((status = 201, description = "An address of the network's DHCP range, bound to the interface's MAC", body = AddressBody),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such interface"),
              (status = 409, description = "No free address; the MAC already holds one; not a libvirt network")))]
pub async fn allocate_address(
    auth: Authorized,
    Path(id): Path<String>,
    // Left out, `null` or `{}`: all the same while it has no fields.
    OptionalJsonBody(_body): OptionalJsonBody<Option<NewAddressRequest>>,
) -> Result<(StatusCode, Json<AddressBody>), Fault> {
    let target = format!("interface {id}");
    let res = async {
        let ip_address = auth.actions.allocate_ip(&id).await?;
        Ok((StatusCode::CREATED, Json(AddressBody { ip_address })))
    }
    .await;
    audit(
        &auth.caller,
        "allocate-address",
        &target,
        &res,
        StatusCode::CREATED,
    );
    res
}

#[utoipa::path(delete, path = "/v1/interfaces/{id}/ip_addresses/{address}", tag = "actions",
    params(("id" = String, Path, description = "Record id or port id"),
           ("address" = String, Path, description = "The address to release")),
    responses((status = 204, description = "Released"),
              (status = 400, description = "Not an IP address"),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such interface, or the address is not bound to it"),
              (status = 409, description = "The interface is on no libvirt network")))]
pub async fn release_address(
    auth: Authorized,
    Path(path): Path<AddressPath>,
) -> Result<StatusCode, Fault> {
    let target = format!("interface {} address {}", path.id, path.address);
    let res = async {
        let ip = ip_field("address", &path.address)?;
        auth.actions.release_ip(&path.id, ip).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audit(
        &auth.caller,
        "release-address",
        &target,
        &res,
        StatusCode::NO_CONTENT,
    );
    res
}
