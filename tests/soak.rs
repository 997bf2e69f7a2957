//! The soak (issue 19): two real `vifd serve` daemons under continuous churn for
//! `SOAK_MIN` minutes (2 by default, as `make test` runs it; `make soak` runs 30).
//!
//! - A reads the real libvirtd (qemu:///system) with two paused QEMU guests, a private
//!   ovsdb-server holding a port of each (one an OVN port), an OVN Southbound of its own
//!   (northd translating a private Northbound), and publishes to a real etcd. Its churn:
//!   a third guest created and destroyed; libvirtd SIGKILLed and started again, or
//!   SIGSTOPped for 4 s; ovsdb-server SIGKILLed and started again; the Southbound
//!   SIGSTOPped until its values turn stale; one tap flipped down and up until the change
//!   feed's log is full (the warm-up).
//! - B reads the 1000 x 4 test-driver host of bench/gen_node.py in a namespace of its
//!   own. Its churn: taps deleted and made again.
//! - Both: SIGHUP reloads (the refresh interval changed each time, so the refresher is
//!   restarted), watch clients connecting and dropping, and HTTP GET load on the list,
//!   problem, Compute and metrics endpoints.
//!
//! At the end, with the churn stopped and every source back: each daemon serves what a
//! fresh `vifd list --json` of its host reports, etcd holds what A serves, no request
//! (but `/readyz`) got a 5xx, no daemon panicked, and RSS, open fds and threads, sampled
//! every 2 s and fitted to a line after the warm-up, did not grow beyond the bounds below.
//! The table of figures goes to stderr (`-- --nocapture`).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::daemon::Daemon;
use common::etcd::{self, Etcd};
use common::ovn::OvnCentral;
use common::ovsdb::OvsdbServer;
use common::qemu::{self, Host, URI};
use common::soak::{growth, log_full_at, table, Growth, Sample};
use common::soak_churn::{self as churn, BenchTap, Reloadable, Run};
use common::TestNs;
use vifd::inventory::feed::LOG_CAPACITY;

/// Minutes the test runs when SOAK_MIN is not set (`make test`).
const DEFAULT_MINUTES: f64 = 2.0;
/// What the fitted lines may climb over the measured window, whatever its length. A
/// 2-minute run on the shared machine stays well within these (fds move by the few
/// requests in flight); one fd or thread leaked per step of the rarest churn (a libvirtd
/// fault or a reload, about ten per daemon in the window) does not. RSS is the lenient
/// one: B's whole warm-up climb (93 -> 175 MiB, levelling off by minute 10) can fall
/// in a 2-minute run's window, so its bound is above that; the long run's MiB/h against
/// the target is the real measure.
const MAX_FDS: f64 = 6.0;
const MAX_THREADS: f64 = 4.0;
const MAX_RSS_MIB: f64 = 96.0;
/// The target of issue 19 for a long run, reported (not asserted).
const TARGET_MIB_PER_H: f64 = 1.0;

fn minutes() -> f64 {
    std::env::var("SOAK_MIN")
        .ok()
        .map(|m| m.parse().expect("SOAK_MIN is a number of minutes"))
        .unwrap_or(DEFAULT_MINUTES)
}

/// True when every prerequisite is here; else fails under `CI=true`, or skips saying why.
fn prerequisites() -> bool {
    let python = Command::new("python3").arg("--version").output();
    let found = python.is_ok_and(|o| o.status.success());
    common::ovn::prerequisite("python3 (bench/gen_node.py)", found)
        && etcd::available()
        && common::ovn::available()
        && {
            qemu::script("start-libvirtd.sh");
            common::ovn::prerequisite("libvirtd on qemu:///system", qemu::libvirtd_answers())
        }
}

/// The 1000 x 4 test-driver host: its namespace (with every tap), node file and taps.
struct BenchHost {
    ns: TestNs,
    uri: String,
    taps: Vec<BenchTap>,
    dir: PathBuf,
}

impl Drop for BenchHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bench_host() -> BenchHost {
    let dir = std::env::temp_dir().join(format!("vifd-soak-{}", std::process::id()));
    let gen = format!("{}/bench/gen_node.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .args([gen.as_str(), "1000", "4", "--out"])
        .arg(&dir)
        .output()
        .expect("run bench/gen_node.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links = std::fs::read_to_string(dir.join("links.ip")).unwrap();
    let ns = TestNs::new("soak");
    ns.batch(&links);
    let taps = churn::bench_taps(&links);
    assert_eq!(taps.len(), 4000);
    let uri = format!("test://{}", dir.join("node.xml").display());
    BenchHost { ns, uri, taps, dir }
}

/// `vifd serve` with these arguments and a configuration file of its own (the reloads
/// rewrite it), logging to a file the end scans for panics.
fn serve(name: &str, dir: &Path, args: &[&str]) -> (Daemon, PathBuf, PathBuf) {
    let (config, log) = (
        dir.join(format!("{name}.toml")),
        dir.join(format!("{name}.log")),
    );
    std::fs::write(&config, churn::config_text(30)).unwrap();
    let mut all = vec![
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let mut d = Daemon::start_logged(None, &all, Some(&log));
    d.wait_ready();
    (d, config, log)
}

/// The ethernet tap of a guest as an os-vif port in Open vSwitch (the record's port id
/// comes from there).
fn plug(ovs: &OvsdbServer, tap: &str, mac: &str) {
    let mac = format!("external_ids:attached-mac={mac}");
    let id = "external_ids:iface-id=soak-port-0";
    ovs.vsctl(&[
        "add-port",
        "br-soak",
        tap,
        "--",
        "set",
        "Interface",
        tap,
        id,
        &mac,
    ]);
}

/// The Neutron network and port of A's OVN port, and the chassis A's Open vSwitch says it is.
const OVN_NET: &str = "50a00000-0000-4000-8000-000000000001";
const OVN_PORT: &str = "50a00000-0000-4000-8000-000000000002";
const CHASSIS: &str = "hv-soak-chassis";

/// A's Southbound: network OVN_NET with port OVN_PORT (guest `uuid`'s tap `tap`, MAC
/// `mac`) bound to A's chassis and up, and the tap on br-int with that iface-id,
/// `ovn-installed`: the rows Neutron, northd and an ovn-controller would leave (none runs:
/// the machine's own Open vSwitch is other tests').
fn southbound(ovs: &OvsdbServer, tap: &str, mac: &str, uuid: &str) -> OvnCentral {
    let central = OvnCentral::new();
    central.add_network(OVN_NET, "soak-net");
    central.add_port(OVN_NET, OVN_PORT, mac, "10.9.0.5/24", uuid, None);
    central.sync_sb();
    central.add_other_chassis(CHASSIS);
    central.bind_elsewhere(OVN_PORT, CHASSIS);
    central.sbctl(&["set", "Port_Binding", OVN_PORT, "up=true"]);
    ovs.add_bridge("br-int", "netdev");
    let system_id = format!("external_ids:system-id={CHASSIS}");
    ovs.vsctl(&["set", "Open_vSwitch", ".", &system_id]);
    let iface_id = format!("external_ids:iface-id={OVN_PORT}");
    let attached = format!("external_ids:attached-mac={mac}");
    ovs.vsctl(&[
        "add-port",
        "br-int",
        tap,
        "--",
        "set",
        "Interface",
        tap,
        &iface_id,
        &attached,
        "external_ids:ovn-installed=true",
    ]);
    central
}

/// The paths of the HTTP load on one daemon; the Compute ones ask for the server of the
/// interface `mac`.
fn load_paths(d: &Daemon, mac: &str) -> Vec<(SocketAddr, String)> {
    let list = common::http::get(d.addr(), "/v1/interfaces", &[]).json();
    let server = common::record_by_mac(&list, mac)["domain_uuid"]
        .as_str()
        .unwrap()
        .to_string();
    [
        "/v1/interfaces".to_string(),
        format!("/v1/interfaces?mac={mac}"),
        "/v1/problems".into(),
        "/v1/domains".into(),
        format!("/v2.1/servers/{server}/os-virtual-interfaces"),
        format!("/v2.1/servers/{server}/os-interface"),
        "/metrics".into(),
        "/healthz".into(),
        "/readyz".into(),
    ]
    .into_iter()
    .map(|p| (d.addr(), p))
    .collect()
}

/// Waits until the daemon serves what a fresh `vifd list --json ARGS` reports (counters
/// aside), reading the list again at each new generation.
fn until_exact(d: &Daemon, what: &str, args: &[&str]) {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    d.until(what, churn::STEP_LIMIT, || {
        let out = common::vifd(&all);
        let fresh: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list JSON");
        let served = common::http::get(d.addr(), "/v1/interfaces", &[]).json();
        common::without_counters(&served) == common::without_counters(&fresh)
    });
}

fn no_panic(name: &str, d: &mut Daemon, log: &Path) {
    assert!(d.child.status().is_none(), "{name} exited");
    let text = std::fs::read_to_string(log).unwrap();
    let panics: Vec<&str> = text.lines().filter(|l| l.contains("panicked")).collect();
    assert!(panics.is_empty(), "{name} panicked: {panics:#?}");
}

/// A daemon's fits: after the warm-up, and for memory also after its change-feed log is
/// full (until then its memory grows by design); from the warm-up alone, said so, when
/// the log never filled.
fn fitted(name: &str, samples: &[Sample], warmup: f64) -> Growth {
    match log_full_at(samples, LOG_CAPACITY) {
        Some(full) => {
            eprintln!("{name}: change-feed log full ({LOG_CAPACITY} events) at {full:.0} s");
            growth(samples, warmup, full)
        }
        None => {
            let last = samples.last().map_or(0, |s| s.generation);
            eprintln!("{name}: change-feed log never full (generation {last}): RSS still includes it filling");
            growth(samples, warmup, warmup)
        }
    }
}

/// The table, and each daemon's RSS growth against the target.
fn report(took: Duration, tally: &common::soak::Tally, ga: &Growth, gb: &Growth) {
    let daemons = [("A (libvirtd)", ga), ("B (1000 x 4)", gb)];
    eprintln!("{}", table(took, tally, &daemons));
    for (name, g) in daemons {
        // Two standard errors: what the scatter of memory in flight may move the fit by.
        let (rss, error) = (g.rss_mib_per_h, g.rss_error_mib_per_h);
        let verdict = if rss <= TARGET_MIB_PER_H {
            "met"
        } else if rss - 2.0 * error > TARGET_MIB_PER_H {
            "NOT met"
        } else {
            "not resolved at this length (the fit's scatter is wider than the target)"
        };
        eprintln!(
            "{name}: RSS {rss:+.2} ± {error:.2} MiB/h against the target of <= {TARGET_MIB_PER_H} MiB/h: {verdict}"
        );
    }
}

fn assert_flat(name: &str, g: &Growth) {
    assert!(g.fds_window <= MAX_FDS, "{name}: open fds grew: {g:#?}");
    assert!(
        g.threads_window <= MAX_THREADS,
        "{name}: threads grew: {g:#?}"
    );
    assert!(g.rss_window_mib <= MAX_RSS_MIB, "{name}: RSS grew: {g:#?}");
}

#[test]
fn served_state_stays_exact_and_resources_flat_under_churn() {
    if !prerequisites() {
        return;
    }
    let length = Duration::from_secs_f64(minutes() * 60.0);
    let etcd = Etcd::start("soak");
    let mut ovs = OvsdbServer::new();
    ovs.add_bridge("br-soak", "netdev");
    let mut host = Host::new(8);
    let (probe, macs) = host.create_domain(1, "");
    let (_, ovn_macs) = host.create_domain(2, "");
    let eth_tap = format!("tapvt{}-1", host.tag);
    plug(&ovs, &eth_tap, &macs[2]);
    let ovn_tap = format!("tapvt{}-2", host.tag);
    let ovn_uuid = format!(
        "00000002-0000-4000-8000-{:012}",
        host.tag.parse::<u64>().unwrap()
    );
    let central = southbound(&ovs, &ovn_tap, &ovn_macs[2], &ovn_uuid);
    let bench = bench_host();
    let dir = bench.dir.clone();

    let ovs_addr = ovs.addr();
    let sb = central.sb_addr();
    let a_args = ["--libvirt-uri", URI, "--ovsdb", &ovs_addr, "--ovn-sb", &sb];
    let fleet = ["--fleet-etcd", &etcd.client_url, "--fleet-host", "hv-soak"];
    let (mut a, a_config, a_log) = serve("a", &dir, &[&a_args[..], &fleet[..]].concat());
    // B reads no Open vSwitch: the machine's own (other tests') is none of its business.
    let b_args = [
        "--libvirt-uri",
        &bench.uri,
        "--netns",
        &bench.ns.name,
        "--resolvers",
        "libvirt-network,nova-metadata,linuxbridge,config",
    ];
    let (mut b, b_config, b_log) = serve("b", &dir, &b_args);
    let (ta, tb) = (a.target(), b.target());
    let mut load = load_paths(&a, &macs[0]);
    load.extend(load_paths(&b, &bench.taps[0].guest_mac));
    let reloadable = vec![
        Reloadable {
            pid: a.child.pid(),
            notes: a.notify.forward(),
            config: &a_config,
        },
        Reloadable {
            pid: b.child.pid(),
            notes: b.notify.forward(),
            config: &b_config,
        },
    ];
    let addrs = [a.addr(), b.addr()];
    let sampled = [(a.child.pid(), a.addr()), (b.child.pid(), b.addr())];
    let sb_pid = central.sb_pid();

    let run = Run::new(length);
    let series = std::thread::scope(|s| {
        s.spawn(|| churn::taps(&run, &tb, &bench.ns, &bench.taps));
        s.spawn(|| churn::libvirt(&run, &ta, &mut host, &probe));
        s.spawn(|| churn::ovsdb(&run, &ta, &mut ovs, &eth_tap, &macs[2]));
        s.spawn(|| churn::reloads(&run, reloadable));
        s.spawn(|| churn::watchers(&run, &addrs));
        s.spawn(|| churn::load(&run, &load));
        s.spawn(|| churn::southbound(&run, &ta, sb_pid, &ovn_macs[2], OVN_NET));
        s.spawn(|| churn::fill_feed(&run, &ta, &ovn_tap, LOG_CAPACITY as u64 + 500));
        s.spawn(|| churn::sampler(&run, &sampled)).join().unwrap()
    });
    let took = run.started.elapsed();

    until_exact(&a, "A exact after the churn", &a_args);
    until_exact(&b, "B exact after the churn", &b_args);
    etcd.until_changed(
        "/vifd/v1/",
        "etcd holds what A serves",
        churn::STEP_LIMIT,
        || etcd.published("hv-soak") == common::served_by_id(a.addr()),
    );
    let warmup = (0.2 * length.as_secs_f64()).max(30.0);
    common::soak::write_csv("A", &series[0]);
    common::soak::write_csv("B", &series[1]);
    let (ga, gb) = (
        fitted("A", &series[0], warmup),
        fitted("B", &series[1], warmup),
    );
    report(took, &run.tally, &ga, &gb);

    let tally = &run.tally;
    let errors = tally.errors.lock().unwrap().clone();
    assert_eq!(
        common::soak::get(&tally.server_errors),
        0,
        "5xx: {errors:#?}"
    );
    assert_eq!(
        common::soak::get(&tally.failed),
        0,
        "no response: {errors:#?}"
    );
    no_panic("A", &mut a, &a_log);
    no_panic("B", &mut b, &b_log);
    assert_flat("A", &ga);
    assert_flat("B", &gb);
    assert!(a.stop().success() && b.stop().success());
}

/// The bounds against the fit: samples as a 2-minute run takes them (every 2 s, fitted
/// after 30 s), with the fds of requests in flight moving up and down, pass; the same
/// with one fd more at each libvirtd fault (every 9 s) fail.
#[test]
fn the_growth_bounds_pass_noise_and_fail_a_leak_per_fault() {
    let run = |leak: bool| {
        let samples: Vec<common::soak::Sample> = (0..60)
            .map(|i| {
                let t = 2.0 * i as f64;
                let in_flight = [0.0, 3.0, 1.0, 5.0, 2.0][i % 5];
                let leaked = if leak { (t / 9.0).floor() } else { 0.0 };
                common::soak::Sample {
                    t,
                    rss_kib: 90_000.0 + (i % 3) as f64 * 2048.0,
                    anon_kib: 50_000.0,
                    fds: 18.0 + in_flight + leaked,
                    threads: 7.0,
                    generation: 10_000,
                    heap_kib: 40_000.0,
                    free_kib: 0.0,
                }
            })
            .collect();
        growth(&samples, 30.0, 30.0)
    };
    let quiet = run(false);
    assert!(quiet.fds_window.abs() <= MAX_FDS, "{quiet:#?}");
    assert!(quiet.rss_window_mib.abs() <= MAX_RSS_MIB, "{quiet:#?}");
    let leaking = run(true);
    assert!(leaking.fds_window > MAX_FDS, "{leaking:#?}");
}

/// The fit starts at the later of the warm-up and the first sample whose generation
/// shows the change-feed log full; a log that never fills leaves the warm-up.
#[test]
fn the_fit_starts_once_the_feed_log_is_full() {
    let samples: Vec<Sample> = (0..50)
        .map(|i| Sample {
            t: 2.0 * i as f64,
            rss_kib: 90_000.0,
            anon_kib: 50_000.0,
            fds: 18.0,
            threads: 7.0,
            generation: 400 * i as u64,
            heap_kib: 40_000.0,
            free_kib: 0.0,
        })
        .collect();
    assert_eq!(log_full_at(&samples, 8192), Some(42.0));
    let fit = |samples: &[Sample], warmup| {
        let g = fitted("X", samples, warmup);
        (g.fit_from, g.memory_from)
    };
    assert_eq!(fit(&samples, 30.0), (30.0, 42.0));
    assert_eq!(fit(&samples, 60.0), (60.0, 60.0));
    assert_eq!(fit(&samples[..10], 10.0), (10.0, 10.0));
}

/// A straight line has no scatter; memory in flight at some samples widens the error,
/// not the slope of a flat series.
#[test]
fn the_slope_error_measures_the_scatter() {
    use common::soak::{slope, slope_error};
    let line: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 2.0 * i as f64)).collect();
    assert!((slope(&line) - 2.0).abs() < 1e-9);
    assert!(slope_error(&line) < 1e-9);
    let bursty: Vec<(f64, f64)> = (0..100)
        .map(|i| (i as f64, if i % 7 == 0 { 150.0 } else { 100.0 }))
        .collect();
    assert!(slope(&bursty).abs() < 3.0 * slope_error(&bursty));
    assert!(slope_error(&bursty) > 0.01);
}
