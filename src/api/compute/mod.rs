//! The OpenStack Compute shapes: versions documents, extensions, os-virtual-interfaces,
//! os-interface and os-volume_attachments, under /v2 (legacy) and /v2.1 (microversions),
//! each with or without a `/{project_id}` segment.

pub mod attachments;
pub mod extensions;
pub mod microversion;
pub mod vifs;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::actions;
use super::fault::Fault;
use super::native::ready;
use crate::inventory::{DomainRecord, Shared, View};
use microversion::Version;

/// Which Compute API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// /v2: extensions, no microversions.
    Legacy,
    /// /v2.1 at the negotiated microversion.
    Micro(Version),
}

/// Whether responses name `http` or `https` in their links.
#[derive(Debug, Clone, Copy)]
pub struct Scheme(pub &'static str);

/// The routes of one API version, relative to `/v2[.1][/{project_id}]`.
fn resources() -> Router<Arc<Shared>> {
    Router::new()
        .route("/extensions", get(extensions::list))
        .route("/extensions/{alias}", get(extensions::show))
        .route(
            "/servers/{server_id}/os-virtual-interfaces",
            get(vifs::list),
        )
        .route(
            "/servers/{server_id}/os-interface",
            get(attachments::interfaces).post(actions::compute::attach_interface),
        )
        .route(
            "/servers/{server_id}/os-interface/{port_id}",
            get(attachments::interface).delete(actions::compute::detach_interface),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments",
            get(attachments::volumes).post(actions::volumes::attach),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments/{volume_id}",
            get(attachments::volume).delete(actions::volumes::detach),
        )
        .route("/os-volumes", get(actions::volumes::list))
        .route("/os-volumes/{volume_id}", get(actions::volumes::show))
}

/// `/v2...` and `/v2.1...`, plus `/` (the versions document). Which API a request is
/// on is decided by [`flavor`] from its path, so faults and unknown paths get the same
/// treatment as the resources.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(versions))
        .route("/v2", get(version_v2))
        .route("/v2/", get(version_v2))
        .route("/v2.1", get(version_v21))
        .route("/v2.1/", get(version_v21))
        .nest("/v2", resources())
        .nest("/v2/{project_id}", resources())
        .nest("/v2.1", resources())
        .nest("/v2.1/{project_id}", resources())
}

/// Which Compute API a path is under, if any.
pub fn api_of(path: &str) -> Option<Api> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/v2.1") {
        Some(Api::V21)
    } else if under("/v2") {
        Some(Api::V2)
    } else {
        None
    }
}

/// The two Compute APIs served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V2,
    V21,
}

/// Marks requests under /v2 as legacy and negotiates the microversion of those under
/// /v2.1, naming it on every response there (see [`microversion::layer`]). A version the
/// request cannot have is answered by [`version_gate`], after authentication.
pub async fn flavor(mut req: Request, next: Next) -> Response {
    match api_of(req.uri().path()) {
        Some(Api::V21) => microversion::layer(req, next).await,
        Some(Api::V2) => {
            req.extensions_mut().insert(Flavor::Legacy);
            next.run(req).await
        }
        None => next.run(req).await,
    }
}

/// Answers the version fault [`flavor`] found, once the client has been let in.
pub async fn version_gate(req: Request, next: Next) -> Response {
    match req.extensions().get::<microversion::Refused>() {
        Some(refused) => refused.0.clone().into_response(),
        None => next.run(req).await,
    }
}

/// A link in a versions document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    pub rel: &'static str,
    pub href: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

/// One API version, as `GET /` and `GET /v2.1/` describe it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDoc {
    pub id: &'static str,
    pub status: &'static str,
    /// The maximum microversion ("" for v2.0).
    pub version: &'static str,
    /// The minimum microversion ("" for v2.0).
    pub min_version: &'static str,
    pub updated: &'static str,
    pub links: Vec<Link>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionsBody {
    pub versions: Vec<VersionDoc>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionBody {
    pub version: VersionDoc,
}

fn base_url(headers: &HeaderMap, scheme: Scheme) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '"', '<']))
        .unwrap_or("localhost");
    format!("{}://{host}", scheme.0)
}

fn doc(v21: bool, base: &str) -> VersionDoc {
    let (id, path) = if v21 {
        ("v2.1", "v2.1")
    } else {
        ("v2.0", "v2")
    };
    VersionDoc {
        id,
        status: if v21 { "CURRENT" } else { "DEPRECATED" },
        version: if v21 { "2.12" } else { "" },
        min_version: if v21 { "2.1" } else { "" },
        updated: if v21 {
            "2013-07-23T11:33:21Z"
        } else {
            "2011-01-21T11:33:21Z"
        },
        links: vec![Link {
            rel: "self",
            href: format!("{base}/{path}/"),
            kind: None,
        }],
    }
}

#[utoipa::path(get, path = "/", tag = "compute",
    responses((status = 200, description = "The Compute API versions served", body = VersionsBody)))]
pub async fn versions(
    headers: HeaderMap,
    Extension(scheme): Extension<Scheme>,
) -> Json<VersionsBody> {
    let base = base_url(&headers, scheme);
    Json(VersionsBody {
        versions: vec![doc(false, &base), doc(true, &base)],
    })
}

#[utoipa::path(get, path = "/v2.1/", tag = "compute",
    responses((status = 200, description = "The v2.1 version document", body = VersionBody)))]
pub async fn version_v21(
    headers: HeaderMap,
    Extension(scheme): Extension<Scheme>,
) -> Json<VersionBody> {
    Json(VersionBody {
        version: doc(true, &base_url(&headers, scheme)),
    })
}

#[utoipa::path(get, path = "/v2/", tag = "compute",
    responses((status = 200, description = "The legacy v2.0 version document", body = VersionBody)))]
pub async fn version_v2(
    headers: HeaderMap,
    Extension(scheme): Extension<Scheme>,
) -> Json<VersionBody> {
    Json(VersionBody {
        version: doc(false, &base_url(&headers, scheme)),
    })
}

/// The domain a `{server_id}` names: 400 unless it is a UUID, 404 unless it exists.
pub(crate) fn server<'a>(view: &'a View, server_id: &str) -> Result<&'a DomainRecord, Fault> {
    let uuid = uuid::Uuid::parse_str(server_id).map_err(|_| {
        Fault::bad_request(format!(
            "Invalid server id {server_id:?}: it must be a UUID."
        ))
    })?;
    ready(view)?
        .domain_by_uuid(&uuid.hyphenated().to_string())
        .ok_or_else(|| Fault::not_found(format!("Instance {server_id} could not be found.")))
}
