//! vifd on a real OVN chassis (tests/common/ovn: ovsdb-servers, ovn-northd, ovs-vswitchd
//! with a netdev br-int, ovn-controller): every record names its Neutron network and port
//! from the Southbound, and every binding fault, provoked for real, is reported by
//! `vifd check` and cleared again. `ovn-sbctl` and `ovs-vsctl` are the oracle.
//!
//! The guests are libvirt test-driver domains naming real taps that os-vif-style plugging
//! put on br-int; tests/ovn_qemu.rs has real QEMU guests. Needs root and ovn-central,
//! ovn-host; under CI=true a missing prerequisite fails.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use common::ovn::{self, id, Guests, OvnCentral, OvnChassis};

const HV: &str = "hv-vifdt";
const OTHER: &str = "hv-other";

fn mac(n: u8) -> String {
    format!("fa:16:3e:00:01:{n:02x}")
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(k, d)| (k.to_string(), d.to_string()))
        .collect()
}

fn record<'a>(list: &'a [Value], tap: &str) -> &'a Value {
    list.iter()
        .find(|r| r["device"] == tap)
        .unwrap_or_else(|| panic!("no record of {tap}"))
}

/// Deletes a namespace on drop (the metadata agent's, made by the test).
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn list_names_each_vif_from_the_southbound_as_ovn_sbctl_does() {
    if !ovn::available() {
        return;
    }
    let central = OvnCentral::new();
    let mut chassis = OvnChassis::new(HV, &central.sb_addr());
    let (net, net2) = (id("list-net"), id("list-net2"));
    central.add_network(&net, "private");
    central.add_network(&net2, "public");
    let mut guests = Vec::new();
    for (n, network) in [(1u8, &net), (2, &net2)] {
        let (port, vm) = (id(&format!("list-port-{n}")), id(&format!("list-vm-{n}")));
        central.add_port(network, &port, &mac(n), "10.0.0.5/24", &vm, Some(HV));
        let tap = chassis.plug_tap(&port, &mac(n), &vm);
        central.wait_bound(&port, HV);
        chassis.wait_installed(&tap);
        guests.push((vm, tap, mac(n), port, network.clone()));
    }
    let defs: Vec<(&str, &str, &str)> = guests
        .iter()
        .map(|(vm, tap, mac, ..)| (vm.as_str(), tap.as_str(), mac.as_str()))
        .collect();
    let g = Guests::new("list", &defs);
    let list = g.list();
    for (_, tap, _, port, network) in &guests {
        let r = record(&list, tap);
        assert_eq!(r["net_id"], network.as_str(), "{r}");
        assert_eq!(r["net_id_source"], "ovn");
        assert_eq!(r["port_id"], port.as_str());
        assert_eq!(r["port_id_source"], "ovn");
        let b = &r["binding"];
        assert_eq!(
            b["chassis"].as_str(),
            central.bound_chassis(port).as_deref()
        );
        assert_eq!(b["chassis"], HV);
        assert_eq!(b["up"], central.port_up(port));
        assert_eq!(b["installed"], true);
        assert!(chassis.iface_external_id(tap, "ovn-installed-ts").is_some());
        assert!(
            b["installed_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{b}"
        );
        assert_eq!(b["requested_chassis"], serde_json::json!([HV]));
        assert_eq!(r["stale_sources"], serde_json::json!([]));
    }
    assert_eq!(
        record(&list, &guests[0].1)["binding"]["network_name"],
        "private"
    );
    assert_eq!(
        record(&list, &guests[1].1)["binding"]["network_name"],
        "public"
    );
    assert_eq!(g.problems(), set(&[]));
}

#[test]
fn check_names_each_binding_fault_and_clears_it() {
    if !ovn::available() {
        return;
    }
    let central = OvnCentral::new();
    let mut chassis = OvnChassis::new(HV, &central.sb_addr());
    central.add_other_chassis(OTHER);
    let net = id("faults-net");
    central.add_network(&net, "private");
    let (port, vm) = (id("faults-port"), id("faults-vm"));
    central.add_port(&net, &port, &mac(1), "10.0.0.5/24", &vm, Some(HV));
    let tap = chassis.plug_tap(&port, &mac(1), &vm);
    central.wait_bound(&port, HV);
    chassis.wait_installed(&tap);
    // A tap whose iface-id no logical port has.
    let (ghost, ghost_vm) = (id("faults-ghost"), id("faults-ghost-vm"));
    let ghost_tap = chassis.plug_tap(&ghost, &mac(2), &ghost_vm);
    let g = Guests::new(
        "faults",
        &[(&vm, &tap, &mac(1)), (&ghost_vm, &ghost_tap, &mac(2))],
    );
    let missing = ("ovn-port-missing", ghost_tap.as_str());
    assert_eq!(g.problems(), set(&[missing]));

    // Nova moved the VM: requested-chassis names the other chassis; ours releases it.
    central.set_requested_chassis(&port, OTHER);
    central.wait_released(&port);
    let moved = [
        ("ovn-requested-elsewhere", tap.as_str()),
        ("ovn-unbound", &tap),
        missing,
    ];
    assert_eq!(g.problems(), set(&moved));
    // ... and the other chassis claimed it.
    central.bind_elsewhere(&port, OTHER);
    let elsewhere = [
        ("ovn-requested-elsewhere", tap.as_str()),
        ("ovn-bound-elsewhere", &tap),
        missing,
    ];
    assert_eq!(g.problems(), set(&elsewhere));
    central.set_requested_chassis(&port, HV);
    central.wait_bound(&port, HV);
    chassis.wait_installed(&tap);
    assert_eq!(g.problems(), set(&[missing]));

    // The port says another VM owns it.
    central.set_device_id(&port, &id("someone-else"));
    central.sync_sb();
    assert_eq!(
        g.problems(),
        set(&[("device-id-mismatch", tap.as_str()), missing])
    );
    central.set_device_id(&port, &vm);
    central.sync_sb();
    assert_eq!(g.problems(), set(&[missing]));

    // Neutron's copy of the network disagrees with the datapath the port is on.
    let other = format!(
        "external_ids:\"neutron:network_name\"=neutron-{}",
        id("elsewhere")
    );
    central.nbctl(&["set", "Logical_Switch_Port", &port, &other]);
    central.sync_sb();
    assert_eq!(
        g.problems(),
        set(&[("net-id-mismatch", tap.as_str()), missing])
    );
    let own = format!("external_ids:\"neutron:network_name\"=neutron-{net}");
    central.nbctl(&["set", "Logical_Switch_Port", &port, &own]);
    central.sync_sb();
    assert_eq!(g.problems(), set(&[missing]));

    // A metadata port on the network, and no ovnmeta namespace on the host.
    central.add_localport(&net);
    central.sync_sb();
    assert_eq!(
        g.problems(),
        set(&[("ovn-metadata-missing", tap.as_str()), missing])
    );
    let ns = Netns(format!("ovnmeta-{net}"));
    common::ip(&["netns", "add", &ns.0]);
    assert_eq!(g.problems(), set(&[missing]));
    drop(ns);

    // ovn-controller stopped: a port bound here by hand has no flows and is not up.
    chassis.unplug(&ghost_tap);
    chassis.stop_controller();
    let (late, late_vm) = (id("faults-late"), id("faults-late-vm"));
    central.add_port(&net, &late, &mac(3), "10.0.0.7/24", &late_vm, Some(HV));
    let late_tap = chassis.plug_tap(&late, &mac(3), &late_vm);
    central.wait_port_binding(&late);
    let g = Guests::new(
        "late",
        &[(&vm, &tap, &mac(1)), (&late_vm, &late_tap, &mac(3))],
    );
    let unbound = g.problems();
    assert!(
        unbound.contains(&("ovn-unbound".into(), late_tap.clone())),
        "{unbound:?}"
    );
    // Bound here as if by a controller that then stalled (lsp-bind reports it up).
    central.bind_elsewhere(&late, HV);
    central.sbctl(&["set", "Port_Binding", &late, "up=false"]);
    let stuck = g.problems();
    assert!(
        stuck.contains(&("ovn-not-installed".into(), late_tap.clone())),
        "{stuck:?}"
    );
    assert!(
        stuck.contains(&("ovn-port-down".into(), late_tap.clone())),
        "{stuck:?}"
    );
    chassis.start_controller();
    chassis.wait_installed(&late_tap);
    central.wait_bound(&late, HV);
    let healthy = g.problems();
    assert!(
        healthy
            .iter()
            .all(|(k, _)| !k.starts_with("ovn-not") && k != "ovn-port-down"),
        "{healthy:?}"
    );
}

#[test]
fn a_chassis_the_southbound_lost_is_a_host_problem() {
    if !ovn::available() {
        return;
    }
    let central = OvnCentral::new();
    let mut chassis = OvnChassis::new(HV, &central.sb_addr());
    let g = Guests::new("chassis", &[]);
    assert_eq!(g.problems(), set(&[]));
    chassis.stop_controller();
    central.sbctl(&["chassis-del", HV]);
    assert_eq!(g.problems(), set(&[("ovn-chassis-missing", "-")]));
    chassis.start_controller();
    central.sbctl(&["--timeout=30", "wait-until", "Chassis", HV]);
    assert_eq!(g.problems(), set(&[]));
}
