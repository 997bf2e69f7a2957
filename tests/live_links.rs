//! Host-side changes reach `vifd serve` through rtnetlink notifications, without waiting
//! for a refresh: taps created, deleted, renamed, moved to another bridge, set down or
//! given another MAC; and a burst that overruns the socket ends in exactly the state a
//! fresh `vifd list` reports.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::daemon::Daemon;
use common::http::get;
use common::{vifd_json, TestNs};
use serde_json::Value;

fn demo_host() -> (TestNs, String) {
    common::demo_host("live")
}

/// The record whose guest MAC is `mac`.
fn record(addr: SocketAddr, mac: &str) -> Value {
    let list = get(addr, &format!("/v1/interfaces?mac={mac}"), &[]).json();
    list["interfaces"][0].clone()
}

/// Waits until `ok` holds for the record of `mac`, checking at each new generation (no
/// refresh happens meanwhile: `--refresh 3600`).
fn until(d: &Daemon, mac: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let addr = d.addr();
    let mut last = Value::Null;
    let held = d.target().try_until(Duration::from_secs(20), || {
        last = record(addr, mac);
        ok(&last)
    });
    assert!(held, "{what}: {last:#}");
    last
}

fn problems(r: &Value) -> Vec<&str> {
    r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect()
}

#[test]
fn link_changes_show_without_a_refresh() {
    let (ns, d) = Daemon::on_demo_host("live");
    let addr = d.addr();
    let db1 = "52:54:00:aa:00:02"; // tap-db1-1, missing in the demo
    let gen0 = get(addr, "/healthz", &[]).generation();
    assert_eq!(problems(&record(addr, db1)), ["device-missing"]);

    ns.batch("tuntap add dev tap-db1-1 mode tap\nlink set tap-db1-1 address fe:54:00:aa:00:02 master br-demo up\n");
    let r = until(&d, db1, "created tap", |r| {
        r["device"] == "tap-db1-1" && r["master"] == "br-demo"
    });
    assert_eq!(problems(&r), Vec::<&str>::new());
    let gen1 = get(addr, "/healthz", &[]).generation();
    assert!(gen1 > gen0, "generation {gen0} -> {gen1}");

    ns.batch("link set tap-db1-1 master virbr-demo\n");
    let r = until(&d, db1, "moved to another bridge", |r| {
        r["master"] == "virbr-demo"
    });
    assert_eq!(problems(&r), ["wrong-master"]);

    ns.batch("link set tap-db1-1 address fe:54:00:aa:00:99 master br-demo\n");
    let r = until(&d, db1, "new MAC", |r| {
        r["host_mac"] == "fe:54:00:aa:00:99" && r["master"] == "br-demo"
    });
    assert_eq!(problems(&r), ["mac-mismatch"]);

    ns.batch("link set tap-db1-1 address fe:54:00:aa:00:02 down\n");
    until(&d, db1, "set down", |r| {
        r["operstate"] == "down" && r["problems"] == serde_json::json!([])
    });

    ns.batch("link set tap-db1-1 name tap-db1-9\n");
    let r = until(&d, db1, "renamed away", |r| r["ifindex"].is_null());
    assert_eq!(problems(&r), ["device-missing"]);
    let orphans = get(addr, "/v1/problems", &[]).json();
    assert!(
        orphans["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "orphan-device" && p["device"] == "tap-db1-9"),
        "{orphans:#}"
    );

    ns.batch("link del tap-db1-9\n");
    d.until(
        "the deleted tap no longer an orphan",
        Duration::from_secs(20),
        || {
            let p = get(addr, "/v1/problems", &[]).json();
            !p["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["device"] == "tap-db1-9")
        },
    );
}

/// 5,000 taps created and 2,500 deleted as fast as `ip -batch` goes, into a 4 KiB socket
/// buffer: the kernel drops notifications (ENOBUFS), vifd resyncs, and the served state
/// equals what a fresh `vifd list --json` and `vifd check --json` report.
#[test]
fn burst_that_overruns_the_socket_ends_equal_to_a_fresh_list() {
    let (ns, uri) = demo_host();
    let log = std::env::temp_dir().join(format!("vifd-live-burst-{}.log", std::process::id()));
    let d = Daemon::on_loopback_logged(
        &[
            "--libvirt-uri",
            &uri,
            "--netns",
            &ns.name,
            "--refresh",
            "3600",
            "--netlink-rcvbuf",
            "4096",
        ],
        Some(&log),
    );
    let addr = d.addr();
    let mut create = String::new();
    for i in 0..5000 {
        create.push_str(&format!("tuntap add dev tapburst{i:05} mode tap\n"));
    }
    ns.batch(&create);
    let mut delete = String::new();
    for i in (0..5000).step_by(2) {
        delete.push_str(&format!("link del tapburst{i:05}\n"));
    }
    ns.batch(&delete);

    let fresh_list = vifd_json(
        &["list", "--json", "--libvirt-uri", &uri, "--netns", &ns.name],
        0,
    );
    let fresh_check = vifd_json(
        &[
            "check",
            "--json",
            "--libvirt-uri",
            &uri,
            "--netns",
            &ns.name,
        ],
        1,
    );
    assert_eq!(
        fresh_check["problems"].as_array().unwrap().len(),
        2 + 2500,
        "the fixture's two problems and 2,500 orphans"
    );
    let (mut served, mut served_problems) = (Value::Null, Value::Null);
    let matched = d.target().try_until(Duration::from_secs(10), || {
        served = get(addr, "/v1/interfaces", &[]).json();
        served_problems = get(addr, "/v1/problems", &[]).json();
        common::without_counters(&served) == common::without_counters(&fresh_list)
            && served_problems["problems"] == fresh_check["problems"]
    });
    if !matched {
        let first_diff = |a: &Value, b: &Value| {
            let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
            a.iter()
                .zip(b)
                .find(|(x, y)| x != y)
                .map(|(x, y)| format!("{x:#}\nvs fresh\n{y:#}"))
        };
        panic!(
            "served state never matched a fresh list:\ninterfaces: {:?}\nproblems: {:?}",
            first_diff(&served["interfaces"], &fresh_list["interfaces"]),
            first_diff(&served_problems["problems"], &fresh_check["problems"]),
        );
    }
    // The overrun path was exercised: its warning is in the log (the line may still be
    // on its way through the pipe: wait for it, not for the file).
    d.wait_log("overran", Duration::from_secs(10));
    let _ = std::fs::remove_file(&log);
}
