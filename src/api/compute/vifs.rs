//! `GET /servers/{server_id}/os-virtual-interfaces`: `id` and `mac_address`; `net_id`
//! from microversion 2.12; on /v2, `OS-EXT-VIF-NET:net_id` and the `VIFD-HOST:`
//! attributes instead.
//!
//! As every Compute view (the rule is in [`super::fields`]), it lists a VIF only when the
//! fields Nova requires at the version asked are known: its MAC always (a VIF without one
//! is not listed), and from 2.12 its network's UUID (a VIF on no known network is not
//! listed there). On /v2, `OS-EXT-VIF-NET:net_id` is an extension attribute Nova never
//! required: it is left out when the network is unknown. `limit` and `offset` page the
//! VIFs so listed.

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extensions::{xml_response, VIFD_HOST_ALIAS, VIFD_HOST_NS, VIF_NET_ALIAS, VIF_NET_NS};
use super::facts::VifFacts;
use super::fields;
use super::lookup::server;
use super::microversion::{Flavor, Version};
use crate::api::fault::Fault;
use crate::api::xml::{self, PrefersXml};
use crate::inventory::OperState;
use crate::inventory::View;

/// The most entries one page holds, as Nova's `osapi_max_limit`.
pub const MAX_LIMIT: usize = 1000;

/// A `{server_id}` path (the `project_id` segment, when present, is ignored).
#[derive(Debug, Deserialize)]
pub struct ServerPath {
    pub server_id: String,
}

/// A virtual interface of the v2.1 API: one whose MAC (and from 2.12 network) is known.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualInterface<'a> {
    /// The VIF's own id (vifd's record id): its port id, else vifd's stable UUID v5. A
    /// string, as Nova's schema has it: a port id from OVSDB may be no UUID.
    pub id: &'a str,
    #[schema(pattern = "^([0-9a-f]{2}:){5}[0-9a-f]{2}$")]
    pub mac_address: String,
    /// The network UUID: from microversion 2.12, where it is required (a VIF on no known
    /// network is not listed); absent before.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uuid")]
    pub net_id: Option<String>,
}

/// A virtual interface of the legacy v2 API, with its extension attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct LegacyVirtualInterface<'a> {
    /// As [`VirtualInterface::id`].
    pub id: &'a str,
    #[schema(pattern = "^([0-9a-f]{2}:){5}[0-9a-f]{2}$")]
    pub mac_address: String,
    /// The network UUID; absent when unknown (an extension attribute, never required).
    #[serde(
        rename = "OS-EXT-VIF-NET:net_id",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(format = "uuid")]
    pub net_id: Option<String>,
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
    let facts: Vec<VifFacts> = domain.interfaces.iter().map(|v| (&**v).into()).collect();
    render(&facts, flavor, &page, xml)
}

/// The os-virtual-interfaces answer of a server's records, at the flavor asked.
pub fn render(
    facts: &[VifFacts],
    flavor: Flavor,
    page: &Page,
    xml: bool,
) -> Result<Response, Fault> {
    Ok(match flavor {
        Flavor::Micro(v) => {
            let with_net = v >= Version::VIF_NET_ID;
            let listed: Vec<_> = facts.iter().filter_map(|v| micro(v, with_net)).collect();
            let entries = page.apply(listed)?;
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
            let listed: Vec<_> = facts.iter().filter_map(legacy).collect();
            let entries = page.apply(listed)?;
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

/// The network's UUID, when known and a UUID.
fn network(v: &VifFacts) -> Option<String> {
    v.net_id.and_then(fields::uuid)
}

fn micro<'a>(v: &VifFacts<'a>, with_net: bool) -> Option<VirtualInterface<'a>> {
    let net_id = if with_net { Some(network(v)?) } else { None };
    Some(VirtualInterface {
        id: v.id,
        mac_address: v.mac_address?.to_string(),
        net_id,
    })
}

fn legacy<'a>(v: &VifFacts<'a>) -> Option<LegacyVirtualInterface<'a>> {
    Some(LegacyVirtualInterface {
        id: v.id,
        mac_address: v.mac_address?.to_string(),
        net_id: network(v),
        device: v.device,
        host_mac: v.host_mac.map(|m| m.to_string()),
        master: v.master,
        operstate: v.operstate.as_ref().map(OperState::as_str),
    })
}

/// Nova's `limit` and `offset` query parameters (others are ignored, as Nova does).
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    pub limit: Option<String>,
    pub offset: Option<String>,
}

impl Page {
    /// The page of `items`: integers ≥ 0; a limit of 0 (or none) means the maximum.
    pub fn apply<T>(&self, mut items: Vec<T>) -> Result<Vec<T>, Fault> {
        let offset = param("offset", self.offset.as_deref())?;
        let limit = match param("limit", self.limit.as_deref())? {
            0 => MAX_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let start = offset.min(items.len());
        let end = start.saturating_add(limit).min(items.len());
        items.truncate(end);
        Ok(items.split_off(start))
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
            ("mac_address", Some(e.mac_address.as_str())),
            ("net_id", e.net_id.as_deref()),
        ]
    });
    list_xml("", rows)
}

fn legacy_xml(entries: &[LegacyVirtualInterface]) -> String {
    let rows = entries.iter().map(|e| {
        vec![
            ("id", Some(e.id)),
            ("mac_address", Some(e.mac_address.as_str())),
            ("OS-EXT-VIF-NET:net_id", e.net_id.as_deref()),
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
