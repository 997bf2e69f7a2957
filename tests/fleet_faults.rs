//! The fleet through faults, against a real 3-member etcd cluster on loopback ports:
//! three real agents (`vifd serve --fleet-etcd` with every member, on test-driver hosts in
//! network namespaces of their own) and two fleet servers (`vifd fleet serve`, every
//! member too). After each fault, every fleet server's records of every host equal that
//! host's agent's own `/v1/interfaces` (counters aside) within 2 s of the fault ending:
//! a tap change; an agent SIGKILLed and restarted after changes made while it was down;
//! the etcd leader killed; a member SIGSTOPped for 20 s; all of etcd stopped for 30 s with
//! changes meanwhile; a fleet server restarted; history compacted under a fleet server
//! whose watch is behind (it lists again).
//!
//! Every wait asks again at each event of the daemons' watches (`/v1/watch` of every
//! agent and fleet server). The two sleeps are faults (a member stopped for 20 s, etcd
//! down for 30 s), not synchronisation.

mod common;

use std::time::{Duration, Instant};

use common::agents::Agent;
use common::etcd::{self, Etcd};
use common::fleet::{addrs, host_name, in_sync, served, FleetServer};
use common::wakes::{until_seen, Wakes};
use nix::sys::signal::Signal;

/// How long the fleet may take to show a host at first, or an agent to see a tap change.
const LIMIT: Duration = Duration::from_secs(30);
/// After a fault ends, the fleet equals every agent within this (the bound).
const FAULT_LIMIT: Duration = Duration::from_secs(2);
/// How long one member is stopped (SIGSTOP), and all of etcd is down.
const PAUSED: Duration = Duration::from_secs(20);
const ALL_DOWN: Duration = Duration::from_secs(30);
/// While a member hangs, a change still reaches the fleet within this: whoever talks to
/// that member leaves it (a write unanswered for 2 s; a watch silent 1 s, then its
/// progress request unanswered 2 s) and goes through another, once a leader is elected.
const HUNG_LIMIT: Duration = Duration::from_secs(6);
/// The relists counter of a fleet server (the compaction case).
const RELISTS: &str = "vifd_fleet_relists_total{reason=\"compacted\"}";

struct Fleet {
    etcd: Vec<Etcd>,
    agents: Vec<Agent>,
    servers: Vec<FleetServer>,
}

impl Fleet {
    fn endpoints(&self) -> String {
        etcd::endpoints(&self.etcd)
    }

    /// Sets the MTU of `agent`'s first tap and waits until the agent serves it, so the
    /// records to compare include the change.
    fn change(&self, agent: usize, mtu: u32) {
        let a = &self.agents[agent];
        a.ns.batch(&format!("link set tq{}d0n0 mtu {mtu}\n", a.index));
        until_seen(
            "the agent serving its new MTU",
            LIMIT,
            [a.daemon.addr()],
            || served(a).values().any(|r| r["mtu"] == mtu),
        );
    }

    /// Every agent and fleet server: what a wait on them watches.
    fn addrs(&self) -> Vec<std::net::SocketAddr> {
        addrs(&self.servers, &self.agents)
    }

    fn exact(&self) -> bool {
        (self.servers.iter()).all(|f| self.agents.iter().all(|a| in_sync(f, a)))
    }

    /// Every fleet server's records of every host equal the host's agent's by `ended` +
    /// [`FAULT_LIMIT`]; panics naming `fault` and what differs.
    fn exact_within(&self, fault: &str, ended: Instant) {
        self.exact_by(fault, ended, FAULT_LIMIT)
    }

    /// As [`exact_within`](Self::exact_within), by `ended` + `limit`.
    fn exact_by(&self, fault: &str, ended: Instant, limit: Duration) {
        let wakes = Wakes::on(self.addrs());
        let left = (ended + limit).saturating_duration_since(Instant::now());
        if !wakes.wait(left, || self.exact()) {
            for (i, f) in self.servers.iter().enumerate() {
                for a in &self.agents {
                    let (ours, theirs) = (f.records(&host_name(a)), served(a));
                    assert_eq!(ours, theirs, "{fault}: fleet server {i}, {}", host_name(a));
                }
            }
        }
        let took = ended.elapsed();
        eprintln!("fleet_faults: {fault}: exact {took:?} after the fault ended");
        assert!(took <= limit, "{fault}: exact only after {took:?}");
    }

    /// Every host is alive in every fleet server (its agent holds a lease again).
    fn all_alive(&self, fault: &str) {
        let servers = self.servers.iter().map(|f| f.addr);
        until_seen(
            &format!("{fault}: every host alive"),
            LIMIT,
            servers,
            || {
                (self.servers.iter()).all(|f| {
                    (self.agents.iter())
                        .all(|a| f.host(&host_name(a)).is_some_and(|h| h["alive"] == true))
                })
            },
        );
    }
}

fn start() -> Fleet {
    let etcd = Etcd::cluster("faults", 3);
    let endpoints = etcd::endpoints(&etcd);
    let agents = (51..=53)
        .map(|i| {
            let host = format!("hv-{i}");
            Agent::start(i, &["--fleet-etcd", &endpoints, "--fleet-host", &host])
        })
        .collect();
    let servers = ["faults-a", "faults-b"]
        .map(|tag| FleetServer::start(&endpoints, tag))
        .into();
    let fleet = Fleet {
        etcd,
        agents,
        servers,
    };
    until_seen(
        "every host in both fleet servers",
        LIMIT,
        fleet.addrs(),
        || fleet.exact(),
    );
    fleet.all_alive("start");
    fleet
}

#[test]
fn the_fleet_stays_exact_through_etcd_and_agent_faults() {
    if !etcd::available() {
        return;
    }
    let begun = Instant::now();
    let mut fleet = start();

    // A tap change on a host.
    let changed = Instant::now();
    fleet.change(0, 1400);
    fleet.exact_within("a tap change", changed);

    // An agent SIGKILLed, its host changed while it is down, the agent started again:
    // the fault ends when it serves (ready).
    fleet.agents[1].daemon.child.kill();
    fleet.agents[1].ns.batch(&format!(
        "link set tq{}d1n0 mtu 1300\n",
        fleet.agents[1].index
    ));
    fleet.agents[1].restart();
    let restarted = Instant::now();
    assert!(served(&fleet.agents[1]).values().any(|r| r["mtu"] == 1300));
    fleet.exact_within("an agent killed and restarted", restarted);

    // The etcd leader killed, a change meanwhile: the fault ends once the others have
    // elected a leader (nothing can be written before).
    let old = etcd::leader(&fleet.etcd);
    fleet.etcd[old].stop();
    let changed = Instant::now();
    fleet.change(2, 1450);
    let new = etcd::leader(&fleet.etcd);
    assert_ne!(new, old);
    fleet.exact_within("the etcd leader killed", changed.max(Instant::now()));
    fleet.etcd[old].start_again();
    fleet.etcd[old].wait_healthy();

    // One member hung (SIGSTOP) for 20 s, the leader (the worst), a change meanwhile.
    let hung = etcd::leader(&fleet.etcd);
    let paused = Instant::now();
    fleet.etcd[hung].pause();
    fleet.change(0, 1410);
    fleet.exact_by("a change while a member hangs", paused, HUNG_LIMIT);
    // The fault itself: a member that answers nothing for PAUSED.
    std::thread::sleep(PAUSED.saturating_sub(paused.elapsed()));
    fleet.etcd[hung].resume();
    fleet.exact_within("a member stopped for 20 s", Instant::now());
    fleet.all_alive("a member stopped");

    // All of etcd stopped for 30 s, changes meanwhile; the fault ends when every member
    // answers again.
    for m in &mut fleet.etcd {
        m.stop();
    }
    fleet.change(1, 1420);
    fleet.change(2, 1420);
    // The fault itself: etcd down for ALL_DOWN.
    std::thread::sleep(ALL_DOWN);
    etcd::start_all(&mut fleet.etcd);
    fleet.exact_within("all of etcd stopped for 30 s", Instant::now());
    fleet.all_alive("all of etcd stopped");

    // A fleet server restarted, a change while it was down: the fault ends when it runs
    // again (it has listed).
    fleet.servers[1].child.kill();
    fleet.change(0, 1430);
    fleet.servers[1] = FleetServer::start(&fleet.endpoints(), "faults-c");
    fleet.exact_within("a fleet server restarted", Instant::now());

    // History compacted under a fleet server whose watch is behind: stopped (SIGSTOP)
    // while etcd sends it more than its stream and etcd's buffer hold, so etcd holds its
    // watcher back; a change after that, then the history compacted: the fleet server
    // reaches the change only by listing again.
    let relists = fleet.servers[0]
        .metric(RELISTS)
        .expect("the relists counter");
    fleet.servers[0].child.signal(Signal::SIGSTOP);
    let e = &fleet.etcd[0];
    // More than the stream's HTTP/2 window (2 MiB) and etcd's 128 responses buffered;
    // more keys than a page of the list (500), more bytes than a 4 MiB gRPC message.
    e.fill("/vifd/v1/test-filler/", 600, 16 * 1024);
    fleet.change(1, 1440);
    e.compact(e.revision());
    fleet.servers[0].child.signal(Signal::SIGCONT);
    let resumed = Instant::now();
    fleet.exact_within("history compacted", resumed);
    let now = fleet.servers[0]
        .metric(RELISTS)
        .expect("the relists counter");
    assert!(
        now > relists,
        "the fleet server listed again: {now} > {relists}"
    );
    let del = e.ctl(&["del", "--prefix", "/vifd/v1/test-filler/"]);
    assert!(del.status.success());

    eprintln!("fleet_faults: every fault in {:?}", begun.elapsed());
}
