//! `GET /servers/{server_id}/os-virtual-interfaces`: `id` and `mac_address`; `net_id`
//! from microversion 2.12; on /v2, `OS-EXT-VIF-NET:net_id` and the `VIFD-HOST:`
//! attributes instead.

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extensions::{xml_response, VIFD_HOST_ALIAS, VIFD_HOST_NS, VIF_NET_ALIAS, VIF_NET_NS};
use super::lookup::server;
use super::microversion::{Flavor, Version};
use crate::api::fault::Fault;
use crate::api::xml::{self, PrefersXml};
use crate::inventory::View;
use crate::inventory::{OperState, Vif};

/// The most entries one page holds, as Nova's `osapi_max_limit`.
pub const MAX_LIMIT: usize = 1000;

/// A `{server_id}` path (the `project_id` segment, when present, is ignored).
#[derive(Debug, Deserialize)]
pub struct ServerPath {
    pub server_id: String,
}

/// A virtual interface of the v2.1 API.
#[derive(Debug, Serialize, ToSchema)]
pub struct VirtualInterface<'a> {
    /// The port UUID (or vifd's stable UUID when no port is known).
    pub id: &'a str,
    pub mac_address: Option<String>,
    /// From microversion 2.12; absent before.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub net_id: Option<Option<&'a str>>,
}

/// A virtual interface of the legacy v2 API, with its extension attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct LegacyVirtualInterface<'a> {
    pub id: &'a str,
    pub mac_address: Option<String>,
    #[serde(rename = "OS-EXT-VIF-NET:net_id")]
    pub net_id: Option<&'a str>,
    #[serde(rename = "VIFD-HOST:device")]
    pub device: Option<&'a str>,
    #[serde(rename = "VIFD-HOST:host_mac")]
    pub host_mac: Option<String>,
    #[serde(rename = "VIFD-HOST:master")]
    pub master: Option<&'a str>,
    #[serde(rename = "VIFD-HOST:operstate")]
    pub operstate: Option<&'a str>,
}

#[derive(Serialize, ToSchema)]
pub struct VirtualInterfaceList<'a> {
    pub virtual_interfaces: Vec<VirtualInterface<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct LegacyVirtualInterfaceList<'a> {
    pub virtual_interfaces: Vec<LegacyVirtualInterface<'a>>,
}

#[utoipa::path(get, path = "/v2.1/servers/{server_id}/os-virtual-interfaces", tag = "compute",
    params(("server_id" = String, Path, description = "Server (domain) UUID"),
           ("limit" = Option<usize>, Query, description = "Page size (at most 1000)"),
           ("offset" = Option<usize>, Query, description = "Entries to skip"),
           ("OpenStack-API-Version" = Option<String>, Header, description = "`compute 2.1` .. `compute 2.12`, or `compute latest`")),
    responses((status = 200, description = "The server's virtual interfaces (JSON, or XML on `Accept: application/xml`)", body = VirtualInterfaceList),
              (status = 400, description = "Server id not a UUID, bad limit/offset, or malformed version"),
              (status = 404, description = "No such server"),
              (status = 406, description = "Version outside 2.1..2.12")))]
pub async fn list(
    Extension(view): Extension<Arc<View>>,
    Extension(flavor): Extension<Flavor>,
    Path(path): Path<ServerPath>,
    Query(page): Query<Page>,
    PrefersXml(xml): PrefersXml,
) -> Result<Response, Fault> {
    let domain = server(&view, &path.server_id)?;
    let vifs: Vec<&Vif> = domain.interfaces.iter().map(|v| &**v).collect();
    let page = page.apply(&vifs)?;
    Ok(match flavor {
        Flavor::Micro(v) => {
            let with_net = v >= Version::VIF_NET_ID;
            let entries: Vec<_> = page.iter().map(|v| micro(v, with_net)).collect();
            if xml {
                xml_response(micro_xml(&entries))
            } else {
                Json(VirtualInterfaceList {
                    virtual_interfaces: entries,
                })
                .into_response()
            }
        }
        Flavor::Legacy => {
            let entries: Vec<_> = page.iter().map(|v| legacy(v)).collect();
            if xml {
                xml_response(legacy_xml(&entries))
            } else {
                Json(LegacyVirtualInterfaceList {
                    virtual_interfaces: entries,
                })
                .into_response()
            }
        }
    })
}

fn micro(v: &Vif, with_net: bool) -> VirtualInterface<'_> {
    VirtualInterface {
        id: &v.id,
        mac_address: v.mac_address.map(|m| m.to_string()),
        net_id: with_net.then_some(v.net_id.as_deref()),
    }
}

fn legacy(v: &Vif) -> LegacyVirtualInterface<'_> {
    LegacyVirtualInterface {
        id: &v.id,
        mac_address: v.mac_address.map(|m| m.to_string()),
        net_id: v.net_id.as_deref(),
        device: v.device.as_deref(),
        host_mac: v.host_mac.map(|m| m.to_string()),
        master: v.master.as_deref(),
        operstate: v.operstate.as_ref().map(OperState::as_str),
    }
}

/// Nova's `limit` and `offset` query parameters (others are ignored, as Nova does).
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    pub limit: Option<String>,
    pub offset: Option<String>,
}

impl Page {
    /// The page of `items`: integers ≥ 0; a limit of 0 (or none) means the maximum.
    pub fn apply<'a, T>(&self, items: &'a [T]) -> Result<&'a [T], Fault> {
        let offset = param("offset", self.offset.as_deref())?;
        let limit = match param("limit", self.limit.as_deref())? {
            0 => MAX_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let start = offset.min(items.len());
        let end = start.saturating_add(limit).min(items.len());
        Ok(&items[start..end])
    }
}

fn param(name: &str, text: Option<&str>) -> Result<usize, Fault> {
    let Some(text) = text else { return Ok(0) };
    let n: i64 = text
        .trim()
        .parse()
        .map_err(|_| Fault::bad_request(format!("{name} param must be an integer")))?;
    usize::try_from(n).map_err(|_| Fault::bad_request(format!("{name} param must be positive")))
}

fn micro_xml(entries: &[VirtualInterface]) -> String {
    let rows = entries.iter().map(|e| {
        vec![
            ("id", Some(e.id)),
            ("mac_address", e.mac_address.as_deref()),
            ("net_id", e.net_id.flatten()),
        ]
    });
    list_xml("", rows)
}

fn legacy_xml(entries: &[LegacyVirtualInterface]) -> String {
    let rows = entries.iter().map(|e| {
        vec![
            ("id", Some(e.id)),
            ("mac_address", e.mac_address.as_deref()),
            ("OS-EXT-VIF-NET:net_id", e.net_id),
            ("VIFD-HOST:device", e.device),
            ("VIFD-HOST:host_mac", e.host_mac.as_deref()),
            ("VIFD-HOST:master", e.master),
            ("VIFD-HOST:operstate", e.operstate),
        ]
    });
    // Extension attributes live in their extension's namespace, as the extension rules say.
    let ns = format!(
        " xmlns:{VIF_NET_ALIAS}=\"{VIF_NET_NS}\" xmlns:{VIFD_HOST_ALIAS}=\"{VIFD_HOST_NS}\""
    );
    list_xml(&ns, rows)
}

/// `<virtual_interfaces>` with one empty `<virtual_interface>` per row of attributes.
fn list_xml<'a>(
    extra_ns: &str,
    rows: impl Iterator<Item = Vec<(&'a str, Option<&'a str>)>>,
) -> String {
    let body: String = rows
        .map(|attrs| format!("<virtual_interface{}/>", xml::attrs(attrs)))
        .collect();
    format!(
        "{}<virtual_interfaces xmlns=\"{}\"{extra_ns}>{body}</virtual_interfaces>",
        xml::DECL,
        xml::COMPUTE_NS
    )
}
