//! The ovsdb resolver against a real ovsdb-server (rows written with `ovs-vsctl
//! --no-wait`, as os-vif and the Neutron OVS agent write them), Nova-shaped domains in a
//! test:/// node and their taps in a network namespace: `vifd list`, `vifd check`, and
//! `vifd serve` following row changes, the server stopping and coming back.

mod common;

use common::record_by_mac as record;

use std::time::Duration;

use common::daemon::Daemon;
use common::http::get;
use common::identity::{host, plug, setup_on, tap_of, NET_A, NET_B, P1, P2, P3, VM2};
use common::ovsdb::OvsdbServer;
use common::{fixture_path, vifd_json, TestNs};
use serde_json::Value;

fn setup() -> (TestNs, OvsdbServer) {
    setup_on("netdev")
}

fn uri() -> String {
    format!("test://{}", fixture_path("identity/node.xml"))
}

fn list(ns: &TestNs, ovs: &OvsdbServer, extra: &[&str]) -> Value {
    let (uri, addr) = (uri(), ovs.addr());
    let mut args = vec![
        "list",
        "--json",
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--ovsdb",
        &addr,
    ];
    args.extend_from_slice(extra);
    vifd_json(&args, 0)
}

/// `vifd check --json` of the fixture with this OVSDB, which finds problems.
fn check(ns: &TestNs, ovs: &OvsdbServer) -> serde_json::Value {
    let (uri, addr) = (uri(), ovs.addr());
    let args = [
        "check",
        "--json",
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--ovsdb",
        &addr,
    ];
    vifd_json(&args, 1)
}

#[test]
fn list_resolves_every_port_and_network_with_its_source() {
    let (ns, ovs) = setup();
    let l = list(&ns, &ovs, &[]);
    for (mac, port, net, vlan) in [
        ("fa:16:3e:20:00:01", P1, NET_A, 3),
        ("fa:16:3e:20:00:02", P2, NET_B, 4),
    ] {
        let r = record(&l, mac);
        assert_eq!(r["port_id"], port, "{r:#}");
        assert_eq!(r["port_id_source"], "ovsdb");
        assert_eq!(r["net_id"], net);
        assert_eq!(r["net_id_source"], "ovsdb");
        assert_eq!(r["vlan"], vlan);
        assert_eq!(r["ovs_bridge"], "br-int");
        assert_eq!(r["id"], port);
        assert_eq!(r["stale_sources"], serde_json::json!([]));
    }
    // Not in OVSDB: the port comes from Nova's metadata by the tap name, no network.
    let r = record(&l, "fa:16:3e:20:00:03");
    assert_eq!(
        (r["port_id"].as_str(), r["port_id_source"].as_str()),
        (Some(P3), Some("nova-metadata"))
    );
    assert_eq!(r["net_id"], Value::Null);
    assert_eq!(
        r["ip_addresses"],
        serde_json::json!([{"address": "10.30.0.13", "version": 4, "source": "nova-metadata"}])
    );

    // The order is the operator's: without ovsdb, Nova's metadata names every port.
    let l = list(&ns, &ovs, &["--resolvers", "nova-metadata,libvirt-network"]);
    let r = record(&l, "fa:16:3e:20:00:01");
    assert_eq!(r["port_id_source"], "nova-metadata");
    assert_eq!(
        (r["net_id"].clone(), r["vlan"].clone()),
        (Value::Null, Value::Null)
    );
}

#[test]
fn check_reports_ovsdb_mismatch_and_unbound_ports() {
    let (ns, ovs) = setup();
    let tap2 = tap_of(P2);
    ovs.vsctl(&[
        "set",
        "Interface",
        &tap2,
        "external_ids:attached-mac=fa:16:3e:99:99:99",
    ]);
    ovs.vsctl(&["remove", "Port", &tap2, "other_config", "net_uuid"]);
    let out = check(&ns, &ovs);
    let kinds: Vec<(&str, &str)> = out["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap(),
                p["device"].as_str().unwrap_or(""),
            )
        })
        // The test driver's domains run and these taps have no process: no carrier.
        .filter(|(kind, _)| *kind != "no-carrier")
        .collect();
    assert!(
        kinds.contains(&("ovsdb-mismatch", tap2.as_str())),
        "{out:#}"
    );
    assert!(kinds.contains(&("port-unbound", tap2.as_str())), "{out:#}");
    assert_eq!(kinds.len(), 2, "nothing else is wrong: {out:#}");
    let problems = out["problems"].as_array().unwrap();
    let mismatch = problems.iter().find(|p| p["kind"] == "ovsdb-mismatch");
    let detail = mismatch.unwrap()["detail"].as_str().unwrap();
    assert!(
        detail.contains("attached-mac fa:16:3e:99:99:99"),
        "{detail}"
    );
}

#[test]
fn check_flags_unenslaved_taps_of_a_kernel_datapath_bridge() {
    let (ns, ovs) = setup_on("system");
    let out = check(&ns, &ovs);
    let wrong: Vec<&str> = out["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "wrong-master")
        .map(|p| p["detail"].as_str().unwrap())
        .collect();
    // The plugged ports only: vm-2's second tap is in no row, so nothing says it is OVS's.
    assert_eq!(wrong.len(), 2, "{out:#}");
    for (detail, port) in wrong.iter().zip([P1, P2]) {
        let tap = tap_of(port);
        assert!(
            detail.ends_with(&format!(
                "{tap} is not enslaved to any bridge, expected Open vSwitch bridge br-int"
            )),
            "{detail}"
        );
    }
}

/// A `dpdkvhostuserclient` Interface on a userspace br-int, as os-vif plugs a vhost-user
/// port with QEMU as the socket's server.
const VHU_PORT: &str = "9d4a3f51-c4e2-4b7a-9c1d-2e3f4a5b6c04";
const VHU_SOCK: &str = "/var/lib/vhost_sockets/vhu9d4a3f51-c4";

#[test]
fn list_finds_a_vhostuser_interface_by_its_socket() {
    let ns = host();
    let ovs = OvsdbServer::new();
    ovs.add_bridge("br-int", "netdev");
    let name = "vhu9d4a3f51-c4";
    ovs.vsctl(&[
        "add-port",
        "br-int",
        name,
        "--",
        "set",
        "Interface",
        name,
        "type=dpdkvhostuserclient",
        &format!("options:vhost-server-path={VHU_SOCK}"),
        &format!("external_ids:iface-id={VHU_PORT}"),
        "external_ids:attached-mac=fa:16:3e:20:00:04",
        "external_ids:vm-uuid=1a2b3c4d-0004-4e5f-8a9b-0c1d2e3f4a5b",
        "--",
        "set",
        "Port",
        name,
        &format!("other_config:net_uuid={NET_A}"),
        "tag=6",
    ]);
    let uri = format!("test://{}", fixture_path("identity/vhostuser.xml"));
    let addr = ovs.addr();
    let args = [
        "list",
        "--json",
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--ovsdb",
        &addr,
    ];
    let l = vifd_json(&args, 0);
    let r = record(&l, "fa:16:3e:20:00:04");
    assert_eq!(r["type"], "vhostuser", "{r:#}");
    assert_eq!(
        (r["port_id"].as_str(), r["port_id_source"].as_str()),
        (Some(VHU_PORT), Some("ovsdb"))
    );
    assert_eq!(
        (r["net_id"].as_str(), r["net_id_source"].as_str()),
        (Some(NET_A), Some("ovsdb"))
    );
    assert_eq!(
        (r["vlan"].as_u64(), r["ovs_bridge"].as_str()),
        (Some(6), Some("br-int"))
    );
    assert_eq!(r["problems"], serde_json::json!([]), "{r:#}");
}

#[test]
fn an_unreachable_ovsdb_never_blocks_the_inventory() {
    let (ns, _ovs) = setup();
    let (uri, sock) = (uri(), "unix:/nonexistent/vifd-test.sock");
    let out = common::vifd(&[
        "list",
        "--json",
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--ovsdb",
        sock,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let l: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        record(&l, "fa:16:3e:20:00:01")["port_id_source"],
        "nova-metadata"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("/nonexistent/vifd-test.sock"),
        "the log names the socket: {log}"
    );
}

fn served(d: &Daemon, mac: &str) -> Value {
    let body = get(d.addr(), "/v1/interfaces", &[]).json();
    record(&body, mac).clone()
}

#[test]
fn serve_follows_rows_and_survives_ovsdb_restarts() {
    let (ns, mut ovs) = setup();
    let (uri, addr) = (uri(), ovs.addr());
    let config = std::env::temp_dir().join(format!("vifd-ovsdb-serve-{}.toml", std::process::id()));
    std::fs::write(&config, "refresh = 3600\n").unwrap();
    let mut d = Daemon::on_loopback(&[
        "--config",
        config.to_str().unwrap(),
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--ovsdb",
        &addr,
    ]);
    let m1 = "fa:16:3e:20:00:01";
    d.until("the OVSDB values served", Duration::from_secs(20), || {
        served(&d, m1)["net_id"] == NET_A
    });

    // A changed row changes the record, with no refresh to explain it.
    let tap1 = tap_of(P1);
    ovs.vsctl(&[
        "set",
        "Port",
        &tap1,
        &format!("other_config:net_uuid={NET_B}"),
        "tag=9",
    ]);
    d.until("the changed row", Duration::from_secs(20), || {
        let r = served(&d, m1);
        r["net_id"] == NET_B && r["vlan"] == 9
    });

    // ovsdb-server gone: the last values stay, marked stale.
    ovs.stop();
    d.until("stale OVSDB values", Duration::from_secs(20), || {
        served(&d, m1)["stale_sources"] == serde_json::json!(["ovsdb"])
    });
    let r = served(&d, m1);
    assert_eq!(
        (r["net_id"].as_str(), r["port_id"].as_str()),
        (Some(NET_B), Some(P1))
    );
    assert_eq!(
        get(d.addr(), "/readyz", &[]).status,
        200,
        "OVSDB down is not unready"
    );

    // A reload that restarts the refresher while ovsdb-server is still gone: the new one
    // starts from the last values read, still stale, instead of dropping them.
    d.reload(&config, "refresh = 3599\n");
    let r = served(&d, m1);
    assert_eq!(
        (r["net_id"].as_str(), r["port_id"].as_str()),
        (Some(NET_B), Some(P1)),
        "after the reload: {r:#}"
    );
    assert_eq!(r["stale_sources"], serde_json::json!(["ovsdb"]), "{r:#}");

    // Back, with a change made while it was away: current again by itself.
    ovs.start();
    let tap3 = tap_of(P3);
    plug(&ovs, P3, "fa:16:3e:20:00:03", VM2, NET_A, 7);
    d.until("OVSDB current again", Duration::from_secs(30), || {
        let r = served(&d, m1);
        let r3 = served(&d, "fa:16:3e:20:00:03");
        r["stale_sources"] == serde_json::json!([])
            && r3["port_id_source"] == "ovsdb"
            && r3["vlan"] == 7
    });
    assert_eq!(served(&d, "fa:16:3e:20:00:03")["device"], tap3.as_str());
    let _ = std::fs::remove_file(&config);
}
