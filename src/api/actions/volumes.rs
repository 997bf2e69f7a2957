//! Volumes: `os-volume_attachments` attach and detach, and `os-volumes`, the pool's
//! volumes in the shape of the Volumes extension (the view is
//! [`crate::api::compute::volumes`]; these handlers ask libvirt for the pool).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::{device_field, uuid_field, JsonBody};
use super::{audit, ActionsRef, Authorized};
use crate::actions::{Actions, PoolVolumeInfo};
use crate::api::compute::attachments::{volume_attachment, VolumeAttachmentBody, VolumePath};
use crate::api::compute::lookup::server_uuid;
use crate::api::compute::volumes::{
    volume_doc, PoolVolumeFacts, VolumeBody, VolumeDoc, VolumeList,
};
use crate::api::fault::Fault;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachVolumeRequest {
    #[serde(rename = "volumeAttachment")]
    pub volume_attachment: AttachVolumeFields,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttachVolumeFields {
    /// The volume: its name in the configured storage pool, a UUID.
    #[schema(format = "uuid")]
    pub volume_id: String,
    /// `/dev/vdX` or `/dev/vdXY` (or without `/dev/`); the first free one when absent.
    #[schema(pattern = "^(/dev/)?vd[a-z]{1,2}$")]
    pub device: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct VolumeIdPath {
    pub volume_id: String,
}

#[utoipa::path(get, path = "/v2.1/os-volumes", tag = "actions",
    responses((status = 200, description = "The volumes of the configured storage pool that Nova's schema can hold", body = VolumeList),
              (status = 404, description = "No pool is configured (volumes.pool): os-volumes is not served")))]
pub async fn list(ActionsRef(actions): ActionsRef) -> Result<Json<VolumeList>, Fault> {
    Ok(Json(VolumeList {
        volumes: listed(&actions).await?,
    }))
}

/// Nova's detail listing is the same as its index, field for field.
#[utoipa::path(get, path = "/v2.1/os-volumes/detail", tag = "actions",
    responses((status = 200, description = "The volumes of the configured storage pool that Nova's schema can hold", body = VolumeList),
              (status = 404, description = "No pool is configured (volumes.pool): os-volumes is not served")))]
pub async fn detail(actions: ActionsRef) -> Result<Json<VolumeList>, Fault> {
    list(actions).await
}

#[utoipa::path(get, path = "/v2.1/os-volumes/{volume_id}", tag = "actions",
    params(("volume_id" = String, Path, description = "Volume name in the pool, a UUID")),
    responses((status = 200, description = "The volume", body = VolumeBody),
              (status = 404, description = "No such volume listed, or no pool is configured")))]
pub async fn show(
    ActionsRef(actions): ActionsRef,
    Path(path): Path<VolumeIdPath>,
) -> Result<Json<VolumeBody>, Fault> {
    let found = listed(&actions)
        .await?
        .into_iter()
        .find(|v| v.id.eq_ignore_ascii_case(&path.volume_id))
        .ok_or_else(|| {
            Fault::not_found(format!("Volume {} could not be found.", path.volume_id))
        })?;
    Ok(Json(VolumeBody { volume: found }))
}

/// The pool's volumes Nova's schema can hold (see [`crate::api::compute::volumes`]).
async fn listed(actions: &Actions) -> Result<Vec<VolumeDoc>, Fault> {
    let vols = pool_volumes(actions).await?;
    Ok(vols.iter().filter_map(facts).collect())
}

fn facts(info: &PoolVolumeInfo) -> Option<VolumeDoc> {
    volume_doc(&PoolVolumeFacts {
        name: &info.volume.name,
        capacity: info.volume.capacity,
        created: info.volume.created,
        attachments: &info.attachments,
    })
}

/// The pool's volumes; no pool is a 404 for the reads (the resource is not there), while
/// an attach without one stays a 409 (the request conflicts with the host's settings).
async fn pool_volumes(actions: &Actions) -> Result<Vec<PoolVolumeInfo>, Fault> {
    if !actions.has_volume_pool() {
        return Err(Fault::not_found(
            "os-volumes is not served on this host: no storage pool is configured \
             (volumes.pool, --volume-pool).",
        ));
    }
    Ok(actions.list_volumes().await?)
}

#[utoipa::path(post, path = "/v2.1/servers/{server_id}/os-volume_attachments", tag = "actions",
    params(("server_id" = String, Path, description = "Server (domain) UUID")),
    request_body = AttachVolumeRequest,
    responses((status = 200, description = "Attached", body = VolumeAttachmentBody),
              (status = 400, description = "A field is invalid"),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such server or volume"),
              (status = 409, description = "Volume or device in use; no pool configured; libvirt refused")))]
pub async fn attach(
    auth: Authorized,
    Path(path): Path<crate::api::compute::vifs::ServerPath>,
    JsonBody(body): JsonBody<AttachVolumeRequest>,
) -> Result<Json<VolumeAttachmentBody>, Fault> {
    let target = format!("server {}", path.server_id);
    let res = async {
        let uuid = server_uuid(&path.server_id)?;
        let f = body.volume_attachment;
        let volume = uuid_field("volumeAttachment.volumeId", &f.volume_id)?;
        let device = f
            .device
            .map(|d| device_field("volumeAttachment.device", &d))
            .transpose()?;
        let done = auth
            .actions
            .attach_volume(&uuid, &volume, device.as_deref())
            .await?;
        // Both ids were checked to be UUIDs above, so the attachment is there to show.
        let attachment =
            volume_attachment(&done.server_id, &done.volume_id, done.device.as_deref())
                .ok_or_else(|| {
                    Fault::internal(format!("volume {} attached, without a UUID", volume))
                })?;
        Ok(Json(VolumeAttachmentBody {
            volume_attachment: attachment,
        }))
    }
    .await;
    audit(&auth.caller, "attach-volume", &target, &res, StatusCode::OK);
    res
}

#[utoipa::path(delete, path = "/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", tag = "actions",
    params(("server_id" = String, Path, description = "Server (domain) UUID"),
           ("volume_id" = String, Path, description = "Volume id (the disk's serial)")),
    responses((status = 202, description = "Detach requested"),
              (status = 403, description = "Actions are disabled"),
              (status = 404, description = "No such server, or the volume is not attached to it")))]
pub async fn detach(auth: Authorized, Path(path): Path<VolumePath>) -> Result<StatusCode, Fault> {
    let target = format!("server {} volume {}", path.server_id, path.volume_id);
    let res = async {
        let uuid = server_uuid(&path.server_id)?;
        auth.actions.detach_volume(&uuid, &path.volume_id).await?;
        Ok(StatusCode::ACCEPTED)
    }
    .await;
    audit(
        &auth.caller,
        "detach-volume",
        &target,
        &res,
        StatusCode::ACCEPTED,
    );
    res
}
