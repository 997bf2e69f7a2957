//! The ovn resolver in correlation, on fixtures (no I/O): identity from the Southbound,
//! the `binding` field, every binding problem raised and cleared, and the Southbound's
//! changes applied to the records they touch only.

use std::collections::BTreeSet;
use std::sync::Arc;

use vifd::identity::{ChassisId, Facts, OvnFacts, OvsFacts};
use vifd::inventory::{NetIdSource, PortIdSource, StaleSource};
use vifd::libvirt::{Domain, DomainInterface, DomainState, Snapshot};
use vifd::mac::MacAddr;
use vifd::netlink::{DeviceKind, HostDevice};
use vifd::ovn::{SbChassis, SbDatapath, SbPort, SbState};
use vifd::ovsdb::{OvsInterface, OvsState};
use vifd::{CorrelateOptions, Correlation, Delta, Inventory, ProblemKind};

const DOM: &str = "c6f2b7c4-3d4e-4f5a-8b6c-7d8e9f0a1b2c";
const OTHER_DOM: &str = "0b0b0b0b-3d4e-4f5a-8b6c-7d8e9f0a1b2c";
const PORT: &str = "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f";
const PORT2: &str = "5e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f";
const NET: &str = "7d1c0a9e-5b3f-4e2d-8c1b-0a9e5b3f4e2d";
const OTHER_NET: &str = "8d1c0a9e-5b3f-4e2d-8c1b-0a9e5b3f4e2d";
const TAP: &str = "tap4e6a8c0e-2f";
const TAP2: &str = "tap5e6a8c0e-2f";
const ME: &str = "hv-a";

fn mac(n: u8) -> MacAddr {
    MacAddr([0xfa, 0x16, 0x3e, 0, 0, n])
}

/// A Nova >= 24 guest: one `type='ethernet'` tap.
fn domain(uuid: &str, name: &str, tap: &str, n: u8) -> Domain {
    Domain {
        uuid: uuid.into(),
        name: name.into(),
        state: DomainState::Running,
        interfaces: vec![DomainInterface {
            kind: "ethernet".into(),
            mac: Some(mac(n)),
            target: Some(tap.into()),
            ..Default::default()
        }],
        disks: vec![],
        nova: None,
        guest_addresses: vec![],
    }
}

fn tap(name: &str, n: u8) -> HostDevice {
    HostDevice {
        ifindex: 10 + u32::from(n),
        name: name.into(),
        kind: DeviceKind::Tap,
        mac: Some(mac(n).libvirt_tap_mac()),
        master: None,
        operstate: "up".into(),
        carrier: Some(true),
        admin_up: true,
        mtu: Some(1442),
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
}

/// The Interface row os-vif writes, claimed and installed by ovn-controller.
fn row(name: &str, port: &str, installed: bool) -> OvsInterface {
    OvsInterface {
        name: name.into(),
        iface_id: Some(port.into()),
        bridge: Some("br-int".into()),
        datapath_type: Some("netdev".into()),
        ovn_installed: installed,
        ovn_installed_ts: installed.then_some(1_700_000_000_123),
        ..Default::default()
    }
}

/// A healthy binding on this chassis.
fn bound(port: &str, device_id: &str) -> SbPort {
    SbPort {
        logical_port: port.into(),
        chassis: Some(ME.into()),
        requested_chassis: vec![ME.into()],
        up: Some(true),
        device_id: Some(device_id.into()),
        neutron_network: Some(format!("neutron-{NET}")),
        datapath: Some(SbDatapath {
            name: Some(format!("neutron-{NET}")),
            name2: Some("private".into()),
            has_localport: true,
        }),
        ..Default::default()
    }
}

struct Host {
    rows: Vec<OvsInterface>,
    ports: Vec<SbPort>,
    asked: BTreeSet<String>,
    chassis: bool,
    namespaces: BTreeSet<String>,
    fresh: BTreeSet<String>,
    stale: bool,
}

impl Host {
    /// Two guests, each with a healthy port on network NET, and the metadata namespace.
    fn healthy() -> Host {
        Host {
            rows: vec![row(TAP, PORT, true), row(TAP2, PORT2, true)],
            ports: vec![bound(PORT, DOM), bound(PORT2, OTHER_DOM)],
            asked: [PORT, PORT2].map(String::from).into(),
            chassis: true,
            namespaces: [format!("ovnmeta-{NET}")].into(),
            fresh: BTreeSet::new(),
            stale: false,
        }
    }

    fn ovs(&self) -> OvsFacts {
        let interfaces = self
            .rows
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect();
        OvsFacts {
            state: Arc::new(OvsState {
                interfaces,
                ..Default::default()
            }),
            stale: false,
        }
    }

    fn ovn(&self) -> OvnFacts {
        let chassis = self.chassis.then(|| SbChassis {
            name: ME.into(),
            hostname: Some("compute-a".into()),
        });
        OvnFacts {
            state: Arc::new(SbState {
                ports: self
                    .ports
                    .iter()
                    .map(|p| (p.logical_port.clone(), p.clone()))
                    .collect(),
                chassis,
                asked: Arc::new(self.asked.clone()),
            }),
            stale: self.stale,
            chassis: ChassisId {
                system_id: Some(ME.into()),
                hostname: Some("compute-a.example".into()),
            },
            integration_bridge: "br-int".into(),
            namespaces: Arc::new(self.namespaces.clone()),
            fresh: self.fresh.clone(),
        }
    }

    fn correlation(&self) -> Correlation {
        let guests = Snapshot {
            domains: vec![
                domain(DOM, "instance-1", TAP, 1),
                domain(OTHER_DOM, "instance-2", TAP2, 2),
            ],
            networks: vec![],
        };
        let mut facts = Facts::new(Some(self.ovs()), &[]);
        facts.ovn = Some(self.ovn());
        let devices = vec![tap(TAP, 1), tap(TAP2, 2)];
        Correlation::with_facts(guests, devices, facts, CorrelateOptions::default())
    }

    fn inventory(&self) -> Inventory {
        self.correlation().inventory()
    }

    fn with(mut self, edit: impl FnOnce(&mut Host)) -> Host {
        edit(&mut self);
        self
    }
}

fn kinds(inv: &Inventory) -> Vec<ProblemKind> {
    let mut k: Vec<ProblemKind> = inv.problems.iter().map(|p| p.kind).collect();
    k.sort();
    k
}

fn port_mut<'a>(h: &'a mut Host, id: &str) -> &'a mut SbPort {
    h.ports.iter_mut().find(|p| p.logical_port == id).unwrap()
}

#[test]
fn a_bound_port_names_its_network_and_binding_from_the_southbound() {
    let inv = Host::healthy().inventory();
    assert_eq!(kinds(&inv), [], "{:#?}", inv.problems);
    let v = &inv.interfaces[0];
    assert_eq!(v.net_id.as_deref(), Some(NET));
    assert_eq!(v.net_id_source, Some(NetIdSource::Ovn));
    assert_eq!(
        (v.port_id.as_deref(), v.port_id_source),
        (Some(PORT), Some(PortIdSource::Ovn))
    );
    let b = v.binding.as_ref().expect("a binding");
    assert_eq!(b.chassis.as_deref(), Some(ME));
    assert_eq!(b.requested_chassis, [ME]);
    assert_eq!((b.up, b.installed), (Some(true), true));
    assert_eq!(b.installed_at.as_deref(), Some("2023-11-14T22:13:20.123Z"));
    assert_eq!(b.network_name.as_deref(), Some("private"));
    let json = serde_json::to_value(v).unwrap();
    assert_eq!(json["binding"]["chassis"], ME);
    assert_eq!(json["net_id_source"], "ovn");
}

#[test]
fn a_port_without_binding_is_ovn_port_missing_once_asked() {
    let h = Host::healthy().with(|h| h.ports.retain(|p| p.logical_port != PORT));
    let inv = h.inventory();
    assert_eq!(kinds(&inv), [ProblemKind::OvnPortMissing]);
    assert_eq!(inv.interfaces[0].binding, None);
    let p = &inv.problems[0];
    assert_eq!(
        (p.device.as_deref(), p.domain_uuid.as_deref()),
        (Some(TAP), Some(DOM))
    );
    assert!(p.detail.contains(PORT), "{}", p.detail);
    // Not asked yet (the monitor's conditions are still changing), or the Southbound
    // down: no verdict.
    let unasked = Host::healthy().with(|h| {
        h.ports.retain(|p| p.logical_port != PORT);
        h.asked.remove(PORT);
    });
    assert_eq!(kinds(&unasked.inventory()), []);
    let stale = Host::healthy().with(|h| {
        h.ports.retain(|p| p.logical_port != PORT);
        h.stale = true;
    });
    assert_eq!(kinds(&stale.inventory()), []);
}

#[test]
fn where_the_port_is_bound_and_requested_is_checked() {
    let unbound = Host::healthy().with(|h| port_mut(h, PORT).chassis = None);
    assert_eq!(kinds(&unbound.inventory()), [ProblemKind::OvnUnbound]);
    let elsewhere = Host::healthy().with(|h| port_mut(h, PORT).chassis = Some("hv-b".into()));
    let inv = elsewhere.inventory();
    assert_eq!(kinds(&inv), [ProblemKind::OvnBoundElsewhere]);
    assert!(
        inv.problems[0].detail.contains("hv-b"),
        "{}",
        inv.problems[0].detail
    );
    // A live migration's destination is an additional chassis: not a fault.
    let migrating = Host::healthy().with(|h| {
        let p = port_mut(h, PORT);
        p.chassis = Some("hv-b".into());
        p.additional_chassis = vec![ME.into()];
        p.requested_chassis = vec!["hv-b".into(), ME.into()];
    });
    assert_eq!(kinds(&migrating.inventory()), []);
    let requested =
        Host::healthy().with(|h| port_mut(h, PORT).requested_chassis = vec!["hv-b".into()]);
    assert_eq!(
        kinds(&requested.inventory()),
        [ProblemKind::OvnRequestedElsewhere]
    );
    // requested-chassis may name the host by its hostname (either one).
    for name in ["compute-a.example", "compute-a"] {
        let by_host =
            Host::healthy().with(|h| port_mut(h, PORT).requested_chassis = vec![name.into()]);
        assert_eq!(kinds(&by_host.inventory()), [], "{name}");
    }
}

#[test]
fn flows_not_installed_and_a_port_down_wait_for_the_grace_period() {
    let stuck = Host::healthy().with(|h| {
        h.rows[0] = row(TAP, PORT, false);
        port_mut(h, PORT).up = Some(false);
    });
    let inv = stuck.inventory();
    assert_eq!(
        kinds(&inv),
        [ProblemKind::OvnNotInstalled, ProblemKind::OvnPortDown]
    );
    assert!(!inv.interfaces[0].binding.as_ref().unwrap().installed);
    let plugging = stuck.with(|h| {
        h.fresh.insert(PORT.into());
    });
    assert_eq!(kinds(&plugging.inventory()), []);
    let unbound_fresh = Host::healthy().with(|h| {
        port_mut(h, PORT).chassis = None;
        h.fresh.insert(PORT.into());
    });
    assert_eq!(kinds(&unbound_fresh.inventory()), []);
}

#[test]
fn the_southbound_disagreeing_with_libvirt_or_itself_is_reported() {
    let device = Host::healthy().with(|h| port_mut(h, PORT).device_id = Some(OTHER_DOM.into()));
    let inv = device.inventory();
    assert_eq!(kinds(&inv), [ProblemKind::DeviceIdMismatch]);
    assert!(inv.problems[0].detail.contains(OTHER_DOM));
    let upper = Host::healthy().with(|h| port_mut(h, PORT).device_id = Some(DOM.to_uppercase()));
    assert_eq!(kinds(&upper.inventory()), []);
    let net = Host::healthy()
        .with(|h| port_mut(h, PORT).neutron_network = Some(format!("neutron-{OTHER_NET}")));
    let inv = net.inventory();
    assert_eq!(kinds(&inv), [ProblemKind::NetIdMismatch]);
    // The datapath is what OVN switches on: it names the network.
    assert_eq!(inv.interfaces[0].net_id.as_deref(), Some(NET));
}

#[test]
fn a_network_with_a_metadata_port_needs_its_namespace() {
    let h = Host::healthy().with(|h| h.namespaces.clear());
    let inv = h.inventory();
    assert_eq!(
        kinds(&inv),
        [
            ProblemKind::OvnMetadataMissing,
            ProblemKind::OvnMetadataMissing
        ]
    );
    assert!(inv.problems[0].detail.contains(&format!("ovnmeta-{NET}")));
    let no_localport = h.with(|h| {
        for p in &mut h.ports {
            p.datapath.as_mut().unwrap().has_localport = false;
        }
    });
    assert_eq!(kinds(&no_localport.inventory()), []);
}

#[test]
fn a_chassis_the_southbound_does_not_know_is_a_host_problem() {
    let inv = Host::healthy().with(|h| h.chassis = false).inventory();
    assert_eq!(kinds(&inv), [ProblemKind::OvnChassisMissing]);
    let p = &inv.problems[0];
    assert_eq!((p.device.as_ref(), p.domain_uuid.as_ref()), (None, None));
    assert!(p.detail.contains(ME), "{}", p.detail);
}

#[test]
fn an_ovn_chassis_has_no_port_unbound() {
    // The OVS agent's check: an iface-id without net_uuid. OVN never writes net_uuid.
    let h = Host::healthy();
    let mut facts = Facts::new(Some(h.ovs()), &[]);
    let guests = Snapshot {
        domains: vec![domain(DOM, "instance-1", TAP, 1)],
        networks: vec![],
    };
    let off = Correlation::with_facts(
        guests.clone(),
        vec![tap(TAP, 1)],
        facts.clone(),
        CorrelateOptions::default(),
    );
    assert_eq!(kinds(&off.inventory()), [ProblemKind::PortUnbound]);
    facts.ovn = Some(h.ovn());
    let on = Correlation::with_facts(
        guests,
        vec![tap(TAP, 1)],
        facts,
        CorrelateOptions::default(),
    );
    assert_eq!(kinds(&on.inventory()), []);
}

#[test]
fn a_southbound_that_went_away_keeps_its_bindings_as_stale() {
    let inv = Host::healthy().with(|h| h.stale = true).inventory();
    let v = &inv.interfaces[0];
    assert_eq!(v.net_id.as_deref(), Some(NET));
    assert_eq!(v.stale_sources, [StaleSource::Ovn]);
    assert!(v.binding.is_some());
}

#[test]
fn a_binding_change_recomputes_only_its_domain() {
    let h = Host::healthy();
    let mut c = h.correlation();
    drop(c.take_changes());
    let moved = Host::healthy().with(|h| port_mut(h, PORT2).chassis = Some("hv-b".into()));
    let deltas = c.set_ovn(Some(moved.ovn()));
    let raised: Vec<_> = deltas
        .iter()
        .filter_map(|d| match d {
            Delta::ProblemRaised(p) => Some((p.kind, p.domain_uuid.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        raised,
        [(ProblemKind::OvnBoundElsewhere, Some(OTHER_DOM.to_string()))]
    );
    let changes = c.take_changes();
    let domains: Vec<&str> = changes.domains.iter().map(|(k, _)| k.1.as_str()).collect();
    assert_eq!(domains, [OTHER_DOM]);
    // And back: cleared.
    let deltas = c.set_ovn(Some(h.ovn()));
    assert!(deltas.iter().any(
        |d| matches!(d, Delta::ProblemCleared(p) if p.kind == ProblemKind::OvnBoundElsewhere)
    ));
    // The grace running out for a port is a change of that port alone.
    let stuck = Host::healthy().with(|h| {
        port_mut(h, PORT).up = Some(false);
        h.fresh.insert(PORT.into());
    });
    assert!(c
        .set_ovn(Some(stuck.ovn()))
        .iter()
        .all(|d| !matches!(d, Delta::ProblemRaised(_))));
    drop(c.take_changes());
    let expired = stuck.with(|h| h.fresh.clear());
    let deltas = c.set_ovn(Some(expired.ovn()));
    assert!(deltas
        .iter()
        .any(|d| matches!(d, Delta::ProblemRaised(p) if p.kind == ProblemKind::OvnPortDown)));
    let changes = c.take_changes();
    assert_eq!(changes.domains.len(), 1);
}

#[test]
fn faults_of_a_migration_or_a_fresh_plug_wait_for_the_grace_period() {
    let moved = Host::healthy().with(|h| {
        let p = port_mut(h, PORT);
        p.chassis = Some("hv-b".into());
        p.requested_chassis = vec!["hv-b".into()];
        h.namespaces.clear();
        h.fresh.insert(PORT.into());
    });
    // Only PORT2's metadata fault (it is bound here, not fresh) remains.
    assert_eq!(kinds(&moved.inventory()), [ProblemKind::OvnMetadataMissing]);
    // A port bound elsewhere does not need this host's metadata namespace.
    let expired = moved.with(|h| h.fresh.clear());
    let got = kinds(&expired.inventory());
    let want = [
        ProblemKind::OvnBoundElsewhere,
        ProblemKind::OvnRequestedElsewhere,
        ProblemKind::OvnMetadataMissing,
    ];
    assert_eq!(got, want);
}

#[test]
fn only_ports_on_the_integration_bridge_are_ovn_ports() {
    let h = Host::healthy().with(|h| {
        h.rows[0].bridge = Some("br-ex".into());
        h.ports.retain(|p| p.logical_port != PORT);
    });
    let inv = h.inventory();
    assert_eq!(kinds(&inv), [], "{:#?}", inv.problems);
    let v = &inv.interfaces[0];
    assert_eq!((v.binding.as_ref(), v.net_id_source), (None, None));
    assert_eq!(v.port_id_source, Some(PortIdSource::Ovsdb));
}

#[test]
fn a_chassis_whose_southbound_is_not_read_yet_has_no_port_unbound() {
    let h = Host::healthy();
    let mut ovs = h.ovs();
    let mut state = (*ovs.state).clone();
    state.host.ovn_remote = Some("tcp:192.0.2.1:6642".into());
    ovs.state = Arc::new(state);
    let guests = Snapshot {
        domains: vec![domain(DOM, "instance-1", TAP, 1)],
        networks: vec![],
    };
    let facts = Facts::new(Some(ovs), &[]);
    let c = Correlation::with_facts(
        guests,
        vec![tap(TAP, 1)],
        facts,
        CorrelateOptions::default(),
    );
    assert_eq!(kinds(&c.inventory()), []);
}

#[test]
fn an_unreachable_southbound_is_not_a_missing_chassis() {
    let inv = Host::healthy().with(|h| {
        h.chassis = false;
        h.stale = true;
    });
    assert_eq!(kinds(&inv.inventory()), []);
}

#[test]
fn a_vhost_user_port_takes_southbound_changes() {
    const SOCK: &str = "/var/lib/vhost_sockets/vhu4e6a8c0e-2f";
    let vhu = |h: &mut Host| {
        h.rows[0] = OvsInterface {
            name: "vhu4e6a8c0e-2f".into(),
            iface_type: "dpdkvhostuserclient".into(),
            vhost_socket: Some(SOCK.into()),
            ..row("vhu4e6a8c0e-2f", PORT, true)
        };
    };
    let h = Host::healthy().with(vhu);
    let mut dom = domain(DOM, "instance-1", TAP, 1);
    dom.interfaces[0] = DomainInterface {
        kind: "vhostuser".into(),
        mac: Some(mac(1)),
        source: vifd::libvirt::InterfaceSource {
            path: Some(SOCK.into()),
            mode: Some("server".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let guests = Snapshot {
        domains: vec![dom],
        networks: vec![],
    };
    let mut facts = Facts::new(Some(h.ovs()), &[]);
    facts.ovn = Some(h.ovn());
    let mut c = Correlation::with_facts(guests, vec![], facts, CorrelateOptions::default());
    assert_eq!(
        c.inventory().interfaces[0].net_id_source,
        Some(NetIdSource::Ovn)
    );
    let down = Host::healthy().with(|h| {
        vhu(h);
        port_mut(h, PORT).up = Some(false);
    });
    let deltas = c.set_ovn(Some(down.ovn()));
    let raised = deltas
        .iter()
        .any(|d| matches!(d, Delta::ProblemRaised(p) if p.kind == ProblemKind::OvnPortDown));
    assert!(raised, "{deltas:#?}");
}

#[test]
fn an_ovsdb_change_judged_with_its_grace_raises_nothing() {
    // ovn-installed goes away (a replug) and the port is fresh again: applied together,
    // no problem is raised and cleared.
    let h = Host::healthy();
    let mut c = h.correlation();
    let replugged = Host::healthy().with(|h| {
        h.rows[0] = row(TAP, PORT, false);
        h.fresh.insert(PORT.into());
    });
    let deltas = c.set_ovsdb_and_ovn(Some(replugged.ovs()), Some(replugged.ovn()));
    assert!(
        deltas
            .iter()
            .all(|d| !matches!(d, Delta::ProblemRaised(_) | Delta::ProblemCleared(_))),
        "{deltas:#?}"
    );
    assert!(
        !c.inventory().interfaces[0]
            .binding
            .as_ref()
            .unwrap()
            .installed
    );
}

#[test]
fn an_installed_time_past_year_9999_is_not_a_time() {
    let h = Host::healthy().with(|h| h.rows[0].ovn_installed_ts = Some(u64::MAX));
    let inv = h.inventory();
    assert_eq!(
        inv.interfaces[0].binding.as_ref().unwrap().installed_at,
        None
    );
}
