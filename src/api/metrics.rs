//! `GET /metrics`: the inventory in the Prometheus text format 0.0.4 (`text/plain;
//! version=0.0.4`) or, when `Accept` asks for it, as OpenMetrics 1.0.0
//! (`application/openmetrics-text; version=1.0.0`; see `negotiate` for the rules, those
//! of client_golang). Encoded with the prometheus-client crate, which writes OpenMetrics;
//! the classic format is rewritten from it (`classic`). The families below are named as
//! OpenMetrics names them; in the classic format an info family `x` is the gauge
//! `x_info` (value 1) and a counter family `x` is the counter `x_total`, which are the
//! sample names in both formats, so queries are the same whichever a scraper reads.
//!
//! Families:
//! - `vifd_interface_info{domain_uuid, domain_name, mac, device, type, net_id, port_id,
//!   master}`: one per record; `mac` is the guest MAC, `device` and `master` the host
//!   device and its bridge. An unknown value is the empty string, never a missing label.
//! - `vifd_interface_{receive,transmit}_{bytes,packets,errors,drops}_total{domain_uuid,
//!   domain_name, mac, device}`: the host device's counters (`IFLA_STATS64`), for the
//!   records that have a device with counters. They are the device's own view, as
//!   `ip -s link` and node_exporter show it: `receive` is what the guest sent. (libvirt's
//!   `domifstat`, and so the libvirt exporters, swap them to the guest's view.)
//! - `vifd_problems{kind}`: problems found now, one sample per kind, zeros included.
//! - `vifd_generation`: the generation served.
//! - `vifd_inventory_stale{source}`: 1 while what is served shows last known values of
//!   `source`, which cannot be read now: `libvirt` (the guest side is the last one read),
//!   `ovn`, `ovsdb`, `libvirt-network` (some record shows that source's last values). One
//!   sample per source, zeros included. `vifd_source_up` says a source is down; this says
//!   the inventory is out of date because of it (the alert `VifdInventoryStale`).
//! - `vifd_source_up{source}`: `libvirt` 1 when the last read of it succeeded; `netlink`
//!   1 when the link watcher runs and has applied a link table; `ovsdb` 1 while the
//!   monitor is connected. `ovsdb` has no sample when the resolver is off, or when the
//!   default socket was absent at start and no server has been seen since: a host
//!   without Open vSwitch has nothing to alert on. Once configured or seen, 0 whenever
//!   the monitor is disconnected. `ovn` 1 while the Southbound monitor is connected; no
//!   sample when the host is not an OVN chassis (no `ovn-remote`, no `--ovn-sb`).
//!   `fleet` 1 while the fleet publisher is connected to etcd; no sample when the fleet
//!   is off (no `--fleet-etcd`).
//! - `vifd_fleet_conflicts_total`: times the fleet publisher found another writer on its
//!   host's keys (two agents with one host name); only when the fleet is on.
//! - `vifd_inventory_duration_seconds`: wall time of the last successful full read of
//!   libvirt (every domain's XML, networks and leases) plus correlating it with the link
//!   table and publishing the view. No sample before the first one.
//! - `vifd_heap_in_use_bytes`, `vifd_heap_free_bytes`: the allocator's (glibc's) count
//!   of heap memory in use, and of memory freed but still held in its arenas (in RSS
//!   unless its pages were returned: `vifd serve` and `vifd fleet serve` return them
//!   once resident memory beyond the heap in use has grown by 1 MiB). A leak grows the
//!   first. No samples with another allocator.
//! - `vifd_build_info{version}`.
//!
//! Counter labels: node_exporter names a device `device`; the libvirt exporters name the
//! same tap `target_device` next to `domain` (the name). vifd keeps `device` (a join
//! with node_exporter needs no relabelling, and a libvirt exporter's `target_device` is
//! one `label_replace` away), adds `domain_uuid` (names are not unique across hosts and
//! change on rename) and the guest `mac`, and reuses the info metric's names, so
//! `... * on(domain_uuid, mac, device) group_left(net_id, port_id) vifd_interface_info`
//! joins counters to networks and ports.
//!
//! Cost: the view-dependent families are rendered at most once per view and format
//! (counters publish a new view, with the same generation, at every poll that moves
//! them), on first request in that format, on a blocking thread, holding no lock; the
//! source families, a few lines, at each request. The `Server-Timing` header says which:
//! `render;dur=MS` or `cache;desc=hit`.

mod classic;
mod inventory;
mod labels;
mod negotiate;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::fault::Fault;
use crate::heap::{self, HeapStats};
use crate::inventory::{Shared, Sources, View};
use labels::Esc;
pub use negotiate::{Format, CLASSIC as CLASSIC_CONTENT_TYPE, OPEN_METRICS as CONTENT_TYPE};

// `Accept` is not declared as a parameter: OpenAPI ignores a header parameter of that
// name; the two media types of the 200 say what it chooses between.
#[utoipa::path(get, path = "/metrics", tag = "native",
    responses(
    (status = 200, description = "The inventory's metrics, in the format `Accept` asked for: \
        `application/openmetrics-text` (version 1.0.0, 0.0.1 or none) gets OpenMetrics; \
        anything else, or no header, the text format 0.0.4",
        content(
            (String = "text/plain; version=0.0.4; charset=utf-8"),
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"))),
    (status = 500, description = "The exposition could not be encoded")))]
pub async fn metrics(
    State(shared): State<Arc<Shared>>,
    Extension(view): Extension<Arc<View>>,
    headers: HeaderMap,
) -> Result<Response, Fault> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let (inventory, timing) = inventory_text(view, format).await?;
    let sources = sources_text(&shared.sources(), format).map_err(encode_fault)?;
    // Two chunks, not one copy: the cached part is megabytes. The length is known, so
    // it is declared rather than chunked.
    let length = inventory.len() + sources.len();
    let chunks = [inventory, Bytes::from(sources)].map(Ok::<_, Infallible>);
    let headers = [
        (header::CONTENT_TYPE, format.content_type().to_string()),
        (header::CONTENT_LENGTH, length.to_string()),
        // The answer depends on Accept: a cache must not serve one format for the other.
        (header::VARY, "accept".to_string()),
        (header::HeaderName::from_static("server-timing"), timing),
    ];
    let body = Body::from_stream(futures::stream::iter(chunks));
    Ok((headers, body).into_response())
}

fn encode_fault(e: impl fmt::Display) -> Fault {
    Fault::internal(format!("cannot encode metrics: {e}"))
}

/// The view's families in `format`, from its cache or rendered now, and the
/// `Server-Timing` value.
async fn inventory_text(view: Arc<View>, format: Format) -> Result<(Bytes, String), Fault> {
    if let Some(done) = view.metrics_cache()[format.slot()].get() {
        return done
            .clone()
            .map(|b| (b, "cache;desc=hit".into()))
            .map_err(encode_fault);
    }
    let started = Instant::now();
    // Thousands of records take milliseconds: off the runtime's worker threads.
    let rendered = tokio::task::spawn_blocking(move || {
        view.metrics_cache()[format.slot()]
            .get_or_init(|| render(view.clone(), format))
            .clone()
    })
    .await
    .map_err(encode_fault)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((
        rendered.map_err(encode_fault)?,
        format!("render;dur={ms:.3}"),
    ))
}

fn render(view: Arc<View>, format: Format) -> Result<Bytes, String> {
    let openmetrics = inventory::render(view).map_err(|e| e.to_string())?;
    Ok(Bytes::from(in_format(openmetrics, format)))
}

/// OpenMetrics text as `format` has it.
fn in_format(openmetrics: String, format: Format) -> String {
    match format {
        Format::OpenMetrics => openmetrics,
        Format::Classic => classic::from_openmetrics(&openmetrics),
    }
}

/// The per-request families (and `# EOF` in OpenMetrics).
fn sources_text(sources: &Sources, format: Format) -> Result<String, fmt::Error> {
    let mut out = String::with_capacity(1024);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SourceFamilies(*sources, heap::stats())));
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(in_format(out, format))
}

#[derive(Debug)]
struct SourceFamilies(Sources, Option<HeapStats>);

impl Collector for SourceFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let mut m = encoder.encode_descriptor(
            "vifd_source_up",
            "1 when vifd reads this source now, 0 when it cannot.",
            None,
            MetricType::Gauge,
        )?;
        let states = [
            ("libvirt", Some(s.libvirt)),
            ("netlink", Some(s.netlink)),
            ("ovsdb", s.ovsdb),
            ("ovn", s.ovn),
            ("fleet", s.fleet),
        ];
        for (source, up) in states {
            let Some(up) = up else { continue };
            let labels = [("source", Esc(source))];
            ConstGauge::new(i64::from(up)).encode(m.encode_family(&labels)?)?;
        }
        let seconds = Unit::Seconds;
        let m = encoder.encode_descriptor(
            "vifd_inventory_duration",
            "Seconds the last full inventory took: libvirt read, correlation, publication.",
            Some(&seconds),
            MetricType::Gauge,
        )?;
        if let Some(d) = s.inventory_duration {
            ConstGauge::new(d.as_secs_f64()).encode(m)?;
        }
        if s.fleet.is_some() {
            let m = encoder.encode_descriptor(
                "vifd_fleet_conflicts",
                "Times the fleet publisher found another writer on its host's keys in etcd.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(s.fleet_conflicts).encode(m)?;
        }
        if let Some(h) = self.1 {
            let bytes = Unit::Bytes;
            for (name, help, value) in [
                ("vifd_heap_in_use", "Heap memory allocated and not freed (glibc malloc's count).", h.in_use),
                ("vifd_heap_free", "Heap memory freed but still held by the allocator (in RSS unless its pages were returned to the kernel).", h.free),
            ] {
                let m = encoder.encode_descriptor(name, help, Some(&bytes), MetricType::Gauge)?;
                ConstGauge::new(value as i64).encode(m)?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "vifd_build",
            "The running vifd's version.",
            None,
            MetricType::Info,
        )?;
        m.encode_info(&[("version", Esc(env!("CARGO_PKG_VERSION")))])
    }
}
