//! `GET /extensions` and `GET /extensions/{alias}`, in JSON or XML.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::discovery::Link;
use super::microversion::Flavor;
use crate::api::actions::ActionAccess;
use crate::api::fault::Fault;
use crate::api::xml::{self, PrefersXml};

/// The alias of vifd's own extension: host-side attributes on VIF entries.
pub const VIFD_HOST_ALIAS: &str = "VIFD-HOST";
pub const VIFD_HOST_NS: &str = "urn:vifd:ext:host:v1";
pub const VIF_NET_ALIAS: &str = "OS-EXT-VIF-NET";
pub const VIF_NET_NS: &str =
    "http://docs.openstack.org/compute/ext/extended-virtual-interfaces-net/api/v1.1";

/// An extension, as the Compute API v2 "Extensions" document describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    pub name: &'static str,
    pub alias: &'static str,
    pub namespace: &'static str,
    #[schema(format = DateTime)]
    pub updated: &'static str,
    pub description: &'static str,
    /// Always empty: no further documents are published. (Nova's schema has links as
    /// `{href, rel}` objects.)
    pub links: Vec<Link>,
}

/// An `{alias}` path (the `project_id` segment, when present, is ignored).
#[derive(Debug, Deserialize)]
pub struct AliasPath {
    pub alias: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExtensionList {
    pub extensions: Vec<Extension>,
}

#[derive(Serialize, ToSchema)]
pub struct ExtensionBody {
    pub extension: Extension,
}

/// name, alias, namespace, updated, description.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const COMMON: [Row; 4] = [
    (
        "VirtualInterfaces",
        "os-virtual-interfaces",
        "http://docs.openstack.org/compute/ext/virtual_interfaces/api/v1.1",
        "2011-08-17T00:00:00Z",
        "Virtual interface support.",
    ),
    (
        "AttachInterfaces",
        "os-attach-interfaces",
        "http://docs.openstack.org/compute/ext/interfaces/api/v1.1",
        "2012-07-22T00:00:00Z",
        "Attach interface support (read-only on vifd: what the host carries).",
    ),
    (
        "Volumes",
        "os-volumes",
        "http://docs.openstack.org/compute/ext/volumes/api/v1.1",
        "2011-03-25T00:00:00Z",
        "Volumes support (read-only on vifd: attachments read from the domain's disks).",
    ),
    (
        "VifdHost",
        VIFD_HOST_ALIAS,
        VIFD_HOST_NS,
        "2026-11-23T00:00:00Z",
        "Host-side facts of virtual interfaces (device, host MAC, master, operstate) and the \
         X-VIFD-HOST-Generation header.",
    ),
];

/// Only on /v2: Nova's v2.1 never had it (its `net_id` came with microversion 2.12).
const LEGACY_ONLY: [Row; 1] = [(
    "ExtendedVIFNet",
    VIF_NET_ALIAS,
    VIF_NET_NS,
    "2013-03-07T00:00:00Z",
    "Adds network id parameter to the virtual interface list.",
)];

/// The descriptions of the extensions whose write side is on when actions are enabled.
const WRITABLE: [(&str, &str); 2] = [
    (
        "os-attach-interfaces",
        "Attach interface support: attach by net_id (a libvirt network, or a bridge mapped \
         in the config) and detach, through libvirt.",
    ),
    (
        "os-volumes",
        "Volumes support: the configured storage pool's volumes, attached and detached \
         through libvirt.",
    ),
];

fn all(flavor: Flavor, actions: bool) -> Vec<Extension> {
    let legacy: &[Row] = match flavor {
        Flavor::Legacy => &LEGACY_ONLY,
        Flavor::Micro(_) => &[],
    };
    COMMON
        .iter()
        .chain(legacy)
        .map(|&(name, alias, namespace, updated, description)| {
            let writable = WRITABLE.iter().find(|(a, _)| *a == alias);
            Extension {
                name,
                alias,
                namespace,
                updated,
                description: match writable {
                    Some((_, d)) if actions => d,
                    _ => description,
                },
                links: Vec::new(),
            }
        })
        .collect()
}

/// Whether this listener accepts actions.
fn actions_on(access: Option<&axum::Extension<ActionAccess>>) -> bool {
    access.is_some_and(|a| a.enabled)
}

#[utoipa::path(get, path = "/v2.1/extensions", tag = "compute",
    responses((status = 200, description = "The extensions served (JSON, or XML on `Accept: application/xml`)", body = ExtensionList)))]
pub async fn list(
    axum::Extension(flavor): axum::Extension<Flavor>,
    access: Option<axum::Extension<ActionAccess>>,
    PrefersXml(xml): PrefersXml,
) -> Response {
    let exts = all(flavor, actions_on(access.as_ref()));
    if xml {
        let body: String = exts.iter().map(|e| xml_extension(e, false)).collect();
        return xml_response(format!(
            "{}<extensions xmlns=\"{}\" xmlns:atom=\"http://www.w3.org/2005/Atom\">{body}</extensions>",
            xml::DECL,
            xml::COMMON_NS
        ));
    }
    Json(ExtensionList { extensions: exts }).into_response()
}

#[utoipa::path(get, path = "/v2.1/extensions/{alias}", tag = "compute",
    params(("alias" = String, Path, description = "Extension alias")),
    responses((status = 200, description = "The extension", body = ExtensionBody),
              (status = 404, description = "No extension with this alias")))]
pub async fn show(
    axum::Extension(flavor): axum::Extension<Flavor>,
    access: Option<axum::Extension<ActionAccess>>,
    Path(AliasPath { alias }): Path<AliasPath>,
    PrefersXml(xml): PrefersXml,
) -> Result<Response, Fault> {
    let ext = all(flavor, actions_on(access.as_ref()))
        .into_iter()
        .find(|e| e.alias == alias)
        .ok_or_else(|| Fault::not_found(format!("Extension {alias} could not be found.")))?;
    if xml {
        return Ok(xml_response(format!(
            "{}{}",
            xml::DECL,
            xml_extension(&ext, true)
        )));
    }
    Ok(Json(ExtensionBody { extension: ext }).into_response())
}

fn xml_extension(e: &Extension, root: bool) -> String {
    let ns = if root {
        format!(
            " xmlns=\"{}\" xmlns:atom=\"http://www.w3.org/2005/Atom\"",
            xml::COMMON_NS
        )
    } else {
        String::new()
    };
    format!(
        "<extension{ns}{}><description>{}</description></extension>",
        xml::attrs([
            ("name", Some(e.name)),
            ("namespace", Some(e.namespace)),
            ("alias", Some(e.alias)),
            ("updated", Some(e.updated)),
        ]),
        xml::escape(e.description)
    )
}

pub(crate) fn xml_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, xml::CONTENT_TYPE)], body).into_response()
}
