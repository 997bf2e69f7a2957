//! The soak's churn: each kind in a loop of its own (a thread each), every step waited on
//! through what the daemon serves (a long poll on its generation), never by sleeping.
//! The pauses between steps are pacing: they set how often a fault comes, nothing waits
//! on them.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::http::{self, Target};
use super::hung::Stopped;
use super::ovsdb::OvsdbServer;
use super::qemu::{self, Host};
use super::soak::{bump, Sample, Tally};
use super::sse::Sse;
use super::TestNs;

/// How long one churn step may take to show. Generous: a SIGSTOPped libvirtd stalls the
/// daemon's refresher until the keepalive gives up (~17 s), and the machine is shared.
pub const STEP_LIMIT: Duration = Duration::from_secs(120);

/// The run's clock and counts, shared by every loop.
pub struct Run {
    pub started: Instant,
    pub end: Instant,
    pub tally: Tally,
}

impl Run {
    pub fn new(length: Duration) -> Self {
        let started = Instant::now();
        Run {
            started,
            end: started + length,
            tally: Tally::default(),
        }
    }

    pub fn going(&self) -> bool {
        Instant::now() < self.end
    }

    /// Pacing between churn steps (never past the end of the run).
    pub fn pace(&self, d: Duration) {
        std::thread::sleep(d.min(self.end.saturating_duration_since(Instant::now())));
    }
}

/// The served record of guest MAC `mac` (`Null` when none).
pub fn record(t: &Target, mac: &str) -> Value {
    let r = t.get(
        &format!("/v1/interfaces?mac={mac}"),
        Duration::from_secs(60),
    );
    r.json()["interfaces"][0].clone()
}

/// Waits (on the served generation) until `ok` holds for the record of `mac`.
fn until_record(t: &Target, mac: &str, what: &str, ok: impl Fn(&Value) -> bool) {
    let mut last = Value::Null;
    let held = t.try_until(STEP_LIMIT, || {
        last = record(t, mac);
        ok(&last)
    });
    assert!(held, "{what} ({mac}): not within {STEP_LIMIT:?}: {last:#}");
}

/// One tap of the 1000 x 4 host: its name, its guest's MAC, the `ip` lines that make it.
pub struct BenchTap {
    pub name: String,
    pub guest_mac: String,
    pub make: String,
}

/// The taps of bench/gen_node.py's `links.ip` (a `tuntap add` line, then a `link set`
/// line with the host MAC `fe:…`, whose guest MAC is `52:…`).
pub fn bench_taps(links_ip: &str) -> Vec<BenchTap> {
    let lines: Vec<&str> = links_ip.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("tuntap add dev "))
        .map(|w| {
            let name = w[0].split_whitespace().nth(3).unwrap().to_string();
            let host_mac = w[1].split(" address ").nth(1).unwrap();
            let guest_mac = format!("52{}", &host_mac[2..17]);
            BenchTap {
                name,
                guest_mac,
                make: format!("{}\n{}\n", w[0], w[1]),
            }
        })
        .collect()
}

/// Deletes a tap and makes it again, over and over, spread over the host's bridges.
pub fn taps(run: &Run, t: &Target, ns: &TestNs, taps: &[BenchTap]) {
    let mut k = 0;
    while run.going() {
        let tap = &taps[(k * 997 + 1) % taps.len()];
        ns.batch(&format!("link del {}\n", tap.name));
        until_record(t, &tap.guest_mac, "tap deleted", missing);
        ns.batch(&tap.make);
        until_record(t, &tap.guest_mac, "tap back", |r| {
            r["ifindex"].is_number() && !missing(r)
        });
        bump(&run.tally.taps);
        k += 1;
        run.pace(Duration::from_millis(300));
    }
}

fn missing(r: &Value) -> bool {
    r["problems"]
        .as_array()
        .is_some_and(|p| p.iter().any(|v| v == "device-missing"))
}

/// Non-stale records of domain `name` (0 when the daemon does not know it).
fn domain_records(t: &Target, name: &str) -> usize {
    let r = t.get(
        &format!("/v1/domains/{name}/interfaces"),
        Duration::from_secs(60),
    );
    if r.status == 404 {
        return 0;
    }
    let list = r.json()["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.iter().filter(|v| v["stale"] == false).count()
}

fn libvirtd_pid() -> Pid {
    let text = std::fs::read_to_string("/run/libvirtd.pid").expect("libvirtd's pidfile");
    Pid::from_raw(text.trim().parse().expect("a pid"))
}

/// Brings libvirtd back whatever happened (other tests need it): SIGCONT, then the start
/// script, which does nothing when it runs.
struct LibvirtdBack;

impl Drop for LibvirtdBack {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string("/run/libvirtd.pid") {
            if let Ok(pid) = text.trim().parse() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            }
        }
        qemu::script("start-libvirtd.sh");
    }
}

/// A paused guest created and destroyed each cycle; every third cycle libvirtd is
/// SIGKILLed and started again, every third (another) SIGSTOPped for a few seconds.
/// `probe` is a guest that stays: exact again (4 fresh records) after each fault.
pub fn libvirt(run: &Run, t: &Target, host: &mut Host, probe: &str) {
    let _back = LibvirtdBack;
    let mut k = 0;
    while run.going() {
        let (name, _) = host.create_domain(9, "");
        t.until("the new guest served", STEP_LIMIT, || {
            domain_records(t, &name) == 4
        });
        qemu::virsh(&["destroy", &name]);
        host.domains.retain(|d| d != &name);
        t.until("the guest gone", STEP_LIMIT, || {
            domain_records(t, &name) == 0
        });
        bump(&run.tally.guests);
        match k % 3 {
            1 => {
                kill(libvirtd_pid(), Signal::SIGKILL).expect("SIGKILL libvirtd");
                t.until("unready, libvirtd gone", STEP_LIMIT, || {
                    http::status_of(addr_of(t), "/readyz") == Some(503)
                });
                qemu::script("start-libvirtd.sh");
                bump(&run.tally.libvirtd_kills);
            }
            2 => {
                let pid = libvirtd_pid();
                kill(pid, Signal::SIGSTOP).expect("SIGSTOP libvirtd");
                // The fault's length: a hung libvirtd for a few seconds.
                std::thread::sleep(Duration::from_secs(4));
                kill(pid, Signal::SIGCONT).expect("SIGCONT libvirtd");
                bump(&run.tally.libvirtd_stops);
            }
            _ => {}
        }
        t.until("ready and exact after the fault", STEP_LIMIT, || {
            http::status_of(addr_of(t), "/readyz") == Some(200) && domain_records(t, probe) == 4
        });
        k += 1;
        run.pace(Duration::from_secs(1));
    }
}

fn addr_of(t: &Target) -> SocketAddr {
    match t {
        Target::Tcp(a) => *a,
        Target::Unix(p) => panic!("a TCP daemon, not {p:?}"),
    }
}

fn stale_ovsdb(r: &Value) -> bool {
    r["stale_sources"]
        .as_array()
        .is_some_and(|s| s.iter().any(|v| v == "ovsdb"))
}

/// ovsdb-server SIGKILLed (the record of `mac`, whose port it holds, goes stale), started
/// again with the port's iface-id changed meanwhile (the daemon follows it again).
pub fn ovsdb(run: &Run, t: &Target, ovs: &mut OvsdbServer, tap: &str, mac: &str) {
    until_record(t, mac, "the port read from OVSDB", |r| {
        r["port_id"] == "soak-port-0"
    });
    let mut k = 1;
    while run.going() {
        ovs.stop();
        bump(&run.tally.ovsdb_kills);
        // Marked stale, the port kept: also when a reload restarts the refresher meanwhile
        // (the new one starts from the last values read).
        until_record(t, mac, "OVSDB gone noticed", |r| {
            stale_ovsdb(r) && r["port_id"].is_string()
        });
        ovs.start();
        let port = format!("soak-port-{k}");
        ovs.vsctl(&[
            "set",
            "Interface",
            tap,
            &format!("external_ids:iface-id={port}"),
        ]);
        until_record(t, mac, "OVSDB current again", |r| {
            r["port_id"] == port.as_str() && !stale_ovsdb(r)
        });
        k += 1;
        run.pace(Duration::from_secs(5));
    }
}

fn stale_ovn(r: &Value) -> bool {
    r["stale_sources"]
        .as_array()
        .is_some_and(|s| s.iter().any(|v| v == "ovn"))
}

/// The Southbound hung (SIGSTOPped) for a while: the network of `mac`, which it holds,
/// goes stale once the session's probe goes unanswered; after SIGCONT, current again.
pub fn southbound(run: &Run, t: &Target, sb_pid: u32, mac: &str, net: &str) {
    let current = |r: &Value| r["net_id"] == net && !stale_ovn(r);
    until_record(t, mac, "the network read from the Southbound", current);
    while run.going() {
        let hung = Stopped::new(sb_pid);
        bump(&run.tally.sb_stops);
        until_record(t, mac, "the Southbound hang noticed", |r| {
            stale_ovn(r) && r["net_id"] == net
        });
        drop(hung);
        until_record(t, mac, "the Southbound current again", current);
        run.pace(Duration::from_secs(5));
    }
}

/// A daemon to reload: its pid, its notifications (see
/// [`super::notify::NotifySocket::forward`]), its
/// configuration file.
pub struct Reloadable<'a> {
    pub pid: u32,
    pub notes: Receiver<String>,
    pub config: &'a Path,
}

/// The refresh interval in a daemon's configuration file: reloads alternate two values,
/// so each SIGHUP restarts the refresher.
pub fn config_text(refresh: u32) -> String {
    format!("refresh = {refresh}\n")
}

/// SIGHUP to each daemon in turn with its file changed, waiting for RELOADING=1.
pub fn reloads(run: &Run, daemons: Vec<Reloadable>) {
    let mut k = 0;
    while run.going() {
        for d in &daemons {
            std::fs::write(d.config, config_text(30 + k % 2)).expect("write the config");
            kill(Pid::from_raw(d.pid as i32), Signal::SIGHUP).expect("SIGHUP");
            let deadline = Instant::now() + STEP_LIMIT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let note = d
                    .notes
                    .recv_timeout(left)
                    .expect("RELOADING=1 after SIGHUP");
                if note.lines().any(|l| l == "RELOADING=1") {
                    break;
                }
            }
            bump(&run.tally.reloads);
        }
        k += 1;
        run.pace(Duration::from_secs(10));
    }
}

/// Watch clients: one connects (a snapshot, or the events after the current generation),
/// reads for a moment, drops; again, alternating daemons.
pub fn watchers(run: &Run, addrs: &[SocketAddr]) {
    let mut k = 0;
    while run.going() {
        let t = Target::Tcp(addrs[k % addrs.len()]);
        let path = if k % 2 == 0 {
            "/v1/watch".to_string()
        } else {
            format!("/v1/watch?since={}", t.generation())
        };
        let mut sse = Sse::open(addr_of(&t), &path);
        let until = Instant::now() + Duration::from_secs(3);
        while let Some(Some(_)) = sse.next_within(until.saturating_duration_since(Instant::now())) {
            bump(&run.tally.watch_events);
        }
        drop(sse);
        bump(&run.tally.watchers);
        k += 1;
        run.pace(Duration::from_millis(500));
    }
}

/// GET `path` at `addr` with timeouts; the status, or `None` when nothing answered.
fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    fetch(addr, path).map(|r| r.status)
}

/// HTTP load: `targets` round and round; `/readyz` on each daemon counted apart.
pub fn load(run: &Run, targets: &[(SocketAddr, String)]) {
    let tally = &run.tally;
    let mut k = 0;
    while run.going() {
        let (addr, path) = &targets[k % targets.len()];
        let readyz = path == "/readyz";
        bump(if readyz {
            &tally.readyz
        } else {
            &tally.requests
        });
        match status(*addr, path) {
            Some(503) if readyz => bump(&tally.readyz_503),
            Some(s) if s >= 500 && !readyz => {
                bump(&tally.server_errors);
                tally.error(format!("{s} on {addr}{path}"));
            }
            Some(_) => {}
            None => {
                bump(&tally.failed);
                tally.error(format!("no response on {addr}{path}"));
            }
        }
        k += 1;
        // The load's rate: the machine's two cores are shared with the daemons.
        run.pace(Duration::from_millis(20));
    }
}

/// GET `path`, with timeouts; `None` when nothing answered (the load counts failures).
fn fetch(addr: SocketAddr, path: &str) -> Option<http::Resp> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    http::raw(s, &http::request("GET", path, &[]))
}

/// The value of the sample line `name` in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].trim().parse().ok()
}

/// The daemons' resources, generations and heaps every two seconds until the run ends.
pub fn sampler(run: &Run, daemons: &[(u32, SocketAddr)]) -> Vec<Vec<Sample>> {
    let mut series = vec![Vec::new(); daemons.len()];
    loop {
        for (s, (pid, addr)) in series.iter_mut().zip(daemons) {
            if let Some(mut sample) = super::soak::sample(*pid, run.started) {
                let healthz = fetch(*addr, "/healthz");
                let generation = healthz.and_then(|r| r.header("x-vifd-generation")?.parse().ok());
                sample.generation = generation.unwrap_or(0);
                let metrics = fetch(*addr, "/metrics");
                let heap = |name| metrics.as_ref().and_then(|r| metric(&r.body, name));
                sample.heap_kib = heap("vifd_heap_in_use_bytes ").unwrap_or(0.0) / 1024.0;
                sample.free_kib = heap("vifd_heap_free_bytes ").unwrap_or(0.0) / 1024.0;
                s.push(sample);
            }
        }
        if !run.going() {
            return series;
        }
        // The sampling interval.
        run.pace(Duration::from_secs(2));
    }
}

/// Warms A up: takes tap `tap` down and up, one flip at a time, each waited on (a record
/// event), until the daemon's generation passes `generation`, so that its change-feed log
/// is full and the fit measures the daemon after it, not the log filling (A's other
/// churn makes a few thousand events in 30 minutes; the log keeps 8,192). Ends with the
/// tap up.
pub fn fill_feed(run: &Run, t: &Target, tap: &str, generation: u64) {
    let mut g = t.generation();
    let mut up = true;
    while run.going() && g < generation {
        up = !up;
        super::ip(&["link", "set", "dev", tap, if up { "up" } else { "down" }]);
        bump(&run.tally.fill_flips);
        t.try_until(STEP_LIMIT, || t.generation() > g);
        g = t.generation();
    }
    if !up {
        super::ip(&["link", "set", "dev", tap, "up"]);
    }
}
