//! vifd on a real OVN chassis (tests/common/ovn) with a real QEMU guest on the real
//! libvirtd, plugged both ways Nova does: one NIC `type='bridge'` on br-int with
//! `<virtualport type='openvswitch'>` (libvirt writes the Interface's external_ids), one
//! Nova >= 24 `type='ethernet'` NIC on a tap that os-vif made and plugged beforehand
//! (`managed='no'`). ovn-controller really claims both; `vifd list`, `vifd check` and
//! `vifd serve` say what `ovn-sbctl` and `ovs-vsctl` say.
//!
//! Needs root, ovn-central, ovn-host and libvirtd (`make services`); under CI=true a
//! missing prerequisite fails.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use common::daemon::Daemon;
use common::http::get;
use common::ovn::guests::{self, OVS};
use common::ovn::{id, OvnCentral, OvnChassis, QemuGuest};
use common::qemu::URI;

const HV: &str = "hv-vifdt";
const OTHER: &str = "hv-other";
const LIMIT: Duration = Duration::from_secs(60);

fn mac(n: u8) -> String {
    format!("fa:16:3e:00:03:{n:02x}")
}

/// One NIC of the guest: its Neutron port and network, and the host device it got.
struct Nic {
    port: String,
    mac: String,
    net: String,
    net_name: &'static str,
    device: String,
    port_id_source: &'static str,
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(k, d)| (k.to_string(), d.to_string()))
        .collect()
}

fn record<'a>(list: &'a [Value], device: &str) -> &'a Value {
    list.iter()
        .find(|r| r["device"] == device)
        .unwrap_or_else(|| panic!("no record of {device}: {list:#?}"))
}

/// Checks vifd's record of `nic` against the Southbound (ovn-sbctl) and Open vSwitch
/// (ovs-vsctl).
fn assert_record_as_ovn_says(
    r: &Value,
    nic: &Nic,
    central: &OvnCentral,
    chassis: &OvnChassis,
    vm: &str,
) {
    assert_eq!(r["domain_uuid"], vm, "{r:#}");
    assert_eq!(r["mac_address"], nic.mac.as_str(), "{r:#}");
    assert_eq!(r["net_id"], nic.net.as_str(), "{r:#}");
    assert_eq!(r["net_id_source"], "ovn", "{r:#}");
    assert_eq!(r["port_id"], nic.port.as_str(), "{r:#}");
    assert_eq!(r["port_id_source"], nic.port_id_source, "{r:#}");
    assert_eq!(r["stale_sources"], serde_json::json!([]), "{r:#}");
    let b = &r["binding"];
    let bound = central.bound_chassis(&nic.port);
    assert_eq!(bound.as_deref(), Some(HV));
    assert_eq!(b["chassis"].as_str(), bound.as_deref(), "{r:#}");
    assert_eq!(b["up"], central.port_up(&nic.port), "{r:#}");
    assert_eq!(b["up"], true, "{r:#}");
    assert_eq!(b["requested_chassis"], serde_json::json!([HV]), "{r:#}");
    assert_eq!(b["network_name"], nic.net_name, "{r:#}");
    assert_eq!(
        central.datapath_external_id(&nic.port, "name2").as_deref(),
        Some(nic.net_name)
    );
    assert_eq!(b["installed"], true, "{r:#}");
    assert_eq!(
        chassis
            .iface_external_id(&nic.device, "ovn-installed")
            .as_deref(),
        Some("true")
    );
    let ts = installed_at(chassis, &nic.device).expect("ovn-installed-ts");
    assert_eq!(b["installed_at"], ts.as_str(), "{r:#}");
}

/// Whether record `r` shows its port bound here, up and installed as Open vSwitch says
/// now (the served record may lag behind the oracle).
fn settled(r: &Value, chassis: &OvnChassis) -> bool {
    let b = &r["binding"];
    let device = r["device"].as_str().unwrap_or_default();
    b["chassis"] == HV
        && b["up"] == true
        && b["installed"] == true
        && b["installed_at"].as_str() == installed_at(chassis, device).as_deref()
}

/// Interface `device`'s `ovn-installed-ts` (milliseconds since the epoch) in RFC 3339,
/// as vifd shows it.
fn installed_at(chassis: &OvnChassis, device: &str) -> Option<String> {
    let ts = chassis.iface_external_id(device, "ovn-installed-ts")?;
    let ms = ts.parse().expect("ovn-installed-ts in milliseconds");
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    Some(humantime::format_rfc3339_millis(at).to_string())
}

/// `/v1/problems` of the daemon that concern `guest`.
fn served_problems(d: &Daemon, guest: &QemuGuest) -> BTreeSet<(String, String)> {
    let body = get(d.addr(), "/v1/problems", &[]).json();
    let list = body["problems"].as_array().unwrap();
    guests::kinds(list.iter().filter(|p| guest.concerns(p)))
}

/// `/v1/interfaces` of `guest`.
fn served_records(d: &Daemon, guest: &QemuGuest) -> Vec<Value> {
    let path = format!("/v1/interfaces?domain={}", guest.uuid());
    let body = get(d.addr(), &path, &[]).json();
    body["interfaces"].as_array().unwrap().clone()
}

#[test]
fn qemu_guest_plugged_both_ways_is_claimed_and_reported_as_ovn_says() {
    if !guests::qemu_available() {
        return;
    }
    let central = OvnCentral::new();
    let mut chassis = OvnChassis::new(HV, &central.sb_addr());
    let vm = id(&format!("qemu-both-vm-{}", std::process::id()));
    let (net1, net2) = (id("qemu-both-net-1"), id("qemu-both-net-2"));
    central.add_network(&net1, "private");
    central.add_network(&net2, "public");
    let (port1, port2) = (id("qemu-both-port-1"), id("qemu-both-port-2"));
    central.add_port(&net1, &port1, &mac(1), "10.0.0.5/24", &vm, Some(HV));
    central.add_port(&net2, &port2, &mac(2), "10.0.1.5/24", &vm, Some(HV));

    // NIC 2 as os-vif plugs it for Nova >= 24: the tap made and on br-int before the
    // guest starts; libvirt only opens it.
    let tap2 = chassis.plug_tap(&port2, &mac(2), &vm);
    // Dropped before the chassis: libvirt unplugs NIC 1 while Open vSwitch still runs
    // (the chassis deletes the tap it plugged).
    let guest = QemuGuest::create(
        "both",
        &vm,
        &[
            QemuGuest::virtualport_nic(&mac(1), &port1),
            QemuGuest::ethernet_nic(&mac(2), &tap2),
        ],
    );
    let tap1 = guest.devices()[0].clone();
    assert_eq!(guest.devices()[1], tap2);
    let nics = [
        Nic {
            port: port1.clone(),
            mac: mac(1),
            net: net1,
            net_name: "private",
            device: tap1.clone(),
            // The XML's own interfaceid comes before what OVN says.
            port_id_source: "virtualport",
        },
        Nic {
            port: port2.clone(),
            mac: mac(2),
            net: net2,
            net_name: "public",
            device: tap2.clone(),
            port_id_source: "ovn",
        },
    ];
    for nic in &nics {
        central.wait_bound(&nic.port, HV);
        chassis.wait_installed(&nic.device);
    }
    // libvirt wrote NIC 1's external_ids; os-vif's (the bed's) are NIC 2's.
    assert_eq!(chassis.iface_external_id(&tap1, "iface-id"), Some(port1));
    assert_eq!(chassis.iface_external_id(&tap1, "vm-id"), Some(vm.clone()));
    assert_eq!(
        chassis.iface_external_id(&tap1, "attached-mac"),
        Some(mac(1))
    );
    assert_eq!(
        chassis.iface_external_id(&tap2, "iface-id"),
        Some(port2.clone())
    );
    assert_eq!(
        chassis.iface_external_id(&tap2, "vm-uuid"),
        Some(vm.clone())
    );

    // vifd list and check, one-shot.
    let list = guest.list();
    assert_eq!(list.len(), 2, "{list:#?}");
    for nic in &nics {
        assert_record_as_ovn_says(record(&list, &nic.device), nic, &central, &chassis, &vm);
    }
    assert_eq!(guest.problems(), set(&[]));

    // vifd serve: NIC 2's port moved to another chassis, then back.
    let args = [
        "--libvirt-uri",
        URI,
        "--ovsdb",
        OVS,
        "--ovn-grace",
        "2",
        "--refresh",
        "3600",
    ];
    let d = Daemon::on_loopback(&args);
    d.until("both NICs served bound, up and installed", LIMIT, || {
        let served = served_records(&d, &guest);
        served.len() == 2 && served.iter().all(|r| settled(r, &chassis))
    });
    let served = served_records(&d, &guest);
    for nic in &nics {
        assert_record_as_ovn_says(record(&served, &nic.device), nic, &central, &chassis, &vm);
    }
    assert_eq!(served_problems(&d, &guest), set(&[]));

    central.add_other_chassis(OTHER);
    central.set_requested_chassis(&port2, OTHER);
    central.wait_released(&port2);
    chassis.wait_not_installed(&tap2);
    let moved = set(&[
        ("ovn-requested-elsewhere", tap2.as_str()),
        ("ovn-unbound", &tap2),
    ]);
    d.until("NIC 2 requested elsewhere and unbound", LIMIT, || {
        served_problems(&d, &guest) == moved
    });
    let served = served_records(&d, &guest);
    let r2 = record(&served, &tap2);
    assert_eq!(r2["binding"]["chassis"], Value::Null, "{r2:#}");
    assert_eq!(
        r2["binding"]["requested_chassis"],
        serde_json::json!([OTHER]),
        "{r2:#}"
    );
    assert_eq!(r2["port_id"], port2.as_str(), "{r2:#}");
    assert_eq!(guest.problems(), moved, "vifd check agrees");

    central.set_requested_chassis(&port2, HV);
    central.wait_bound(&port2, HV);
    chassis.wait_installed(&tap2);
    d.until("NIC 2 back: installed anew, no problem", LIMIT, || {
        served_problems(&d, &guest).is_empty()
            && settled(record(&served_records(&d, &guest), &tap2), &chassis)
    });
    let served = served_records(&d, &guest);
    assert_record_as_ovn_says(record(&served, &tap2), &nics[1], &central, &chassis, &vm);
    assert_eq!(guest.problems(), set(&[]));
}
