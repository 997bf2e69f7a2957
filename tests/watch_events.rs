//! `GET /v1/watch` in a network namespace: each host-side change arrives as the right
//! event with the right record, generations number the events, `since` resumes from the
//! log, and the long poll on `/v1/interfaces` returns when the generation moves.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::http::get;
use common::sse::{Sse, SseEvent};
use serde_json::Value;

const DB1: &str = "52:54:00:aa:00:02"; // tap-db1-1, missing in the demo
/// How long an expected event may take (a bound on a wait: they come in milliseconds).
const WAIT: Duration = Duration::from_secs(20);

/// A `changed` event of the db1 record whose record satisfies `ok`.
fn changed(ok: impl Fn(&Value) -> bool) -> impl Fn(&SseEvent) -> bool {
    move |e: &SseEvent| {
        e.kind == "changed" && e.data["interface"]["mac_address"] == DB1 && ok(&e.data["interface"])
    }
}

fn problem<'a>(status: &'a str, kind: &'a str, device: &'a str) -> impl Fn(&SseEvent) -> bool + 'a {
    move |e: &SseEvent| {
        e.kind == "problem"
            && e.data["status"] == status
            && e.data["problem"]["kind"] == kind
            && e.data["problem"]["device"] == device
    }
}

fn served_record(addr: SocketAddr) -> Value {
    get(addr, &format!("/v1/interfaces?mac={DB1}"), &[]).json()["interfaces"][0].clone()
}

#[test]
fn host_changes_arrive_as_events_with_the_record_served() {
    let (ns, d) = Daemon::on_demo_host("watch");
    let addr = d.addr();
    let mut sse = Sse::open(addr, "/v1/watch");
    let snap = sse.next(WAIT).expect("a snapshot");
    assert_eq!(snap.kind, "snapshot");
    let listed = get(addr, "/v1/interfaces", &[]).json();
    assert_eq!(snap.data["interfaces"], listed["interfaces"]);
    assert_eq!(snap.data["generation"], listed["generation"]);
    assert_eq!(snap.id, listed["generation"].as_u64());
    assert_eq!(snap.data["stale"], false);
    let mut last = snap.id.unwrap();
    let mut check = |events: Vec<SseEvent>| {
        for ev in events {
            let id = ev.id.expect("every event has an id");
            assert!(id > last, "generations increase: {last} then {id}");
            assert_eq!(ev.data["generation"], id, "id and data generation agree");
            last = id;
        }
    };
    let none = serde_json::json!([]);

    ns.batch("tuntap add dev tap-db1-1 mode tap\nlink set tap-db1-1 address fe:54:00:aa:00:02 master br-demo up\n");
    check(sse.until_all(
        WAIT,
        "created tap",
        &[
            &changed(|r| {
                r["device"] == "tap-db1-1" && r["master"] == "br-demo" && r["problems"] == none
            }),
            &problem("cleared", "device-missing", "tap-db1-1"),
        ],
    ));
    assert_eq!(served_record(addr)["master"], "br-demo");

    ns.batch("link set tap-db1-1 master virbr-demo\n");
    check(sse.until_all(
        WAIT,
        "enslaved to another bridge",
        &[
            &changed(|r| {
                r["master"] == "virbr-demo" && r["problems"] == serde_json::json!(["wrong-master"])
            }),
            &problem("raised", "wrong-master", "tap-db1-1"),
        ],
    ));

    ns.batch("link set tap-db1-1 master br-demo\nlink set tap-db1-1 down\n");
    check(sse.until_all(
        WAIT,
        "set down",
        &[
            &changed(|r| {
                r["operstate"] == "down" && r["admin_up"] == false && r["master"] == "br-demo"
            }),
            &problem("cleared", "wrong-master", "tap-db1-1"),
        ],
    ));

    ns.batch("link set tap-db1-1 address fe:54:00:aa:00:99\n");
    check(sse.until_all(
        WAIT,
        "new MAC",
        &[
            &changed(|r| {
                r["host_mac"] == "fe:54:00:aa:00:99"
                    && r["problems"] == serde_json::json!(["mac-mismatch"])
            }),
            &problem("raised", "mac-mismatch", "tap-db1-1"),
        ],
    ));
    assert_eq!(served_record(addr)["host_mac"], "fe:54:00:aa:00:99");

    ns.batch("link set tap-db1-1 name tap-db1-9\n");
    check(sse.until_all(
        WAIT,
        "renamed away",
        &[
            &changed(|r| {
                r["ifindex"].is_null() && r["problems"] == serde_json::json!(["device-missing"])
            }),
            &problem("raised", "orphan-device", "tap-db1-9"),
            &problem("cleared", "mac-mismatch", "tap-db1-1"),
        ],
    ));

    ns.batch("link del tap-db1-9\n");
    check(sse.until_all(
        WAIT,
        "deleted",
        &[&problem("cleared", "orphan-device", "tap-db1-9")],
    ));

    // Events and the served generation line up: a long poll for the last event's
    // generation answers with it (or a later one), not at its timeout.
    let r = get(
        addr,
        &format!("/v1/interfaces?wait_for_generation={last}&timeout=5"),
        &[],
    );
    assert!(r.generation() >= last, "served {} < {last}", r.generation());
}

#[test]
fn since_replays_the_log_and_falls_back_to_a_snapshot() {
    let (ns, d) = Daemon::on_demo_host("since");
    let addr = d.addr();
    let mut first = Sse::open(addr, "/v1/watch");
    let snap = first.next(WAIT).unwrap();
    let g0 = snap.id.unwrap();
    let instance = snap.data["instance"].as_str().unwrap().to_string();
    // One change at a time: in one batch, the add and the delete of tapw1 can reach the
    // link watcher together and cancel out (no event at all), which made this flaky.
    let mut seen = Vec::new();
    for change in [
        "tuntap add dev tapw1 mode tap\n",
        "tuntap add dev tapw2 mode tap\n",
        "link del tapw1\n",
    ] {
        ns.batch(change);
        let ev = first.next(WAIT).expect("a problem event per change");
        seen.push(ev);
    }
    let gens: Vec<u64> = seen.iter().map(|e| e.id.unwrap()).collect();

    // Resume after the first of them: the other two, in order, then live.
    let mut resumed = Sse::open(
        addr,
        &format!("/v1/watch?since={}&instance={instance}", gens[0]),
    );
    for expected in &seen[1..] {
        let ev = resumed.next(WAIT).unwrap();
        assert_eq!(
            (ev.kind.as_str(), ev.id),
            (expected.kind.as_str(), expected.id)
        );
        assert_eq!(ev.data, expected.data);
    }
    ns.batch("link del tapw2\n");
    let live = resumed.next(WAIT).unwrap();
    assert_eq!(live.id, Some(gens[2] + 1));
    assert_eq!(live.data["problem"]["device"], "tapw2");

    // Last-Event-ID does what since does.
    let mut by_header = sse_with_header(addr, &gens[1].to_string());
    assert_eq!(by_header.next(WAIT).unwrap().id, Some(gens[2]));

    // Another daemon's instance, a generation from the future, or none: a snapshot.
    for q in [
        format!("/v1/watch?since={g0}&instance=0000000000000000"),
        "/v1/watch?since=999999".to_string(),
        "/v1/watch?since=0".to_string(),
    ] {
        let mut s = Sse::open(addr, &q);
        let ev = s.next(WAIT).unwrap();
        assert_eq!(ev.kind, "snapshot", "{q}");
        assert_eq!(ev.id, Some(gens[2] + 1), "{q}");
    }
    let bad = get(addr, "/v1/watch?since=abc", &[]);
    assert_eq!(bad.status, 400, "{}", bad.body);
    let unknown = get(addr, "/v1/watch?sinse=1", &[]);
    assert_eq!(unknown.status, 400, "{}", unknown.body);
}

fn sse_with_header(addr: SocketAddr, last_id: &str) -> Sse {
    Sse::open_with(addr, "/v1/watch", &[("Last-Event-ID", last_id)])
}

#[test]
fn long_poll_returns_when_the_generation_moves_or_at_the_timeout() {
    let (ns, d) = Daemon::on_demo_host("poll");
    let addr = d.addr();
    let g = get(addr, "/healthz", &[]).generation();

    let waiter = std::thread::spawn(move || {
        get(
            addr,
            &format!("/v1/interfaces?wait_for_generation={}&timeout=300", g + 1),
            &[],
        )
    });
    // Kept on purpose: time passes with nothing changing, and the long poll must still
    // be waiting (not synchronisation: the change below is seen however early it comes).
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "the long poll waits for a change");
    ns.batch("tuntap add dev tapw3 mode tap\n");
    let resp = waiter.join().unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        resp.generation() > g,
        "answered at generation {}",
        resp.generation()
    );
    // It answered within the client's 30 s read timeout, so on the change: its own
    // timeout is 300 s.
    assert_eq!(resp.json()["generation"], resp.generation());

    let started = Instant::now();
    let resp = get(
        addr,
        &format!("/v1/interfaces?wait_for_generation={}&timeout=1", g + 1000),
        &[],
    );
    assert_eq!(resp.status, 200);
    assert!(resp.generation() < g + 1000);
    // Not before its timeout (how late is a wait bound: the client's read timeout).
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");

    assert_eq!(
        get(
            addr,
            "/v1/interfaces?wait_for_generation=1&timeout=301",
            &[]
        )
        .status,
        400
    );
    // A timeout without a generation to wait for waits for nothing.
    assert_eq!(get(addr, "/v1/interfaces?timeout=5", &[]).status, 200);
}
