//! The netlink inventory against real devices in fresh network namespaces.

mod common;

use common::TestNs;
use vifd::netlink::{read_devices, DeviceKind, HostDevice, NetnsTarget};

async fn devices(ns: &TestNs) -> Vec<HostDevice> {
    read_devices(&NetnsTarget::Named(ns.name.clone()))
        .await
        .expect("netlink dump")
}

fn find<'a>(devs: &'a [HostDevice], name: &str) -> &'a HostDevice {
    devs.iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("{name} not in {devs:#?}"))
}

#[tokio::test]
async fn taps_bridges_veths_and_macvtaps_are_reported_with_their_attributes() {
    let ns = TestNs::new("inv");
    ns.batch(
        "link add br0 type bridge\nlink set br0 up\n\
         tuntap add dev tap0 mode tap\nlink set tap0 address fe:54:00:00:00:01 mtu 1450 master br0 up\n\
         tuntap add dev tun0 mode tun\n\
         link add ve0 type veth peer name ve1\nlink set ve0 up\nlink set ve1 up\n\
         link add link ve0 name macvtap0 address 52:54:00:00:00:02 type macvtap mode bridge\n\
         link set macvtap0 up\n",
    );
    let devs = devices(&ns).await;

    let tap = find(&devs, "tap0");
    assert_eq!(tap.kind, DeviceKind::Tap);
    assert_eq!(tap.mac.unwrap().to_string(), "fe:54:00:00:00:01");
    assert_eq!(tap.master.as_deref(), Some("br0"));
    assert_eq!(tap.mtu, Some(1450));
    assert!(tap.admin_up);
    // Nobody holds the tap open: no carrier, operationally down.
    assert_eq!(tap.carrier, Some(false));
    assert_eq!(tap.operstate, "down");

    assert_eq!(find(&devs, "tun0").kind, DeviceKind::Tun);
    assert_eq!(find(&devs, "br0").kind, DeviceKind::Bridge);
    assert_eq!(find(&devs, "lo").kind, DeviceKind::Loopback);

    let (ve0, ve1) = (find(&devs, "ve0"), find(&devs, "ve1"));
    assert_eq!(ve0.kind, DeviceKind::Veth);
    assert_eq!(ve0.link_ifindex, Some(ve1.ifindex));
    assert_eq!(ve1.link_ifindex, Some(ve0.ifindex));

    let mvt = find(&devs, "macvtap0");
    assert_eq!(mvt.kind, DeviceKind::Macvtap);
    assert_eq!(mvt.lower.as_deref(), Some("ve0"));
    assert_eq!(mvt.mac.unwrap().to_string(), "52:54:00:00:00:02");
    assert_eq!(mvt.carrier, Some(true));
    assert_eq!(mvt.operstate, "up");
}

#[tokio::test]
async fn inventory_agrees_with_ip_link_on_shared_fields() {
    let ns = TestNs::new("ipj");
    ns.batch(
        "link add br7 type bridge\nlink set br7 up\n\
         tuntap add dev tap7 mode tap\nlink set tap7 master br7 up\n\
         link add v7a type veth peer name v7b\n",
    );
    let devs = devices(&ns).await;
    let links = ns.ip_links();
    assert_eq!(devs.len(), links.len());
    for l in &links {
        let d = find(&devs, l["ifname"].as_str().unwrap());
        assert_eq!(Some(d.ifindex as u64), l["ifindex"].as_u64());
        assert_eq!(
            d.mac.map(|m| m.to_string()).as_deref(),
            l["address"].as_str(),
            "{}",
            d.name
        );
        assert_eq!(d.master.as_deref(), l["master"].as_str());
        assert_eq!(Some(d.mtu.unwrap() as u64), l["mtu"].as_u64());
        assert_eq!(d.operstate.to_uppercase(), l["operstate"].as_str().unwrap());
        if let Some(kind) = l["linkinfo"]["info_kind"].as_str() {
            let want = match (kind, l["linkinfo"]["info_data"]["type"].as_str()) {
                ("tun", Some("tun")) => "tun",
                ("tun", _) => "tap",
                (k, _) => k,
            };
            assert_eq!(d.kind.as_str(), want, "{}", d.name);
        }
    }
}

#[tokio::test]
async fn veth_peer_in_another_namespace_has_a_netnsid() {
    let a = TestNs::new("pa");
    let b = TestNs::new("pb");
    a.batch(&format!(
        "link add vx0 type veth peer name vx1 netns {}\n",
        b.name
    ));
    let devs = devices(&a).await;
    let vx0 = find(&devs, "vx0");
    assert!(vx0.link_netnsid.is_some(), "{vx0:?}");
    assert!(vx0.link_ifindex.is_some());
    assert!(find(&devices(&b).await, "vx1").link_netnsid.is_some());
}

#[tokio::test]
async fn namespace_can_be_named_by_path() {
    let ns = TestNs::new("path");
    ns.batch("tuntap add dev tapp0 mode tap\n");
    let devs = read_devices(&NetnsTarget::Named(format!("/run/netns/{}", ns.name)))
        .await
        .unwrap();
    find(&devs, "tapp0");
}

#[tokio::test]
async fn missing_namespace_is_a_clear_error() {
    let err = read_devices(&NetnsTarget::Named("vifdt-does-not-exist".into()))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("vifdt-does-not-exist") && msg.contains("not found"),
        "{msg}"
    );
}

#[tokio::test]
async fn current_namespace_is_read_without_entering_another() {
    let devs = read_devices(&NetnsTarget::Current).await.unwrap();
    assert!(devs.iter().any(|d| d.kind == DeviceKind::Loopback));
}
