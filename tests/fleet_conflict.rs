//! Two agents given one host name (a copied configuration): each finds the other when it
//! writes, logs it and claims the host's keys whole; the fleet server shows the conflict
//! in `/v1/hosts` and never serves a mix of the two agents' records.
//!
//! Real etcd, real agents on test-driver hosts in namespaces of their own, a real fleet
//! server. Every wait is a question asked again under a deadline or a log line.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::agents::Agent;
use common::etcd::{self, Etcd};
use common::fleet::FleetServer;
use common::http::get;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);
const HOST: &str = "hv-twice";

type Records = BTreeMap<String, Value>;

fn agent(index: u8, etcd: &Etcd) -> Agent {
    Agent::start(
        index,
        &["--fleet-etcd", &etcd.client_url, "--fleet-host", HOST],
    )
}

/// The instance the host's meta names.
fn meta_instance(etcd: &Etcd) -> String {
    let kv = etcd.get_prefix(&format!("/vifd/v1/hosts/{HOST}/meta"));
    let meta: Value = serde_json::from_str(kv.values().next().expect("a meta")).unwrap();
    meta["instance"].as_str().unwrap().to_string()
}

fn conflicts_counted(a: &Agent) -> u64 {
    let text = get(a.daemon.addr(), "/metrics", &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix("vifd_fleet_conflicts_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the fleet serves `want` for the host, checking that every state it shows
/// meanwhile is one agent's whole state (one of `seen`), never a mix.
fn until_serves(fleet: &FleetServer, want: &Records, seen: &[Records], what: &str) {
    common::wakes::until_seen(what, LIMIT, [fleet.addr], || {
        let now = fleet.records(HOST);
        assert!(
            now.is_empty() || now == *want || seen.contains(&now),
            "{what}: the fleet serves a mix of two agents' records: {now:#?}"
        );
        now == *want
    });
}

#[test]
fn two_agents_with_one_host_name_are_shown_and_never_interleave() {
    if !etcd::available() {
        return;
    }
    let etcd = Etcd::start("fleetdup");
    let fleet = FleetServer::start(&etcd.client_url, "dup");
    let a = agent(61, &etcd);
    let a_before = common::served_by_id(a.daemon.addr());
    until_serves(&fleet, &a_before, &[], "A's records in the fleet");
    let a_instance = meta_instance(&etcd);

    // B starts under the same name: it claims the keys whole.
    let b = agent(62, &etcd);
    let b_before = common::served_by_id(b.daemon.addr());
    assert_ne!(a_before, b_before);
    let seen = vec![a_before.clone()];
    until_serves(&fleet, &b_before, &seen, "B's records in the fleet");
    let b_instance = meta_instance(&etcd);
    assert_ne!(a_instance, b_instance);

    // A changes: its write loses the guard; it logs, counts and claims the host back,
    // its meta naming B.
    a.ns.batch("link set tq61d0n0 mtu 1400\n");
    let line = a
        .daemon
        .wait_log("another agent writes this host's keys", LIMIT);
    assert!(line.contains(&b_instance), "{line}");
    assert!(conflicts_counted(&a) >= 1);
    let a_after = common::served_by_id(a.daemon.addr());
    let seen = vec![a_before, b_before.clone()];
    until_serves(&fleet, &a_after, &seen, "A's records again");
    common::wakes::until_seen("the conflict in /v1/hosts", LIMIT, [fleet.addr], || {
        fleet
            .host(HOST)
            .is_some_and(|h| h["conflict"]["instance"] == *b_instance)
    });
    let metrics = get(fleet.addr, "/metrics", &[]).body;
    assert!(
        metrics
            .lines()
            .any(|l| l == "vifd_fleet_hosts_conflicted 1"),
        "{metrics}"
    );

    // B changes: the same the other way round.
    b.ns.batch("link set tq62d1n1 mtu 1300\n");
    let line = b
        .daemon
        .wait_log("another agent writes this host's keys", LIMIT);
    assert!(line.contains(&a_instance), "{line}");
    let b_after = common::served_by_id(b.daemon.addr());
    let seen = vec![a_after.clone(), b_before];
    until_serves(&fleet, &b_after, &seen, "B's records again");
    common::wakes::until_seen("B's conflict in /v1/hosts", LIMIT, [fleet.addr], || {
        fleet
            .host(HOST)
            .is_some_and(|h| h["conflict"]["instance"] == *a_instance)
    });
    assert_eq!(meta_instance(&etcd), b_instance);
}
