//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the handlers' annotations.
//!
//! The Compute resources are annotated once, under /v2.1; the same routes under /v2 and
//! with a `/{project_id}` segment are derived here, so the document lists every path served.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use utoipa::OpenApi;

mod contract;
mod derive;

use super::compute::{attachments, discovery, extensions, vifs};
use super::{actions, native};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vifd",
        description = "Virtual interfaces of one hypervisor host: vifd's own API (/v1) and the \
                       OpenStack Compute shapes (/v2, /v2.1 with microversions 2.1 to 2.12). \
                       Every response carries X-Vifd-Generation; errors use Nova's fault bodies."
    ),
    paths(
        native::healthz,
        native::readyz,
        native::interfaces,
        native::interface,
        native::domains,
        native::domain_interfaces,
        native::problems,
        super::watch::watch,
        super::metrics::metrics,
        serve,
        discovery::versions,
        discovery::version_v2,
        discovery::version_v21,
        extensions::list,
        extensions::show,
        vifs::list,
        attachments::interfaces,
        attachments::interface,
        attachments::volumes,
        attachments::volume,
        actions::compute::attach_interface,
        actions::compute::detach_interface,
        actions::volumes::attach,
        actions::volumes::detach,
        actions::volumes::list,
        actions::volumes::detail,
        actions::volumes::show,
        actions::native::create_interface,
        actions::native::allocate_address,
        actions::native::release_address,
    ),
    components(schemas(vifs::LegacyVirtualInterfaceList, vifs::LegacyVirtualInterface)),
    tags(
        (name = "native", description = "vifd's record contract as JSON"),
        (name = "compute", description = "OpenStack Compute API shapes (read-only)"),
        (name = "actions", description = "Interface, address and volume actions: off unless \
                                          vifd serve runs with --enable-actions; unix sockets, \
                                          or TCP with the bearer token")
    )
)]
struct ApiDoc;

/// The whole document: the annotations, the paths derived from them, and the contract
/// every operation keeps.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    derive::derived_paths(&mut doc);
    contract::apply(&mut doc);
    doc
}

#[utoipa::path(get, path = "/openapi.json", tag = "native",
    responses((status = 200, description = "This document (OpenAPI 3.1)")))]
pub async fn serve() -> Response {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    let body = DOC.get_or_init(|| {
        // The document is built from static annotations; it always serializes.
        Bytes::from(document().to_json().unwrap_or_else(|e| {
            format!("{{\"error\": \"cannot serialize the OpenAPI document: {e}\"}}")
        }))
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
}
