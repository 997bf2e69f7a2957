use std::net::IpAddr;

use super::*;
use crate::cmd::list;
use crate::correlate::{correlate, CorrelateOptions};
use crate::inventory::{AddressSource, InterfaceSource as RecordSource, IpAddress, Vif};
use crate::libvirt::{Domain, DomainInterface, DomainState, InterfaceSource, Snapshot};
use crate::mac::MacAddr;
use crate::netlink::{DeviceKind, HostDevice};
use crate::output::table;

fn mac(s: &str) -> Option<MacAddr> {
    s.parse().ok()
}

fn tap(name: &str, host_mac: &str, master: &str) -> HostDevice {
    HostDevice {
        ifindex: 7,
        name: name.into(),
        kind: DeviceKind::Tap,
        mac: mac(host_mac),
        master: Some(master.into()),
        operstate: "up".into(),
        carrier: Some(true),
        admin_up: true,
        mtu: Some(1500),
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
}

/// Records of every shape the table distinguishes: a tap on another bridge than its XML
/// says, a missing device, and (edited from those) direct, vhostuser and hostdev
/// sources, a device with a master but no source, addresses seen twice.
fn varied_records() -> Vec<Vif> {
    let bridged = DomainInterface {
        kind: "bridge".into(),
        mac: mac("52:54:00:00:00:01"),
        target: Some("tap-q1".into()),
        source: InterfaceSource {
            bridge: Some("br0".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let network = DomainInterface {
        kind: "network".into(),
        mac: mac("52:54:00:00:00:02"),
        target: Some("tap-q2".into()),
        source: InterfaceSource {
            network: Some("default".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let dom = Domain {
        uuid: "c6f2b7c4-3d4e-4f5a-8b6c-7d8e9f0a1b2c".into(),
        name: "vm1".into(),
        state: DomainState::Running,
        interfaces: vec![bridged, network],
        disks: vec![],
        nova: None,
        guest_addresses: vec![],
    };
    let snap = Snapshot {
        domains: vec![dom],
        networks: vec![],
    };
    let devices = [tap("tap-q1", "fe:54:00:00:00:01", "br1")];
    let inv = correlate(&snap, &devices, &CorrelateOptions::default());
    let mut vifs: Vec<Vif> = inv.interfaces.iter().map(|v| (**v).clone()).collect();
    let addr: IpAddr = "10.0.0.5".parse().expect("an address");
    vifs[0].ip_addresses = vec![
        IpAddress::new(addr, AddressSource::Neighbour),
        IpAddress::new(addr, AddressSource::NovaMetadata),
        IpAddress::new(
            "fd00::5".parse().expect("an address"),
            AddressSource::Neighbour,
        ),
    ];
    vifs[0].net_id = Some("net-1".into());
    let mut direct = vifs[1].clone();
    direct.source = RecordSource {
        dev: Some("eth0".into()),
        ..Default::default()
    };
    let mut vhost = vifs[1].clone();
    vhost.source = RecordSource {
        path: Some("/run/vhu.sock".into()),
        mode: Some("client".into()),
        ..Default::default()
    };
    vhost.master = Some("ovs-system".into());
    let mut hostdev = vifs[1].clone();
    hostdev.source = RecordSource {
        address: Some("0000:03:10.2".into()),
        ..Default::default()
    };
    let mut bare = vifs[0].clone();
    bare.source = RecordSource::default();
    bare.mac_address = None;
    vifs.extend([direct, vhost, hostdev, bare]);
    vifs
}

fn as_record(v: &Vif) -> Record {
    let json = serde_json::to_string(v).expect("a record serializes");
    serde_json::from_str(&json).expect("and reads back")
}

#[test]
fn rows_match_vifd_list_for_the_same_records() {
    let vifs = varied_records();
    assert!(vifs.iter().any(|v| !v.problems.is_empty()), "{vifs:#?}");
    let refs: Vec<&Vif> = vifs.iter().collect();
    let rows: Vec<Vec<String>> = vifs.iter().map(|v| as_record(v).cells()).collect();
    assert_eq!(table(&HEADERS, &rows), list::render(&refs));
}

#[test]
fn records_keep_the_agents_field_order_behind_the_host() {
    let r: Record =
        serde_json::from_str(r#"{"zeta": 1, "host": "x", "alpha": {"b": 2}}"#).expect("an object");
    let out = serde_json::to_string(&HostRecord {
        host: "http://a:1",
        record: &r,
    })
    .expect("serializes");
    assert_eq!(out, r#"{"host":"http://a:1","zeta":1,"alpha":{"b":2}}"#);
}

#[test]
fn unknown_values_show_as_the_agent_wrote_them() {
    let r: Record = serde_json::from_str(
        r#"{"domain_name": "d", "domain_state": "hibernating", "type": "bridge",
            "problems": ["device-missing", "a-future-kind"], "device": null}"#,
    )
    .expect("an object");
    let cells = r.cells();
    assert_eq!(cells[1], "hibernating");
    assert_eq!(cells[4], "-");
    assert_eq!(cells[10], "device-missing,a-future-kind");
}

#[test]
fn a_record_must_be_an_object() {
    let e = serde_json::from_str::<Record>("[1]").expect_err("not an object");
    assert!(e.to_string().contains("interface record"), "{e}");
}
