//! A guest NIC's host side with traffic on demand: `vc-host` (the NIC of
//! tests/fixtures/identity/counters.xml, MAC 52:54:00:77:00:01) in one namespace, its
//! veth peer in another, fixed neighbours and no IPv6 link-local chatter, so that only
//! the test's datagrams move the counters.
#![allow(dead_code)]

use std::net::UdpSocket;

use super::daemon::in_netns;
use super::TestNs;

/// The guest MAC of the fixture's NIC.
pub const MAC: &str = "52:54:00:77:00:01";
/// Datagrams per [`send`], and their payload size.
pub const SENT: u64 = 200;
pub const PAYLOAD: usize = 100;

/// (`host` holding `vc-host`, `far` holding its peer), namespaces tagged `tag`.
pub fn veth(tag: &str) -> (TestNs, TestNs) {
    let (host, far) = (TestNs::new(tag), TestNs::new(&format!("{tag}f")));
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

/// [`SENT`] UDP datagrams from `far` to `vc-host`: they arrive on `vc-host`.
pub fn send(far: &TestNs) {
    in_netns(&far.name, || {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..SENT {
            sock.send_to(&[0u8; PAYLOAD], "10.77.0.1:9")
                .expect("send a datagram");
        }
    });
}
