//! vifd's own API: `/healthz`, `/readyz` and `/v1/...`, the record contract as JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::fault::Fault;
use crate::inventory::{list_body, Shared, View};
use crate::inventory::{DegradedSource, DomainSummary, Problem, ProblemKind, Vif};
use crate::mac::MacAddr;

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    /// Always `ok`: the daemon is up and answering.
    pub status: &'static str,
}

/// `GET /readyz` when ready.
#[derive(Serialize, ToSchema)]
pub struct ReadyBody {
    pub ready: bool,
    /// The generation being served.
    pub generation: u64,
    pub collected_at: String,
    /// The sources the inventory does without that are down now (empty when none):
    /// their last known values are served, marked stale where they reach a record.
    pub degraded: Vec<Degraded>,
}

/// A source that is down, and why.
#[derive(Serialize, ToSchema)]
pub struct Degraded {
    pub source: DegradedSource,
    /// What vifd last saw go wrong (the error, naming the address).
    pub reason: String,
}

/// `GET /v1/interfaces` and `GET /v1/domains/{domain}/interfaces`.
#[derive(ToSchema)]
#[allow(dead_code)] // Documents the body `list_body` writes.
pub struct InterfaceList {
    pub generation: u64,
    /// When the inventory was taken (RFC 3339).
    pub collected_at: String,
    pub interfaces: Vec<Vif>,
}

/// `GET /v1/interfaces/{id}`.
#[derive(Serialize, ToSchema)]
pub struct InterfaceBody<'a> {
    pub interface: &'a Vif,
}

/// `GET /v1/domains`.
#[derive(ToSchema)]
#[allow(dead_code)] // Documents the body `list_body` writes.
pub struct DomainList {
    pub generation: u64,
    pub collected_at: String,
    pub domains: Vec<DomainSummary>,
}

/// `GET /v1/problems`: the record-level problems, then the host-level ones.
#[derive(ToSchema)]
#[allow(dead_code)] // Documents the body `list_body` writes.
pub struct ProblemList {
    pub generation: u64,
    pub collected_at: String,
    pub problems: Vec<Problem>,
}

/// Filters of `GET /v1/interfaces`; all given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InterfaceFilter {
    /// Domain name or UUID.
    pub domain: Option<String>,
    /// Network UUID.
    pub net_id: Option<String>,
    /// Guest or host MAC address.
    pub mac: Option<String>,
    /// Host device name.
    pub device: Option<String>,
    /// Only records with this problem.
    #[param(value_type = Option<ProblemKind>)]
    pub problem: Option<ProblemKind>,
    /// Long poll: answer once the generation reaches this (or at `timeout`).
    pub wait_for_generation: Option<u64>,
    /// Seconds a long poll waits at most (default 30, at most 300); no effect without
    /// `wait_for_generation`.
    pub timeout: Option<u64>,
}

/// How long a long poll waits when `timeout` is not given, and at most.
const POLL_DEFAULT: u64 = 30;
pub(crate) const POLL_MAX: u64 = 300;

#[utoipa::path(get, path = "/healthz", tag = "native",
    responses((status = 200, description = "The daemon is up", body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "native", responses(
    (status = 200, description = "An inventory is in and libvirt was reachable at the last refresh", body = ReadyBody),
    (status = 503, description = "No inventory yet, or libvirt unreachable")))]
pub async fn readyz(State(shared): State<Arc<Shared>>) -> Result<Json<ReadyBody>, Fault> {
    let view = shared.current();
    ready(&view)?;
    let health = shared.health();
    if let Some(e) = health.last_error {
        return Err(unavailable(format!(
            "the served inventory is not current (generation {}): {e}",
            view.generation
        )));
    }
    let degraded = health.degraded.into_iter();
    Ok(Json(ReadyBody {
        ready: true,
        generation: view.generation,
        collected_at: view.collected_at.clone(),
        degraded: degraded
            .map(|(source, reason)| Degraded { source, reason })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/v1/interfaces", tag = "native", params(InterfaceFilter), responses(
    (status = 200, description = "Every matching record", body = InterfaceList),
    (status = 400, description = "Unknown filter, bad MAC or unknown problem kind")))]
pub async fn interfaces(
    State(shared): State<Arc<Shared>>,
    Extension(view): Extension<Arc<View>>,
    Query(filter): Query<InterfaceFilter>,
) -> Result<Response, Fault> {
    let view = match filter.wait_for_generation {
        Some(n) => {
            let timeout = filter.timeout.unwrap_or(POLL_DEFAULT);
            if timeout > POLL_MAX {
                return Err(Fault::bad_request(format!(
                    "timeout {timeout} is over the limit of {POLL_MAX} seconds."
                )));
            }
            shared.wait_for(n, Duration::from_secs(timeout)).await
        }
        // A timeout alone waits for nothing: it is accepted and has no effect.
        None => view,
    };
    let mut resp = filtered(&view, &filter)?;
    resp.extensions_mut().insert(view);
    Ok(resp)
}

fn filtered(view: &View, filter: &InterfaceFilter) -> Result<Response, Fault> {
    let view = ready(view)?;
    let unfiltered = filter.domain.is_none()
        && filter.net_id.is_none()
        && filter.mac.is_none()
        && filter.device.is_none()
        && filter.problem.is_none();
    if unfiltered {
        return view
            .all_interfaces_json()
            .map(json_bytes)
            .map_err(|e| Fault::internal(format!("cannot serialize interfaces: {e}")));
    }
    let mac = checked_filters(filter.mac.as_deref(), filter.net_id.as_deref())?;
    let domain_uuid = filter
        .domain
        .as_deref()
        .map(|d| view.domain_by_name_or_uuid(d).map(|d| &d.summary.uuid));
    let matches = |v: &&Arc<Vif>| {
        domain_uuid.is_none_or(|d| d == Some(&v.domain_uuid))
            && filter.net_id.as_deref().is_none_or(|n| {
                v.net_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(n))
            })
            && mac.is_none_or(|m| v.mac_address == Some(m) || v.host_mac == Some(m))
            && filter
                .device
                .as_deref()
                .is_none_or(|d| v.device.as_deref() == Some(d))
            && filter.problem.is_none_or(|p| v.problems.contains(&p))
    };
    let vifs: Vec<&Vif> = view.interfaces().filter(matches).map(|v| &**v).collect();
    list(view, "interfaces", vifs.len(), || vifs.iter())
}

/// The `mac` and `net_id` filters, checked: they take exactly what the OpenAPI document
/// says, a MAC without blanks around it and a (hyphenated) network UUID. Returns the MAC.
pub(crate) fn checked_filters(
    mac: Option<&str>,
    net_id: Option<&str>,
) -> Result<Option<MacAddr>, Fault> {
    let mac = match mac {
        Some(m) if m.trim() != m => return Err(Fault::bad_request(format!("Invalid MAC {m:?}."))),
        Some(m) => Some(
            m.parse::<MacAddr>()
                .map_err(|e| Fault::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    if let Some(n) = net_id {
        super::compute::fields::uuid(n).ok_or_else(|| {
            Fault::bad_request(format!("Invalid net_id {n:?}: it must be a UUID."))
        })?;
    }
    Ok(mac)
}

#[utoipa::path(get, path = "/v1/interfaces/{id}", tag = "native",
    params(("id" = String, Path, description = "Record id (port UUID or vifd's UUID v5)")),
    responses((status = 200, description = "The record", body = InterfaceBody),
              (status = 404, description = "No such record")))]
pub async fn interface(
    Extension(view): Extension<Arc<View>>,
    Path(id): Path<String>,
) -> Result<Response, Fault> {
    let view = ready(&view)?;
    let vif = view
        .vif_by_id(&id)
        .ok_or_else(|| Fault::not_found(format!("Interface {id} could not be found.")))?;
    Ok(Json(InterfaceBody { interface: vif }).into_response())
}

#[utoipa::path(get, path = "/v1/domains", tag = "native",
    responses((status = 200, description = "Every domain", body = DomainList)))]
pub async fn domains(Extension(view): Extension<Arc<View>>) -> Result<Response, Fault> {
    let view = ready(&view)?;
    list(view, "domains", view.domain_count(), || {
        view.domains().map(|d| &d.summary)
    })
}

#[utoipa::path(get, path = "/v1/domains/{domain}/interfaces", tag = "native",
    params(("domain" = String, Path, description = "Domain name or UUID")),
    responses((status = 200, description = "The domain's records", body = InterfaceList),
              (status = 404, description = "No such domain")))]
pub async fn domain_interfaces(
    Extension(view): Extension<Arc<View>>,
    Path(domain): Path<String>,
) -> Result<Response, Fault> {
    let view = ready(&view)?;
    let found = view
        .domain_by_name_or_uuid(&domain)
        .ok_or_else(|| Fault::not_found(format!("Domain {domain} could not be found.")))?;
    list(view, "interfaces", found.interfaces.len(), || {
        found.interfaces.iter()
    })
}

#[utoipa::path(get, path = "/v1/problems", tag = "native",
    responses((status = 200, description = "Every problem, as `vifd check --json` prints them", body = ProblemList)))]
pub async fn problems(Extension(view): Extension<Arc<View>>) -> Result<Response, Fault> {
    let view = ready(&view)?;
    list(view, "problems", view.problem_count(), || view.problems())
}

/// The view, unless no inventory has been taken yet.
pub(super) fn ready(view: &View) -> Result<&View, Fault> {
    if view.generation == 0 {
        Err(unavailable(
            "no inventory has been taken yet; retry shortly",
        ))
    } else {
        Ok(view)
    }
}

fn unavailable(message: impl Into<String>) -> Fault {
    Fault::new(StatusCode::SERVICE_UNAVAILABLE, message)
}

fn list<F, I>(view: &View, key: &str, count: usize, items: F) -> Result<Response, Fault>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    list_body(view.generation, &view.collected_at, key, count, items)
        .map(json_bytes)
        .map_err(|e| Fault::internal(format!("cannot serialize {key}: {e}")))
}

fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
