//! `vifd serve` outlives a libvirtd restart: the connection's close makes readiness drop
//! and every record stale at once (the last inventory stays served), and the capped
//! reconnect backoff brings it back exact once libvirtd is back (how soon is a figure of
//! bench/recovery.sh). Its own test binary: it stops the shared libvirtd, so it must not
//! run beside the other real-libvirt tests.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::http::{get, status_of};
use common::qemu::{script, Host, URI};
use common::vifd_json;

#[test]
fn serve_survives_a_libvirtd_restart_stale_meanwhile_exact_after() {
    script("start-libvirtd.sh");
    let mut host = Host::new(7);
    let (dom, _) = host.create_domain(1, "");
    // No periodic refresh: only the connection's close and the reconnect are at work.
    let mut d = Daemon::on_loopback(&["--libvirt-uri", URI, "--refresh", "3600"]);
    let addr = d.addr();
    let ours = format!("/v1/domains/{dom}/interfaces");
    let before = get(addr, &ours, &[]).json();
    assert_eq!(before["interfaces"].as_array().unwrap().len(), 4);
    assert!(before["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["stale"] == false));

    script("stop-libvirtd.sh");
    // Restart libvirtd even when an assertion below fails: other tests need it.
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            script("start-libvirtd.sh");
        }
    }
    let restart = Restart;
    // Going stale changes every record: a new generation to wait on.
    d.until(
        "readyz 503 while libvirtd is down",
        Duration::from_secs(20),
        || status_of(addr, "/readyz") == Some(503),
    );
    let r = get(addr, &ours, &[]);
    assert_eq!(r.status, 200, "the last inventory stays served: {}", r.body);
    assert_eq!(r.header("x-vifd-stale"), Some("1"));
    let stale = r.json();
    assert!(
        stale["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["stale"] == true),
        "{stale:#}"
    );

    drop(restart);
    let back = Instant::now();
    let fresh = vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
    d.until(
        "fresh and exact after libvirtd is back",
        Duration::from_secs(10),
        || {
            let r = get(addr, "/v1/interfaces", &[]);
            status_of(addr, "/readyz") == Some(200)
                && r.header("x-vifd-stale").is_none()
                && common::without_counters(&r.json()) == common::without_counters(&fresh)
        },
    );
    eprintln!(
        "libvirtd back -> served exact and ready: {:?}",
        back.elapsed()
    );
    assert!(d.child.status().is_none(), "the daemon kept running");
    assert!(d.stop().success());
}
