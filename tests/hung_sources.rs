//! A hung ovsdb-server or etcd (SIGSTOPped under HTTP load: its socket still accepts,
//! it just never answers) stalls nothing: host-side changes still reach `/v1/watch`
//! within the p99 budget, `/readyz` stays 200 and names the source with why, no request
//! fails, and once it continues it is current again (OVSDB's values turn stale
//! meanwhile, once vifd's echo goes unanswered). The hung libvirtd is
//! tests/hung_libvirtd.rs. One test at a time: each measures latency.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::etcd::{self, Etcd};
use common::http::get;
use common::hung::{master_toggles, p99, Load, Stopped, WATCH_P99};
use common::identity::{setup_on, tap_of, NET_A, P1, P3};
use common::record_by_mac;
use common::sse::Sse;
use serde_json::{json, Value};

/// vifd probes a silent OVSDB session after 2 s and gives it 2 s more: stale by 4 s
/// after the last message, with room for a loaded machine.
const STALE_WITHIN: Duration = Duration::from_secs(10);
const M1: &str = "fa:16:3e:20:00:01";

fn served(addr: std::net::SocketAddr) -> Value {
    let body = get(addr, "/v1/interfaces", &[]).json();
    record_by_mac(&body, M1).clone()
}

#[test]
fn a_hung_ovsdb_server_stalls_nothing_and_its_values_turn_stale() {
    let _one = common::one_at_a_time();
    let (ns, ovs) = setup_on("netdev");
    ns.batch("link add br-hung type bridge\n");
    let uri = format!("test://{}", common::fixture_path("identity/node.xml"));
    let mut d = Daemon::on_loopback(&[
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--ovsdb",
        &ovs.addr(),
        "--refresh",
        "3600",
    ]);
    let addr = d.addr();
    d.until("the OVSDB values served", Duration::from_secs(20), || {
        served(addr)["net_id"] == NET_A
    });
    let load = Load::start(addr, &["/v1/interfaces", "/v1/problems", "/metrics"]);
    let mut sse = Sse::open(addr, "/v1/watch");
    assert_eq!(sse.next(Duration::from_secs(10)).unwrap().kind, "snapshot");
    let tap3 = tap_of(P3);
    let before = p99(&master_toggles(
        &mut sse,
        Some(&ns.name),
        &tap3,
        "br-hung",
        10,
    ));

    let stopped = Stopped::new(ovs.pid());
    d.until("stale OVSDB values, named by /readyz", STALE_WITHIN, || {
        let ready = get(addr, "/readyz", &[]);
        let degraded = ready.json()["degraded"].clone();
        ready.status == 200
            && degraded[0]["source"] == "ovsdb"
            && degraded[0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("hung?"))
            && served(addr)["stale_sources"] == json!(["ovsdb"])
    });
    let to_stale = stopped.since.elapsed();
    let r = served(addr);
    assert_eq!(
        (r["net_id"].as_str(), r["port_id"].as_str()),
        (Some(NET_A), Some(P1))
    );

    let hung = master_toggles(&mut sse, Some(&ns.name), &tap3, "br-hung", 50);
    let during = p99(&hung);
    eprintln!(
        "ovsdb-server stopped -> stale: {to_stale:?}; tap change -> /v1/watch p99: {during:?} \
         while hung ({} changes), {before:?} before",
        hung.len()
    );
    assert!(
        during <= WATCH_P99,
        "p99 {during:?} over {WATCH_P99:?} while ovsdb-server hangs: {hung:?}"
    );

    drop(stopped);
    let resumed = Instant::now();
    ovs.vsctl(&["set", "Port", &tap_of(P1), "tag=9"]);
    d.until("OVSDB current again", Duration::from_secs(20), || {
        let r = served(addr);
        let ready = get(addr, "/readyz", &[]).json();
        r["vlan"] == 9 && r["stale_sources"] == json!([]) && ready["degraded"] == json!([])
    });
    eprintln!("after SIGCONT, a change served in {:?}", resumed.elapsed());
    let seen = load.finish();
    eprintln!("HTTP load: {} requests", seen.requests);
    assert!(seen.errors.is_empty(), "server errors: {:#?}", seen.errors);
    assert!(d.child.status().is_none(), "the daemon kept running");
    assert!(d.stop().success());
}

fn degraded(addr: std::net::SocketAddr) -> Value {
    let ready = get(addr, "/readyz", &[]);
    assert_eq!(ready.status, 200, "{}", ready.body);
    ready.json()["degraded"].clone()
}

#[test]
fn a_hung_etcd_stalls_nothing_and_readyz_names_the_fleet() {
    if !etcd::available() {
        return;
    }
    let _one = common::one_at_a_time();
    let mut etcd = Etcd::start("hung");
    let (ns, uri) = common::demo_host("hung");
    // The publisher logs (at info) each time it starts or stops publishing: the events
    // the waits below are on, the sources' health moving no generation.
    let fleet = [
        "--fleet-etcd",
        &etcd.client_url,
        "--fleet-host",
        "hv-hung",
        "--log-level",
        "warn,vifd::fleet::publisher=info",
    ];
    let mut d = Daemon::on_demo_ns(&ns, &uri, &fleet);
    let addr = d.addr();
    d.until_logged("publishing", "fleet:", Duration::from_secs(20), || {
        degraded(addr) == json!([])
    });
    let load = Load::start(addr, &["/v1/interfaces", "/v1/problems", "/metrics"]);
    let mut sse = Sse::open(addr, "/v1/watch");
    assert_eq!(sse.next(Duration::from_secs(10)).unwrap().kind, "snapshot");
    let (tap, bridge) = ("tap3f9c2a41-7b", "br-demo");
    let before = p99(&master_toggles(&mut sse, Some(&ns.name), tap, bridge, 10));

    // Every change below is a write the hung etcd never answers.
    etcd.pause();
    let paused = Instant::now();
    let hung = master_toggles(&mut sse, Some(&ns.name), tap, bridge, 50);
    let during = p99(&hung);
    d.until_logged(
        "/readyz to name the fleet",
        "fleet:",
        Duration::from_secs(20),
        || degraded(addr)[0]["source"] == "fleet",
    );
    eprintln!(
        "etcd stopped -> /readyz names the fleet: {:?}; tap change -> /v1/watch p99: \
         {during:?} while hung ({} changes), {before:?} before",
        paused.elapsed(),
        hung.len()
    );
    assert!(
        during <= WATCH_P99,
        "p99 {during:?} over {WATCH_P99:?} while etcd hangs: {hung:?}"
    );
    etcd.resume();
    d.until_logged(
        "publishing again",
        "fleet:",
        Duration::from_secs(20),
        || degraded(addr) == json!([]),
    );
    let seen = load.finish();
    eprintln!("HTTP load: {} requests", seen.requests);
    assert!(seen.errors.is_empty(), "server errors: {:#?}", seen.errors);
    assert!(d.child.status().is_none(), "the daemon kept running");
}
