//! A VIF's counters come from its host device: traffic sent through a veth pair (one end
//! carrying a test:/// guest's NIC, the other in a second namespace) shows in `vifd list`
//! and, without a new generation, in `vifd serve` at the next poll.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::daemon::{in_netns, Daemon};
use common::http::get;
use common::{fixture_path, record_by_mac, vifd_json, wait_until, TestNs};
use serde_json::Value;

const MAC: &str = "52:54:00:77:00:01";
const SENT: u64 = 200;
const PAYLOAD: usize = 100;

/// `vc-host` (the guest's NIC) in `host`, its peer in `far`, addressed, with fixed
/// neighbours and no IPv6 link-local chatter: only the test's datagrams move counters.
fn veth() -> (TestNs, TestNs) {
    let (host, far) = (TestNs::new("cnt"), TestNs::new("cntf"));
    host.batch(&format!(
        "link add vc-host address 02:00:00:00:77:01 type veth peer name vc-far address 02:00:00:00:77:02 netns {}\n\
         link set vc-host addrgenmode none\naddr add 10.77.0.1/24 dev vc-host\nlink set vc-host up\n",
        far.name
    ));
    far.batch(
        "link set vc-far addrgenmode none\naddr add 10.77.0.2/24 dev vc-far\n\
         neigh add 10.77.0.1 lladdr 02:00:00:00:77:01 dev vc-far nud permanent\nlink set vc-far up\n",
    );
    (host, far)
}

fn send(far: &TestNs) {
    in_netns(&far.name, || {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..SENT {
            sock.send_to(&[0u8; PAYLOAD], "10.77.0.1:9")
                .expect("send a datagram");
        }
    });
}

fn rx(rec: &Value) -> (u64, u64) {
    let s = &rec["stats"];
    (
        s["rx_packets"].as_u64().unwrap(),
        s["rx_bytes"].as_u64().unwrap(),
    )
}

#[test]
fn counters_move_when_traffic_crosses_the_vifs_veth() {
    let (host, far) = veth();
    let uri = format!("test://{}", fixture_path("identity/counters.xml"));
    let list = || {
        vifd_json(
            &[
                "list",
                "--json",
                "--libvirt-uri",
                &uri,
                "--netns",
                &host.name,
            ],
            0,
        )
    };
    let before = rx(record_by_mac(&list(), MAC));
    send(&far);
    let after = rx(record_by_mac(&list(), MAC));
    assert!(
        after.0 >= before.0 + SENT,
        "rx_packets {before:?} -> {after:?}"
    );
    assert!(
        after.1 >= before.1 + SENT * PAYLOAD as u64,
        "rx_bytes {before:?} -> {after:?}"
    );

    // Served: the next poll brings them, as the same generation and no watch event.
    let d = Daemon::on_loopback(&[
        "--libvirt-uri",
        &uri,
        "--netns",
        &host.name,
        "--refresh",
        "3600",
        "--poll-interval",
        "1",
    ]);
    let first = get(d.addr(), "/v1/interfaces", &[]);
    let served_before = rx(record_by_mac(&first.json(), MAC));
    send(&far);
    wait_until("the counters served", Duration::from_secs(5), || {
        rx(record_by_mac(
            &get(d.addr(), "/v1/interfaces", &[]).json(),
            MAC,
        ))
        .0 >= served_before.0 + SENT
    });
    let later = get(d.addr(), "/v1/interfaces", &[]);
    assert_eq!(
        later.generation(),
        first.generation(),
        "counters are not a change"
    );
}
