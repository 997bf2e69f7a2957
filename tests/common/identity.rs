//! The guests, ports and networks of tests/fixtures/identity/node.xml, for the tests that
//! write OVSDB rows for it.
#![allow(dead_code)]

use super::ovsdb::OvsdbServer;
use super::TestNs;

pub const VM1: &str = "1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a5b";
pub const VM2: &str = "1a2b3c4d-0002-4e5f-8a9b-0c1d2e3f4a5b";
pub const P1: &str = "6a1f0c2e-91b4-4d7a-8e3c-5b2d9f0a1c01";
pub const P2: &str = "7b2e1d3f-a2c5-4e8b-9f4d-6c3e0a1b2d02";
pub const P3: &str = "8c3f2e40-b3d6-4f9c-8a5e-7d4f1b2c3e03";
pub const NET_A: &str = "0e5d4c3b-2a19-4f8e-8d7c-6b5a4f3e2d1c";
pub const NET_B: &str = "9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a";

/// The tap Nova's os-vif names for a port: `tap` + the port UUID's first 11 characters.
pub fn tap_of(port: &str) -> String {
    format!("tap{}", &port[..11])
}

/// The three taps of the fixture, in a fresh namespace.
pub fn host() -> TestNs {
    let ns = TestNs::new("ovs");
    let cmds: String = [P1, P2, P3]
        .iter()
        .map(|p| format!("tuntap add dev {} mode tap\n", tap_of(p)))
        .collect();
    ns.batch(&cmds);
    ns
}

/// The rows os-vif and the Neutron agent write for one port.
pub fn plug(ovs: &OvsdbServer, port: &str, mac: &str, vm: &str, net: &str, tag: u16) {
    let tap = tap_of(port);
    ovs.vsctl(&[
        "--may-exist",
        "add-port",
        "br-int",
        &tap,
        "--",
        "set",
        "Interface",
        &tap,
        &format!("external_ids:iface-id={port}"),
        &format!("external_ids:attached-mac={mac}"),
        &format!("external_ids:vm-uuid={vm}"),
        "--",
        "set",
        "Port",
        &tap,
        &format!("other_config:net_uuid={net}"),
        &format!("tag={tag}"),
    ]);
}

/// The fixture's taps with vm-1's and vm-2's first ports plugged into a `br-int` of this
/// datapath_type. No ovs-vswitchd runs, so no tap has a kernel master: right for a
/// userspace (`netdev`) bridge, wrong-master for a kernel datapath (`system`) one.
pub fn setup_on(datapath: &str) -> (TestNs, OvsdbServer) {
    let ns = host();
    let ovs = OvsdbServer::new();
    ovs.add_bridge("br-int", datapath);
    plug(&ovs, P1, "fa:16:3e:20:00:01", VM1, NET_A, 3);
    plug(&ovs, P2, "fa:16:3e:20:00:02", VM2, NET_B, 4);
    (ns, ovs)
}
