use super::*;

const SERVER: &str = "6F1D0C3E-8A2B-4C5D-9E7F-0A1B2C3D4E5F";

fn record(id: &str, mac: &str, net: &str) -> Vec<u8> {
    serde_json::json!({
        "id": id, "domain_uuid": SERVER.to_lowercase(), "domain_name": "web-1",
        "mac_address": mac, "host_mac": "fe:54:00:00:00:01", "net_id": net,
        "port_id": null, "device": "tap1", "master": "br0", "operstate": "up",
        "carrier": true, "problems": ["no-carrier"], "extra": {"kept": true}
    })
    .to_string()
    .into_bytes()
}

fn put(view: &mut FleetView, key: &str, value: &[u8]) {
    view.apply(Change::Put(key, value)).unwrap();
}

#[test]
fn puts_and_deletes_keep_hosts_and_indexes() {
    let a = keys::HostKeys::new("hv-a");
    let (mut view, errors) = FleetView::listed([(a.alive().as_str(), &b"i"[..])], 7);
    assert!(errors.is_empty() && view.listed && view.revision == 7);
    let r1 = record("r1", "52:54:00:00:00:01", "NET-1");
    put(&mut view, &a.vif("r1"), &r1);
    put(&mut view, &a.problems(), b"[{\"kind\":\"orphan-device\"}]");
    assert!(view.host("hv-a").unwrap().alive);
    assert_eq!(view.by_server(SERVER).len(), 1);
    assert_eq!(view.by_net("net-1").len(), 1);
    let mac: MacAddr = "fe:54:00:00:00:01".parse().unwrap();
    assert_eq!(view.by_mac(mac)[0].fields.id, "r1");
    assert_eq!(view.host("hv-a").unwrap().problems.len(), 1);

    // A record put again under another network moves in the index.
    put(
        &mut view,
        &a.vif("r1"),
        &record("r1", "52:54:00:00:00:01", "net-2"),
    );
    assert!(view.by_net("net-1").is_empty());
    assert_eq!(view.by_net("net-2").len(), 1);
    assert_eq!(view.record_count(), 1);

    view.apply(Change::Delete(&a.alive())).unwrap();
    assert!(!view.host("hv-a").unwrap().alive, "kept, not alive");
    for k in [a.vif("r1"), a.problems()] {
        view.apply(Change::Delete(&k)).unwrap();
    }
    assert!(view.host("hv-a").is_none(), "nothing left: forgotten");
    assert!(view.by_server(SERVER).is_empty() && view.by_mac(mac).is_empty());
}

#[test]
fn a_server_is_found_by_its_domains_entry_or_its_records() {
    let (a, b) = (keys::HostKeys::new("hv-a"), keys::HostKeys::new("hv-b"));
    let mut view = FleetView::default();
    put(
        &mut view,
        &b.vif("r1"),
        &record("r1", "52:54:00:00:00:01", "n"),
    );
    assert_eq!(view.server(SERVER).unwrap().host, "hv-b");
    let domains = format!(r#"[{{"uuid":"{}","name":"web-1","volumes":[]}}]"#, SERVER);
    put(&mut view, &a.domains(), domains.as_bytes());
    put(&mut view, &a.alive(), b"i");
    let found = view.server(SERVER).unwrap();
    assert_eq!(
        (found.host, found.records.len()),
        ("hv-a", 0),
        "the alive host"
    );
    assert_eq!(found.domain.unwrap().name, "web-1");
    put(&mut view, &a.domains(), b"[]");
    assert_eq!(view.server(SERVER).unwrap().host, "hv-b");
    assert!(view
        .server("00000000-0000-0000-0000-000000000000")
        .is_none());
}

#[test]
fn records_are_served_as_published_with_the_host_first() {
    let mut view = FleetView::default();
    let raw = record("r1", "52:54:00:00:00:01", "n");
    put(&mut view, &keys::HostKeys::new("hv-b").vif("r1"), &raw);
    let mut out = Vec::new();
    view.records().next().unwrap().json_with_host(&mut out);
    let served: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut published: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    published["host"] = "hv-b".into();
    assert_eq!(served, published);
    assert!(out.starts_with(b"{\"host\":\"hv-b\","));
}

#[test]
fn unreadable_values_and_foreign_keys() {
    let a = keys::HostKeys::new("hv-c");
    let mut view = FleetView::default();
    assert!(view.apply(Change::Put(&a.vif("x"), b"nope")).is_err());
    assert!(view.apply(Change::Put(&a.meta(), b"{}")).is_err());
    assert!(view.host("hv-c").is_none());
    view.apply(Change::Put("/vifd/v1/else", b"1")).unwrap();
    view.apply(Change::Put("/elsewhere", b"1")).unwrap();
    assert_eq!(view.hosts().count(), 0);
}
