//! The OVN test bed itself (tests/common/ovn), with `ovn-sbctl` and `ovs-vsctl` as the
//! oracle: a whole chassis on this machine claims what it should, releases what it should
//! not hold, claims nothing while its controller is stopped, survives the loss of the SB
//! leader, and claims a real QEMU guest's port plugged by libvirt.
//!
//! Needs root and the packages ovn-central and ovn-host (and libvirtd for the guest);
//! under CI=true a missing prerequisite fails a test, otherwise it is skipped with a
//! message. The chassis uses the global Open vSwitch socket, so its tests run one at a
//! time (OvnChassis::new holds a lock).

mod common;

use common::ovn::{self, guests, id, OvnCentral, OvnChassis, QemuGuest, SbCluster};

const HV: &str = "hv-vifdt";
const OTHER: &str = "hv-other";

/// A Neutron-style MAC for port number `n`.
fn mac(n: u8) -> String {
    format!("fa:16:3e:00:00:{n:02x}")
}

/// A central and a chassis `HV` on one network; returns them and the network's UUID.
fn bed(tag: &str) -> (OvnCentral, OvnChassis, String) {
    let central = OvnCentral::new();
    let chassis = OvnChassis::new(HV, &central.sb_addr());
    let net = id(&format!("{tag}-net"));
    central.add_network(&net, "private");
    (central, chassis, net)
}

#[test]
fn tap_plugged_os_vif_style_is_claimed() {
    if !ovn::available() {
        return;
    }
    let (central, mut chassis, net) = bed("claim");
    let (port, vm) = (id("claim-port"), id("claim-vm"));
    central.add_port(&net, &port, &mac(1), "10.0.0.5/24", &vm, Some(HV));
    let tap = chassis.plug_tap(&port, &mac(1), &vm);
    assert_eq!(tap, format!("tap{}", &port[..11]));

    central.wait_bound(&port, HV);
    chassis.wait_installed(&tap);
    assert_eq!(central.bound_chassis(&port).as_deref(), Some(HV));
    assert!(central.port_up(&port));
    assert_eq!(
        chassis.iface_external_id(&tap, "ovn-installed").as_deref(),
        Some("true")
    );
    assert_eq!(
        chassis.iface_external_id(&tap, "iface-id"),
        Some(port.clone())
    );
    assert_eq!(chassis.iface_external_id(&tap, "vm-uuid"), Some(vm.clone()));
    // What an `ovn` resolver reads: the network's names on the Datapath_Binding.
    let neutron_name = format!("neutron-{net}");
    assert_eq!(
        central.datapath_external_id(&port, "name"),
        Some(neutron_name)
    );
    assert_eq!(
        central.datapath_external_id(&port, "name2").as_deref(),
        Some("private")
    );
    assert_eq!(
        central.port_binding(&port, "requested_chassis"),
        central.chassis_uuid(HV)
    );

    // Neutron's metadata port: a localport on every chassis, bound to none.
    let meta = central.add_localport(&net);
    central.wait_port_binding(&meta);
    central.sync_hv();
    assert_eq!(central.port_binding(&meta, "type"), "localport");
    assert_eq!(central.bound_chassis(&meta), None);
    assert_eq!(central.bound_chassis(&port).as_deref(), Some(HV));

    chassis.unplug(&tap);
    central.wait_released(&port);
}

#[test]
fn tap_of_an_unknown_port_is_left_alone() {
    if !ovn::available() {
        return;
    }
    let (central, mut chassis, net) = bed("unknown");
    let (ghost, vm) = (id("unknown-ghost"), id("unknown-vm"));
    let ghost_tap = chassis.plug_tap(&ghost, &mac(8), &vm);
    // A port with no requested-chassis, plugged after the ghost: ovn-controller reads
    // Open vSwitch changes in order, so once it has installed this one it has seen the
    // ghost too.
    let known = id("unknown-known");
    central.add_port(&net, &known, &mac(9), "10.0.0.12/24", &vm, None);
    let known_tap = chassis.plug_tap(&known, &mac(9), &vm);
    central.wait_bound(&known, HV);
    chassis.wait_installed(&known_tap);
    assert_eq!(central.port_binding(&known, "requested_chassis"), "");

    let ghost_row = format!("logical_port={}", ovn::quoted(&ghost));
    let found = central.sbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        "Port_Binding",
        &ghost_row,
    ]);
    assert_eq!(found.trim(), "", "no Neutron port, no Port_Binding");
    assert_eq!(chassis.iface_external_id(&ghost_tap, "ovn-installed"), None);
    assert_eq!(
        chassis.iface_external_id(&ghost_tap, "iface-id"),
        Some(ghost)
    );
}

#[test]
fn requested_chassis_elsewhere_is_released() {
    if !ovn::available() {
        return;
    }
    let (central, mut chassis, net) = bed("moved");
    let (port, vm) = (id("moved-port"), id("moved-vm"));
    central.add_port(&net, &port, &mac(2), "10.0.0.6/24", &vm, Some(HV));
    let tap = chassis.plug_tap(&port, &mac(2), &vm);
    central.wait_bound(&port, HV);
    chassis.wait_installed(&tap);

    // Nova moved the VM: Neutron asks for the other chassis; ours lets go of the port
    // although its tap is still plugged here.
    central.add_other_chassis(OTHER);
    central.set_requested_chassis(&port, OTHER);
    central.wait_released(&port);
    chassis.wait_not_installed(&tap);
    assert_eq!(central.bound_chassis(&port), None);
    assert_eq!(
        central.port_binding(&port, "requested_chassis"),
        central.chassis_uuid(OTHER)
    );
    assert_eq!(
        chassis.iface_external_id(&tap, "iface-id"),
        Some(port.clone())
    );

    // The other chassis claims it; ours does not take it back.
    central.bind_elsewhere(&port, OTHER);
    central.sync_hv();
    assert_eq!(central.bound_chassis(&port).as_deref(), Some(OTHER));
    assert_eq!(chassis.iface_external_id(&tap, "ovn-installed"), None);

    // A device_id change is NB-only: the binding stays where it is.
    central.set_device_id(&port, &id("moved-vm-2"));
    central.sync_hv();
    assert_eq!(central.bound_chassis(&port).as_deref(), Some(OTHER));
}

#[test]
fn stopped_controller_leaves_a_new_port_unclaimed() {
    if !ovn::available() {
        return;
    }
    let (central, mut chassis, net) = bed("stopped");
    let (a, b, vm) = (id("stopped-a"), id("stopped-b"), id("stopped-vm"));
    central.add_port(&net, &a, &mac(3), "10.0.0.7/24", &vm, Some(HV));
    chassis.plug_tap(&a, &mac(3), &vm);
    central.wait_bound(&a, HV);

    chassis.stop_controller();
    central.add_port(&net, &b, &mac(4), "10.0.0.8/24", &vm, Some(HV));
    central.wait_port_binding(&b);
    // ovs-vsctl returns once ovs-vswitchd has the port: the tap is on br-int.
    let tap_b = chassis.plug_tap(&b, &mac(4), &vm);
    assert!(
        chassis
            .vsctl(&["get", "Interface", &tap_b, "ofport"])
            .trim()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    // No controller runs (it was reaped above), so nothing can claim B.
    assert_eq!(central.bound_chassis(&b), None);
    assert!(!central.port_up(&b));
    assert_eq!(chassis.iface_external_id(&tap_b, "ovn-installed"), None);
    // A's binding stays in the SB, stale: the Chassis row outlives a stopped controller.
    assert_eq!(central.bound_chassis(&a).as_deref(), Some(HV));

    chassis.start_controller();
    central.wait_bound(&b, HV);
    chassis.wait_installed(&tap_b);
}

#[test]
fn sb_cluster_elects_a_new_leader_and_keeps_serving() {
    if !ovn::available() {
        return;
    }
    let mut cluster = SbCluster::new();
    cluster.wait_leader();
    let old = cluster.leader();
    let central = OvnCentral::with_sb(&cluster.remotes());
    let mut chassis = OvnChassis::new(HV, &cluster.remotes());
    let net = id("cluster-net");
    central.add_network(&net, "clustered");
    let (a, vm) = (id("cluster-a"), id("cluster-vm"));
    central.add_port(&net, &a, &mac(5), "10.0.0.9/24", &vm, Some(HV));
    chassis.plug_tap(&a, &mac(5), &vm);
    central.wait_bound(&a, HV);

    cluster.kill(old);
    let new = cluster.wait_leader();
    assert_ne!(new, old, "the killed member cannot lead");
    assert_eq!(cluster.leader(), new);
    let show = cluster.sbctl(&["show"]);
    assert!(show.contains(&format!("Chassis {HV}")), "{show}");
    // Writes reach the new leader: by hand, from northd and from ovn-controller.
    central.add_other_chassis(OTHER);
    let b = id("cluster-b");
    central.add_port(&net, &b, &mac(6), "10.0.0.10/24", &vm, Some(HV));
    chassis.plug_tap(&b, &mac(6), &vm);
    central.wait_bound(&b, HV);

    // The old leader rejoins as a member; the whole cluster restarts with its data.
    cluster.start(old);
    cluster.leader();
    cluster.stop_all();
    cluster.start_all();
    cluster.wait_leader();
    let show = cluster.sbctl(&["show"]);
    assert!(show.contains(&format!("Chassis {OTHER}")), "{show}");
    central.wait_bound(&b, HV);
}

#[test]
fn qemu_guest_with_openvswitch_virtualport_is_claimed() {
    if !guests::qemu_available() {
        return;
    }
    let (central, chassis, net) = bed("qemu");
    let (port, vm) = (
        id("qemu-port"),
        id(&format!("qemu-vm-{}", std::process::id())),
    );
    let guest_mac = mac(7);
    central.add_port(&net, &port, &guest_mac, "10.0.0.11/24", &vm, Some(HV));

    // Dropped before the chassis: libvirt unplugs the port while Open vSwitch runs.
    let guest = QemuGuest::create(
        "claim",
        &vm,
        &[QemuGuest::virtualport_nic(&guest_mac, &port)],
    );
    let tap = &guest.devices()[0];
    central.wait_bound(&port, HV);
    chassis.wait_installed(tap);
    assert!(central.port_up(&port));
    assert_eq!(
        chassis.iface_external_id(tap, "iface-id"),
        Some(port.clone())
    );
    assert_eq!(chassis.iface_external_id(tap, "vm-id"), Some(vm.clone()));
    assert_eq!(
        chassis.iface_external_id(tap, "attached-mac"),
        Some(guest_mac)
    );
    assert_eq!(
        chassis.iface_external_id(tap, "iface-status").as_deref(),
        Some("active")
    );
}
