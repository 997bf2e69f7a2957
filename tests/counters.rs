//! A VIF's counters come from its host device: traffic sent through a veth pair (one end
//! carrying a test:/// guest's NIC, the other in a second namespace) shows in `vifd list`
//! and, without a new generation, in `vifd serve` at the next poll.

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::http::get;
use common::{fixture_path, record_by_mac, vifd_json};
use serde_json::Value;

use common::traffic::{send, MAC, PAYLOAD, SENT};

fn rx(rec: &Value) -> (u64, u64) {
    let s = &rec["stats"];
    (
        s["rx_packets"].as_u64().unwrap(),
        s["rx_bytes"].as_u64().unwrap(),
    )
}

#[test]
fn counters_move_when_traffic_crosses_the_vifs_veth() {
    let (host, far) = common::traffic::veth("cnt");
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
        // Logs "counters changed" once new counters are served: the event to wait on.
        "--log-level",
        "warn,vifd::serve::live=debug",
    ]);
    let first = get(d.addr(), "/v1/interfaces", &[]);
    let served_before = rx(record_by_mac(&first.json(), MAC));
    send(&far);
    d.until_logged(
        "the counters served",
        "counters changed",
        Duration::from_secs(20),
        || {
            rx(record_by_mac(
                &get(d.addr(), "/v1/interfaces", &[]).json(),
                MAC,
            ))
            .0 >= served_before.0 + SENT
        },
    );
    let later = get(d.addr(), "/v1/interfaces", &[]);
    assert_eq!(
        later.generation(),
        first.generation(),
        "counters are not a change"
    );
}
