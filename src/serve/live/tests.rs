use std::sync::Arc;
use std::time::Duration;

use super::Live;
use crate::correlate::CorrelateOptions;
use crate::inventory::Shared;
use crate::libvirt::{parse_domain_xml, DomainState, Snapshot};
use crate::netlink::HostDevice;

fn tap(name: &str, ifindex: u32) -> HostDevice {
    HostDevice::up_tap(ifindex, name)
}

/// A running domain with an ethernet NIC on each of `taps` (MACs 52:54:00:00:00:0N).
fn guests(taps: &[&str]) -> Snapshot {
    let nics: String = (1..)
        .zip(taps)
        .map(|(n, t)| {
            format!("<interface type='ethernet'><mac address='52:54:00:00:00:0{n}'/><target dev='{t}'/></interface>")
        })
        .collect();
    let xml = format!(
        "<domain type='kvm'><name>g</name><uuid>3f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b</uuid>\
         <devices>{nics}</devices></domain>"
    );
    let parsed = parse_domain_xml(&xml).unwrap();
    let domain = parsed.into_domain(None, None, DomainState::Running);
    Snapshot {
        domains: vec![domain],
        networks: vec![],
    }
}

#[test]
fn link_changes_before_libvirts_first_read_are_kept() {
    let shared = Shared::new();
    let opts = CorrelateOptions::default();
    let mut live = Live::new(shared.clone(), opts, Duration::ZERO, Default::default());
    live.apply_devices(vec![tap("tap-a", 1)], None);
    // libvirt reads on a task of its own: links may change before its first read is in.
    live.apply_links(vec![
        ("tap-a".into(), None),
        ("tap-b".into(), Some(tap("tap-b", 2))),
    ]);
    live.apply_guests(guests(&["tap-a", "tap-b"]), None);
    let view = shared.current();
    let ifindex = |mac: &str| {
        let found = view
            .interfaces()
            .find(|r| r.mac_address.map(|m| m.to_string()).as_deref() == Some(mac));
        Arc::clone(found.expect("a record of the NIC")).ifindex
    };
    assert_eq!(ifindex("52:54:00:00:00:01"), None, "tap-a was deleted");
    assert_eq!(ifindex("52:54:00:00:00:02"), Some(2), "tap-b was created");
}
