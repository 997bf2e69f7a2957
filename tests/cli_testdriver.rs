//! `vifd list` and `vifd check` end to end: the demo's libvirt test-driver node file
//! against real devices in a fresh network namespace.

mod common;

use common::{vifd, vifd_json, TestNs};
use serde_json::Value;

fn demo_host() -> (TestNs, String) {
    common::demo_host("cli")
}

/// `vifd check --json` on the demo host, which must find problems.
fn check_json(ns: &TestNs, uri: &str) -> Value {
    vifd_json(
        &["check", "--json", "--libvirt-uri", uri, "--netns", &ns.name],
        1,
    )
}

fn record<'a>(list: &'a Value, domain: &str, mac: &str) -> &'a Value {
    list["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["domain_name"] == domain && v["mac_address"] == mac)
        .unwrap_or_else(|| panic!("no record {domain} {mac} in {list:#}"))
}

#[test]
fn list_json_matches_every_interface_to_its_device() {
    let (ns, uri) = demo_host();
    let list = vifd_json(
        &["list", "--json", "--libvirt-uri", &uri, "--netns", &ns.name],
        0,
    );
    assert_eq!(list["interfaces"].as_array().unwrap().len(), 7);

    let eth = record(&list, "web-1", "fa:16:3e:11:22:01");
    assert_eq!(eth["type"], "ethernet");
    assert_eq!(eth["device"], "tap3f9c2a41-7b");
    assert_eq!(eth["device_kind"], "tap");
    assert_eq!(eth["host_mac"], "fe:16:3e:11:22:01");
    assert_eq!(eth["port_id"], "3f9c2a41-7b5e-4c1d-9a2f-0c5e7d8b9a10");
    assert_eq!(eth["id"], "3f9c2a41-7b5e-4c1d-9a2f-0c5e7d8b9a10");
    assert_eq!(eth["domain_state"], "paused");
    assert_eq!(eth["problems"], serde_json::json!([]));
    assert!(eth["ifindex"].as_u64().is_some());

    let hybrid = record(&list, "web-1", "fa:16:3e:11:22:02");
    assert_eq!(hybrid["master"], "qbr5d2e8b90-1c");
    assert_eq!(hybrid["source"]["bridge"], "qbr5d2e8b90-1c");

    let net = record(&list, "db-1", "52:54:00:aa:00:01");
    assert_eq!(net["net_id"], "8c1b1d4e-2f6a-4b7c-9d0e-1a2b3c4d5e6f");
    assert_eq!(net["net_id_source"], "libvirt-network");
    assert_eq!(net["master"], "virbr-demo");

    let missing = record(&list, "db-1", "52:54:00:aa:00:02");
    assert_eq!(missing["problems"], serde_json::json!(["device-missing"]));
    assert_eq!(missing["ifindex"], Value::Null);

    let direct = record(&list, "edge-1", "52:54:00:bb:00:01");
    assert_eq!(direct["device_kind"], "macvtap");
    assert_eq!(direct["host_mac"], "52:54:00:bb:00:01");
    assert_eq!(direct["source"]["dev"], "eth-demo");

    let vhu = record(&list, "edge-1", "52:54:00:bb:00:02");
    assert_eq!(vhu["ifindex"], Value::Null);
    assert_eq!(vhu["problems"], serde_json::json!([]));
}

#[test]
fn list_can_select_one_domain_by_name_or_uuid() {
    let (ns, uri) = demo_host();
    for sel in ["db-1", "1e8d4b63-0c2f-4a4b-9d7e-3f5a7b9c1d22"] {
        let list = vifd_json(
            &[
                "list",
                "--json",
                "--domain",
                sel,
                "--libvirt-uri",
                &uri,
                "--netns",
                &ns.name,
            ],
            0,
        );
        let names: Vec<_> = list["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["domain_name"].clone())
            .collect();
        assert_eq!(names, ["db-1", "db-1"]);
    }
    let out = vifd(&[
        "list",
        "--domain",
        "nope",
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no domain named or with UUID \"nope\""));
}

#[test]
fn list_table_is_readable() {
    let (ns, uri) = demo_host();
    let out = vifd(&["list", "--libvirt-uri", &uri, "--netns", &ns.name]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert!(lines[0].starts_with("DOMAIN") && lines[0].contains("PROBLEMS"));
    assert_eq!(lines.len(), 8);
    // Columns are aligned: MAC starts at the same offset on every line.
    let col = lines[0].find("MAC").unwrap();
    assert!(
        lines[1..]
            .iter()
            .all(|l| l[col..].chars().next().unwrap().is_ascii_hexdigit()),
        "{text}"
    );
    assert!(text.contains("device-missing"));
}

#[test]
fn check_reports_the_missing_device_and_the_orphan_tap() {
    let (ns, uri) = demo_host();
    let check = check_json(&ns, &uri);
    let problems: Vec<_> = check["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["device"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            ("device-missing", "tap-db1-1"),
            ("orphan-device", "tap-stray0")
        ]
    );
    let first = &check["problems"][0];
    assert_eq!(first["domain_uuid"], "1e8d4b63-0c2f-4a4b-9d7e-3f5a7b9c1d22");
    assert_eq!(first["mac_address"], "52:54:00:aa:00:02");
    assert!(first["detail"].as_str().unwrap().contains("db-1"));
}

#[test]
fn check_exits_0_when_everything_adds_up() {
    let (ns, uri) = demo_host();
    ns.batch("link del tap-stray0\ntuntap add dev tap-db1-1 mode tap\nlink set tap-db1-1 address fe:54:00:aa:00:02 master br-demo up\n");
    let out = vifd(&["check", "--libvirt-uri", &uri, "--netns", &ns.name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 problem(s)"));
}

#[test]
fn check_detects_mac_and_master_changes_made_by_hand() {
    let (ns, uri) = demo_host();
    ns.batch("link set tap-db1-0 nomaster\nlink set tap3f9c2a41-7b address 02:00:00:00:00:01\n");
    let check = check_json(&ns, &uri);
    let kinds: Vec<_> = check["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"mac-mismatch".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"wrong-master".to_string()), "{kinds:?}");
}

#[test]
fn check_exits_2_with_one_line_when_it_cannot_look() {
    let (ns, uri) = demo_host();
    for args in [
        vec![
            "check",
            "--libvirt-uri",
            &uri,
            "--netns",
            "vifdt-no-such-ns",
        ],
        vec![
            "check",
            "--libvirt-uri",
            "test:///nonexistent/node.xml",
            "--netns",
            &ns.name,
        ],
    ] {
        let out = vifd(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let ours: Vec<_> = err.lines().filter(|l| l.starts_with("vifd: ")).collect();
        assert_eq!(ours.len(), 1, "{err}");
    }
}
