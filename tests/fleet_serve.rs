//! `vifd fleet serve`: a real etcd of the test's own, real agents (`vifd serve
//! --fleet-etcd`) on hosts of their own (a network namespace and a libvirt test-driver
//! node file each, their own domains), and real fleet servers reading etcd. Each host's
//! records in the fleet equal its agent's own `/v1/interfaces` (counters aside, `host`
//! added); a change reaches the fleet within 2 s; a killed agent turns `alive: false`
//! after its lease and keeps its records until `vifd fleet forget`; a restarted fleet
//! server lists again; the Compute views of a server are its agent's.
//!
//! Every wait asks again at each event of the watches of the daemons it reads (agents' and
//! fleet servers' `/v1/watch`, or etcd's own watch), never after a sleep.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::agents::Agent;
use common::etcd::{self, Etcd};
use common::fleet::{addrs, host_name, in_sync, served, FleetServer};
use common::http::get;
use common::sse::{Sse, SseEvent};
use common::wakes::until_seen;
use serde_json::Value;

/// How long the fleet may take to show what an agent serves.
const LIMIT: Duration = Duration::from_secs(30);
/// A change on a host reaches the fleet API within this.
const CHANGE_LIMIT: Duration = Duration::from_secs(2);
/// The agent's lease (30 s) and some room for etcd to expire it.
const LEASE_LIMIT: Duration = Duration::from_secs(45);

/// Waits until `f`'s records of `a`'s host are what `a` serves, woken by both watches;
/// panics after `LIMIT`.
fn until_in_sync(what: &str, f: &FleetServer, a: &Agent) {
    until_seen(what, LIMIT, addrs([f], [a]), || in_sync(f, a));
}

fn agent(index: u8, etcd: &Etcd) -> Agent {
    let host = format!("hv-{index}");
    Agent::start(
        index,
        &["--fleet-etcd", &etcd.client_url, "--fleet-host", &host],
    )
}

#[test]
fn the_fleet_serves_every_agents_records_and_follows_them() {
    if !etcd::available() {
        return;
    }
    let etcd = Etcd::start("fleetsrv");
    let (a, mut b) = (agent(41, &etcd), agent(42, &etcd));
    let fleet = FleetServer::start(&etcd.client_url, "one");
    for ag in [&a, &b] {
        until_in_sync(&format!("{} in the fleet", host_name(ag)), &fleet, ag);
    }
    for ag in [&a, &b] {
        let h = fleet.host(&host_name(ag)).expect("listed");
        assert_eq!(h["alive"], true, "{h}");
        assert_eq!(h["vifs"], served(ag).len(), "{h}");
        assert!(h["generation"].as_u64().unwrap() >= 1, "{h}");
    }
    assert_eq!(get(fleet.addr, "/readyz", &[]).status, 200);

    // `vifd query --fleet`: the fleet's records by host, as `vifd query` shows agents'.
    let query = |json: bool| {
        let url = format!("http://{}", fleet.addr);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vifd"));
        cmd.args(["query", "--fleet", &url])
            .env_remove("VIFD_CONFIG");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = query(false);
    assert!(table.starts_with("HOST"), "{table}");
    for ag in [&a, &b] {
        let rows = table
            .lines()
            .filter(|l| l.starts_with(&host_name(ag)))
            .count();
        assert_eq!(rows, served(ag).len(), "{table}");
    }
    let doc: Value = serde_json::from_str(&query(true)).unwrap();
    let hosts: Vec<&Value> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["host"])
        .collect();
    assert_eq!(hosts, ["hv-41", "hv-42"], "{doc}");

    // The filters: a MAC of B finds B's record only; a domain of A finds A's.
    let b_rec = served(&b).into_values().next().unwrap();
    let mac = b_rec["mac_address"].as_str().unwrap();
    let found = fleet.get(&format!("/v1/interfaces?mac={mac}"));
    let hosts: Vec<&Value> = (found["interfaces"].as_array().unwrap().iter())
        .map(|r| &r["host"])
        .collect();
    assert_eq!(hosts, [&Value::from("hv-42")], "{found}");
    let by_domain = fleet.get("/v1/interfaces?domain=q41-vm0");
    assert!(by_domain["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["host"] == "hv-41"));
    assert_eq!(get(fleet.addr, "/v1/interfaces?bogus=1", &[]).status, 400);

    // The fleet's watch: a snapshot of both hosts, then the change below.
    let mut sse = Sse::open(fleet.addr, "/v1/watch");
    let snap = sse.next(LIMIT).expect("a snapshot");
    assert_eq!(snap.kind, "snapshot");
    let hosts = snap.data["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2, "{}", snap.data);
    assert_eq!(
        snap.data["interfaces"].as_array().unwrap().len(),
        served(&a).len() + served(&b).len()
    );
    let since = snap.id.unwrap();

    // A tap change on A reaches the fleet within 2 s.
    a.ns.batch("link set tq41d0n0 mtu 1400\n");
    let changed = Instant::now();
    until_seen(
        "the mtu change in the fleet",
        CHANGE_LIMIT,
        [fleet.addr],
        || fleet.records("hv-41").values().any(|r| r["mtu"] == 1400),
    );
    assert!(changed.elapsed() <= CHANGE_LIMIT);
    until_in_sync("A in sync again", &fleet, &a);
    let is_change =
        |e: &SseEvent| e.kind == "record" && e.data["host"] == "hv-41" && e.data["mtu"] == 1400;
    let live = sse.until(LIMIT, "the mtu change on the watch", is_change);
    // Resumed from the snapshot's revision: the same event again, no snapshot.
    let mut resumed = Sse::open(fleet.addr, &format!("/v1/watch?since={since}"));
    let first = resumed.next(LIMIT).expect("replayed events");
    assert_ne!(first.kind, "snapshot", "{first:?}");
    let again = if is_change(&first) {
        first
    } else {
        resumed.until(LIMIT, "the replayed change", is_change)
    };
    assert_eq!((again.id, &again.data), (live.id, &live.data));

    // The Compute views of B's server, from the fleet, are B's own answers.
    let server = b_rec["domain_uuid"].as_str().unwrap();
    for path in [
        format!("/v2.1/servers/{server}/os-virtual-interfaces"),
        format!("/v2/servers/{server}/os-virtual-interfaces"),
        format!("/v2.1/servers/{server}/os-interface"),
        format!("/v2.1/servers/{server}/os-volume_attachments"),
        "/v2.1/servers/00000000-0000-4000-8000-ffffffffffff/os-interface".to_string(),
        "/v2.1/servers/not-a-uuid/os-interface".to_string(),
    ] {
        for version in ["2.1", "2.12", "2.99"] {
            let headers = [("OpenStack-API-Version", &*format!("compute {version}"))];
            let theirs = get(b.daemon.addr(), &path, &headers);
            let ours = get(fleet.addr, &path, &headers);
            assert_eq!(
                (ours.status, &ours.body),
                (theirs.status, &theirs.body),
                "{path} {version}"
            );
            assert_eq!(
                ours.header("openstack-api-version"),
                theirs.header("openstack-api-version")
            );
        }
    }

    // A second fleet server lists the same.
    let second = FleetServer::start(&etcd.client_url, "two");
    for ag in [&a, &b] {
        until_in_sync("the second fleet server in sync", &second, ag);
    }

    // B killed: its lease lapses, it stays listed with its records, not alive.
    let before = fleet.records("hv-42");
    b.daemon.child.kill();
    until_seen("B not alive", LEASE_LIMIT, [fleet.addr], || {
        fleet.host("hv-42").is_some_and(|h| h["alive"] == false)
    });
    assert_eq!(fleet.records("hv-42"), before, "its last state is kept");
    assert_eq!(fleet.host("hv-41").unwrap()["alive"], true);
    let metrics = get(fleet.addr, "/metrics", &[]).body;
    assert!(
        metrics.contains("vifd_fleet_hosts{state=\"down\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("vifd_fleet_etcd_up 1"), "{metrics}");
    // Quiet for the lease's 30 s, yet the watch never left etcd: its progress requests
    // were answered (a hung member is left when they are not).
    assert!(
        metrics.contains("vifd_fleet_relists_total{reason=\"error\"} 0"),
        "{metrics}"
    );
    let records = before.len() + served(&a).len();
    assert!(
        metrics.contains(&format!("vifd_fleet_records {records}\n")),
        "{metrics}"
    );
    let problems = fleet.get("/v1/problems");
    for p in problems["problems"].as_array().unwrap() {
        assert!(p["host"] == "hv-41" || p["host"] == "hv-42", "{p}");
    }

    // Forgotten: gone from every fleet server.
    let out = Command::new(env!("CARGO_BIN_EXE_vifd"))
        .args(["fleet", "forget", "hv-42", "--fleet-etcd", &etcd.client_url])
        .env_remove("VIFD_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [&fleet, &second] {
        until_seen("B forgotten", LIMIT, [f.addr], || {
            f.host("hv-42").is_none() && f.records("hv-42").is_empty()
        });
    }
    assert!(etcd.get_prefix("/vifd/v1/hosts/hv-42/").is_empty());
}

#[test]
fn a_restarted_fleet_server_lists_again() {
    if !etcd::available() {
        return;
    }
    let etcd = Etcd::start("fleetrst");
    let a = agent(43, &etcd);
    let mut fleet = FleetServer::start(&etcd.client_url, "rst");
    until_in_sync("A in the fleet", &fleet, &a);
    fleet.child.kill();
    // Changed while no fleet server runs.
    a.ns.batch("link set tq43d1n1 mtu 1300\n");
    let prefix = "/vifd/v1/hosts/hv-43/vifs/";
    etcd.until_changed(prefix, "the change in etcd", LIMIT, || {
        etcd.get_prefix(prefix)
            .values()
            .any(|v| v.contains("\"mtu\":1300"))
    });
    let fleet = FleetServer::start(&etcd.client_url, "rst2");
    until_in_sync("A in the restarted fleet", &fleet, &a);
    assert_eq!(fleet.host("hv-43").unwrap()["alive"], true);
}

#[test]
fn the_fleet_server_refuses_what_vifd_serve_refuses() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vifd"))
            .args(["fleet", "serve"])
            .args(args)
            .env_remove("VIFD_CONFIG")
            .env_remove("VIFD_FLEET_ETCD")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--fleet-etcd"), "{err}");
    let open = [
        "--listen",
        "0.0.0.0:0",
        "--fleet-etcd",
        "http://127.0.0.1:9",
    ];
    let (code, err) = run(&open);
    assert_eq!(code, Some(2));
    assert!(err.contains("token"), "{err}");
}
