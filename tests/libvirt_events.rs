//! libvirt domain events on a real libvirtd reach `/v1/watch` without any refresh
//! (`--refresh 3600`): a NIC hot-plugged into a paused q35 domain is `added`, a Nova
//! metadata change is `changed`, a detach the guest never completes keeps the NIC shown,
//! destroy is `removed` and create is `added` again.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::http::get;
use common::qemu::{virsh, Host, URI};
use common::sse::{Sse, SseEvent};

const WAIT: Duration = Duration::from_secs(10);
const NOVA_NS: &str = "http://openstack.org/xmlns/libvirt/nova/1.1";

fn record_event<'a>(kind: &'a str, mac: &'a str) -> impl Fn(&SseEvent) -> bool + 'a {
    move |e: &SseEvent| e.kind == kind && e.data["interface"]["mac_address"] == mac
}

/// Writes `xml` to a file and runs `virsh <cmd> DOMAIN FILE --live`; returns the output.
fn with_device(cmd: &str, domain: &str, xml: &str) -> std::process::Output {
    let path = std::env::temp_dir().join(format!("{domain}-{cmd}.xml"));
    std::fs::write(&path, xml).unwrap();
    Command::new("virsh")
        .args(["-c", URI, cmd, domain, path.to_str().unwrap(), "--live"])
        .output()
        .unwrap()
}

#[test]
fn domain_events_reach_the_watch_stream() {
    let mut host = Host::new(6);
    let (dom, macs) = host.create_domain(1, "");
    let d = Daemon::on_loopback(&["--libvirt-uri", URI, "--refresh", "3600"]);
    let addr = d.addr();
    let mut sse = Sse::open(addr, "/v1/watch");
    let snap = sse.next(WAIT).unwrap();
    let ours = |v: &serde_json::Value| v["domain_name"] == dom.as_str();
    let n = snap.data["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| ours(v))
        .count();
    assert_eq!(n, 4, "the snapshot has the domain's four NICs");

    // Hot-plug a Nova-shaped NIC: type ethernet, tap named after the port.
    let port = format!(
        "{:08x}-1111-4222-8333-444455556666",
        0xabc00000u32 + host.tag.parse::<u32>().unwrap()
    );
    let tap = format!("tap{}", &port[..11]);
    let mac = format!(
        "52:54:00:ee:{:02x}:05",
        host.tag.parse::<u32>().unwrap() % 256
    );
    let nic = format!(
        "<interface type='ethernet'><mac address='{mac}'/><target dev='{tap}'/>\
         <model type='virtio'/><rom enabled='no'/></interface>"
    );
    let out = with_device("attach-device", &dom, &nic);
    assert!(
        out.status.success(),
        "attach: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let attached = Instant::now();
    let ev = sse.until(WAIT, "hot-plugged NIC added", record_event("added", &mac));
    eprintln!(
        "attach-device returned -> added event: {:?}",
        attached.elapsed()
    );
    assert_eq!(ev.data["interface"]["device"], tap.as_str());
    assert_eq!(ev.data["interface"]["device_kind"], "tap");
    assert!(ev.data["interface"]["port_id"].is_null());

    // Nova metadata naming the port: the record gains its port id.
    let meta = format!("<instance><ports><port uuid='{port}'/></ports></instance>");
    virsh(&[
        "metadata", &dom, "--uri", NOVA_NS, "--key", "nova", "--set", &meta, "--live",
    ]);
    let ev = sse.until(WAIT, "metadata change", record_event("changed", &mac));
    assert_eq!(ev.data["interface"]["port_id"], port.as_str());
    assert_eq!(ev.data["interface"]["port_id_source"], "nova-metadata");
    assert_eq!(ev.data["interface"]["id"], port.as_str());

    // A guest without an OS never acknowledges the unplug: libvirt gives up after 5 s and
    // keeps the device; so must vifd, until a device-removed event says otherwise.
    let out = with_device("detach-device", &dom, &nic);
    eprintln!(
        "detach-device: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    let still = virsh(&["domiflist", &dom]);
    assert!(still.contains(&mac), "libvirt keeps the NIC: {still}");
    let listed = get(addr, &format!("/v1/interfaces?mac={mac}"), &[]).json();
    assert_eq!(
        listed["interfaces"].as_array().unwrap().len(),
        1,
        "{listed:#}"
    );

    // Destroy (a transient domain is gone): every record removed.
    let mut all_macs: Vec<String> = macs.to_vec();
    all_macs.push(mac.clone());
    virsh(&["destroy", &dom]);
    let wanted: Vec<_> = all_macs
        .iter()
        .map(|m| record_event("removed", m))
        .collect();
    let refs: Vec<&dyn Fn(&SseEvent) -> bool> = wanted.iter().map(|w| w as _).collect();
    sse.until_all(WAIT, "destroy removes every record", &refs);
    host.domains.retain(|d| *d != dom);

    // Create it again: its four NICs are added.
    let (dom2, macs2) = host.create_domain(1, "");
    assert_eq!(dom2, dom);
    let wanted: Vec<_> = macs2.iter().map(|m| record_event("added", m)).collect();
    let refs: Vec<&dyn Fn(&SseEvent) -> bool> = wanted.iter().map(|w| w as _).collect();
    sse.until_all(WAIT, "create adds every record", &refs);

    // And the served state is exactly what a fresh `vifd list` reads.
    let fresh = common::vifd_json(&["list", "--json", "--libvirt-uri", URI], 0);
    d.until(
        "served equals a fresh list",
        Duration::from_secs(20),
        || {
            common::without_counters(&get(addr, "/v1/interfaces", &[]).json())
                == common::without_counters(&fresh)
        },
    );
}
