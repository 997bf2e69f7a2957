//! The fleet server's native endpoints over the latest [`FleetView`] snapshot:
//! `/readyz`, `/v1/interfaces` (the agent's filters plus `host=`), `/v1/hosts`,
//! `/v1/problems`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::feed::{host_entry, HostEntry};
use super::view::{FleetView, Record};
use super::watcher::FleetState;
use crate::api::fault::Fault;
use crate::api::native;
use crate::inventory::ProblemKind;
use crate::mac::MacAddr;

/// The view, unless etcd has not been listed yet (503).
pub(super) fn listed(view: &FleetView) -> Result<&FleetView, Fault> {
    match view.listed {
        true => Ok(view),
        false => Err(Fault::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "etcd has not been listed yet; retry shortly",
        )),
    }
}

/// `GET /readyz` when ready.
#[derive(Serialize)]
pub struct ReadyBody {
    pub ready: bool,
    /// The etcd revision served.
    pub revision: i64,
    /// The watch on etcd is live (else the last view is served).
    pub etcd_up: bool,
}

pub(super) async fn readyz(
    State(state): State<Arc<FleetState>>,
    Extension(view): Extension<Arc<FleetView>>,
) -> Result<Json<ReadyBody>, Fault> {
    listed(&view)?;
    Ok(Json(ReadyBody {
        ready: true,
        revision: view.revision,
        etcd_up: state.up(),
    }))
}

/// Filters of the fleet's `GET /v1/interfaces`: the agent's, plus `host`; all given
/// must match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFilter {
    /// Domain name or UUID.
    pub domain: Option<String>,
    /// Network UUID.
    pub net_id: Option<String>,
    /// Guest or host MAC address.
    pub mac: Option<String>,
    /// Host device name.
    pub device: Option<String>,
    /// Only records with this problem.
    pub problem: Option<ProblemKind>,
    /// The host name its agent publishes under.
    pub host: Option<String>,
}

pub(super) async fn interfaces(
    Extension(view): Extension<Arc<FleetView>>,
    Query(filter): Query<FleetFilter>,
) -> Result<Response, Fault> {
    let view = listed(&view)?;
    let mac = native::checked_filters(filter.mac.as_deref(), filter.net_id.as_deref())?;
    let candidates: Vec<&Arc<Record>> = match (mac, &filter.net_id, &filter.host) {
        (Some(m), _, _) => view.by_mac(m),
        (None, Some(n), _) => view.by_net(n),
        (None, None, Some(h)) => view.host(h).map_or(vec![], |h| h.vifs.values().collect()),
        (None, None, None) => view.records().collect(),
    };
    let mut body = format!("{{\"revision\":{},\"interfaces\":[", view.revision).into_bytes();
    let matching = candidates.into_iter().filter(|r| matches(r, &filter, mac));
    for (i, r) in matching.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        r.json_with_host(&mut body);
    }
    body.extend_from_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn matches(r: &Record, filter: &FleetFilter, mac: Option<MacAddr>) -> bool {
    let f = &r.fields;
    let eq =
        |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
    filter
        .domain
        .as_deref()
        .is_none_or(|d| f.domain_name == d || f.domain_uuid.eq_ignore_ascii_case(d))
        && filter.net_id.as_deref().is_none_or(|n| {
            f.net_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(n))
        })
        && mac.is_none_or(|m| f.mac_address == Some(m) || f.host_mac == Some(m))
        && eq(&filter.device, f.device.as_deref())
        && eq(&filter.host, Some(&r.host))
        && filter
            .problem
            .is_none_or(|p| f.problems.iter().any(|k| k == p.as_str()))
}

/// `GET /v1/hosts`.
#[derive(Debug, Serialize)]
pub struct HostList<'a> {
    pub revision: i64,
    pub hosts: Vec<HostEntry<'a>>,
}

pub(super) async fn hosts(Extension(view): Extension<Arc<FleetView>>) -> Result<Response, Fault> {
    let view = listed(&view)?;
    let now = SystemTime::now();
    Ok(Json(HostList {
        revision: view.revision,
        hosts: view.hosts().map(|(n, h)| host_entry(n, h, now)).collect(),
    })
    .into_response())
}

/// A record's problem in `GET /v1/problems`.
#[derive(Debug, Serialize)]
pub struct RecordProblem<'a> {
    pub host: &'a str,
    pub kind: &'a str,
    /// The record's id.
    pub interface: &'a str,
    pub device: Option<&'a str>,
    pub domain_uuid: &'a str,
    pub mac_address: Option<MacAddr>,
}

/// An entry of `GET /v1/problems`: a record's, or a host-level one as its agent
/// published it, with `host` added.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ProblemEntry<'a> {
    Record(RecordProblem<'a>),
    Host(serde_json::Value),
}

/// `GET /v1/problems`.
#[derive(Debug, Serialize)]
pub struct ProblemList<'a> {
    pub revision: i64,
    pub problems: Vec<ProblemEntry<'a>>,
}

pub(super) async fn problems(
    Extension(view): Extension<Arc<FleetView>>,
) -> Result<Response, Fault> {
    let view = listed(&view)?;
    let mut out = Vec::new();
    for (name, h) in view.hosts() {
        for r in h.vifs.values() {
            out.extend(r.fields.problems.iter().map(|kind| {
                ProblemEntry::Record(RecordProblem {
                    host: name,
                    kind,
                    interface: &r.fields.id,
                    device: r.fields.device.as_deref(),
                    domain_uuid: &r.fields.domain_uuid,
                    mac_address: r.fields.mac_address,
                })
            }));
        }
        out.extend(h.problems.iter().map(|p| {
            let mut p = p.clone();
            if let Some(o) = p.as_object_mut() {
                o.insert("host".into(), (**name).into());
            }
            ProblemEntry::Host(p)
        }));
    }
    Ok(Json(ProblemList {
        revision: view.revision,
        problems: out,
    })
    .into_response())
}
