//! A hung libvirtd (SIGSTOPped under HTTP load) stalls nothing else: host-side changes
//! still reach `/v1/watch` within the p99 budget, the domain records turn stale well
//! within libvirt's keepalive window (5 s × 3) with `/readyz` saying why, no request
//! fails, and what happened while it hung (its guest killed) is served once it
//! continues. Its own test binary: it stops the shared libvirtd, so it must not run
//! beside the other real-libvirt tests.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::http::get;
use common::hung::{master_toggles, p99, Load, Stopped, WATCH_P99};
use common::qemu::{script, Host, URI};
use common::sse::Sse;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// libvirt's keepalive as vifd sets it (interval 5 s, 3 unanswered): the time libvirt
/// itself would take to give up on a hung libvirtd.
const KEEPALIVE_WINDOW: Duration = Duration::from_secs(15);
/// Changes (each an enslave or a release) measured while libvirtd hangs.
const CHANGES: usize = 100;

fn records_of(addr: std::net::SocketAddr, dom: &str) -> Vec<serde_json::Value> {
    let r = get(addr, &format!("/v1/domains/{dom}/interfaces"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_hung_libvirtd_stalls_nothing_else_and_loses_nothing() {
    script("start-libvirtd.sh");
    let mut host = Host::new(5);
    let (dom, _) = host.create_domain(1, "");
    let tap = format!("tapvt{}-1", host.tag);
    let bridge = host.name("vtbr");
    let mut d = Daemon::on_loopback(&["--libvirt-uri", URI]);
    let addr = d.addr();
    assert_eq!(records_of(addr, &dom).len(), 4);
    let load = Load::start(addr, &["/v1/interfaces", "/v1/problems", "/metrics"]);
    let mut sse = Sse::open(addr, "/v1/watch");
    assert_eq!(sse.next(Duration::from_secs(10)).unwrap().kind, "snapshot");
    // The same machine's figure with libvirtd answering, for the record.
    let before = p99(&master_toggles(&mut sse, None, &tap, &bridge, 10));

    let stopped = Stopped::from_pidfile("/run/libvirtd.pid");
    d.until("/readyz to say libvirtd hangs", KEEPALIVE_WINDOW, || {
        let r = get(addr, "/readyz", &[]);
        r.status == 503 && r.body.contains("has not answered")
    });
    let to_stale = stopped.since.elapsed();
    let records = records_of(addr, &dom);
    assert!(records.iter().all(|v| v["stale"] == true), "{records:#?}");

    let hung = master_toggles(&mut sse, None, &tap, &bridge, CHANGES / 2);
    let during = p99(&hung);
    eprintln!(
        "libvirtd stopped -> stale and /readyz 503: {to_stale:?}; tap change -> /v1/watch p99: \
         {during:?} while hung ({} changes), {before:?} before",
        hung.len()
    );
    assert!(
        during <= WATCH_P99,
        "p99 {during:?} over {WATCH_P99:?} while libvirtd hangs: {hung:?}"
    );

    // Nothing lost: the guest dies while libvirtd cannot see it.
    let pidfile = format!("/run/libvirt/qemu/{dom}.pid");
    let qemu: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kill(Pid::from_raw(qemu), Signal::SIGKILL).expect("kill QEMU");
    let hang = stopped.since.elapsed();
    drop(stopped);
    let resumed = Instant::now();
    d.until(
        "the guest gone, served fresh and ready",
        Duration::from_secs(20),
        || {
            let r = get(addr, "/v1/interfaces", &[]);
            let fresh = common::vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
            get(addr, "/readyz", &[]).status == 200
                && r.header("x-vifd-stale").is_none()
                && !r.body.contains(&dom)
                && common::without_counters(&r.json()) == common::without_counters(&fresh)
        },
    );
    eprintln!(
        "libvirtd hung {hang:?}; after SIGCONT served exact in {:?}",
        resumed.elapsed()
    );
    let seen = load.finish();
    eprintln!("HTTP load: {} requests", seen.requests);
    assert!(seen.requests > 0);
    assert!(seen.errors.is_empty(), "server errors: {:#?}", seen.errors);
    assert!(d.child.status().is_none(), "the daemon kept running");
    assert!(d.stop().success());
}
