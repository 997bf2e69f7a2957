//! The actions (HTTP write endpoints of `vifd serve --enable-actions`) against a real
//! libvirtd (`qemu:///system`, started by `scripts/start-libvirtd.sh`): interface hot-plug
//! by net_id, DHCP-range address allocation recorded as libvirt host entries, volume
//! attach/detach from a dir pool, and detach through the persistent config. The access
//! gate and concurrent allocations are in actions_access.rs. Each test builds its own
//! fixture (tests/common/actions.rs), one at a time; a missing libvirtd fails, it never skips.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::actions::{domblklist, domiflist, fault, random_uuid, Fixture};
use common::nova_schemas::assert_valid;
use common::qemu::{virsh, URI};
use common::{record_by_mac, vifd_json};
use serde_json::{json, Value};

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

/// `ip -j link show DEV`: (exists, master).
fn link_master(dev: &str) -> Option<Option<String>> {
    let out = Command::new("ip")
        .args(["-j", "link", "show", "dev", dev])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(v[0]["master"].as_str().map(String::from))
}

#[test]
fn os_interface_attach_by_net_id_plugs_a_tap_named_after_the_port() {
    let _serial = common::one_at_a_time();
    let fx = Fixture::new();
    let path = format!("/v2.1/servers/{}/os-interface", fx.guest_uuid);

    // net_id only: vifd picks the port, the MAC and the tap name.
    let (s, b) = fx.call(
        "POST",
        &path,
        Some(&json!({"interfaceAttachment": {"net_id": fx.big.uuid}})),
    );
    assert_eq!(s, 200, "POST {path}: {b:#}");
    assert_valid("os_interface_show", &format!("POST {path}"), &b);
    let att = &b["interfaceAttachment"];
    for key in ["port_id", "net_id", "mac_addr", "port_state", "fixed_ips"] {
        assert!(
            att.get(key).is_some(),
            "interfaceAttachment lacks {key}: {b:#}"
        );
    }
    let port = str_of(&att["port_id"], "port_id").to_string();
    let mac = str_of(&att["mac_addr"], "mac_addr").to_string();
    assert!(uuid::Uuid::try_parse(&port).is_ok(), "port_id: {b:#}");
    assert!(mac.starts_with("52:54:00:"), "generated MAC: {b:#}");
    assert_eq!(att["net_id"], fx.big.uuid.as_str(), "{b:#}");
    assert!(att["fixed_ips"].is_array(), "{b:#}");
    let tap = format!("tap{}", &port[..11]);

    let rows = domiflist(&fx.guest);
    let row = rows
        .iter()
        .find(|r| r[4] == mac)
        .unwrap_or_else(|| panic!("virsh domiflist has no {mac}: {rows:?}"));
    assert_eq!(row[0], tap, "tap name in virsh domiflist: {rows:?}");
    assert_eq!(row[1], "network", "{rows:?}");
    assert_eq!(row[2], fx.big.name, "{rows:?}");
    assert_eq!(row[3], "virtio", "{rows:?}");
    assert_eq!(
        link_master(&tap),
        Some(Some(fx.big.bridge.clone())),
        "{tap} on the network's bridge"
    );
    // Persistent domain: the config has it too.
    let inactive = virsh(&["dumpxml", &fx.guest, "--inactive"]);
    assert!(
        inactive.contains(&mac),
        "the persistent config lacks {mac}:\n{inactive}"
    );

    // `vifd list` (a fresh read) and the daemon both show its network and port.
    let net_uuid = virsh(&["net-uuid", &fx.big.name]).trim().to_string();
    let list = vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
    let rec = record_by_mac(&list, &mac);
    assert_eq!(rec["net_id"], net_uuid.as_str(), "vifd list: {rec:#}");
    assert_eq!(rec["port_id"], port.as_str(), "vifd list: {rec:#}");
    assert_eq!(rec["device"], tap.as_str(), "vifd list: {rec:#}");
    let served = fx.records_of(&fx.guest_uuid);
    let rec = served
        .iter()
        .find(|r| r["mac_address"] == mac.as_str())
        .unwrap_or_else(|| panic!("GET /v1/domains/../interfaces lacks {mac}: {served:#?}"));
    assert_eq!(rec["net_id"], net_uuid.as_str(), "{rec:#}");
    assert_eq!(rec["port_id"], port.as_str(), "{rec:#}");
    assert_eq!(rec["device"], tap.as_str(), "{rec:#}");
    let (s, listed) = fx.call("GET", &path, None);
    assert_eq!(s, 200, "{listed}");
    assert!(
        listed["interfaceAttachments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["port_id"] == port.as_str())),
        "GET {path}: {listed:#}"
    );

    // A given port and fixed IP: the tap follows the port, the address is bound to the MAC.
    let given = random_uuid();
    let ip = format!("{}.11", fx.small.prefix);
    let (s, b) = fx.call(
        "POST",
        &path,
        Some(&json!({"interfaceAttachment": {
            "net_id": fx.small.uuid, "port_id": given, "fixed_ips": [{"ip_address": ip}]}})),
    );
    assert_eq!(s, 200, "POST {path} with port_id and fixed_ips: {b:#}");
    assert_valid("os_interface_show", &format!("POST {path}"), &b);
    let att = &b["interfaceAttachment"];
    assert_eq!(att["port_id"], given.as_str(), "{b:#}");
    let mac2 = str_of(&att["mac_addr"], "mac_addr").to_string();
    // Nova's schema requires each fixed IP's subnet id, which vifd does not know: the
    // address is not in `fixed_ips`; the network's DHCP host entry below shows it bound.
    assert_eq!(att["fixed_ips"], json!([]), "{b:#}");
    let rows = domiflist(&fx.guest);
    assert!(
        rows.iter()
            .any(|r| r[4] == mac2 && r[0] == format!("tap{}", &given[..11])),
        "{rows:?}"
    );
    for inactive in [false, true] {
        assert!(
            fx.small
                .hosts(inactive)
                .contains(&(mac2.clone(), ip.clone())),
            "net-dumpxml (inactive: {inactive}) lacks <host mac='{mac2}' ip='{ip}'/>: {:?}",
            fx.small.hosts(inactive)
        );
    }
}

#[test]
fn addresses_come_from_the_dhcp_range_and_are_recorded_in_the_network() {
    let _serial = common::one_at_a_time();
    let fx = Fixture::new();
    let create = format!("/v1/domains/{}/interfaces", fx.guest_uuid);
    let new_iface = |net: &str| {
        let (s, b) = fx.call("POST", &create, Some(&json!({"net_id": net})));
        assert_eq!(s, 201, "POST {create}: {b:#}");
        let v = b["interface"].clone();
        for key in [
            "id",
            "domain_uuid",
            "mac_address",
            "device",
            "net_id",
            "port_id",
        ] {
            assert!(v.get(key).is_some(), "interface lacks {key}: {b:#}");
        }
        assert_eq!(v["domain_uuid"], fx.guest_uuid.as_str(), "{b:#}");
        assert_eq!(v["net_id"], net, "{b:#}");
        assert!(
            b.get("ip_address").is_none(),
            "no allocate_ip, no address: {b:#}"
        );
        v
    };
    let a = new_iface(&fx.small.uuid);
    let b = new_iface(&fx.small.uuid);
    let c = new_iface(&fx.small.uuid);
    let mac = |v: &Value| str_of(&v["mac_address"], "mac_address").to_string();
    let range = fx.small.range();

    // One address each: A by its record id, B by its port id, the body empty or `{}`.
    let allocate = |id: &str, body: Option<&Value>| {
        fx.call("POST", &format!("/v1/interfaces/{id}/ip_addresses"), body)
    };
    let (s, ra) = allocate(str_of(&a["id"], "id"), None);
    assert_eq!(s, 201, "allocate for A (no body): {ra:#}");
    let (s, rb) = allocate(str_of(&b["port_id"], "port_id"), Some(&json!({})));
    assert_eq!(s, 201, "allocate for B (by port id, body {{}}): {rb:#}");
    let ip_a = str_of(&ra["ip_address"]["address"], "address").to_string();
    let ip_b = str_of(&rb["ip_address"]["address"], "address").to_string();
    for (r, v) in [(&ra, &a), (&rb, &b)] {
        let ip = &r["ip_address"];
        assert_eq!(ip["version"], 4, "{r:#}");
        assert_eq!(ip["network_id"], fx.small.uuid.as_str(), "{r:#}");
        assert_eq!(ip["mac_address"], v["mac_address"], "{r:#}");
        assert_eq!(ip["interface_id"], v["id"], "{r:#}");
        assert!(
            range.contains(&str_of(&ip["address"], "address").to_string()),
            "{r:#} not in {range:?}"
        );
    }
    assert_ne!(ip_a, ip_b);
    let want: BTreeSet<(String, String)> =
        [(mac(&a), ip_a.clone()), (mac(&b), ip_b.clone())].into();
    for inactive in [false, true] {
        let hosts: BTreeSet<_> = fx.small.hosts(inactive).into_iter().collect();
        assert_eq!(
            hosts, want,
            "net-dumpxml host entries (inactive: {inactive})"
        );
    }

    // The record shows the bound address (a host entry: read at the next poll).
    let a_record = format!("/v1/interfaces/{}", str_of(&a["id"], "id"));
    fx.until(
        "A's record shows its host entry",
        Duration::from_secs(10),
        || {
            let (_, r) = fx.call("GET", &a_record, None);
            r["interface"]["ip_addresses"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|x| x["address"] == ip_a && x["source"] == "dhcp-host")
            })
        },
    );

    // The range is exhausted: 409. B's MAC already holds one: 409.
    let (s, rc) = allocate(str_of(&c["id"], "id"), None);
    assert_eq!(s, 409, "allocate for C on a full range: {rc:#}");
    assert_eq!(fault(&rc).1, 409, "{rc:#}");
    let (s, rb2) = allocate(str_of(&b["id"], "id"), None);
    assert_eq!(s, 409, "a second address for B's MAC: {rb2:#}");

    // Release A's: 204, the entry is gone (live and persistent), C can have it.
    let release = format!(
        "/v1/interfaces/{}/ip_addresses/{ip_a}",
        str_of(&a["id"], "id")
    );
    let (s, r) = fx.call("DELETE", &release, None);
    assert_eq!(s, 204, "DELETE {release}: {r}");
    for inactive in [false, true] {
        let hosts = fx.small.hosts(inactive);
        assert!(
            !hosts.iter().any(|(_, ip)| *ip == ip_a) && hosts.len() == 1,
            "{ip_a} still in net-dumpxml (inactive: {inactive}): {hosts:?}"
        );
    }
    let (s, rc) = allocate(str_of(&c["port_id"], "port_id"), None);
    assert_eq!(s, 201, "allocate for C after a release: {rc:#}");
    assert_eq!(rc["ip_address"]["address"], ip_a.as_str(), "{rc:#}");
    for inactive in [false, true] {
        assert!(
            fx.small.hosts(inactive).contains(&(mac(&c), ip_a.clone())),
            "C's entry (inactive: {inactive}): {:?}",
            fx.small.hosts(inactive)
        );
    }

    // allocate_ip on create, with a given MAC.
    let given = format!(
        "52:54:00:ac:{:02x}:fe",
        fx.tag.parse::<u32>().unwrap() % 256
    );
    let (s, r) = fx.call(
        "POST",
        &create,
        Some(&json!({"net_id": fx.big.uuid, "mac_address": given, "allocate_ip": true})),
    );
    assert_eq!(s, 201, "POST {create} with allocate_ip: {r:#}");
    assert_eq!(r["interface"]["mac_address"], given.as_str(), "{r:#}");
    let ip = str_of(&r["ip_address"]["address"], "ip_address.address").to_string();
    assert!(fx.big.range().contains(&ip), "{r:#}");
    assert_eq!(r["ip_address"]["mac_address"], given.as_str(), "{r:#}");
    for inactive in [false, true] {
        assert_eq!(
            fx.big.hosts(inactive),
            vec![(given.clone(), ip.clone())],
            "big network entries (inactive: {inactive})"
        );
    }
}

#[test]
fn a_pool_volume_attaches_with_its_id_as_serial_and_detaches() {
    let _serial = common::one_at_a_time();
    let fx = Fixture::new();
    let [v0, v1] = fx.volumes.clone();
    let path = format!("/v2.1/servers/{}/os-volume_attachments", fx.guest_uuid);

    let (s, b) = fx.call(
        "POST",
        &path,
        Some(&json!({"volumeAttachment": {"volumeId": v0}})),
    );
    assert_eq!(s, 200, "POST {path}: {b:#}");
    assert_valid("volume_attachments_show", &format!("POST {path}"), &b);
    let att = &b["volumeAttachment"];
    assert_eq!(att["id"], v0.as_str(), "{b:#}");
    assert_eq!(att["volumeId"], v0.as_str(), "{b:#}");
    assert_eq!(att["serverId"], fx.guest_uuid.as_str(), "{b:#}");
    let dev0 = str_of(&att["device"], "device").to_string();
    let target0 = dev0
        .strip_prefix("/dev/vd")
        .map(|t| format!("vd{t}"))
        .unwrap_or_else(|| panic!("device {dev0} is not /dev/vdX: {b:#}"));

    let rows = domblklist(&fx.guest, false);
    let row = rows
        .iter()
        .find(|r| r[2] == target0)
        .unwrap_or_else(|| panic!("virsh domblklist has no {target0}: {rows:?}"));
    assert_eq!(row[1], "disk", "{rows:?}");
    assert!(
        row.join(" ").contains(&v0),
        "the disk's source is the volume {v0}: {rows:?}"
    );
    let serial = format!("<serial>{v0}</serial>");
    let live = virsh(&["dumpxml", &fx.guest]);
    assert!(live.contains(&serial), "live XML lacks {serial}:\n{live}");
    assert!(
        live.contains("type='volume'") && live.contains("bus='virtio'"),
        "a virtio volume disk:\n{live}"
    );
    let inactive = virsh(&["dumpxml", &fx.guest, "--inactive"]);
    assert!(
        inactive.contains(&serial),
        "persistent XML lacks {serial}:\n{inactive}"
    );

    let (s, vols) = fx.call("GET", "/v2.1/os-volumes", None);
    assert_eq!(s, 200, "GET /v2.1/os-volumes: {vols}");
    assert_valid("os_volumes_index", "GET /v2.1/os-volumes", &vols);
    let (s, detail) = fx.call("GET", "/v2.1/os-volumes/detail", None);
    assert_eq!((s, &detail), (200, &vols), "GET /v2.1/os-volumes/detail");
    let list = vols["volumes"].as_array().cloned().unwrap_or_default();
    let find = |id: &str| {
        list.iter()
            .find(|v| v["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("os-volumes lacks {id}: {vols:#}"))
    };
    let (a, other) = (find(&v0), find(&v1));
    assert_eq!(list.len(), 2, "{vols:#}");
    assert_eq!(a["status"], "in-use", "{vols:#}");
    assert_eq!(a["displayName"], v0.as_str(), "{vols:#}");
    assert!(a["size"].is_u64(), "{vols:#}");
    let atts = a["attachments"].as_array().cloned().unwrap_or_default();
    assert_eq!(atts.len(), 1, "{vols:#}");
    assert_eq!(atts[0]["serverId"], fx.guest_uuid.as_str(), "{vols:#}");
    assert_eq!(atts[0]["volumeId"], v0.as_str(), "{vols:#}");
    assert_eq!(atts[0]["device"], dev0.as_str(), "{vols:#}");
    assert_eq!(other["status"], "available", "{vols:#}");
    // Nova's own placeholder for a volume attached nowhere, which its schema requires.
    assert_eq!(other["attachments"], json!([{}]), "{vols:#}");
    // The pool's files are in the temp directory, whose filesystem keeps birth times
    // (statx); a volume without one would be left out.
    assert!(a["createdAt"].is_string(), "{vols:#}");
    let (s, one) = fx.call("GET", &format!("/v2.1/os-volumes/{v1}"), None);
    assert_eq!(s, 200, "{one}");
    assert_valid(
        "os_volumes_show",
        &format!("GET /v2.1/os-volumes/{v1}"),
        &one,
    );
    assert_eq!(one["volume"]["id"], v1.as_str(), "{one:#}");
    assert_eq!(one["volume"]["status"], "available", "{one:#}");

    // The second one on a device of our choosing.
    let (s, b) = fx.call(
        "POST",
        &path,
        Some(&json!({"volumeAttachment": {"volumeId": v1, "device": "/dev/vdc"}})),
    );
    assert_eq!(s, 200, "POST {path} device /dev/vdc: {b:#}");
    assert_eq!(b["volumeAttachment"]["device"], "/dev/vdc", "{b:#}");
    let rows = domblklist(&fx.guest, false);
    assert!(rows.iter().any(|r| r[2] == "vdc"), "{rows:?}");
    let (s, one) = fx.call("GET", &format!("/v2.1/os-volumes/{v1}"), None);
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["volume"]["status"], "in-use", "{one:#}");

    // Detach the first: 202; the persistent config loses it at once (the paused guest
    // never acknowledges the live unplug).
    let del = format!("{path}/{v0}");
    let (s, r) = fx.call("DELETE", &del, None);
    assert_eq!(s, 202, "DELETE {del}: {r}");
    let inactive = virsh(&["dumpxml", &fx.guest, "--inactive"]);
    assert!(
        !inactive.contains(&serial),
        "persistent XML still has {serial}:\n{inactive}"
    );
    let rows = domblklist(&fx.guest, true);
    assert!(
        !rows.iter().any(|r| r[2] == target0) && rows.iter().any(|r| r[2] == "vdc"),
        "domblklist --inactive after detaching {target0}: {rows:?}"
    );
}

#[test]
fn a_detached_interface_leaves_the_persistent_config_and_the_inventory() {
    let _serial = common::one_at_a_time();
    let fx = Fixture::new();
    let path = format!("/v2.1/servers/{}/os-interface", fx.guest_uuid);
    let port = random_uuid();
    let (s, b) = fx.call(
        "POST",
        &path,
        Some(&json!({"interfaceAttachment": {"net_id": fx.big.uuid, "port_id": port}})),
    );
    assert_eq!(s, 200, "POST {path}: {b:#}");
    let mac = str_of(&b["interfaceAttachment"]["mac_addr"], "mac_addr").to_string();
    assert!(virsh(&["dumpxml", &fx.guest, "--inactive"]).contains(&mac));

    let del = format!("{path}/{port}");
    let t0 = Instant::now();
    let (s, r) = fx.call("DELETE", &del, None);
    assert_eq!(s, 202, "DELETE {del} (after {:?}): {r}", t0.elapsed());
    let inactive = virsh(&["dumpxml", &fx.guest, "--inactive"]);
    assert!(
        !inactive.contains(&mac),
        "the persistent config still has {mac} after the detach:\n{inactive}"
    );

    virsh(&["destroy", &fx.guest]);
    let config = virsh(&["dumpxml", &fx.guest]);
    assert!(
        !config.contains(&mac),
        "the shut-off domain still has {mac}:\n{config}"
    );
    fx.wait_for(
        &format!("the daemon to drop {mac} of the destroyed guest"),
        |f| {
            !f.records_of(&f.guest_uuid)
                .iter()
                .any(|r| r["mac_address"] == mac.as_str())
        },
    );
    let list = vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
    assert!(
        !list["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["mac_address"] == mac.as_str()),
        "vifd list still shows {mac}: {list:#}"
    );
    // The port is gone now: another DELETE is a 404.
    let (s, r) = fx.call("DELETE", &del, None);
    assert_eq!(s, 404, "DELETE {del} of a gone port: {r}");
}
