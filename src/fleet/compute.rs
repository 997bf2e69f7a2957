//! The Compute views of any server in the fleet, found by UUID on whichever host has it:
//! the agent's own renderings, faults and microversions (see `api::compute`), over the
//! records and domains that host published.

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::MethodRouter;
use axum::{Extension, Json, Router};

use super::view::{FleetView, Record, Server};
use super::watcher::FleetState;
use crate::api::bodies::read;
use crate::api::compute::attachments::{
    self, PortPath, VolumeAttachmentBody, VolumeAttachmentList, VolumePath,
};
use crate::api::compute::facts::VifFacts;
use crate::api::compute::lookup::{not_found, server_uuid};
use crate::api::compute::vifs::{self, Page, ServerPath};
use crate::api::compute::{gated, Flavor};
use crate::api::fault::Fault;
use crate::api::xml::PrefersXml;
use crate::inventory::OperState;

type State = Arc<FleetState>;

fn route(methods: MethodRouter<State>) -> MethodRouter<State> {
    gated(methods)
}

/// The server resources, relative to `/v2[.1][/{project_id}]`.
fn resources() -> Router<State> {
    Router::new()
        .route(
            "/servers/{server_id}/os-virtual-interfaces",
            route(read(virtual_interfaces)),
        )
        .route("/servers/{server_id}/os-interface", route(read(interfaces)))
        .route(
            "/servers/{server_id}/os-interface/{port_id}",
            route(read(interface)),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments",
            route(read(volumes)),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments/{volume_id}",
            route(read(volume)),
        )
}

/// `/v2...` and `/v2.1...`, with or without a project id.
pub fn router() -> Router<State> {
    Router::new()
        .nest("/v2", resources())
        .nest("/v2/{project_id}", resources())
        .nest("/v2.1", resources())
        .nest("/v2.1/{project_id}", resources())
}

/// What the Compute views read of a published record.
fn facts(r: &Record) -> VifFacts<'_> {
    let f = &r.fields;
    VifFacts {
        id: &f.id,
        mac_address: f.mac_address,
        net_id: f.net_id.as_deref(),
        port_id: f.port_id.as_deref(),
        device: f.device.as_deref(),
        host_mac: f.host_mac,
        master: f.master.as_deref(),
        operstate: f.operstate.as_deref().and_then(OperState::from_name),
        carrier: f.carrier,
    }
}

/// The server a `{server_id}` names, anywhere: 400 unless a UUID, 404 unless found, 503
/// before the first list.
fn find<'a>(view: &'a FleetView, server_id: &str) -> Result<Server<'a>, Fault> {
    let uuid = server_uuid(server_id)?;
    super::api::listed(view)?;
    view.server(&uuid).ok_or_else(|| not_found(server_id))
}

fn facts_of<'a>(server: &Server<'a>) -> Vec<VifFacts<'a>> {
    server.records.iter().map(|r| facts(r)).collect()
}

async fn virtual_interfaces(
    Extension(view): Extension<Arc<FleetView>>,
    Extension(flavor): Extension<Flavor>,
    Path(path): Path<ServerPath>,
    Query(page): Query<Page>,
    PrefersXml(xml): PrefersXml,
) -> Result<Response, Fault> {
    let server = find(&view, &path.server_id)?;
    vifs::render(&facts_of(&server), flavor, &page, xml)
}

async fn interfaces(
    Extension(view): Extension<Arc<FleetView>>,
    Path(path): Path<ServerPath>,
) -> Result<Json<attachments::InterfaceAttachmentList>, Fault> {
    let server = find(&view, &path.server_id)?;
    Ok(attachments::interface_list(&facts_of(&server)))
}

async fn interface(
    Extension(view): Extension<Arc<FleetView>>,
    Path(path): Path<PortPath>,
) -> Result<Json<attachments::InterfaceAttachmentBody>, Fault> {
    let server = find(&view, &path.server_id)?;
    attachments::interface_found(&facts_of(&server), &path.port_id)
}

/// The attachments of a server's volumes, from its host's `domains` (none when that
/// host's agent does not publish them).
fn attached(server: &Server, uuid: &str) -> Vec<attachments::VolumeAttachment> {
    let volumes = server.domain.map(|d| d.volumes.as_slice()).unwrap_or(&[]);
    volumes
        .iter()
        .filter_map(|v| attachments::volume_attachment(uuid, &v.volume_id, v.device.as_deref()))
        .collect()
}

async fn volumes(
    Extension(view): Extension<Arc<FleetView>>,
    Path(path): Path<ServerPath>,
) -> Result<Json<VolumeAttachmentList>, Fault> {
    let server = find(&view, &path.server_id)?;
    let uuid = server_uuid(&path.server_id)?;
    Ok(Json(VolumeAttachmentList {
        volume_attachments: attached(&server, &uuid),
    }))
}

async fn volume(
    Extension(view): Extension<Arc<FleetView>>,
    Path(path): Path<VolumePath>,
) -> Result<Json<VolumeAttachmentBody>, Fault> {
    let server = find(&view, &path.server_id)?;
    let uuid = server_uuid(&path.server_id)?;
    let found = attached(&server, &uuid)
        .into_iter()
        .find(|a| a.volume_id.eq_ignore_ascii_case(&path.volume_id))
        .ok_or_else(|| Fault::not_found(format!("volume_id not found: {}", path.volume_id)))?;
    Ok(Json(VolumeAttachmentBody {
        volume_attachment: found,
    }))
}
