//! Parsing of Nova-shaped and assorted domain XML.

use vifd::libvirt::{parse_domain_xml, ParsedDomain, XmlError};

fn fixture(name: &str) -> ParsedDomain {
    let path = format!("{}/tests/fixtures/xml/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_domain_xml(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn ovs_hybrid_interface_and_nova_metadata_are_read() {
    let d = fixture("nova-ovs-hybrid.xml");
    assert_eq!(d.name.as_deref(), Some("instance-0000002a"));
    assert_eq!(
        d.uuid.as_deref(),
        Some("c6f2b7c4-3d4e-4f5a-8b6c-7d8e9f0a1b2c")
    );
    let i = &d.interfaces[0];
    assert_eq!(i.kind, "bridge");
    assert_eq!(i.mac.unwrap().to_string(), "fa:16:3e:5a:6b:7c");
    assert_eq!(i.source.bridge.as_deref(), Some("qbr7a1c3e5f-9b"));
    assert_eq!(i.target.as_deref(), Some("tap7a1c3e5f-9b"));
    assert_eq!(i.target_managed, None);
    assert_eq!(i.model.as_deref(), Some("virtio"));
    assert_eq!(i.alias.as_deref(), Some("net0"));
    assert_eq!(i.mtu, Some(1450));

    let nova = d.nova.expect("nova metadata");
    assert_eq!(nova.name.as_deref(), Some("web-a"));
    assert_eq!(nova.user_name.as_deref(), Some("demo"));
    assert_eq!(
        nova.project_uuid.as_deref(),
        Some("a1b2c3d4e5f647a8b9c0d1e2f3a4b5c6")
    );
    assert_eq!(nova.project_name.as_deref(), Some("demo-project"));
    assert_eq!(nova.ports.len(), 1);
    let ips: Vec<_> = nova.ports[0]
        .ips
        .iter()
        .map(|ip| (ip.address.as_str(), ip.version))
        .collect();
    assert_eq!(ips, [("10.0.0.5", Some(4)), ("fd00::5", Some(6))]);
}

#[test]
fn nova_ethernet_interfaces_have_no_source() {
    let d = fixture("nova-ethernet.xml");
    let eth = &d.interfaces[0];
    assert_eq!(eth.kind, "ethernet");
    assert_eq!(eth.target.as_deref(), Some("tap4e6a8c0e-2f"));
    assert_eq!(eth.source, Default::default());
    assert_eq!(eth.virtualport, None);
    let ovs = &d.interfaces[1];
    let vp = ovs.virtualport.as_ref().expect("virtualport");
    assert_eq!(vp.kind.as_deref(), Some("openvswitch"));
    assert_eq!(
        vp.interfaceid.as_deref(),
        Some("9c1e3a5c-7e9b-4d1f-8a3c-5e7a9c1e3a5c")
    );
    assert_eq!(d.nova.unwrap().ports.len(), 2);
}

#[test]
fn linuxbridge_brq_interface_is_read() {
    let d = fixture("nova-linuxbridge.xml");
    let i = &d.interfaces[0];
    assert_eq!(i.source.bridge.as_deref(), Some("brq5b7d9f1b-3d"));
    assert_eq!(i.link_state.as_deref(), Some("up"));
    assert!(d.nova.is_none());
}

#[test]
fn direct_vhostuser_hostdev_network_and_unmanaged_taps_are_read() {
    let d = fixture("assorted.xml");
    let kinds: Vec<_> = d.interfaces.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "direct",
            "vhostuser",
            "hostdev",
            "network",
            "ethernet",
            "vds",
            "user"
        ]
    );

    let direct = &d.interfaces[0];
    assert_eq!(direct.source.dev.as_deref(), Some("eno1"));
    assert_eq!(direct.source.mode.as_deref(), Some("vepa"));

    let vhu = &d.interfaces[1];
    assert_eq!(
        vhu.source.path.as_deref(),
        Some("/var/run/openvswitch/vhu1a2b3c4d-5e")
    );
    assert_eq!(vhu.source.mode.as_deref(), Some("server"));
    assert_eq!(
        vhu.source.other.get("type").map(String::as_str),
        Some("unix")
    );
    assert!(!vhu.has_host_netdev());

    let hostdev = &d.interfaces[2];
    assert_eq!(hostdev.source.address.as_deref(), Some("0000:03:10.2"));
    assert!(!hostdev.has_host_netdev());

    let net = &d.interfaces[3];
    assert_eq!(net.source.network.as_deref(), Some("default"));
    assert_eq!(net.source.bridge.as_deref(), Some("virbr0"));
    assert_eq!(net.link_state.as_deref(), Some("down"));
    assert_eq!(net.model.as_deref(), Some("e1000e"));

    let unmanaged = &d.interfaces[4];
    assert_eq!(unmanaged.target_managed, Some(false));
}

#[test]
fn unknown_interface_types_and_elements_are_kept_as_data() {
    let d = fixture("assorted.xml");
    let vds = &d.interfaces[5];
    assert_eq!(vds.kind, "vds");
    assert_eq!(
        vds.source.other.get("switchid").map(String::as_str),
        Some("12345678-1234-1234-1234-123456789abc")
    );
    assert!(!vds.has_host_netdev());
    let user = &d.interfaces[6];
    assert_eq!(user.mac, None);
}

#[test]
fn malformed_xml_is_an_error_not_a_panic() {
    assert!(matches!(
        parse_domain_xml("<domain><devices>"),
        Err(XmlError::Malformed(_))
    ));
    assert!(
        matches!(parse_domain_xml("<network/>"), Err(XmlError::NotADomain(n)) if n == "network")
    );
    // A bad MAC is dropped, not fatal.
    let d = parse_domain_xml("<domain><devices><interface type='bridge'><mac address='nope'/></interface></devices></domain>").unwrap();
    assert_eq!(d.interfaces[0].mac, None);
}

/// A domain whose devices are one `<channel>` with this `<target>`.
fn with_channel(kind: &str, target: &str) -> ParsedDomain {
    let xml = format!(
        "<domain><devices><channel type='{kind}'>\
         <source mode='bind' path='/run/libvirt/qemu/channel/1-vm/org.qemu.guest_agent.0'/>\
         {target}<alias name='channel0'/></channel></devices></domain>"
    );
    parse_domain_xml(&xml).unwrap()
}

#[test]
fn a_connected_guest_agent_channel_is_seen() {
    let agent = |state: &str| {
        format!("<target type='virtio' name='org.qemu.guest_agent.0' state='{state}'/>")
    };
    assert!(with_channel("unix", &agent("connected")).agent_connected);
    // Not connected yet (no agent in the guest), or not live XML (no state at all).
    assert!(!with_channel("unix", &agent("disconnected")).agent_connected);
    let inactive = "<target type='virtio' name='org.qemu.guest_agent.0'/>";
    assert!(!with_channel("unix", inactive).agent_connected);
    // Another virtio channel, connected, is not the agent.
    let spice = "<target type='virtio' name='com.redhat.spice.0' state='connected'/>";
    assert!(!with_channel("spicevmc", spice).agent_connected);
    assert!(!with_channel("unix", spice).agent_connected);
    // No channel at all.
    assert!(!fixture("nova-ovs-hybrid.xml").agent_connected);
}
