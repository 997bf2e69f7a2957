//! The neighbour table (ARP and NDP) against real entries in fresh network namespaces:
//! read once with the links, and kept by the link watcher from notifications.
//!
//! The entries sit on a bridge that is never brought up: neighbours can be added to it and
//! it sends nothing, so no multicast entries (MLD, IGMP, router solicitations) appear on
//! their own in the middle of a test.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::TestNs;
use vifd::netlink::{read_host, LinkEvent, LinkWatch, Neighbour, NetnsTarget};

const WAIT: Duration = Duration::from_secs(3);

fn target(ns: &TestNs) -> NetnsTarget {
    NetnsTarget::Named(ns.name.clone())
}

/// (device, address, mac) of each entry, in order.
fn entries(ns: &[Neighbour]) -> Vec<(String, String, String)> {
    ns.iter()
        .map(|n| (n.device.clone(), n.address.to_string(), n.mac.to_string()))
        .collect()
}

fn entry(device: &str, address: &str, mac: &str) -> (String, String, String) {
    (device.into(), address.into(), mac.into())
}

#[tokio::test]
async fn neighbour_added_on_a_bridge_is_read() {
    let ns = TestNs::new("nbr");
    // tap0 is a bridge port so that the bridge has fdb entries (family AF_BRIDGE), which
    // the same dump returns and which are not neighbours.
    ns.batch(
        "link add br0 type bridge\n\
         tuntap add dev tap0 mode tap\nlink set tap0 address 52:54:00:00:00:d0 master br0\n\
         neigh add 192.0.2.5 lladdr 52:54:00:aa:bb:cc dev br0 nud permanent\n\
         neigh add 2001:db8::5 lladdr 52:54:00:aa:bb:cd dev br0 nud permanent\n\
         neigh add 192.0.2.6 lladdr 52:54:00:aa:bb:ce dev br0 nud stale\n\
         neigh add 192.0.2.7 lladdr 52:54:00:aa:bb:cf dev br0 nud noarp\n\
         neigh add 192.0.2.8 dev br0 nud incomplete\n\
         neigh add 192.0.2.9 lladdr 52:54:00:aa:bb:d1 dev br0 nud failed\n",
    );
    let (devs, neighbours) = read_host(&target(&ns)).await.expect("netlink dumps");
    let br0 = devs.iter().find(|d| d.name == "br0").expect("br0 read");
    assert_eq!(
        entries(&neighbours),
        [
            entry("br0", "192.0.2.5", "52:54:00:aa:bb:cc"),
            entry("br0", "192.0.2.6", "52:54:00:aa:bb:ce"),
            entry("br0", "192.0.2.7", "52:54:00:aa:bb:cf"),
            entry("br0", "2001:db8::5", "52:54:00:aa:bb:cd"),
        ],
        "{neighbours:#?}"
    );
    assert!(neighbours.iter().all(|n| n.ifindex == br0.ifindex));
    assert!(neighbours.is_sorted());

    ns.batch("neigh del 192.0.2.5 dev br0\nneigh del 2001:db8::5 dev br0\n");
    let (_, neighbours) = read_host(&target(&ns)).await.unwrap();
    let addresses: Vec<IpAddr> = neighbours.iter().map(|n| n.address).collect();
    assert_eq!(
        addresses,
        ["192.0.2.6", "192.0.2.7"].map(|a| a.parse::<IpAddr>().unwrap())
    );
}

#[tokio::test]
async fn missing_namespace_is_a_clear_error_for_neighbours_too() {
    let err = read_host(&NetnsTarget::Named("vifdt-no-such-ns".into()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("vifdt-no-such-ns") && err.contains("not found"),
        "{err}"
    );
}

/// The next event, failing the test rather than waiting for ever.
async fn next_event(w: &mut LinkWatch) -> LinkEvent {
    tokio::time::timeout(WAIT, w.next())
        .await
        .unwrap_or_else(|_| panic!("no event within {WAIT:?}"))
        .expect("the watcher runs")
}

/// The next `Neighbours` event, past link changes.
async fn next_neighbours(w: &mut LinkWatch) -> Vec<Neighbour> {
    loop {
        match next_event(w).await {
            LinkEvent::Neighbours(n) => return n,
            LinkEvent::Changed(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn started(ns: &TestNs, rcvbuf: Option<usize>) -> LinkWatch {
    let mut w = LinkWatch::start(&target(ns), rcvbuf, None).expect("watcher starts");
    assert!(matches!(next_event(&mut w).await, LinkEvent::Resynced));
    w
}

#[tokio::test]
async fn watch_reports_neighbour_changes() {
    let ns = TestNs::new("nbw");
    ns.batch("link add br0 type bridge\n");
    let mut w = started(&ns, None).await;
    assert_eq!(w.neighbours(), []);
    let (v4, v6) = ("192.0.2.5", "2001:db8::5");

    ns.batch("neigh add 192.0.2.5 lladdr 52:54:00:aa:bb:cc dev br0 nud permanent\n");
    let n = next_neighbours(&mut w).await;
    assert_eq!(entries(&n), [entry("br0", v4, "52:54:00:aa:bb:cc")]);
    assert_eq!(n, w.neighbours());

    ns.batch("neigh add 2001:db8::5 lladdr 52:54:00:aa:bb:cd dev br0 nud permanent\n");
    let n = next_neighbours(&mut w).await;
    assert_eq!(n.len(), 2, "{n:#?}");
    assert_eq!(entries(&n)[1], entry("br0", v6, "52:54:00:aa:bb:cd"));

    ns.batch("neigh replace 192.0.2.5 lladdr 52:54:00:aa:bb:dd dev br0 nud permanent\n");
    let n = next_neighbours(&mut w).await;
    assert_eq!(entries(&n)[0], entry("br0", v4, "52:54:00:aa:bb:dd"));

    // State flips with the same lladdr: the kernel announces each, vifd reports none.
    // The next event must be the one for the entry added afterwards.
    ns.batch(
        "neigh replace 192.0.2.5 lladdr 52:54:00:aa:bb:dd dev br0 nud stale\n\
         neigh replace 192.0.2.5 lladdr 52:54:00:aa:bb:dd dev br0 nud reachable\n\
         neigh replace 192.0.2.5 lladdr 52:54:00:aa:bb:dd dev br0 nud permanent\n\
         neigh add 192.0.2.6 lladdr 52:54:00:aa:bb:ce dev br0 nud permanent\n",
    );
    match next_event(&mut w).await {
        LinkEvent::Neighbours(n) => {
            assert_eq!(n.len(), 3, "{n:#?}");
            assert_eq!(
                entries(&n)[1],
                entry("br0", "192.0.2.6", "52:54:00:aa:bb:ce")
            );
        }
        other => panic!("a state flip was reported: {other:?}"),
    }

    // Entries that are not usable are not neighbours: still no event.
    ns.batch(
        "neigh add 192.0.2.8 dev br0 nud incomplete\n\
         neigh add 192.0.2.9 lladdr 52:54:00:aa:bb:d1 dev br0 nud failed\n\
         neigh del 192.0.2.6 dev br0\n",
    );
    let n = next_neighbours(&mut w).await;
    assert_eq!(n.len(), 2, "only the deletion shows: {n:#?}");

    ns.batch("link set br0 name br9\n");
    let n = next_neighbours(&mut w).await;
    assert_eq!(
        entries(&n),
        [
            entry("br9", v4, "52:54:00:aa:bb:dd"),
            entry("br9", v6, "52:54:00:aa:bb:cd"),
        ]
    );

    ns.batch("neigh del 192.0.2.5 dev br9\n");
    assert_eq!(
        entries(&next_neighbours(&mut w).await),
        [entry("br9", v6, "52:54:00:aa:bb:cd")]
    );

    // A deleted device takes its neighbours along.
    ns.batch("link del br9\n");
    assert_eq!(next_neighbours(&mut w).await, []);
}

#[tokio::test]
async fn neighbours_are_current_after_a_requested_resync() {
    let ns = TestNs::new("nbr2");
    ns.batch("link add br0 type bridge\n");
    let mut w = started(&ns, None).await;
    ns.batch("neigh add 192.0.2.5 lladdr 52:54:00:aa:bb:cc dev br0 nud permanent\n");
    w.request_resync();
    // The notification may be applied before the resync or discarded by it: either way,
    // once resynced the entry is there.
    loop {
        match next_event(&mut w).await {
            LinkEvent::Resynced => break,
            LinkEvent::Neighbours(_) | LinkEvent::Changed(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        entries(&w.neighbours()),
        [entry("br0", "192.0.2.5", "52:54:00:aa:bb:cc")]
    );
}

/// A burst of neighbour notifications into a tiny socket buffer: the kernel drops some
/// (ENOBUFS), the watcher resyncs, and the table ends equal to the kernel's.
#[tokio::test]
async fn overrun_by_a_neighbour_burst_ends_in_the_full_table() {
    let ns = TestNs::new("nbo");
    ns.batch("link add br0 type bridge\n");
    let mut w = started(&ns, Some(4096)).await;
    let mut burst = String::new();
    for i in 0..2000u32 {
        let (hi, lo) = (i / 256, i % 256);
        burst.push_str(&format!(
            "neigh add 198.18.{hi}.{lo} lladdr 52:54:00:01:{hi:02x}:{lo:02x} dev br0 nud permanent\n"
        ));
    }
    ns.batch(&burst);
    let mut resynced = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.neighbours().len() < 2000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 2000",
            w.neighbours().len()
        );
        resynced |= matches!(next_event(&mut w).await, LinkEvent::Resynced);
    }
    assert!(resynced, "the overrun path was not exercised");
    let n = w.neighbours();
    assert_eq!(n.len(), 2000);
    let (_, dumped) = read_host(&target(&ns)).await.unwrap();
    assert_eq!(n, dumped);
}
