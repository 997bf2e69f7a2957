//! Identity and addresses against a real libvirtd: a libvirt network (dnsmasq running)
//! gives `net_id`; a neighbour entry on its bridge and a DHCP lease in libvirt's lease
//! file give `ip_addresses`, in `vifd list` and live in `vifd serve`. A missing libvirtd
//! fails this test; it never skips.

mod common;

use common::record_by_mac as record;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::daemon::Daemon;
use common::http::get;
use common::qemu::{virsh, Host, URI};
use common::{ip, vifd_json};
use serde_json::{json, Value};

fn addresses(r: &Value) -> Vec<(String, String)> {
    r["ip_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let addr = a["address"].as_str().unwrap().to_string();
            (addr, a["source"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Writes one lease into the file libvirt's lease helper keeps for the bridge.
fn write_lease(bridge: &str, ip: &str, mac: &str) {
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let leases =
        json!([{"ip-address": ip, "mac-address": mac, "hostname": "guest", "expiry-time": expiry}]);
    let path = format!("/var/lib/libvirt/dnsmasq/{bridge}.status");
    std::fs::write(&path, leases.to_string()).unwrap_or_else(|e| panic!("{path}: {e}"));
}

#[test]
fn libvirt_network_uuid_neighbours_and_leases() {
    let mut host = Host::new(4);
    let (dom, macs) = host.create_domain(1, "");
    let net = host.name("vtnet");
    let bridge = host.name("vtnbr");
    let prefix = format!("192.168.{}", 200 + host.tag.parse::<u32>().unwrap() % 50);
    let net_uuid = virsh(&["net-uuid", &net]).trim().to_string();
    let mac = macs[1].as_str();

    let list = vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
    let r = record(&list, mac);
    assert_eq!(r["domain_name"], dom.as_str());
    assert_eq!(r["net_id"], net_uuid.as_str(), "{r:#}");
    assert_eq!(r["net_id_source"], "libvirt-network");
    assert_eq!(r["master"], bridge.as_str());

    // A neighbour on the network's bridge carrying the guest MAC is the guest's address.
    let seen = format!("{prefix}.77");
    ip(&[
        "neigh",
        "add",
        &seen,
        "lladdr",
        mac,
        "dev",
        &bridge,
        "nud",
        "permanent",
    ]);
    let list = vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
    assert_eq!(
        addresses(record(&list, mac)),
        [(seen.clone(), "neighbour".to_string())]
    );
    // A bridge that is not this interface's does not count.
    let other_bridge = host.name("vtbr");
    ip(&[
        "neigh",
        "add",
        "10.99.0.1",
        "lladdr",
        mac,
        "dev",
        &other_bridge,
        "nud",
        "permanent",
    ]);
    let list = vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
    assert_eq!(addresses(record(&list, mac)).len(), 1);

    // Served live: a neighbour added or removed while serving, a lease within the poll.
    let d = Daemon::on_loopback(&[
        "--libvirt-uri",
        URI,
        "--refresh",
        "3600",
        "--poll-interval",
        "1",
    ]);
    let served = || get(d.addr(), "/v1/interfaces", &[]).json();
    let later = format!("{prefix}.78");
    ip(&[
        "neigh",
        "add",
        &later,
        "lladdr",
        mac,
        "dev",
        &bridge,
        "nud",
        "permanent",
    ]);
    d.until("the new neighbour served", Duration::from_secs(20), || {
        addresses(record(&served(), mac)).contains(&(later.clone(), "neighbour".into()))
    });
    ip(&["neigh", "del", &seen, "dev", &bridge]);
    d.until(
        "the deleted neighbour gone",
        Duration::from_secs(20),
        || !addresses(record(&served(), mac)).contains(&(seen.clone(), "neighbour".into())),
    );
    let leased = format!("{prefix}.20");
    write_lease(&bridge, &leased, mac);
    d.until("the lease served", Duration::from_secs(20), || {
        addresses(record(&served(), mac)).contains(&(leased.clone(), "dhcp-lease".into()))
    });
    // Both addresses are the record's; os-interface lists none of them in `fixed_ips`,
    // since Nova's schema requires a subnet id vifd does not know.
    let ips: Vec<String> = addresses(record(&served(), mac))
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(ips.contains(&leased) && ips.contains(&later), "{ips:?}");
    let fixed = get(
        d.addr(),
        &format!(
            "/v2.1/servers/{}/os-interface",
            record(&served(), mac)["domain_uuid"].as_str().unwrap()
        ),
        &[],
    )
    .json();
    for a in fixed["interfaceAttachments"].as_array().unwrap() {
        assert_eq!(a["fixed_ips"], json!([]), "{fixed:#}");
    }
    let _ = std::fs::remove_file(format!("/var/lib/libvirt/dnsmasq/{bridge}.status"));
}
