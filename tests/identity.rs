//! Network and port identity, addresses and counters: every resolver, their order, their
//! staleness and the problems they raise, on fixtures (no I/O).

use std::collections::BTreeMap;
use std::sync::Arc;

use vifd::identity::{Facts, IdentityOptions, MacPrefix, NetworkMap, OvsFacts, Resolver};
use vifd::inventory::{NetIdSource, PortIdSource, StaleSource};
use vifd::libvirt::{
    DhcpHost, DhcpLease, Domain, DomainInterface, DomainState, GuestAddress, InterfaceSource,
    Network, NovaInstance, NovaIp, NovaPort, Snapshot,
};
use vifd::mac::MacAddr;
use vifd::netlink::{DeviceKind, HostDevice, LinkStats, Neighbour};
use vifd::ovsdb::{OvsInterface, OvsState};
use vifd::{correlate_with, CorrelateOptions, Correlation, Delta, ProblemKind, Vif};

const DOM: &str = "c6f2b7c4-3d4e-4f5a-8b6c-7d8e9f0a1b2c";
const PORT: &str = "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f";
const TAP: &str = "tap4e6a8c0e-2f";
const NET: &str = "7d1c0a9e-5b3f-4e2d-8c1b-0a9e5b3f4e2d";
const NET2: &str = "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b";
const GUEST: &str = "fa:16:3e:00:00:01";

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// A Nova instance with one OVS-style port: `type='ethernet'`, tap named after the port.
fn nova_domain(iface: DomainInterface) -> Domain {
    Domain {
        uuid: DOM.into(),
        name: "instance-00000001".into(),
        state: DomainState::Paused,
        interfaces: vec![iface],
        disks: vec![],
        nova: Some(NovaInstance {
            ports: vec![NovaPort {
                uuid: PORT.into(),
                ips: vec![NovaIp {
                    kind: Some("fixed".into()),
                    address: "10.0.0.5".into(),
                    version: Some(4),
                }],
            }],
            ..Default::default()
        }),
        guest_addresses: vec![],
    }
}

fn ethernet(target: &str) -> DomainInterface {
    DomainInterface {
        kind: "ethernet".into(),
        mac: Some(mac(GUEST)),
        target: Some(target.into()),
        ..Default::default()
    }
}

fn tap(name: &str, master: Option<&str>) -> HostDevice {
    HostDevice {
        ifindex: 7,
        name: name.into(),
        kind: DeviceKind::Tap,
        mac: Some(mac(GUEST).libvirt_tap_mac()),
        master: master.map(String::from),
        operstate: "unknown".into(),
        carrier: Some(true),
        admin_up: true,
        mtu: Some(1450),
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
}

fn ovs_row(name: &str) -> OvsInterface {
    OvsInterface {
        name: name.into(),
        iface_id: Some(PORT.into()),
        attached_mac: Some(GUEST.into()),
        vm_uuid: Some(DOM.into()),
        port: Some(name.into()),
        bridge: Some("br-int".into()),
        net_uuid: Some(NET.into()),
        vlan: Some(5),
        ..Default::default()
    }
}

fn ovs(rows: Vec<OvsInterface>, stale: bool) -> Option<OvsFacts> {
    let interfaces = rows.into_iter().map(|r| (r.name.clone(), r)).collect();
    Some(OvsFacts {
        state: Arc::new(OvsState {
            interfaces,
            ..Default::default()
        }),
        stale,
    })
}

fn opts(order: &[Resolver], map: NetworkMap) -> CorrelateOptions {
    CorrelateOptions {
        identity: IdentityOptions {
            order: order.to_vec(),
            map,
        },
        ..CorrelateOptions::default()
    }
}

fn one(
    dom: Domain,
    devs: Vec<HostDevice>,
    nets: Vec<Network>,
    facts: Facts,
    o: &CorrelateOptions,
) -> Vif {
    let snap = Snapshot {
        domains: vec![dom],
        networks: nets,
    };
    let inv = correlate_with(&snap, &devs, &facts, o);
    (*inv.interfaces[0]).clone()
}

fn default_one(dom: Domain, devs: Vec<HostDevice>, facts: Facts) -> Vif {
    one(dom, devs, vec![], facts, &CorrelateOptions::default())
}

fn network(name: &str, uuid: &str, bridge: &str, leases: Vec<DhcpLease>) -> Network {
    Network {
        name: name.into(),
        uuid: uuid.into(),
        bridge: Some(bridge.into()),
        active: true,
        leases,
        hosts: vec![],
    }
}

#[test]
fn ovsdb_resolves_port_network_vlan_and_bridge() {
    let facts = Facts::new(ovs(vec![ovs_row(TAP)], false), &[]);
    let v = default_one(
        nova_domain(ethernet(TAP)),
        vec![tap(TAP, Some("ovs-system"))],
        facts,
    );
    assert_eq!(v.port_id.as_deref(), Some(PORT));
    assert_eq!(v.port_id_source, Some(PortIdSource::Ovsdb));
    assert_eq!(v.net_id.as_deref(), Some(NET));
    assert_eq!(v.net_id_source, Some(NetIdSource::Ovsdb));
    assert_eq!(v.vlan, Some(5));
    assert_eq!(v.ovs_bridge.as_deref(), Some("br-int"));
    assert_eq!(v.id, PORT);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert!(v.stale_sources.is_empty());
}

#[test]
fn nova_metadata_names_the_port_when_ovsdb_does_not_know_it() {
    let v = default_one(
        nova_domain(ethernet(TAP)),
        vec![tap(TAP, None)],
        Facts::default(),
    );
    assert_eq!(v.port_id.as_deref(), Some(PORT));
    assert_eq!(v.port_id_source, Some(PortIdSource::NovaMetadata));
    assert_eq!(v.net_id, None);
    let addrs: Vec<(String, &str)> = v
        .ip_addresses
        .iter()
        .map(|a| (a.address.to_string(), a.source.as_str()))
        .collect();
    assert_eq!(addrs, [("10.0.0.5".to_string(), "nova-metadata")]);
    assert_eq!(v.ip_addresses[0].version, 4);
}

#[test]
fn resolver_order_decides_which_source_wins() {
    let map = NetworkMap {
        ovs_bridges: BTreeMap::from([("br-int".to_string(), NET2.to_string())]),
        ..Default::default()
    };
    let facts = Facts::new(ovs(vec![ovs_row(TAP)], false), &[]);
    let o = opts(&[Resolver::Config, Resolver::Ovsdb], map);
    let v = one(
        nova_domain(ethernet(TAP)),
        vec![tap(TAP, None)],
        vec![],
        facts,
        &o,
    );
    assert_eq!(v.net_id.as_deref(), Some(NET2));
    assert_eq!(v.net_id_source, Some(NetIdSource::Config));
    // The config resolver names no ports: the port still comes from OVSDB.
    assert_eq!(v.port_id_source, Some(PortIdSource::Ovsdb));
}

#[test]
fn a_resolver_left_out_of_the_order_is_not_consulted() {
    let facts = Facts::new(ovs(vec![ovs_row(TAP)], false), &[]);
    let o = opts(&[Resolver::LibvirtNetwork], NetworkMap::default());
    let v = one(
        nova_domain(ethernet(TAP)),
        vec![tap(TAP, None)],
        vec![],
        facts,
        &o,
    );
    assert_eq!((v.net_id, v.port_id, v.vlan), (None, None, None));
    assert!(v.ip_addresses.is_empty(), "nova-metadata is off too");
}

#[test]
fn ovsdb_mismatch_is_reported_for_attached_mac_and_vm_uuid() {
    let mut row = ovs_row(TAP);
    row.attached_mac = Some("fa:16:3e:99:99:99".into());
    row.vm_uuid = Some("00000000-0000-4000-8000-000000000000".into());
    let snap = Snapshot {
        domains: vec![nova_domain(ethernet(TAP))],
        networks: vec![],
    };
    let facts = Facts::new(ovs(vec![row], false), &[]);
    let inv = correlate_with(
        &snap,
        &[tap(TAP, None)],
        &facts,
        &CorrelateOptions::default(),
    );
    assert_eq!(inv.interfaces[0].problems, [ProblemKind::OvsdbMismatch]);
    let p = &inv.problems[0];
    assert!(
        p.detail.contains("attached-mac fa:16:3e:99:99:99"),
        "{}",
        p.detail
    );
    assert!(p.detail.contains("vm-uuid 00000000"), "{}", p.detail);
    assert_eq!(p.device.as_deref(), Some(TAP));
}

#[test]
fn port_with_iface_id_but_no_net_uuid_is_unbound() {
    let mut row = ovs_row(TAP);
    row.net_uuid = None;
    let facts = Facts::new(ovs(vec![row], false), &[]);
    let v = default_one(nova_domain(ethernet(TAP)), vec![tap(TAP, None)], facts);
    assert_eq!(v.problems, [ProblemKind::PortUnbound]);
    assert_eq!(v.port_id_source, Some(PortIdSource::Ovsdb));
}

#[test]
fn stale_ovsdb_keeps_last_known_values_and_says_so() {
    let facts = Facts::new(ovs(vec![ovs_row(TAP)], true), &[]);
    let v = default_one(nova_domain(ethernet(TAP)), vec![tap(TAP, None)], facts);
    assert_eq!(v.net_id.as_deref(), Some(NET));
    assert_eq!(v.stale_sources, [StaleSource::Ovsdb]);
}

#[test]
fn libvirt_network_by_name_and_by_bridge() {
    let nets = vec![network("default", NET, "virbr0", vec![])];
    let by_name = DomainInterface {
        kind: "network".into(),
        source: InterfaceSource {
            network: Some("default".into()),
            ..Default::default()
        },
        ..ethernet("vm1-eth0")
    };
    let o = CorrelateOptions::default();
    let v = one(
        nova_domain(by_name),
        vec![tap("vm1-eth0", Some("virbr0"))],
        nets.clone(),
        Facts::default(),
        &o,
    );
    assert_eq!(
        (v.net_id.as_deref(), v.net_id_source),
        (Some(NET), Some(NetIdSource::LibvirtNetwork))
    );
    // An ethernet interface whose tap someone enslaved to the network's bridge.
    let v = one(
        nova_domain(ethernet("vm1-eth0")),
        vec![tap("vm1-eth0", Some("virbr0"))],
        nets,
        Facts::default(),
        &o,
    );
    assert_eq!(v.net_id.as_deref(), Some(NET));
}

#[test]
fn a_vanished_libvirt_network_is_remembered_as_stale() {
    let iface = DomainInterface {
        kind: "network".into(),
        source: InterfaceSource {
            network: Some("default".into()),
            ..Default::default()
        },
        ..ethernet("vm1-eth0")
    };
    let snap = |nets| Snapshot {
        domains: vec![nova_domain(iface.clone())],
        networks: nets,
    };
    let devs = vec![tap("vm1-eth0", Some("virbr0"))];
    let mut c = Correlation::new(
        snap(vec![network("default", NET, "virbr0", vec![])]),
        devs,
        CorrelateOptions::default(),
    );
    c.set_networks(vec![]);
    let v = c.inventory().interfaces[0].clone();
    assert_eq!(v.net_id.as_deref(), Some(NET));
    assert_eq!(v.stale_sources, [StaleSource::LibvirtNetwork]);
    c.set_networks(vec![network("default", NET, "virbr0", vec![])]);
    assert!(c.inventory().interfaces[0].stale_sources.is_empty());
}

#[test]
fn linuxbridge_names_resolve_against_known_uuids_only_when_unambiguous() {
    let brq = format!("brq{}", &NET[..11]);
    let map = NetworkMap {
        bridges: BTreeMap::from([("unrelated".to_string(), NET.to_string())]),
        ..Default::default()
    };
    let o = opts(&Resolver::DEFAULT_ORDER, map.clone());
    let v = one(
        nova_domain(ethernet(TAP)),
        vec![tap(TAP, Some(&brq))],
        vec![],
        Facts::default(),
        &o,
    );
    assert_eq!(
        (v.net_id.as_deref(), v.net_id_source),
        (Some(NET), Some(NetIdSource::Linuxbridge))
    );
    // Two known networks share the abbreviation: no answer rather than a guess.
    let twin = format!("{}ffff-ffff-ffff-ffffffffffff", &NET[..14]);
    let mut map2 = map;
    map2.bridges.insert("other".into(), twin);
    let o = opts(&Resolver::DEFAULT_ORDER, map2);
    let v = one(
        nova_domain(ethernet(TAP)),
        vec![tap(TAP, Some(&brq))],
        vec![],
        Facts::default(),
        &o,
    );
    assert_eq!(v.net_id, None);
}

#[test]
fn config_maps_bridges_and_mac_prefixes() {
    let map = NetworkMap {
        bridges: BTreeMap::from([("br-prov".to_string(), NET.to_string())]),
        mac_prefixes: vec![
            ("fa:16".parse::<MacPrefix>().unwrap(), NET2.to_string()),
            ("fa:16:3e:00".parse::<MacPrefix>().unwrap(), NET.to_string()),
        ],
        ..Default::default()
    };
    let o = opts(&[Resolver::Config], map);
    let v = one(
        nova_domain(ethernet("vm1-eth0")),
        vec![tap("vm1-eth0", Some("br-prov"))],
        vec![],
        Facts::default(),
        &o,
    );
    assert_eq!(
        (v.net_id.as_deref(), v.net_id_source),
        (Some(NET), Some(NetIdSource::Config))
    );
    // No mapped bridge: the longest MAC prefix wins.
    let v = one(
        nova_domain(ethernet("vm1-eth0")),
        vec![tap("vm1-eth0", None)],
        vec![],
        Facts::default(),
        &o,
    );
    assert_eq!(v.net_id.as_deref(), Some(NET));
    assert!("fa:16:3e:00:00:01:02".parse::<MacPrefix>().is_err());
    assert!("zz".parse::<MacPrefix>().is_err());
}

#[test]
fn addresses_come_from_leases_neighbours_on_its_bridge_and_the_guest_agent() {
    let lease = DhcpLease {
        mac: Some(mac(GUEST)),
        address: "192.168.122.20".parse().unwrap(),
        prefix: 24,
        hostname: Some("vm1".into()),
        expiry: 0,
    };
    let nets = vec![network("default", NET, "virbr0", vec![lease])];
    let neigh = |dev: &str, ip: &str| Neighbour {
        device: dev.into(),
        ifindex: 3,
        address: ip.parse().unwrap(),
        mac: mac(GUEST),
    };
    // The same MAC seen through another bridge is not this interface's.
    let table = [
        neigh("virbr0", "192.168.122.20"),
        neigh("virbr0", "fe80::f816:3eff:fe00:1"),
        neigh("br-other", "10.9.9.9"),
    ];
    let mut dom = nova_domain(ethernet("vm1-eth0"));
    dom.guest_addresses = vec![GuestAddress {
        mac: Some(mac(GUEST)),
        address: "192.168.122.20".parse().unwrap(),
        prefix: 24,
    }];
    let v = one(
        dom,
        vec![tap("vm1-eth0", Some("virbr0"))],
        nets,
        Facts::new(None, &table),
        &CorrelateOptions::default(),
    );
    let got: Vec<String> = v
        .ip_addresses
        .iter()
        .map(|a| format!("{} v{} {}", a.address, a.version, a.source))
        .collect();
    assert_eq!(
        got,
        [
            "192.168.122.20 v4 dhcp-lease",
            "192.168.122.20 v4 guest-agent",
            "192.168.122.20 v4 neighbour",
            "fe80::f816:3eff:fe00:1 v6 neighbour",
        ]
    );
}

#[test]
fn a_dhcp_host_entry_for_the_mac_is_an_address_of_the_interface() {
    let mut net = network("default", NET, "virbr0", vec![]);
    net.hosts = vec![
        DhcpHost {
            mac: Some(mac(GUEST)),
            ip: Some("192.168.122.30".parse().unwrap()),
            name: None,
        },
        DhcpHost {
            mac: Some(mac("52:54:00:99:99:99")),
            ip: Some("192.168.122.31".parse().unwrap()),
            name: None,
        },
    ];
    let v = one(
        nova_domain(ethernet("vm1-eth0")),
        vec![tap("vm1-eth0", Some("virbr0"))],
        vec![net],
        Facts::new(None, &[]),
        &CorrelateOptions::default(),
    );
    let got: Vec<String> = v
        .ip_addresses
        .iter()
        .map(|a| format!("{} {}", a.address, a.source))
        .collect();
    assert!(
        got.contains(&"192.168.122.30 dhcp-host".to_string()),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|a| a.starts_with("192.168.122.31")),
        "{got:?}"
    );
}

#[test]
fn neighbour_change_updates_only_the_records_with_that_mac() {
    let snap = Snapshot {
        domains: vec![nova_domain(ethernet("vm1-eth0"))],
        networks: vec![],
    };
    let mut c = Correlation::new(
        snap,
        vec![tap("vm1-eth0", Some("virbr0"))],
        CorrelateOptions::default(),
    );
    let n = Neighbour {
        device: "virbr0".into(),
        ifindex: 3,
        address: "192.168.122.30".parse().unwrap(),
        mac: mac(GUEST),
    };
    let deltas = c.set_neighbours(std::slice::from_ref(&n));
    assert!(
        matches!(&deltas[..], [Delta::Changed { record, .. }] if record.ip_addresses.len() == 1),
        "{deltas:?}"
    );
    assert!(
        c.set_neighbours(std::slice::from_ref(&n)).is_empty(),
        "same table, no change"
    );
    let other = Neighbour {
        mac: mac("52:54:00:00:00:09"),
        ..n
    };
    assert_eq!(
        c.set_neighbours(&[other]).len(),
        1,
        "the entry left: one change"
    );
}

#[test]
fn counters_move_without_a_delta() {
    let snap = Snapshot {
        domains: vec![nova_domain(ethernet(TAP))],
        networks: vec![],
    };
    let mut c = Correlation::new(snap, vec![tap(TAP, None)], CorrelateOptions::default());
    let stats = LinkStats {
        rx_bytes: 1000,
        rx_packets: 10,
        ..Default::default()
    };
    assert!(c.set_stats(&[(TAP.to_string(), stats)]));
    assert_eq!(c.inventory().interfaces[0].stats, Some(stats.into()));
    assert!(
        !c.set_stats(&[(TAP.to_string(), stats)]),
        "unchanged counters"
    );
    // A link notification that only moved the counters is not a change either.
    let mut dev = tap(TAP, None);
    dev.stats = Some(LinkStats {
        rx_bytes: 2000,
        ..stats
    });
    assert!(c.set_devices(vec![(TAP.to_string(), Some(dev))]).is_empty());
    assert_eq!(c.inventory().interfaces[0].stats.unwrap().rx_bytes, 2000);
}

#[test]
fn ovsdb_row_change_yields_one_changed_record() {
    let snap = Snapshot {
        domains: vec![nova_domain(ethernet(TAP))],
        networks: vec![],
    };
    let mut c = Correlation::with_facts(
        snap,
        vec![tap(TAP, None)],
        Facts::new(ovs(vec![ovs_row(TAP)], false), &[]),
        CorrelateOptions::default(),
    );
    let mut row = ovs_row(TAP);
    row.net_uuid = Some(NET2.into());
    let deltas = c.set_ovsdb(ovs(vec![row.clone()], false));
    assert!(
        matches!(&deltas[..], [Delta::Changed { record, .. }] if record.net_id.as_deref() == Some(NET2)),
        "{deltas:?}"
    );
    // ovsdb-server went away: same values, marked stale.
    let deltas = c.set_ovsdb(ovs(vec![row], true));
    assert!(
        matches!(&deltas[..], [Delta::Changed { record, .. }] if record.stale_sources == [StaleSource::Ovsdb]),
        "{deltas:?}"
    );
    // A row for a device no domain names changes nothing.
    assert!(
        c.set_ovsdb(ovs(vec![ovs_row(TAP), ovs_row("tapffffffffff")], true))
            .len()
            == 1
    );
}
