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

/// Three hosts' keys as a list returns them (sorted), records on two networks.
fn fleet() -> Vec<(String, Vec<u8>)> {
    let mut kvs = Vec::new();
    for (h, name) in ["hv-a", "hv-b", "hv-c"].into_iter().enumerate() {
        let k = keys::HostKeys::new(name);
        kvs.push((k.alive(), b"i".to_vec()));
        for r in 0..5 {
            let mac = format!("52:54:00:00:0{h}:0{r}");
            let raw = record(&format!("r{r}"), &mac, ["NET-1", "net-2"][r % 2]);
            kvs.push((k.vif(&format!("r{r}")), raw));
        }
        let domains = format!(r#"[{{"uuid":"{SERVER}","name":"web-1","volumes":[]}}]"#);
        kvs.push((k.domains(), domains.into_bytes()));
        kvs.push((k.problems(), b"[]".to_vec()));
    }
    kvs.sort();
    kvs
}

fn assert_same(a: &FleetView, b: &FleetView) {
    let hosts = |v: &FleetView| {
        v.hosts()
            .map(|(n, h)| (n.clone(), h.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(hosts(a), hosts(b));
    assert_eq!(a.indexes, b.indexes);
    // Lookups merge what was listed with what changed since, in (host, id) order.
    let found = |r: Vec<&Arc<Record>>| {
        r.iter()
            .map(|r| (r.host.clone(), r.fields.id.clone()))
            .collect::<Vec<_>>()
    };
    for net in ["net-1", "NET-2", "net-3"] {
        assert_eq!(found(a.by_net(net)), found(b.by_net(net)));
    }
    let mac = "fe:54:00:00:00:01".parse().unwrap();
    assert_eq!(found(a.by_mac(mac)), found(b.by_mac(mac)));
    assert_eq!(found(a.by_server(SERVER)), found(b.by_server(SERVER)));
    let server = |v: &FleetView| {
        v.server(SERVER)
            .map(|s| (s.host.to_string(), found(s.records)))
    };
    assert_eq!(server(a), server(b));
}

#[test]
fn a_list_builds_the_view_that_puts_one_by_one_build() {
    let kvs = fleet();
    let pairs = || kvs.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
    let (mut listed, errors) = FleetView::listed(pairs(), 9);
    assert!(errors.is_empty());
    let mut edited = FleetView::default();
    pairs().for_each(|(k, v)| put(&mut edited, k, v));
    assert_same(&listed, &edited);
    assert_eq!(listed.by_net("net-1").len(), 9);
    assert_eq!(listed.server(SERVER).unwrap().records.len(), 5);

    // Watched changes afterwards change both alike.
    for view in [&mut listed, &mut edited] {
        let b = keys::HostKeys::new("hv-b");
        put(
            view,
            &b.vif("r1"),
            &record("r1", "52:54:00:00:09:09", "net-3"),
        );
        view.apply(Change::Delete(&b.vif("r2"))).unwrap();
        put(view, &b.domains(), b"[]");
        // Removed and put back: listed again.
        let a = keys::HostKeys::new("hv-a");
        view.apply(Change::Delete(&a.vif("r0"))).unwrap();
        put(
            view,
            &a.vif("r0"),
            &record("r0", "52:54:00:00:00:00", "NET-1"),
        );
    }
    assert_same(&listed, &edited);
    let ids = |net| {
        listed
            .by_net(net)
            .iter()
            .map(|r| format!("{}/{}", r.host, r.fields.id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids("net-1"),
        ["hv-a/r0", "hv-a/r2", "hv-a/r4", "hv-b/r0", "hv-b/r4", "hv-c/r0", "hv-c/r2", "hv-c/r4"]
    );
    assert_eq!(ids("net-3"), ["hv-b/r1"]);
}

#[test]
fn a_record_replaced_during_a_list_is_indexed_once() {
    let a = keys::HostKeys::new("hv-a");
    let (first, second) = (
        record("r1", "52:54:00:00:00:01", "n-1"),
        record("r1", "52:54:00:00:00:02", "n-2"),
    );
    let mut listing = FleetView::listing();
    let mut edited = FleetView::default();
    for view in [&mut listing, &mut edited] {
        put(view, &a.vif("r1"), &first);
        put(view, &a.vif("r1"), &second);
        put(
            view,
            &a.vif("r2"),
            &record("r2", "52:54:00:00:00:03", "n-1"),
        );
    }
    listing.list_done(3);
    assert_same(&listing, &edited);
    assert!(listing.by_net("n-2").len() == 1 && listing.by_net("n-1").len() == 1);
}
