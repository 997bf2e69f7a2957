//! Against a real libvirtd (`qemu:///system`, started by `scripts/start-libvirtd.sh`): what
//! identifies a guest's addresses. DHCP leases come from libvirt (`virNetworkGetDHCPLeases`),
//! network lifecycle events reach an event session, and the guest-agent query works with
//! an agent that never answers (how long it takes is a figure of bench/recovery.sh). A
//! missing libvirtd fails these tests; they never skip.

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::qemu::{virsh, Host, URI};
use vifd::libvirt::{EventSink, GuestEvent, Network, Session};

// Every test here builds `Host::new(3)` (the same names): one at a time.
use common::one_at_a_time;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The host's network's first three octets, as `Host` numbers it.
fn net_prefix(host: &Host) -> String {
    format!("192.168.{}", 200 + host.tag.parse::<u32>().unwrap() % 50)
}

fn network<'a>(networks: &'a [Network], name: &str) -> &'a Network {
    networks
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("network {name} in {networks:#?}"))
}

/// Writes the lease status file libvirt's leaseshelper keeps for `bridge` (and
/// `virNetworkGetDHCPLeases` reads): a JSON array of leases.
fn write_lease_status(bridge: &str, leases: serde_json::Value) {
    let path = format!("/var/lib/libvirt/dnsmasq/{bridge}.status");
    std::fs::write(&path, serde_json::to_string_pretty(&leases).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}

#[test]
fn network_leases_are_read_from_libvirt() {
    let _serial = one_at_a_time();
    let host = Host::new(3);
    let (name, bridge) = (host.name("vtnet"), host.name("vtnbr"));
    let (ip, old_ip) = (
        format!("{}.20", net_prefix(&host)),
        format!("{}.21", net_prefix(&host)),
    );
    let expiry = now() + 3600;
    write_lease_status(
        &bridge,
        serde_json::json!([
            {"ip-address": ip, "mac-address": "52:54:00:3a:00:01",
             "hostname": "vm1", "client-id": "01:52:54:00:3a:00:01", "expiry-time": expiry},
            {"ip-address": old_ip, "mac-address": "52:54:00:3a:00:02",
             "hostname": "gone", "expiry-time": now() - 3600},
        ]),
    );

    let mut session = Session::new(URI);
    let networks = session.read_networks().expect("read networks");
    let net = network(&networks, &name);
    assert!(net.active);
    assert_eq!(net.bridge.as_deref(), Some(bridge.as_str()));
    assert_eq!(net.uuid, virsh(&["net-uuid", &name]).trim());
    assert_eq!(
        net.leases.len(),
        1,
        "the expired lease is left out: {net:#?}"
    );
    let lease = &net.leases[0];
    assert_eq!(lease.mac.unwrap().to_string(), "52:54:00:3a:00:01");
    assert_eq!(lease.address.to_string(), ip);
    assert_eq!(lease.prefix, 24);
    assert_eq!(lease.hostname.as_deref(), Some("vm1"));
    assert_eq!(lease.expiry, expiry);

    // A full snapshot carries the same network, leases included.
    let snap = session.fetch().expect("fetch");
    assert_eq!(network(&snap.networks, &name), net);
}

#[test]
fn network_events_are_delivered() {
    let _serial = one_at_a_time();
    let host = Host::new(3);
    let name = host.name("vtnet");
    let (tx, seen) = mpsc::channel();
    let sink: EventSink = {
        let tx = Mutex::new(tx);
        Arc::new(move |ev| {
            let _ = tx.lock().unwrap().send(ev);
        })
    };
    let mut session = Session::with_events(URI, sink);
    session.read_networks().expect("connect and read networks");

    let ours = GuestEvent::Network { name: name.clone() };
    for cmd in ["net-destroy", "net-start"] {
        // Events of earlier steps, not ours to see.
        while seen.try_recv().is_ok() {}
        virsh(&[cmd, &name]);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match seen.recv_timeout(left) {
                Ok(ev) if ev == ours => break,
                Ok(_) => {}
                Err(e) => panic!("no network event for {cmd} within 20 s ({e:?})"),
            }
        }
    }
    assert!(session.connected());
}

#[test]
fn guest_agent_off_costs_nothing_and_on_is_bounded() {
    let _serial = one_at_a_time();
    let mut host = Host::new(3);
    // The agent's channel, never connected: there is no guest OS to run an agent.
    let channel = "<channel type='unix'>\
                   <target type='virtio' name='org.qemu.guest_agent.0'/></channel>";
    let (dom, _) = host.create_domain(1, channel);
    let xml = virsh(&["dumpxml", &dom]);
    assert!(xml.contains("state='disconnected'"), "{xml}");

    let mut session = Session::new(URI);
    let read = |session: &mut Session| {
        let started = Instant::now();
        let snap = session.fetch().expect("fetch");
        let d = snap.domains.into_iter().find(|d| d.name == dom).unwrap();
        (d, started.elapsed())
    };
    let (d, _) = read(&mut session);
    assert!(d.guest_addresses.is_empty());

    session.set_guest_agent(Some(Duration::from_millis(200)));
    for state in ["paused", "running"] {
        if state == "running" {
            virsh(&["resume", &dom]);
        }
        let (d, took) = read(&mut session);
        assert_eq!(d.state.as_str(), state);
        assert!(d.guest_addresses.is_empty(), "{d:#?}");
        // How long is bench/recovery.sh's figure, not a bound here.
        eprintln!("fetch with the agent on, {state}: {took:?}");
    }
}
