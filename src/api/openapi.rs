//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the handlers' annotations.
//!
//! The Compute resources are annotated once, under /v2.1; the same routes under /v2 and
//! with a `/{project_id}` segment are derived here, so the document lists every path served.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::OpenApi;

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

/// The whole document, with the derived /v2 and `/{project_id}` paths.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let annotated: Vec<(String, PathItem)> = doc
        .paths
        .paths
        .iter()
        .filter(|(p, _)| p.starts_with("/v2.1/") && p.len() > "/v2.1/".len())
        .map(|(p, item)| (p.clone(), item.clone()))
        .collect();
    for (path, item) in annotated {
        let rest = &path["/v2.1".len()..];
        let legacy = legacy_item(&path, item.clone());
        let derived = [
            (format!("/v2.1/{{project_id}}{rest}"), with_project(item)),
            (
                format!("/v2/{{project_id}}{rest}"),
                with_project(legacy.clone()),
            ),
            (format!("/v2{rest}"), legacy),
        ];
        doc.paths.paths.extend(derived);
    }
    // The version documents answer with and without the trailing slash.
    for (slash, bare) in [("/v2.1/", "/v2.1"), ("/v2/", "/v2")] {
        if let Some(item) = doc.paths.paths.get(slash).cloned() {
            doc.paths.paths.insert(bare.to_string(), item);
        }
    }
    doc
}

/// The /v2 form of a /v2.1 path: no microversions, and VIFs in their legacy shape.
fn legacy_item(path: &str, mut item: PathItem) -> PathItem {
    if let Some(op) = item.get.as_mut() {
        if let Some(params) = op.parameters.as_mut() {
            params.retain(|p| p.name != "OpenStack-API-Version");
        }
        if path.ends_with("/os-virtual-interfaces") {
            if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                for content in ok.content.values_mut() {
                    content.schema = Some(RefOr::Ref(Ref::from_schema_name(
                        "LegacyVirtualInterfaceList",
                    )));
                }
            }
        }
    }
    item
}

fn with_project(mut item: PathItem) -> PathItem {
    if let Some(op) = item.get.as_mut() {
        op.parameters
            .get_or_insert_with(Vec::new)
            .insert(0, project_param());
    }
    item
}

fn project_param() -> Parameter {
    ParameterBuilder::new()
        .name("project_id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("Accepted and ignored: vifd serves one host."))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String),
        ))
        .build()
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
