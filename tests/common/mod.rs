//! Helpers for tests that build real devices in network namespaces.
#![allow(dead_code)]

pub mod actions;
pub mod agents;
pub mod daemon;
pub mod etcd;
pub mod fleet;
pub mod http;
pub mod hung;
pub mod identity;
pub mod metrics;
pub mod notify;
pub mod nova_schemas;
pub mod ovn;
pub mod ovsdb;
pub mod process;
pub mod prometheus;
pub mod qemu;
pub mod soak;
pub mod soak_churn;
pub mod sse;
pub mod tls;
pub mod traffic;
pub mod wakes;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh network namespace, deleted (with every device in it) on drop.
pub struct TestNs {
    pub name: String,
}

impl TestNs {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "vifdt-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        ip(&["netns", "add", &name]);
        let ns = TestNs { name };
        ns.batch("link set lo up\n");
        ns
    }

    /// Runs `ip -n NS -batch -` with these commands; panics with ip's message on failure.
    pub fn batch(&self, commands: &str) {
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ip (iproute2 is a prerequisite)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(commands.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ip -batch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `ip -j -d link show` in the namespace, parsed.
    pub fn ip_links(&self) -> Vec<serde_json::Value> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-j", "-d", "link", "show"])
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the vifd binary built for this test run.
pub fn vifd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vifd"))
        .args(args)
        .env_remove("VIFD_LIBVIRT_URI")
        .env_remove("VIFD_NETNS")
        .output()
        .expect("run vifd")
}

/// Runs vifd and parses its stdout as JSON, requiring the given exit status.
pub fn vifd_json(args: &[&str], status: i32) -> serde_json::Value {
    let out = vifd(args);
    assert_eq!(
        out.status.code(),
        Some(status),
        "vifd {args:?}: stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("vifd printed JSON")
}

pub fn fixture_path(rel: &str) -> String {
    format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture_path(rel)).unwrap()
}

/// An active libvirt network without leases or host entries.
pub fn active_network(name: &str, uuid: &str, bridge: &str) -> vifd::libvirt::Network {
    vifd::libvirt::Network {
        name: name.into(),
        uuid: uuid.into(),
        bridge: Some(bridge.into()),
        active: true,
        leases: vec![],
        hosts: vec![],
    }
}

/// The running domain of the domain XML `rel` (which must name its uuid and name).
pub fn fixture_domain(rel: &str) -> vifd::libvirt::Domain {
    let parsed =
        vifd::libvirt::parse_domain_xml(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    vifd::libvirt::Domain {
        uuid: parsed.uuid.expect("fixture has a uuid"),
        name: parsed.name.expect("fixture has a name"),
        state: vifd::libvirt::DomainState::Running,
        interfaces: parsed.interfaces,
        disks: parsed.disks,
        nova: parsed.nova,
        guest_addresses: vec![],
    }
}

/// The demo host: the demo's devices in a fresh namespace, and the test-driver URI of the
/// node file that describes its guests.
pub fn demo_host(tag: &str) -> (TestNs, String) {
    let ns = TestNs::new(tag);
    ns.batch(&fixture("demo/devices.ip"));
    (ns, format!("test://{}", fixture_path("demo/node.xml")))
}

/// Link notifications (rtnetlink, RTMGRP_LINK) of one network namespace: something to
/// block on while waiting for the kernel to change a link.
pub struct LinkEvents {
    fd: std::os::fd::OwnedFd,
}

impl LinkEvents {
    /// Subscribes in namespace `ns` (the socket stays in it).
    pub fn open(ns: &str) -> Self {
        use nix::sys::socket::{
            bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
        };
        let fd = daemon::in_netns(ns, || {
            let fd = socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkRoute,
            )
            .expect("a netlink socket");
            // RTMGRP_LINK
            bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &NetlinkAddr::new(0, 1),
            )
            .expect("subscribe to link notifications");
            fd
        });
        LinkEvents { fd }
    }

    /// Blocks until the next notification (or a lost batch of them); false after `limit`.
    pub fn next(&self, limit: std::time::Duration) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let ms = limit.as_millis().clamp(1, i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::try_from(ms).unwrap()).expect("poll") == 0 {
            return false;
        }
        let mut buf = vec![0u8; 64 * 1024];
        // ENOBUFS (notifications lost) is news of a change too.
        let _ = nix::sys::socket::recv(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        );
        true
    }

    /// Checks `ok` now and after each notification until it holds; panics naming `what`
    /// after `limit`.
    pub fn until(&self, what: &str, limit: std::time::Duration, mut ok: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + limit;
        while !ok() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || !self.next(left) {
                assert!(ok(), "{what}: not within {limit:?}");
                return;
            }
        }
    }
}

/// The `interfaces` of a list body without their counters: counters move on their own
/// (a tap sends router solicitations), so "served equals a fresh list" compares the rest.
pub fn without_counters(body: &serde_json::Value) -> serde_json::Value {
    let mut list = body["interfaces"].clone();
    for v in list.as_array_mut().into_iter().flatten() {
        if let Some(o) = v.as_object_mut() {
            o.remove("stats");
        }
    }
    list
}

/// A daemon's `/v1/interfaces` records by id, without their counters.
pub fn served_by_id(
    addr: std::net::SocketAddr,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let body = http::get(addr, "/v1/interfaces", &[]).json();
    without_counters(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// The record with this guest MAC in a list body; panics showing the body when none has it.
pub fn record_by_mac<'a>(list: &'a serde_json::Value, mac: &str) -> &'a serde_json::Value {
    list["interfaces"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["mac_address"] == mac))
        .unwrap_or_else(|| panic!("no record for {mac}: {list:#}"))
}

/// Serializes the tests of one binary that must not overlap (the same libvirt names, or
/// host-wide checks that would see another test's half-built guests).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
