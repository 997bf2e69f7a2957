//! Incremental correlation: after any sequence of domain and device changes, the kept
//! inventory equals a fresh correlation of the same state, and the deltas it returned
//! turn the previous inventory into the new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use vifd::identity::{Facts, OvsFacts};
use vifd::inventory::View;
use vifd::libvirt::{
    DhcpLease, Domain, DomainInterface, DomainState, InterfaceSource, Network, Snapshot,
};
use vifd::mac::MacAddr;
use vifd::netlink::{DeviceKind, HostDevice, LinkStats, Neighbour};
use vifd::ovsdb::{OvsInterface, OvsState};
use vifd::{
    correlate, correlate_with, CorrelateOptions, Correlation, Delta, Inventory, Problem, Vif,
};

/// A small deterministic generator: the walk is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

const BRIDGES: [&str; 3] = ["br0", "br1", "br2"];
const STATES: [DomainState; 4] = [
    DomainState::Running,
    DomainState::Paused,
    DomainState::Shutoff,
    DomainState::Crashed,
];

fn mac(n: usize) -> MacAddr {
    format!("52:54:00:00:{:02x}:{:02x}", n / 256, n % 256)
        .parse()
        .unwrap()
}

fn uuid(d: usize) -> String {
    format!("00000000-0000-4000-8000-{d:012x}")
}

fn domain(rng: &mut Rng, d: usize, name: String) -> Domain {
    let interfaces = (0..rng.below(4))
        .map(|i| DomainInterface {
            kind: if i == 2 { "direct" } else { "bridge" }.into(),
            mac: Some(mac(d * 8 + i)),
            // Now and then no target: exercises the MAC-matching fallback.
            target: (rng.below(12) != 0).then(|| format!("tap{}", rng.below(24))),
            source: InterfaceSource {
                bridge: Some(BRIDGES[rng.below(3)].into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .collect();
    Domain {
        uuid: uuid(d),
        name,
        state: STATES[rng.below(STATES.len())],
        interfaces,
        disks: vec![],
        nova: None,
        guest_addresses: vec![],
    }
}

fn device(rng: &mut Rng, name: String, ifindex: u32) -> HostDevice {
    let kind = [DeviceKind::Tap, DeviceKind::Macvtap, DeviceKind::Veth][rng.below(3)].clone();
    HostDevice {
        ifindex,
        name,
        kind,
        mac: Some(mac(rng.below(64)).libvirt_tap_mac()),
        master: (rng.below(4) != 0).then(|| BRIDGES[rng.below(3)].to_string()),
        operstate: ["up", "down", "unknown"][rng.below(3)].into(),
        carrier: Some(rng.below(2) == 0),
        admin_up: true,
        mtu: Some(1500),
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
}

/// The mirror a watcher keeps: records by NIC (domain, guest MAC: unique in these
/// walks, while two NICs may share a port id) and the problem multiset.
#[derive(Debug, PartialEq)]
struct Mirror {
    vifs: BTreeMap<(String, Option<MacAddr>), Arc<Vif>>,
    problems: Vec<String>,
}

fn mirror_of(inv: &Inventory) -> Mirror {
    let mut problems: Vec<String> = inv.problems.iter().map(|p| key(p)).collect();
    problems.sort();
    Mirror {
        // Counters move without deltas: a watcher's mirror has them as first seen.
        vifs: inv
            .interfaces
            .iter()
            .map(|v| (nic(v), without_stats(v)))
            .collect(),
        problems,
    }
}

fn nic(v: &Vif) -> (String, Option<MacAddr>) {
    (v.domain_uuid.clone(), v.mac_address)
}

fn without_stats(v: &Vif) -> Arc<Vif> {
    let mut v = v.clone();
    v.stats = None;
    Arc::new(v)
}

fn key(p: &Problem) -> String {
    format!("{p:?}")
}

fn apply(m: &mut Mirror, deltas: Vec<Delta>) {
    for d in deltas {
        match d {
            Delta::Added(v) => {
                m.vifs.insert(nic(&v), without_stats(&v));
            }
            Delta::Changed {
                record,
                previous_id,
            } => {
                let old = m.vifs.insert(nic(&record), without_stats(&record));
                let old = old.expect("changed an unknown record");
                match previous_id {
                    Some(id) => assert_eq!(old.id, id, "previous id"),
                    None => assert_eq!(old.id, record.id, "id changed without previous_id"),
                }
            }
            Delta::Removed(v) => {
                assert!(
                    m.vifs.remove(&nic(&v)).is_some(),
                    "removed an unknown record"
                );
            }
            Delta::ProblemRaised(p) => m.problems.push(key(&p)),
            Delta::ProblemCleared(p) => {
                let k = key(&p);
                let at = m
                    .problems
                    .iter()
                    .position(|x| *x == k)
                    .expect("cleared unknown problem");
                m.problems.remove(at);
            }
        }
    }
    m.problems.sort();
}

/// Six domains and sixteen devices to start a walk from.
fn initial_host(rng: &mut Rng) -> (BTreeMap<usize, Domain>, BTreeMap<String, HostDevice>) {
    let domains = (0..6)
        .map(|d| (d, domain(rng, d, format!("vm{d}"))))
        .collect();
    let devices = (0..16)
        .map(|k| {
            (
                format!("tap{k}"),
                device(rng, format!("tap{k}"), k as u32 + 10),
            )
        })
        .collect();
    (domains, devices)
}

#[test]
fn random_changes_keep_the_inventory_equal_to_a_fresh_correlation() {
    let mut rng = Rng(7);
    let opts = CorrelateOptions::default();
    let (mut domains, mut devices) = initial_host(&mut rng);
    let snapshot = |domains: &BTreeMap<usize, Domain>| {
        let mut domains: Vec<Domain> = domains.values().cloned().collect();
        domains.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            domains,
            networks: vec![],
        }
    };
    let list =
        |devices: &BTreeMap<String, HostDevice>| devices.values().cloned().collect::<Vec<_>>();
    let mut inc = Correlation::new(snapshot(&domains), list(&devices), opts.clone());
    let mut mirror = mirror_of(&inc.inventory());
    let at = SystemTime::UNIX_EPOCH;
    let mut view = View::build(1, at, inc.take_changes());
    let mut next_ifindex = 100;
    for step in 0..2000 {
        let deltas = match rng.below(6) {
            0 | 1 => {
                let d = rng.below(9);
                let name = format!("vm{}", if rng.below(5) == 0 { d + 20 } else { d });
                if rng.below(4) == 0 {
                    domains.remove(&d);
                    inc.set_domain(&uuid(d), None)
                } else {
                    let dom = domain(&mut rng, d, name);
                    domains.insert(d, dom.clone());
                    inc.set_domain(&uuid(d), Some(dom))
                }
            }
            2 => {
                let name = format!("tap{}", rng.below(24));
                devices.remove(&name);
                inc.set_devices(vec![(name, None)])
            }
            3 => {
                // A rename: old name gone, new name present, in one batch.
                let Some(old) = devices.keys().nth(rng.below(devices.len().max(1))).cloned() else {
                    continue;
                };
                let new = format!("tap{}", rng.below(24));
                let mut dev = devices.remove(&old).unwrap();
                dev.name = new.clone();
                let mut batch = vec![(old, None)];
                if let Some(replaced) = devices.insert(new.clone(), dev.clone()) {
                    assert_eq!(replaced.name, new);
                }
                batch.push((new, Some(dev)));
                inc.set_devices(batch)
            }
            _ => {
                let name = format!("tap{}", rng.below(24));
                next_ifindex += 1;
                let dev = device(&mut rng, name.clone(), next_ifindex);
                devices.insert(name.clone(), dev.clone());
                inc.set_devices(vec![(name, Some(dev))])
            }
        };
        let fresh = correlate(&snapshot(&domains), &list(&devices), &opts);
        assert_eq!(
            inc.inventory(),
            fresh,
            "step {step}: kept inventory differs"
        );
        apply(&mut mirror, deltas);
        assert_eq!(
            mirror,
            mirror_of(&fresh),
            "step {step}: deltas do not add up"
        );
        view = view.next(step + 2, at, inc.take_changes());
        assert_view_shows(&view, &fresh, step);
    }
}

/// The view kept change by change serves exactly the fresh inventory, indexes included.
fn assert_view_shows(view: &View, fresh: &Inventory, step: u64) {
    let interfaces: Vec<_> = view.interfaces().cloned().collect();
    assert_eq!(interfaces, fresh.interfaces, "step {step}: view records");
    let problems: Vec<_> = view.problems().cloned().collect();
    assert_eq!(problems, fresh.problems, "step {step}: view problems");
    let domains: Vec<_> = view.domains().map(|d| d.summary.clone()).collect();
    assert_eq!(domains, fresh.domains, "step {step}: view domains");
    assert_eq!(
        view.interface_count(),
        fresh.interfaces.len(),
        "step {step}"
    );
    assert_eq!(view.problem_count(), fresh.problems.len(), "step {step}");
    for d in &fresh.domains {
        let found = view.domain_by_uuid(&d.uuid.to_ascii_uppercase());
        assert_eq!(found.map(|r| &r.summary), Some(d), "step {step}: by uuid");
    }
    // A port two records claim answers the last of them in inventory order, as a fresh
    // view does, whatever the order of the changes that led here.
    for v in &fresh.interfaces {
        let last = fresh
            .interfaces
            .iter()
            .rev()
            .find(|w| w.id.eq_ignore_ascii_case(&v.id));
        let found = view.vif_by_id(&v.id.to_ascii_uppercase());
        assert_eq!(found, last.map(|w| &**w), "step {step}: by id {}", v.id);
    }
}

#[test]
fn stale_marks_every_record_and_clears_again() {
    let mut rng = Rng(3);
    let doms: Vec<Domain> = (0..3)
        .map(|d| domain(&mut rng, d, format!("vm{d}")))
        .collect();
    let n: usize = doms.iter().map(|d| d.interfaces.len()).sum();
    let snap = Snapshot {
        domains: doms,
        networks: vec![],
    };
    let mut inc = Correlation::new(snap, vec![], CorrelateOptions::default());
    assert_eq!(inc.set_stale(true).len(), n);
    assert!(inc.inventory().interfaces.iter().all(|v| v.stale));
    assert!(inc.set_stale(true).is_empty(), "no change, no delta");
    assert_eq!(inc.set_stale(false).len(), n);
    assert!(inc.inventory().interfaces.iter().all(|v| !v.stale));
}

/// The identity facts of the random walk, kept as plain values.
struct World {
    ovs: BTreeMap<String, OvsInterface>,
    ovs_stale: bool,
    neighbours: Vec<Neighbour>,
    leases: Vec<DhcpLease>,
}

impl World {
    fn facts(&self) -> Facts {
        let state = OvsState {
            interfaces: self.ovs.clone().into_iter().collect(),
            ..Default::default()
        };
        let ovs = OvsFacts {
            state: Arc::new(state),
            stale: self.ovs_stale,
        };
        Facts::new(Some(ovs), &self.neighbours)
    }

    fn networks(&self) -> Vec<Network> {
        vec![Network {
            name: "net1".into(),
            uuid: "11111111-2222-4333-8444-555555555555".into(),
            bridge: Some("br1".into()),
            active: true,
            leases: self.leases.clone(),
            hosts: vec![],
        }]
    }
}

fn ovs_row(rng: &mut Rng, name: &str) -> OvsInterface {
    OvsInterface {
        name: name.into(),
        iface_id: (rng.below(3) != 0).then(|| uuid(rng.below(5) + 100)),
        attached_mac: (rng.below(2) == 0).then(|| mac(rng.below(64)).to_string()),
        vm_uuid: (rng.below(2) == 0).then(|| uuid(rng.below(9))),
        port: Some(name.into()),
        bridge: Some("br-int".into()),
        net_uuid: (rng.below(3) != 0).then(|| uuid(rng.below(3) + 200)),
        vlan: (rng.below(2) == 0).then(|| rng.below(4000) as u16),
        ..Default::default()
    }
}

#[test]
fn random_identity_changes_keep_the_inventory_equal_to_a_fresh_correlation() {
    let mut rng = Rng(11);
    let opts = CorrelateOptions::default();
    let (mut domains, mut devices) = initial_host(&mut rng);
    let mut world = World {
        ovs: BTreeMap::new(),
        ovs_stale: false,
        neighbours: Vec::new(),
        leases: Vec::new(),
    };
    let snapshot = |domains: &BTreeMap<usize, Domain>, world: &World| Snapshot {
        domains: domains.values().cloned().collect(),
        networks: world.networks(),
    };
    let list = |d: &BTreeMap<String, HostDevice>| d.values().cloned().collect::<Vec<_>>();
    let mut inc = Correlation::with_facts(
        snapshot(&domains, &world),
        list(&devices),
        world.facts(),
        opts.clone(),
    );
    let mut mirror = mirror_of(&inc.inventory());
    let mut view = View::build(1, SystemTime::UNIX_EPOCH, inc.take_changes());
    for step in 0..1500 {
        let deltas = match rng.below(7) {
            0 => {
                let name = format!("tap{}", rng.below(24));
                match rng.below(3) {
                    0 => world.ovs.remove(&name),
                    _ => world.ovs.insert(name.clone(), ovs_row(&mut rng, &name)),
                };
                world.ovs_stale = rng.below(5) == 0;
                inc.set_ovsdb(Some(world.facts().ovsdb.unwrap()))
            }
            1 => {
                let n = Neighbour {
                    device: BRIDGES[rng.below(3)].into(),
                    ifindex: 3,
                    address: format!("10.0.0.{}", rng.below(20)).parse().unwrap(),
                    mac: mac(rng.below(64)),
                };
                if rng.below(3) == 0 && !world.neighbours.is_empty() {
                    world.neighbours.remove(rng.below(world.neighbours.len()));
                } else {
                    world.neighbours.push(n);
                }
                inc.set_neighbours(&world.neighbours)
            }
            2 => {
                let lease = DhcpLease {
                    mac: Some(mac(rng.below(64))),
                    address: format!("192.168.1.{}", rng.below(50)).parse().unwrap(),
                    prefix: 24,
                    hostname: None,
                    expiry: 0,
                };
                if rng.below(3) == 0 && !world.leases.is_empty() {
                    world.leases.remove(rng.below(world.leases.len()));
                } else {
                    world.leases.push(lease);
                }
                inc.set_networks(world.networks())
            }
            3 => {
                let name = format!("tap{}", rng.below(24));
                let stats = LinkStats {
                    rx_bytes: rng.below(1 << 20) as u64,
                    ..Default::default()
                };
                if let Some(d) = devices.get_mut(&name) {
                    d.stats = Some(stats);
                }
                inc.set_stats(&[(name, stats)]);
                Vec::new()
            }
            4 => {
                let d = rng.below(9);
                let dom = domain(&mut rng, d, format!("vm{d}"));
                domains.insert(d, dom.clone());
                inc.set_domain(&uuid(d), Some(dom))
            }
            _ => {
                let name = format!("tap{}", rng.below(24));
                let dev = device(&mut rng, name.clone(), 50 + step as u32);
                devices.insert(name.clone(), dev.clone());
                inc.set_devices(vec![(name, Some(dev))])
            }
        };
        let fresh = correlate_with(
            &snapshot(&domains, &world),
            &list(&devices),
            &world.facts(),
            &opts,
        );
        assert_eq!(
            inc.inventory(),
            fresh,
            "step {step}: kept inventory differs"
        );
        apply(&mut mirror, deltas);
        assert_eq!(
            mirror,
            mirror_of(&fresh),
            "step {step}: deltas do not add up"
        );
        view = view.next(step + 2, SystemTime::UNIX_EPOCH, inc.take_changes());
        assert_view_shows(&view, &fresh, step);
    }
}
