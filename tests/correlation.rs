//! Correlation of libvirt and host snapshots: every problem kind and matching rule.

use vifd::inventory::{NetIdSource, PortIdSource};
use vifd::libvirt::{
    Domain, DomainInterface, DomainState, InterfaceSource, Network, NovaInstance, NovaPort,
    Snapshot, Virtualport,
};
use vifd::mac::MacAddr;
use vifd::netlink::{DeviceKind, HostDevice};
use vifd::{correlate, CorrelateOptions, Inventory, ProblemKind};

const DOM_UUID: &str = "c6f2b7c4-3d4e-4f5a-8b6c-7d8e9f0a1b2c";

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn iface(kind: &str, guest: &str, target: Option<&str>) -> DomainInterface {
    DomainInterface {
        kind: kind.into(),
        mac: Some(mac(guest)),
        target: target.map(String::from),
        ..Default::default()
    }
}

fn bridged(guest: &str, target: &str, bridge: &str) -> DomainInterface {
    DomainInterface {
        source: InterfaceSource {
            bridge: Some(bridge.into()),
            ..Default::default()
        },
        ..iface("bridge", guest, Some(target))
    }
}

fn domain(state: DomainState, interfaces: Vec<DomainInterface>) -> Domain {
    Domain {
        uuid: DOM_UUID.into(),
        name: "vm1".into(),
        state,
        interfaces,
        disks: vec![],
        nova: None,
        guest_addresses: vec![],
    }
}

fn device(name: &str, kind: DeviceKind, host_mac: &str, master: Option<&str>) -> HostDevice {
    HostDevice {
        ifindex: 10 + name.len() as u32,
        name: name.into(),
        kind,
        mac: Some(mac(host_mac)),
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

/// One domain in `state` with one interface.
fn one(state: DomainState, iface: DomainInterface, devices: &[HostDevice]) -> Inventory {
    run(vec![domain(state, vec![iface])], devices)
}

fn tap(name: &str, host_mac: &str, master: Option<&str>) -> HostDevice {
    device(name, DeviceKind::Tap, host_mac, master)
}

fn run(domains: Vec<Domain>, devices: &[HostDevice]) -> Inventory {
    let snap = Snapshot {
        domains,
        networks: vec![],
    };
    correlate(&snap, devices, &CorrelateOptions::default())
}

fn kinds(inv: &Inventory) -> Vec<ProblemKind> {
    inv.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn healthy_bridged_tap_has_no_problem() {
    let inv = one(
        DomainState::Running,
        bridged("52:54:00:00:00:01", "vnet0", "br0"),
        &[tap("vnet0", "fe:54:00:00:00:01", Some("br0"))],
    );
    assert_eq!(kinds(&inv), []);
    let v = &inv.interfaces[0];
    assert_eq!(v.device.as_deref(), Some("vnet0"));
    assert_eq!(v.ifindex, Some(15));
    assert_eq!(v.master.as_deref(), Some("br0"));
    assert_eq!(v.host_mac, Some(mac("fe:54:00:00:00:01")));
}

#[test]
fn missing_device_of_running_or_paused_domain_is_reported() {
    for state in [DomainState::Running, DomainState::Paused] {
        let inv = run(
            vec![domain(
                state,
                vec![bridged("52:54:00:00:00:01", "vnet0", "br0")],
            )],
            &[],
        );
        assert_eq!(kinds(&inv), [ProblemKind::DeviceMissing], "{state:?}");
        assert_eq!(inv.interfaces[0].problems, [ProblemKind::DeviceMissing]);
        assert_eq!(inv.interfaces[0].ifindex, None);
    }
}

#[test]
fn shutoff_domain_without_device_is_fine() {
    let inv = one(
        DomainState::Shutoff,
        bridged("52:54:00:00:00:01", "tapabc", "br0"),
        &[],
    );
    assert_eq!(kinds(&inv), []);
}

#[test]
fn tap_mac_breaking_the_fe_rule_is_a_mismatch() {
    let inv = one(
        DomainState::Paused,
        bridged("52:54:00:00:00:01", "vnet0", "br0"),
        &[tap("vnet0", "52:54:00:00:00:01", Some("br0"))],
    );
    assert_eq!(kinds(&inv), [ProblemKind::MacMismatch]);
    assert!(inv.problems[0]
        .detail
        .contains("expected fe:54:00:00:00:01"));
}

#[test]
fn guest_mac_starting_with_fe_expects_fa_on_the_tap() {
    let good = one(
        DomainState::Paused,
        bridged("fe:54:00:00:00:01", "vnet0", "br0"),
        &[tap("vnet0", "fa:54:00:00:00:01", Some("br0"))],
    );
    assert_eq!(kinds(&good), []);
    let bad = one(
        DomainState::Paused,
        bridged("fe:54:00:00:00:01", "vnet0", "br0"),
        &[tap("vnet0", "fe:54:00:00:00:01", Some("br0"))],
    );
    assert_eq!(kinds(&bad), [ProblemKind::MacMismatch]);
}

#[test]
fn macvtap_must_carry_the_guest_mac() {
    let direct = |guest| iface("direct", guest, Some("macvtap0"));
    let good = one(
        DomainState::Paused,
        direct("52:54:00:00:00:02"),
        &[device(
            "macvtap0",
            DeviceKind::Macvtap,
            "52:54:00:00:00:02",
            None,
        )],
    );
    assert_eq!(kinds(&good), []);
    let bad = one(
        DomainState::Paused,
        direct("52:54:00:00:00:02"),
        &[device(
            "macvtap0",
            DeviceKind::Macvtap,
            "fe:54:00:00:00:02",
            None,
        )],
    );
    assert_eq!(kinds(&bad), [ProblemKind::MacMismatch]);
}

#[test]
fn unmanaged_tap_keeps_its_own_mac() {
    let mut i = iface("ethernet", "52:54:00:00:00:03", Some("mytap0"));
    i.target_managed = Some(false);
    let inv = one(
        DomainState::Running,
        i,
        &[tap("mytap0", "02:aa:bb:cc:dd:ee", None)],
    );
    assert_eq!(kinds(&inv), []);
}

#[test]
fn tap_on_another_bridge_is_wrong_master() {
    let inv = one(
        DomainState::Paused,
        bridged("52:54:00:00:00:01", "vnet0", "br0"),
        &[tap("vnet0", "fe:54:00:00:00:01", Some("br1"))],
    );
    assert_eq!(kinds(&inv), [ProblemKind::WrongMaster]);
    assert!(inv.problems[0]
        .detail
        .contains("enslaved to br1, expected br0"));
}

#[test]
fn tap_on_no_bridge_is_wrong_master() {
    let inv = one(
        DomainState::Paused,
        bridged("52:54:00:00:00:01", "vnet0", "br0"),
        &[tap("vnet0", "fe:54:00:00:00:01", None)],
    );
    assert_eq!(kinds(&inv), [ProblemKind::WrongMaster]);
}

#[test]
fn openvswitch_port_expects_the_datapath_as_master() {
    let mut i = bridged("fa:16:3e:00:00:01", "tap9c1e3a5c-7e", "br-int");
    i.virtualport = Some(Virtualport {
        kind: Some("openvswitch".into()),
        interfaceid: Some("9c1e3a5c-7e9b-4d1f-8a3c-5e7a9c1e3a5c".into()),
    });
    let ovs = device(
        "ovs-system",
        DeviceKind::Openvswitch,
        "02:00:00:00:00:01",
        None,
    );
    let tap = tap("tap9c1e3a5c-7e", "fe:16:3e:00:00:01", Some("ovs-system"));
    let inv = one(DomainState::Running, i.clone(), &[ovs, tap.clone()]);
    assert_eq!(kinds(&inv), []);
    assert_eq!(
        inv.interfaces[0].port_id.as_deref(),
        Some("9c1e3a5c-7e9b-4d1f-8a3c-5e7a9c1e3a5c")
    );
    assert_eq!(
        inv.interfaces[0].port_id_source,
        Some(PortIdSource::Virtualport)
    );
    assert_eq!(inv.interfaces[0].id, "9c1e3a5c-7e9b-4d1f-8a3c-5e7a9c1e3a5c");

    let on_linux_bridge = HostDevice {
        master: Some("br-int".into()),
        ..tap
    };
    let inv = one(DomainState::Running, i, &[on_linux_bridge]);
    assert_eq!(kinds(&inv), [ProblemKind::WrongMaster]);
}

#[test]
fn running_domain_without_carrier_is_reported_paused_is_not() {
    let mut dev = tap("vnet0", "fe:54:00:00:00:01", Some("br0"));
    dev.carrier = Some(false);
    let i = bridged("52:54:00:00:00:01", "vnet0", "br0");
    let running = one(DomainState::Running, i.clone(), std::slice::from_ref(&dev));
    assert_eq!(kinds(&running), [ProblemKind::NoCarrier]);
    let paused = one(DomainState::Paused, i.clone(), std::slice::from_ref(&dev));
    assert_eq!(kinds(&paused), []);
    let mut link_down = i;
    link_down.link_state = Some("down".into());
    let on_purpose = one(DomainState::Running, link_down, &[dev]);
    assert_eq!(kinds(&on_purpose), []);
}

#[test]
fn orphan_tap_is_reported() {
    let inv = one(
        DomainState::Running,
        bridged("52:54:00:00:00:01", "vnet0", "br0"),
        &[
            tap("vnet0", "fe:54:00:00:00:01", Some("br0")),
            tap("tapdeadbeef-00", "fe:16:3e:99:99:99", Some("br0")),
            device("macvtap7", DeviceKind::Macvtap, "52:54:00:99:99:99", None),
            // Not a guest carrier, or not a watched name: never an orphan.
            device("vnet-veth", DeviceKind::Veth, "fe:16:3e:99:99:98", None),
            tap("mytap", "fe:16:3e:99:99:97", None),
        ],
    );
    let orphans: Vec<_> = inv
        .problems
        .iter()
        .map(|p| (p.kind, p.device.as_deref().unwrap()))
        .collect();
    assert_eq!(
        orphans,
        // Host-level problems come in device-name order.
        [
            (ProblemKind::OrphanDevice, "macvtap7"),
            (ProblemKind::OrphanDevice, "tapdeadbeef-00")
        ]
    );
}

#[test]
fn orphan_patterns_are_configurable() {
    let snap = Snapshot::default();
    let devs = [tap("mytap", "fe:16:3e:99:99:97", None)];
    let opts = CorrelateOptions {
        orphan_patterns: vec!["my*".into()],
        ..CorrelateOptions::default()
    };
    assert_eq!(correlate(&snap, &devs, &opts).problems.len(), 1);
}

#[test]
fn interface_without_target_is_matched_by_mac_rule() {
    let mut tap_iface = bridged("52:54:00:00:00:05", "x", "br0");
    tap_iface.target = None;
    let mut mvt_iface = iface("direct", "52:54:00:00:00:06", None);
    mvt_iface.target = None;
    let inv = run(
        vec![domain(DomainState::Paused, vec![tap_iface, mvt_iface])],
        &[
            tap("vnet9", "fe:54:00:00:00:05", Some("br0")),
            device("macvtap4", DeviceKind::Macvtap, "52:54:00:00:00:06", None),
        ],
    );
    assert_eq!(kinds(&inv), []);
    assert_eq!(inv.interfaces[0].device.as_deref(), Some("vnet9"));
    assert_eq!(inv.interfaces[1].device.as_deref(), Some("macvtap4"));
}

#[test]
fn vhostuser_and_hostdev_have_no_device_and_no_problem() {
    let inv = run(
        vec![domain(
            DomainState::Running,
            vec![
                iface("vhostuser", "52:54:00:00:00:07", None),
                iface("hostdev", "52:54:00:00:00:08", None),
            ],
        )],
        &[],
    );
    assert_eq!(kinds(&inv), []);
    assert!(inv
        .interfaces
        .iter()
        .all(|v| v.device.is_none() && v.ifindex.is_none()));
}

#[test]
fn network_interface_gets_the_network_uuid_and_its_bridge_is_checked() {
    let mut i = iface("network", "52:54:00:00:00:09", Some("vnet3"));
    i.source.network = Some("default".into());
    let snap = Snapshot {
        domains: vec![domain(DomainState::Paused, vec![i])],
        networks: vec![Network {
            name: "default".into(),
            uuid: "8c1b1d4e-2f6a-4b7c-9d0e-1a2b3c4d5e6f".into(),
            bridge: Some("virbr0".into()),
            active: true,
            leases: vec![],
            hosts: vec![],
        }],
    };
    let dev = tap("vnet3", "fe:54:00:00:00:09", Some("br-other"));
    let inv = correlate(&snap, &[dev], &CorrelateOptions::default());
    let v = &inv.interfaces[0];
    assert_eq!(
        v.net_id.as_deref(),
        Some("8c1b1d4e-2f6a-4b7c-9d0e-1a2b3c4d5e6f")
    );
    assert_eq!(v.net_id_source, Some(NetIdSource::LibvirtNetwork));
    assert_eq!(v.problems, [ProblemKind::WrongMaster]);
}

#[test]
fn nova_port_is_found_by_tap_name() {
    let mut d = domain(
        DomainState::Running,
        vec![iface(
            "ethernet",
            "fa:16:3e:01:02:03",
            Some("tap4e6a8c0e-2f"),
        )],
    );
    d.nova = Some(NovaInstance {
        ports: vec![NovaPort {
            uuid: "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f".into(),
            ips: vec![],
        }],
        ..Default::default()
    });
    let inv = run(vec![d], &[tap("tap4e6a8c0e-2f", "fe:16:3e:01:02:03", None)]);
    let v = &inv.interfaces[0];
    assert_eq!(
        v.port_id.as_deref(),
        Some("4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f")
    );
    assert_eq!(v.port_id_source, Some(PortIdSource::NovaMetadata));
    assert_eq!(v.id, "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f");
}

#[test]
fn vif_id_without_port_is_stable_and_distinct() {
    let mk = |guest| {
        one(DomainState::Shutoff, bridged(guest, "t", "br0"), &[]).interfaces[0]
            .id
            .clone()
    };
    assert_eq!(mk("52:54:00:00:00:01"), mk("52:54:00:00:00:01"));
    assert_ne!(mk("52:54:00:00:00:01"), mk("52:54:00:00:00:02"));
    assert_eq!(mk("52:54:00:00:00:01").len(), 36);
}

#[test]
fn record_json_has_every_contract_field_with_nulls() {
    let inv = run(
        vec![domain(
            DomainState::Shutoff,
            vec![iface("user", "52:54:00:00:00:01", None)],
        )],
        &[],
    );
    let v = serde_json::to_value(&inv.interfaces[0]).unwrap();
    for field in [
        "id",
        "domain_uuid",
        "domain_name",
        "domain_state",
        "mac_address",
        "type",
        "model",
        "alias",
        "source",
        "net_id",
        "net_id_source",
        "port_id",
        "device",
        "ifindex",
        "device_kind",
        "host_mac",
        "master",
        "operstate",
        "admin_up",
        "mtu",
        "stale",
        "problems",
    ] {
        assert!(v.get(field).is_some(), "missing field {field}");
    }
    assert_eq!(v["device"], serde_json::Value::Null);
    assert_eq!(v["domain_state"], "shutoff");
    assert_eq!(v["problems"], serde_json::json!([]));
}
