//! Open vSwitch's datapath in correlation, on fixtures (no I/O): the `wrong-master` rule
//! follows the bridge's `datapath_type` (kernel: `ovs-system`; userspace `netdev`: no
//! master), and vhost-user interfaces find their OVS Interface by socket path.

use std::sync::Arc;

use vifd::identity::{Facts, OvsFacts};
use vifd::inventory::{NetIdSource, PortIdSource};
use vifd::libvirt::{Domain, DomainInterface, DomainState, InterfaceSource, Snapshot, Virtualport};
use vifd::mac::MacAddr;
use vifd::netlink::{DeviceKind, HostDevice};
use vifd::ovsdb::{OvsInterface, OvsState};
use vifd::{correlate_with, CorrelateOptions, Correlation, Delta, Inventory, ProblemKind};

const DOM: &str = "c6f2b7c4-3d4e-4f5a-8b6c-7d8e9f0a1b2c";
const PORT: &str = "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f";
const NET: &str = "7d1c0a9e-5b3f-4e2d-8c1b-0a9e5b3f4e2d";
const TAP: &str = "tap4e6a8c0e-2f";
const GUEST: &str = "fa:16:3e:00:00:01";
const SOCK: &str = "/var/lib/vhost_sockets/vhu4e6a8c0e-2f";

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn domain(iface: DomainInterface) -> Domain {
    Domain {
        uuid: DOM.into(),
        name: "instance-00000001".into(),
        state: DomainState::Paused,
        interfaces: vec![iface],
        disks: vec![],
        nova: None,
        guest_addresses: vec![],
    }
}

/// `<interface type='bridge'>` on `br-int` with `<virtualport type='openvswitch'>`.
fn ovs_port() -> DomainInterface {
    DomainInterface {
        kind: "bridge".into(),
        mac: Some(mac(GUEST)),
        target: Some(TAP.into()),
        source: InterfaceSource {
            bridge: Some("br-int".into()),
            ..Default::default()
        },
        virtualport: Some(Virtualport {
            kind: Some("openvswitch".into()),
            interfaceid: Some(PORT.into()),
        }),
        ..Default::default()
    }
}

/// Nova >= 24's OVS port: `type='ethernet'`, no source, no virtualport.
fn ethernet() -> DomainInterface {
    DomainInterface {
        kind: "ethernet".into(),
        mac: Some(mac(GUEST)),
        target: Some(TAP.into()),
        ..Default::default()
    }
}

/// `<interface type='vhostuser'><source type='unix' path=SOCK mode=MODE/>`.
fn vhostuser(mode: &str) -> DomainInterface {
    DomainInterface {
        kind: "vhostuser".into(),
        mac: Some(mac(GUEST)),
        source: InterfaceSource {
            path: Some(SOCK.into()),
            mode: Some(mode.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn device(name: &str, kind: DeviceKind, master: Option<&str>) -> HostDevice {
    HostDevice {
        ifindex: 10 + name.len() as u32,
        name: name.into(),
        kind,
        mac: Some(mac(GUEST).libvirt_tap_mac()),
        master: master.map(String::from),
        operstate: "unknown".into(),
        carrier: Some(true),
        admin_up: true,
        mtu: Some(1500),
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
}

/// The tap, enslaved to `master`, with the host's `ovs-system` and Linux bridge `br0`.
fn host(master: Option<&str>) -> Vec<HostDevice> {
    vec![
        device(TAP, DeviceKind::Tap, master),
        device("ovs-system", DeviceKind::Openvswitch, None),
        device("br0", DeviceKind::Bridge, None),
    ]
}

/// The Interface row os-vif writes, on `br-int` with this datapath_type.
fn row(name: &str, datapath: &str) -> OvsInterface {
    OvsInterface {
        name: name.into(),
        iface_id: Some(PORT.into()),
        attached_mac: Some(GUEST.into()),
        vm_uuid: Some(DOM.into()),
        port: Some(name.into()),
        bridge: Some("br-int".into()),
        net_uuid: Some(NET.into()),
        vlan: Some(5),
        datapath_type: Some(datapath.into()),
        ..Default::default()
    }
}

/// A `dpdkvhostuserclient` row: OVS connects to QEMU's server socket SOCK.
fn vhost_client_row() -> OvsInterface {
    OvsInterface {
        iface_type: "dpdkvhostuserclient".into(),
        vhost_socket: Some(SOCK.into()),
        ..row("vhu4e6a8c0e-2f", "netdev")
    }
}

fn ovs(rows: Vec<OvsInterface>) -> Option<OvsFacts> {
    let interfaces = rows.into_iter().map(|r| (r.name.clone(), r)).collect();
    Some(OvsFacts {
        state: Arc::new(OvsState {
            interfaces,
            ..Default::default()
        }),
        stale: false,
    })
}

fn run(iface: DomainInterface, devices: Vec<HostDevice>, rows: Vec<OvsInterface>) -> Inventory {
    let snap = Snapshot {
        domains: vec![domain(iface)],
        networks: vec![],
    };
    let facts = Facts::new(ovs(rows), &[]);
    correlate_with(&snap, &devices, &facts, &CorrelateOptions::default())
}

/// The wrong-master problem's detail, if the one record has one.
fn wrong_master(inv: &Inventory) -> Option<String> {
    let p = inv
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::WrongMaster);
    p.map(|p| p.detail.clone())
}

#[test]
fn a_port_of_a_netdev_bridge_without_a_kernel_master_is_fine() {
    for iface in [ovs_port(), ethernet()] {
        let inv = run(iface, host(None), vec![row(TAP, "netdev")]);
        assert!(inv.problems.is_empty(), "{:?}", inv.problems);
    }
}

#[test]
fn a_port_of_a_netdev_bridge_enslaved_to_a_linux_bridge_is_wrong_master() {
    for iface in [ovs_port(), ethernet()] {
        let inv = run(iface, host(Some("br0")), vec![row(TAP, "netdev")]);
        let detail = wrong_master(&inv).expect("wrong-master");
        assert!(
            detail.ends_with(&format!(
                "{TAP} is enslaved to br0, expected no kernel master \
                 (br-int is a userspace netdev bridge)"
            )),
            "{detail}"
        );
    }
    // Enslaved to the kernel datapath is wrong too: a netdev bridge's ports are not its.
    let inv = run(
        ovs_port(),
        host(Some("ovs-system")),
        vec![row(TAP, "netdev")],
    );
    assert!(wrong_master(&inv).is_some_and(|d| d.contains("enslaved to ovs-system")));
}

#[test]
fn a_port_of_a_kernel_datapath_bridge_must_be_enslaved_to_ovs_system() {
    for datapath in ["system", ""] {
        for iface in [ovs_port(), ethernet()] {
            let good = run(
                iface.clone(),
                host(Some("ovs-system")),
                vec![row(TAP, datapath)],
            );
            assert!(good.problems.is_empty(), "{:?}", good.problems);
            let bad = run(iface, host(None), vec![row(TAP, datapath)]);
            let detail = wrong_master(&bad).expect("wrong-master");
            assert!(
                detail.ends_with(&format!(
                    "{TAP} is not enslaved to any bridge, expected Open vSwitch bridge br-int"
                )),
                "{detail}"
            );
        }
    }
}

#[test]
fn without_an_ovsdb_row_a_virtualport_expects_ovs_system_and_ethernet_is_not_checked() {
    let inv = run(ovs_port(), host(None), vec![]);
    assert!(wrong_master(&inv).is_some_and(|d| d.contains("expected Open vSwitch bridge br-int")));
    let inv = run(ovs_port(), host(Some("ovs-system")), vec![]);
    assert_eq!(wrong_master(&inv), None);
    let inv = run(ethernet(), host(Some("br0")), vec![]);
    assert_eq!(wrong_master(&inv), None);
}

#[test]
fn a_vhostuser_server_socket_finds_its_dpdkvhostuserclient_row() {
    let inv = run(vhostuser("server"), vec![], vec![vhost_client_row()]);
    let v = &inv.interfaces[0];
    assert_eq!(
        (v.port_id.as_deref(), v.port_id_source),
        (Some(PORT), Some(PortIdSource::Ovsdb))
    );
    assert_eq!(
        (v.net_id.as_deref(), v.net_id_source),
        (Some(NET), Some(NetIdSource::Ovsdb))
    );
    assert_eq!((v.vlan, v.ovs_bridge.as_deref()), (Some(5), Some("br-int")));
    assert_eq!(v.id, PORT);
    assert!(inv.problems.is_empty(), "{:?}", inv.problems);
}

#[test]
fn a_vhostuser_client_finds_the_dpdkvhostuser_socket_in_the_ovs_rundir() {
    let mut r = OvsInterface {
        iface_type: "dpdkvhostuser".into(),
        vhost_socket: Some(SOCK.into()),
        ..row("vhu4e6a8c0e-2f", "netdev")
    };
    r.attached_mac = Some("fa:16:3e:99:99:99".into());
    let inv = run(vhostuser("client"), vec![], vec![r]);
    let v = &inv.interfaces[0];
    assert_eq!(v.port_id_source, Some(PortIdSource::Ovsdb));
    // The row is checked as a tap's is.
    let kinds: Vec<ProblemKind> = inv.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ProblemKind::OvsdbMismatch]);
    assert!(inv.problems[0]
        .detail
        .contains("attached-mac fa:16:3e:99:99:99"));
}

#[test]
fn a_vhostuser_socket_on_the_same_side_as_ovs_is_not_its_port() {
    // libvirt and OVS both clients of one path: they never connect.
    let inv = run(vhostuser("client"), vec![], vec![vhost_client_row()]);
    let v = &inv.interfaces[0];
    assert_eq!((v.port_id.as_deref(), v.net_id.as_deref()), (None, None));
}

#[test]
fn a_changed_vhostuser_row_changes_its_record() {
    let snap = Snapshot {
        domains: vec![domain(vhostuser("server"))],
        networks: vec![],
    };
    let mut c = Correlation::with_facts(
        snap,
        vec![],
        Facts::new(ovs(vec![vhost_client_row()]), &[]),
        CorrelateOptions::default(),
    );
    let mut r = vhost_client_row();
    r.vlan = Some(9);
    let deltas = c.set_ovsdb(ovs(vec![r]));
    assert!(
        matches!(&deltas[..], [Delta::Changed { record, .. }] if record.vlan == Some(9)),
        "{deltas:?}"
    );
    // The row gone: the record loses what it said.
    let deltas = c.set_ovsdb(ovs(vec![]));
    assert!(
        matches!(&deltas[..], [Delta::Changed { record, .. }] if record.vlan.is_none()),
        "{deltas:?}"
    );
}
