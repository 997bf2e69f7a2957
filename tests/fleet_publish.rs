//! `vifd serve --fleet-etcd`: a real daemon on the demo host publishing to a real etcd
//! of the test's own. The keys equal the daemon's own `/v1/interfaces` (counters aside),
//! follow a tap change, are repaired after etcd comes back, and two agents claiming one
//! host name are detected without mixing their records.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::etcd::{self, Etcd};
use common::http::get;
use common::TestNs;
use serde_json::Value;

/// How long etcd may take to show what the daemon serves.
const LIMIT: Duration = Duration::from_secs(30);
/// The tap the demo's domain lacks (record `52:54:00:aa:00:02` has no device).
const DB1: &str = "52:54:00:aa:00:02";
const ADD_DB1: &str =
    "tuntap add dev tap-db1-1 mode tap\nlink set tap-db1-1 address fe:54:00:aa:00:02 master br-demo up\n";

fn prefix(host: &str) -> String {
    format!("/vifd/v1/hosts/{host}/")
}

/// The demo host in `ns` served with the fleet on, publishing as `host`.
fn agent_on(ns: &TestNs, uri: &str, etcd: &Etcd, host: &str) -> Daemon {
    let fleet = ["--fleet-etcd", &etcd.client_url, "--fleet-host", host];
    Daemon::on_demo_ns(ns, uri, &fleet)
}

/// A fresh etcd and a demo host publishing to it as `host`, once its keys are in; `None`
/// (the test skipped) without etcd.
fn setup(tag: &str, host: &str) -> Option<(Etcd, TestNs, Daemon)> {
    if !etcd::available() {
        return None;
    }
    let etcd = Etcd::start(tag);
    let (ns, uri) = common::demo_host(tag);
    let d = agent_on(&ns, &uri, &etcd, host);
    until_etcd(&etcd, "the first sync", || in_sync(&etcd, host, &d));
    Some((etcd, ns, d))
}

/// The daemon's records by id, without counters.
fn served(d: &Daemon) -> BTreeMap<String, Value> {
    common::served_by_id(d.addr())
}

fn published(etcd: &Etcd, host: &str) -> BTreeMap<String, Value> {
    etcd.published(host)
}

/// Waits until etcd's keys make `ok` hold, woken by each change under /vifd/v1/.
fn until_etcd(etcd: &Etcd, what: &str, ok: impl FnMut() -> bool) {
    etcd.until_changed("/vifd/v1/", what, LIMIT, ok);
}

fn in_sync(etcd: &Etcd, host: &str, d: &Daemon) -> bool {
    published(etcd, host) == served(d)
}

fn fleet_up(d: &Daemon) -> Option<u8> {
    let text = get(d.addr(), "/metrics", &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix("vifd_source_up{source=\"fleet\"} "))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn keys_equal_the_served_records_with_meta_and_a_live_lease() {
    let Some((etcd, _ns, d)) = setup("fleetpub", "hv-pub") else {
        return;
    };
    assert_eq!(served(&d).len(), 7, "the demo's records");
    let meta: Value = serde_json::from_str(
        &etcd
            .get_prefix(&format!("{}meta", prefix("hv-pub")))
            .into_values()
            .next()
            .expect("a meta"),
    )
    .unwrap();
    assert_eq!(meta["version"], env!("CARGO_PKG_VERSION"));
    assert!(meta["generation"].as_u64().unwrap() >= 1, "{meta}");
    assert_eq!(meta["stale"]["libvirt"], false, "{meta}");
    for field in ["instance", "boot_time", "started_at", "published_at"] {
        assert!(meta[field].is_string(), "{field}: {meta}");
    }
    let problems = etcd.get_prefix(&format!("{}problems", prefix("hv-pub")));
    assert_eq!(problems.len(), 1, "the host-level problems key");
    let lease = etcd
        .lease_of("/vifd/v1/alive/hv-pub")
        .expect("an alive key");
    assert_ne!(lease, 0, "alive is under a lease");
    assert_eq!(fleet_up(&d), Some(1));
}

#[test]
fn a_tap_change_reaches_etcd() {
    let Some((etcd, ns, d)) = setup("fleetchg", "hv-chg") else {
        return;
    };
    let device_of = |etcd: &Etcd| {
        published(etcd, "hv-chg")
            .into_values()
            .find(|r| r["mac_address"] == DB1)
            .map(|r| r["device"].clone())
    };
    ns.batch(ADD_DB1);
    until_etcd(&etcd, "the new tap in etcd", || {
        device_of(&etcd) == Some(Value::from("tap-db1-1")) && in_sync(&etcd, "hv-chg", &d)
    });
    ns.batch("link del tap-db1-1\n");
    until_etcd(&etcd, "the deleted tap in etcd", || {
        published(&etcd, "hv-chg")
            .into_values()
            .any(|r| r["mac_address"] == DB1 && r["ifindex"].is_null())
            && in_sync(&etcd, "hv-chg", &d)
    });
}

#[test]
fn keys_are_repaired_once_etcd_is_back_and_the_api_never_waits() {
    let Some((mut etcd, ns, d)) = setup("fleetrep", "hv-rep") else {
        return;
    };

    etcd.stop();
    // The gauge is set before the warning is logged.
    let what = "vifd_source_up{source=\"fleet\"} 0";
    d.until_logged(what, "cannot publish to etcd", LIMIT, || {
        fleet_up(&d) == Some(0)
    });
    ns.batch(ADD_DB1);
    let started = Instant::now();
    d.until("the new tap served", LIMIT, || {
        served(&d)
            .values()
            .any(|r| r["mac_address"] == DB1 && r["device"] == "tap-db1-1")
    });
    let quick = Instant::now();
    for _ in 0..10 {
        assert_eq!(get(d.addr(), "/v1/interfaces", &[]).status, 200);
    }
    assert!(
        quick.elapsed() < Duration::from_secs(2),
        "10 requests took {:?} with etcd down",
        quick.elapsed()
    );
    assert_eq!(
        get(d.addr(), "/readyz", &[]).status,
        200,
        "readiness ignores the fleet"
    );
    assert!(started.elapsed() < LIMIT);

    etcd.restart();
    until_etcd(&etcd, "keys repaired after etcd came back", || {
        in_sync(&etcd, "hv-rep", &d) && fleet_up(&d) == Some(1)
    });
    assert!(etcd
        .lease_of("/vifd/v1/alive/hv-rep")
        .is_some_and(|l| l != 0));
}

#[test]
fn two_agents_with_one_host_name_conflict_without_mixing() {
    let Some((etcd, ns_a, mut a)) = setup("fleeta", "hv-twin") else {
        return;
    };
    // B's host has the tap A's lacks: the two agents' records differ.
    let (ns_b, uri_b) = common::demo_host("fleetb");
    ns_b.batch(ADD_DB1);
    let mut b = agent_on(&ns_b, &uri_b, &etcd, "hv-twin");
    // B claims the host with a full sync: its records.
    until_etcd(&etcd, "agent B synced", || in_sync(&etcd, "hv-twin", &b));
    assert!(served(&a) != served(&b), "the two hosts' records differ");

    // A change on A: its guarded write finds B's meta, it says so and claims the host back.
    ns_a.batch("link set tap3f9c2a41-7b mtu 1400\n");
    let line = a.wait_log("fleet: conflict", LIMIT);
    assert!(line.contains("hv-twin"), "{line}");
    until_etcd(&etcd, "etcd holds one agent's records entirely", || {
        in_sync(&etcd, "hv-twin", &a) || in_sync(&etcd, "hv-twin", &b)
    });
    let conflicts = get(a.addr(), "/metrics", &[]).body;
    assert!(
        conflicts
            .lines()
            .any(|l| l.starts_with("vifd_fleet_conflicts_total ") && !l.ends_with(" 0")),
        "{conflicts}"
    );
    for d in [&mut a, &mut b] {
        assert!(d.child.status().is_none(), "both agents keep running");
        assert_eq!(get(d.addr(), "/healthz", &[]).status, 200);
    }
}
