//! The netlink inventory against real devices in fresh network namespaces.

mod common;

use std::fs::File;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::{LinkEvents, TestNs};
use nix::sched::{setns, CloneFlags};
use vifd::netlink::{
    read_devices, DeviceKind, HostDevice, LinkEvent, LinkStats, LinkWatch, NetnsTarget,
};

async fn devices(ns: &TestNs) -> Vec<HostDevice> {
    read_devices(&NetnsTarget::Named(ns.name.clone()))
        .await
        .expect("netlink dump")
}

fn find<'a>(devs: &'a [HostDevice], name: &str) -> &'a HostDevice {
    devs.iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("{name} not in {devs:#?}"))
}

#[tokio::test]
async fn taps_bridges_veths_and_macvtaps_are_reported_with_their_attributes() {
    let ns = TestNs::new("inv");
    ns.batch(
        "link add br0 type bridge\nlink set br0 up\n\
         tuntap add dev tap0 mode tap\nlink set tap0 address fe:54:00:00:00:01 mtu 1450 master br0 up\n\
         tuntap add dev tun0 mode tun\n\
         link add ve0 type veth peer name ve1\nlink set ve0 up\nlink set ve1 up\n\
         link add link ve0 name macvtap0 address 52:54:00:00:00:02 type macvtap mode bridge\n\
         link set macvtap0 up\n",
    );
    let devs = devices(&ns).await;

    let tap = find(&devs, "tap0");
    assert_eq!(tap.kind, DeviceKind::Tap);
    assert_eq!(tap.mac.unwrap().to_string(), "fe:54:00:00:00:01");
    assert_eq!(tap.master.as_deref(), Some("br0"));
    assert_eq!(tap.mtu, Some(1450));
    assert!(tap.admin_up);
    // Nobody holds the tap open: no carrier, operationally down.
    assert_eq!(tap.carrier, Some(false));
    assert_eq!(tap.operstate, "down");

    assert_eq!(find(&devs, "tun0").kind, DeviceKind::Tun);
    assert_eq!(find(&devs, "br0").kind, DeviceKind::Bridge);
    assert_eq!(find(&devs, "lo").kind, DeviceKind::Loopback);

    let (ve0, ve1) = (find(&devs, "ve0"), find(&devs, "ve1"));
    assert_eq!(ve0.kind, DeviceKind::Veth);
    assert_eq!(ve0.link_ifindex, Some(ve1.ifindex));
    assert_eq!(ve1.link_ifindex, Some(ve0.ifindex));

    let mvt = find(&devs, "macvtap0");
    assert_eq!(mvt.kind, DeviceKind::Macvtap);
    assert_eq!(mvt.lower.as_deref(), Some("ve0"));
    assert_eq!(mvt.mac.unwrap().to_string(), "52:54:00:00:00:02");
    assert_eq!(mvt.carrier, Some(true));
    assert_eq!(mvt.operstate, "up");
}

#[tokio::test]
async fn inventory_agrees_with_ip_link_on_shared_fields() {
    let ns = TestNs::new("ipj");
    ns.batch(
        "link add br7 type bridge\nlink set br7 up\n\
         tuntap add dev tap7 mode tap\nlink set tap7 master br7 up\n\
         link add v7a type veth peer name v7b\n",
    );
    let devs = devices(&ns).await;
    let links = ns.ip_links();
    assert_eq!(devs.len(), links.len());
    for l in &links {
        let d = find(&devs, l["ifname"].as_str().unwrap());
        assert_eq!(Some(d.ifindex as u64), l["ifindex"].as_u64());
        assert_eq!(
            d.mac.map(|m| m.to_string()).as_deref(),
            l["address"].as_str(),
            "{}",
            d.name
        );
        assert_eq!(d.master.as_deref(), l["master"].as_str());
        assert_eq!(Some(d.mtu.unwrap() as u64), l["mtu"].as_u64());
        assert_eq!(d.operstate.to_uppercase(), l["operstate"].as_str().unwrap());
        if let Some(kind) = l["linkinfo"]["info_kind"].as_str() {
            let want = match (kind, l["linkinfo"]["info_data"]["type"].as_str()) {
                ("tun", Some("tun")) => "tun",
                ("tun", _) => "tap",
                (k, _) => k,
            };
            assert_eq!(d.kind.as_str(), want, "{}", d.name);
        }
    }
}

#[tokio::test]
async fn veth_peer_in_another_namespace_has_a_netnsid() {
    let a = TestNs::new("pa");
    let b = TestNs::new("pb");
    a.batch(&format!(
        "link add vx0 type veth peer name vx1 netns {}\n",
        b.name
    ));
    let devs = devices(&a).await;
    let vx0 = find(&devs, "vx0");
    assert!(vx0.link_netnsid.is_some(), "{vx0:?}");
    assert!(vx0.link_ifindex.is_some());
    assert!(find(&devices(&b).await, "vx1").link_netnsid.is_some());
}

#[tokio::test]
async fn namespace_can_be_named_by_path() {
    let ns = TestNs::new("path");
    ns.batch("tuntap add dev tapp0 mode tap\n");
    let devs = read_devices(&NetnsTarget::Named(format!("/run/netns/{}", ns.name)))
        .await
        .unwrap();
    find(&devs, "tapp0");
}

#[tokio::test]
async fn missing_namespace_is_a_clear_error() {
    let err = read_devices(&NetnsTarget::Named("vifdt-does-not-exist".into()))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("vifdt-does-not-exist") && msg.contains("not found"),
        "{msg}"
    );
}

#[tokio::test]
async fn current_namespace_is_read_without_entering_another() {
    let devs = read_devices(&NetnsTarget::Current).await.unwrap();
    assert!(devs.iter().any(|d| d.kind == DeviceKind::Loopback));
}

/// Datagrams each side sends in the counter tests, and their UDP payload.
const SENT: u64 = 200;
const PAYLOAD: usize = 100;
/// One datagram on the wire: Ethernet, IPv4 and UDP headers, then the payload.
const FRAME: u64 = 14 + 20 + 8 + PAYLOAD as u64;

/// A veth pair between two fresh namespaces, 10.9.0.1 (va, in the first) and 10.9.0.2
/// (vb), both up. Quiet on purpose: no IPv6 link-local addresses (so no DAD, router
/// solicitations or MLD) and permanent neighbours (so no ARP), so that the counters
/// move only with the test's own traffic.
async fn quiet_veth_pair() -> (TestNs, TestNs) {
    let (a, b) = (TestNs::new("cta"), TestNs::new("ctb"));
    // Subscribed before the links exist: their coming up is a notification to wait on.
    let events = [LinkEvents::open(&a.name), LinkEvents::open(&b.name)];
    a.batch(&format!(
        "link add va address 02:00:00:00:09:01 type veth peer name vb address 02:00:00:00:09:02 netns {}\n\
         link set va addrgenmode none\naddr add 10.9.0.1/24 dev va\n\
         neigh add 10.9.0.2 lladdr 02:00:00:00:09:02 dev va nud permanent\nlink set va up\n",
        b.name
    ));
    b.batch(
        "link set vb addrgenmode none\naddr add 10.9.0.2/24 dev vb\n\
         neigh add 10.9.0.1 lladdr 02:00:00:00:09:01 dev vb nud permanent\nlink set vb up\n",
    );
    for ((ns, name), events) in [(&a, "va"), (&b, "vb")].into_iter().zip(&events) {
        // Blocking is fine here: nothing else runs on this test's runtime meanwhile.
        events.until(&format!("{name} up"), Duration::from_secs(20), || {
            ns.ip_links()
                .iter()
                .any(|l| l["ifname"] == name && l["operstate"] == "UP")
        });
    }
    (a, b)
}

/// Sends `SENT` UDP datagrams from inside `ns` to `to` (nobody listens: they still cross
/// the veth), on a thread of its own, since a thread that entered a namespace stays in it.
fn send_udp(ns: &TestNs, to: &str) {
    let path = format!("/run/netns/{}", ns.name);
    let to: std::net::SocketAddr = to.parse().unwrap();
    std::thread::spawn(move || {
        let file = File::open(&path).expect("the namespace file");
        setns(&file, CloneFlags::CLONE_NEWNET).expect("enter the namespace (needs root)");
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..SENT {
            sock.send_to(&[0u8; PAYLOAD], to).expect("send a datagram");
        }
    })
    .join()
    .unwrap();
}

fn stats_of(devs: &[HostDevice], name: &str) -> LinkStats {
    find(devs, name)
        .stats
        .unwrap_or_else(|| panic!("{name} has no counters"))
}

/// `ip -s -j link show dev NAME` in the namespace, as `LinkStats`.
fn ip_stats(ns: &TestNs, name: &str) -> LinkStats {
    let out = Command::new("ip")
        .args(["-n", &ns.name, "-s", "-j", "link", "show", "dev", name])
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v[0]["stats64"];
    let n = |dir: &str, field: &str| s[dir][field].as_u64().expect("ip -s -j figures");
    LinkStats {
        rx_bytes: n("rx", "bytes"),
        rx_packets: n("rx", "packets"),
        rx_errors: n("rx", "errors"),
        rx_dropped: n("rx", "dropped"),
        tx_bytes: n("tx", "bytes"),
        tx_packets: n("tx", "packets"),
        tx_errors: n("tx", "errors"),
        tx_dropped: n("tx", "dropped"),
    }
}

/// Asserts that `after` counts at least `SENT` more frames each way than `before`.
fn moved_by_the_traffic(name: &str, before: LinkStats, after: LinkStats) {
    assert!(
        after.tx_packets >= before.tx_packets + SENT,
        "{name} tx: {before:?} -> {after:?}"
    );
    assert!(
        after.rx_packets >= before.rx_packets + SENT,
        "{name} rx: {before:?} -> {after:?}"
    );
    assert!(
        after.tx_bytes >= before.tx_bytes + SENT * FRAME,
        "{name}: {before:?} -> {after:?}"
    );
    assert!(
        after.rx_bytes >= before.rx_bytes + SENT * FRAME,
        "{name}: {before:?} -> {after:?}"
    );
}

#[tokio::test]
async fn counters_move_when_traffic_crosses_a_veth() {
    let (a, b) = quiet_veth_pair().await;
    let before_a = stats_of(&devices(&a).await, "va");
    let before_b = stats_of(&devices(&b).await, "vb");
    send_udp(&a, "10.9.0.2:9");
    send_udp(&b, "10.9.0.1:9");

    let after_a = stats_of(&devices(&a).await, "va");
    let after_b = stats_of(&devices(&b).await, "vb");
    moved_by_the_traffic("va", before_a, after_a);
    moved_by_the_traffic("vb", before_b, after_b);
    // What one side sent, the other received (veth drops nothing here).
    assert_eq!(
        after_a.tx_packets - before_a.tx_packets,
        after_b.rx_packets - before_b.rx_packets
    );
    assert_eq!(
        after_a.tx_bytes - before_a.tx_bytes,
        after_b.rx_bytes - before_b.rx_bytes
    );
    // The same figures as iproute2, read with no traffic in between.
    assert_eq!(after_a, ip_stats(&a, "va"));
    assert_eq!(after_b, ip_stats(&b, "vb"));
}

#[tokio::test]
async fn watch_sends_periodic_stats() {
    let (a, _b) = quiet_veth_pair().await;
    let mut w = LinkWatch::start(
        &NetnsTarget::Named(a.name.clone()),
        None,
        Some(Duration::from_millis(200)),
    )
    .expect("watcher starts");
    let first = tokio::time::timeout(Duration::from_secs(3), w.next()).await;
    let first = first
        .expect("an event within 3 s")
        .expect("the watcher runs");
    assert!(matches!(first, LinkEvent::Resynced), "{first:?}");
    let before = stats_of(&w.devices(), "va");
    send_udp(&a, "10.9.0.2:9");

    // Counters come every 200 ms, and never as a change of the device.
    let (mut ticks, mut moved) = (0, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while ticks < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ticks} counter events in 3 s"
        );
        let event = tokio::time::timeout(Duration::from_secs(1), w.next())
            .await
            .expect("counters within 1 s")
            .expect("the watcher runs");
        match event {
            LinkEvent::Stats(stats) => {
                ticks += 1;
                let va = stats
                    .iter()
                    .find(|(n, _)| n == "va")
                    .expect("va in the counters")
                    .1;
                if va.tx_packets >= before.tx_packets + SENT {
                    moved = Some(va);
                }
                assert_eq!(
                    stats_of(&w.devices(), "va"),
                    va,
                    "devices() has the fresh counters"
                );
            }
            other => panic!("only counters expected, got {other:?}"),
        }
    }
    let moved = moved.expect("a counter event saw the traffic");
    assert!(
        moved.tx_bytes >= before.tx_bytes + SENT * FRAME,
        "{before:?} -> {moved:?}"
    );
}
