//! `GET /metrics`: every exposition is parsed by the Prometheus Python client's own
//! parsers (tests/common/metrics.rs; a missing parser fails the test): OpenMetrics,
//! asked for with `Accept`, and the classic text format served by default. First over a
//! view built from fixtures, driven in-process; then from real daemons: counters moved
//! by traffic through a veth, and the OVSDB source going down with its server.
//! tests/prometheus.rs has `promtool` and a real Prometheus read them.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use common::daemon::Daemon;
use common::metrics::{
    parse, parse_classic, sample_lines, samples, value, ACCEPT_OPEN_METRICS, CLASSIC,
    OPEN_METRICS as CONTENT_TYPE,
};
use common::ovsdb::OvsdbServer;
use common::{fixture, fixture_path, TestNs};
use vifd::api::{router, RouterOptions};
use vifd::inventory::{Shared, View};
use vifd::libvirt::{parse_domain_xml, Domain, DomainState, Network, Snapshot};
use vifd::mac::MacAddr;
use vifd::netlink::{DeviceKind, HostDevice, LinkStats};
use vifd::{correlate, Correlation, ProblemKind};

const GENERATION: u64 = 7;
const LAB_NAME: &str = r#"lab "blue" \ vm"#;
const KINDS: [&str; 17] = [
    "device-missing",
    "mac-mismatch",
    "wrong-master",
    "no-carrier",
    "orphan-device",
    "ovsdb-mismatch",
    "port-unbound",
    "ovn-port-missing",
    "ovn-unbound",
    "ovn-bound-elsewhere",
    "ovn-requested-elsewhere",
    "ovn-not-installed",
    "ovn-port-down",
    "device-id-mismatch",
    "net-id-mismatch",
    "ovn-metadata-missing",
    "ovn-chassis-missing",
];
const COUNTERS: [&str; 8] = [
    "vifd_interface_receive_bytes",
    "vifd_interface_receive_packets",
    "vifd_interface_receive_errors",
    "vifd_interface_receive_drops",
    "vifd_interface_transmit_bytes",
    "vifd_interface_transmit_packets",
    "vifd_interface_transmit_errors",
    "vifd_interface_transmit_drops",
];

// ---------------------------------------------------------------------------------------
// A view from fixtures, through the router

fn domain(xml: &str, state: DomainState) -> Domain {
    let parsed = parse_domain_xml(&fixture(xml)).unwrap_or_else(|e| panic!("{xml}: {e}"));
    Domain {
        uuid: parsed.uuid.expect("fixture has a uuid"),
        name: parsed.name.expect("fixture has a name"),
        state,
        interfaces: parsed.interfaces,
        disks: parsed.disks,
        nova: parsed.nova,
        guest_addresses: vec![],
    }
}

fn device(ifindex: u32, name: &str, kind: DeviceKind, master: Option<&str>) -> HostDevice {
    HostDevice {
        ifindex,
        name: name.into(),
        kind,
        mac: Some(MacAddr([0xfe, 0, 0, 0, 0, ifindex as u8])),
        master: master.map(String::from),
        operstate: "up".into(),
        carrier: Some(true),
        admin_up: true,
        mtu: Some(1500),
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
}

/// Distinct counters per device, so a value read under the wrong labels shows.
fn stats(seed: u64) -> LinkStats {
    LinkStats {
        rx_bytes: seed * 1000 + 1,
        rx_packets: seed * 1000 + 2,
        rx_errors: seed * 1000 + 3,
        rx_dropped: seed * 1000 + 4,
        tx_bytes: seed * 1000 + 5,
        tx_packets: seed * 1000 + 6,
        tx_errors: seed * 1000 + 7,
        tx_dropped: seed * 1000 + 8,
    }
}

/// The Nova server of api/server.xml and metrics/lab.xml, both running: two taps with
/// counters, one without, one missing, one orphan (and wrong MACs: the made-up ones).
fn view() -> View {
    let snap = Snapshot {
        domains: vec![
            domain("api/server.xml", DomainState::Running),
            domain("metrics/lab.xml", DomainState::Running),
        ],
        networks: vec![Network {
            name: "physnet".into(),
            uuid: "0d4c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d".into(),
            bridge: Some("br-phys".into()),
            active: true,
            leases: vec![],
            hosts: vec![],
        }],
    };
    let mut devices = vec![
        device(20, "br-phys", DeviceKind::Bridge, None),
        device(21, "tap4e6a8c0e-2f", DeviceKind::Tap, None),
        device(22, "tap9c1e3a5c-7e", DeviceKind::Tap, Some("br-phys")),
        device(30, "br-lab", DeviceKind::Bridge, None),
        device(31, "taplab-1", DeviceKind::Tap, Some("br-lab")),
        device(40, "tapdeadbeef-00", DeviceKind::Tap, None),
    ];
    devices[1].stats = Some(stats(1));
    devices[4].stats = Some(stats(2));
    let corr = Correlation::new(snap, devices, Default::default());
    View::build(GENERATION, SystemTime::now(), corr.everything())
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn request(shared: &Arc<Shared>, method: Method, path: &str) -> Reply {
    request_accepting(shared, method, path, Some(ACCEPT_OPEN_METRICS.1)).await
}

async fn request_accepting(
    shared: &Arc<Shared>,
    method: Method,
    path: &str,
    accept: Option<&str>,
) -> Reply {
    let app = router(shared.clone(), RouterOptions::default());
    let mut req = Request::builder().method(method).uri(path);
    if let Some(accept) = accept {
        req = req.header(header::ACCEPT, accept);
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8"),
    }
}

/// A shared view as the serve loop leaves it: libvirt and netlink up, no OVSDB, the
/// last inventory 250 ms.
fn shared() -> Arc<Shared> {
    let shared = Shared::with_view(view());
    shared.update_sources(|s| {
        s.libvirt = true;
        s.netlink = true;
        s.inventory_duration = Some(Duration::from_millis(250));
    });
    shared
}

async fn scrape(shared: &Arc<Shared>) -> Vec<Value> {
    let r = request(shared, Method::GET, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], CONTENT_TYPE);
    assert!(r.body.ends_with("\n# EOF\n"), "ends with # EOF: {}", r.body);
    parse(&r.body)
}

#[tokio::test]
async fn every_family_is_present_with_its_type() {
    let families = scrape(&shared()).await;
    let mut expected: Vec<(&str, &str, &str)> = vec![
        ("vifd_interface", "info", ""),
        ("vifd_problems", "gauge", ""),
        ("vifd_generation", "gauge", ""),
        ("vifd_inventory_stale", "gauge", ""),
        ("vifd_source_up", "gauge", ""),
        ("vifd_inventory_duration_seconds", "gauge", "seconds"),
        ("vifd_heap_in_use_bytes", "gauge", "bytes"),
        ("vifd_heap_free_bytes", "gauge", "bytes"),
        ("vifd_build", "info", ""),
    ];
    for c in COUNTERS {
        let unit = if c.ends_with("_bytes") { "bytes" } else { "" };
        expected.push((c, "counter", unit));
    }
    let got: Vec<(&str, &str, &str)> = families
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap();
            (s("name"), s("type"), s("unit"))
        })
        .collect();
    let (mut want, mut have) = (expected, got);
    want.sort();
    have.sort();
    assert_eq!(have, want);
    assert_eq!(value(&families, "vifd_generation", &[]), GENERATION as f64);
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(value(&families, "vifd_build_info", &version), 1.0);
    assert!(value(&families, "vifd_heap_in_use_bytes", &[]) > 0.0);
}

#[tokio::test]
async fn info_series_match_the_records() {
    let shared = shared();
    let families = scrape(&shared).await;
    let view = shared.current();
    let info = samples(&families, "vifd_interface_info", &[]);
    assert_eq!(info.len(), view.interface_count(), "{info:?}");
    for v in view.interfaces() {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let mac = v.mac_address.map(|m| m.to_string()).unwrap_or_default();
        let labels = serde_json::json!({
            "domain_uuid": v.domain_uuid, "domain_name": v.domain_name, "mac": mac,
            "device": s(&v.device), "type": v.kind, "net_id": s(&v.net_id),
            "port_id": s(&v.port_id), "master": s(&v.master),
        });
        let found = info.iter().filter(|i| i["labels"] == labels).count();
        assert_eq!(found, 1, "{labels} in {info:?}");
    }
    // The name that needs escaping came through the parser intact.
    let lab = samples(
        &families,
        "vifd_interface_info",
        &[("domain_name", LAB_NAME)],
    );
    assert_eq!(lab.len(), 2, "{info:?}");
}

#[tokio::test]
async fn counters_are_the_devices_for_records_that_have_them() {
    let families = scrape(&shared()).await;
    let taps = [("tap4e6a8c0e-2f", stats(1)), ("taplab-1", stats(2))];
    for (name, field) in COUNTERS.iter().zip(0..) {
        let total = format!("{name}_total");
        assert_eq!(samples(&families, &total, &[]).len(), taps.len(), "{name}");
        for (device, st) in &taps {
            let want = [
                st.rx_bytes,
                st.rx_packets,
                st.rx_errors,
                st.rx_dropped,
                st.tx_bytes,
                st.tx_packets,
                st.tx_errors,
                st.tx_dropped,
            ][field];
            assert_eq!(value(&families, &total, &[("device", device)]), want as f64);
        }
    }
    let total = format!("{}_total", COUNTERS[0]);
    let lab = samples(&families, &total, &[("device", "taplab-1")]);
    let labels = &lab[0]["labels"];
    assert_eq!(labels["domain_name"], LAB_NAME);
    assert_eq!(
        labels["domain_uuid"],
        "7d0c5a1e-3b2f-4e8d-9c6a-1f2e3d4c5b6a"
    );
    assert_eq!(labels["mac"], "52:54:00:aa:00:01");
    assert_eq!(labels.as_object().unwrap().len(), 4, "{labels}");
}

#[tokio::test]
async fn problems_have_a_series_per_kind_counting_the_inventorys() {
    let shared = shared();
    let families = scrape(&shared).await;
    let view = shared.current();
    assert_eq!(samples(&families, "vifd_problems", &[]).len(), KINDS.len());
    for kind in KINDS {
        let kind: ProblemKind = serde_json::from_value(Value::from(kind)).unwrap();
        let want = view.problems().filter(|p| p.kind == kind).count();
        let got = value(&families, "vifd_problems", &[("kind", kind.as_str())]);
        assert_eq!(got, want as f64, "{kind}");
    }
    // The fixture has some of each side, so the counts are not all zero.
    let missing = value(&families, "vifd_problems", &[("kind", "device-missing")]);
    let orphans = value(&families, "vifd_problems", &[("kind", "orphan-device")]);
    assert_eq!((missing, orphans), (1.0, 1.0));
}

#[tokio::test]
async fn sources_and_inventory_duration_are_as_last_recorded() {
    let shared = shared();
    let families = scrape(&shared).await;
    let up = |f: &[Value], source| value(f, "vifd_source_up", &[("source", source)]);
    assert_eq!(
        (up(&families, "libvirt"), up(&families, "netlink")),
        (1.0, 1.0)
    );
    assert!(samples(&families, "vifd_source_up", &[("source", "ovsdb")]).is_empty());
    let duration = value(&families, "vifd_inventory_duration_seconds", &[]);
    assert_eq!(duration, 0.25);

    // Sources change without a new view: the next scrape shows them all the same.
    shared.update_sources(|s| {
        s.libvirt = false;
        s.ovsdb = Some(false);
    });
    let families = scrape(&shared).await;
    assert_eq!(
        (up(&families, "libvirt"), up(&families, "ovsdb")),
        (0.0, 0.0)
    );
}

#[tokio::test]
async fn by_default_the_classic_format_carries_the_same_samples() {
    let shared = shared();
    let openmetrics = scrape(&shared).await;
    let r = request_accepting(&shared, Method::GET, "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], CLASSIC);
    assert_eq!(r.headers[header::VARY], "accept");
    assert!(
        !r.body.contains("# EOF") && !r.body.contains("# UNIT"),
        "{}",
        r.body
    );
    for line in [
        "# TYPE vifd_interface_info gauge",
        "# TYPE vifd_build_info gauge",
    ] {
        assert!(r.body.contains(line), "{line}: {}", r.body);
    }
    let classic = parse_classic(&r.body);
    assert_eq!(sample_lines(&classic), sample_lines(&openmetrics));
}

#[tokio::test]
async fn stale_sources_have_a_series_each() {
    let stale =
        |families: &[Value], source| value(families, "vifd_inventory_stale", &[("source", source)]);
    let families = scrape(&shared()).await;
    for source in ["libvirt", "ovn", "ovsdb", "libvirt-network"] {
        assert_eq!(stale(&families, source), 0.0, "{source}");
    }
    let mut old = view();
    old.stale = true;
    let families = scrape(&Shared::with_view(old)).await;
    assert_eq!(stale(&families, "libvirt"), 1.0);
    assert_eq!(stale(&families, "ovsdb"), 0.0);
}

#[tokio::test]
async fn each_format_is_rendered_once_per_view() {
    let shared = shared();
    let timing = |r: &Reply| r.headers["server-timing"].to_str().unwrap().to_string();
    let classic = || request_accepting(&shared, Method::GET, "/metrics", None);
    let openmetrics = || request(&shared, Method::GET, "/metrics");
    assert!(timing(&classic().await).starts_with("render;"));
    assert_eq!(timing(&classic().await), "cache;desc=hit");
    assert!(timing(&openmetrics().await).starts_with("render;"));
    assert_eq!(timing(&openmetrics().await), "cache;desc=hit");
}

#[tokio::test]
async fn a_view_is_rendered_once_then_served_from_cache() {
    let shared = shared();
    let timing = |r: &Reply| r.headers["server-timing"].to_str().unwrap().to_string();
    let first = request(&shared, Method::GET, "/metrics").await;
    assert!(
        timing(&first).starts_with("render;dur="),
        "{}",
        timing(&first)
    );
    let second = request(&shared, Method::GET, "/metrics").await;
    assert_eq!(timing(&second), "cache;desc=hit");
    // The same but for the heap's bytes, read at each request.
    let without_heap = |body: &str| -> Vec<String> {
        let lines = body.lines().filter(|l| !l.starts_with("vifd_heap_"));
        lines.map(str::to_string).collect()
    };
    assert_eq!(without_heap(&first.body), without_heap(&second.body));
    assert_eq!(first.headers["x-vifd-generation"], "7");
}

#[tokio::test]
async fn head_answers_without_a_body_and_other_methods_are_refused() {
    let shared = shared();
    let head = request(&shared, Method::HEAD, "/metrics").await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[header::CONTENT_TYPE], CONTENT_TYPE);
    assert!(head.body.is_empty());
    let post = request(&shared, Method::POST, "/metrics").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(post.body.contains("badMethod"), "{}", post.body);
}

#[tokio::test]
async fn before_the_first_inventory_metrics_still_answer() {
    let families = scrape(&Shared::new()).await;
    assert_eq!(value(&families, "vifd_generation", &[]), 0.0);
    assert!(samples(&families, "vifd_interface_info", &[]).is_empty());
    assert_eq!(samples(&families, "vifd_problems", &[]).len(), KINDS.len());
    let up = value(&families, "vifd_source_up", &[("source", "libvirt")]);
    assert_eq!(up, 0.0);
    assert!(samples(&families, "vifd_inventory_duration_seconds", &[]).is_empty());
}

#[tokio::test]
async fn a_nic_repeated_in_one_domain_is_one_series() {
    let snap = Snapshot {
        domains: vec![domain("metrics/twins.xml", DomainState::Running)],
        networks: vec![],
    };
    let mut tap = device(50, "taptwin", DeviceKind::Tap, Some("br-lab"));
    tap.stats = Some(stats(3));
    let devices = [device(30, "br-lab", DeviceKind::Bridge, None), tap];
    let inv = correlate(&snap, &devices, &Default::default());
    assert_eq!(inv.interfaces.len(), 2, "two records for the two NICs");
    let corr = Correlation::new(snap, devices.to_vec(), Default::default());
    let view = View::build(GENERATION, SystemTime::now(), corr.everything());
    // The parse script fails on a repeated series.
    let families = scrape(&Shared::with_view(view)).await;
    assert_eq!(samples(&families, "vifd_interface_info", &[]).len(), 1);
    let total = format!("{}_total", COUNTERS[0]);
    assert_eq!(samples(&families, &total, &[]).len(), 1);
}

// ---------------------------------------------------------------------------------------
// Real daemons

use common::traffic::{send, MAC, PAYLOAD, SENT};

fn scrape_daemon(d: &Daemon) -> Vec<Value> {
    let r = common::http::get(d.addr(), "/metrics", &[ACCEPT_OPEN_METRICS]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
    parse(&r.body)
}

/// (packets, bytes) the host device received, as /metrics says.
fn received(families: &[Value]) -> (f64, f64) {
    let vif = [("device", "vc-host"), ("mac", MAC)];
    (
        value(families, "vifd_interface_receive_packets_total", &vif),
        value(families, "vifd_interface_receive_bytes_total", &vif),
    )
}

#[test]
fn counters_move_when_traffic_crosses_the_vifs_veth() {
    let (host, far) = common::traffic::veth("met");
    let uri = format!("test://{}", fixture_path("identity/counters.xml"));
    let d = Daemon::on_loopback(&[
        "--libvirt-uri",
        &uri,
        "--netns",
        &host.name,
        "--refresh",
        "3600",
        "--poll-interval",
        "1",
        // No ovsdb resolver: no ovsdb source to report.
        "--resolvers",
        "libvirt-network,nova-metadata,linuxbridge,config",
        // Logs "counters changed" once new counters are served: the event to wait on.
        "--log-level",
        "warn,vifd::serve::live=debug",
    ]);
    let first = scrape_daemon(&d);
    let up = |f: &[Value], source| value(f, "vifd_source_up", &[("source", source)]);
    assert_eq!((up(&first, "libvirt"), up(&first, "netlink")), (1.0, 1.0));
    assert!(samples(&first, "vifd_source_up", &[("source", "ovsdb")]).is_empty());
    let info = [("device", "vc-host"), ("mac", MAC), ("type", "ethernet")];
    assert_eq!(value(&first, "vifd_interface_info", &info), 1.0);
    assert!(value(&first, "vifd_inventory_duration_seconds", &[]) > 0.0);

    let before = received(&first);
    send(&far);
    let (packets, bytes) = (
        before.0 + SENT as f64,
        before.1 + (SENT as usize * PAYLOAD) as f64,
    );
    d.until_logged(
        "the counters in /metrics",
        "counters changed",
        Duration::from_secs(20),
        || {
            let now = received(&scrape_daemon(&d));
            now.0 >= packets && now.1 >= bytes
        },
    );
}

#[test]
fn ovsdb_source_goes_down_with_its_server_and_back() {
    let mut server = OvsdbServer::new();
    let ns = TestNs::new("metovs");
    let uri = format!("test://{}", fixture_path("identity/counters.xml"));
    let addr = server.addr();
    let d = Daemon::on_loopback(&[
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--refresh",
        "3600",
        "--ovsdb",
        &addr,
        "--log-level",
        "warn,vifd::serve::live=debug",
    ]);
    let ovsdb = |d: &Daemon| value(&scrape_daemon(d), "vifd_source_up", &[("source", "ovsdb")]);
    // The daemon logs "ovsdb source state changed" once /metrics says so.
    let changed = "ovsdb source state changed";
    d.until_logged("ovsdb up", changed, Duration::from_secs(20), || {
        ovsdb(&d) == 1.0
    });
    server.stop();
    d.until_logged("ovsdb down", changed, Duration::from_secs(20), || {
        ovsdb(&d) == 0.0
    });
    server.start();
    // The monitor retries with a backoff capped at 5 s.
    d.until_logged("ovsdb up again", changed, Duration::from_secs(30), || {
        ovsdb(&d) == 1.0
    });
}
