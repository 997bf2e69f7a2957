//! Fuzz harnesses: one function per parser vifd runs on input it does not control, each
//! taking arbitrary bytes. A harness must never panic: a panic is a bug in the parser (or
//! in what vifd does with its result), found by the `fuzz/` crate's engine and kept fixed
//! by `tests/fuzz_regressions.rs`, which replays every past finding through these same
//! functions. Where vifd both writes and reads a format, the harness also asserts the
//! round trip.
//!
//! Library code without test-only dependencies, so the engine-free regression test and
//! the fuzz crate drive exactly what the daemon runs. Hidden from the docs: not an API.

mod fleet;
mod fleet_http;
mod host;
mod http;
mod sse;

use crate::config;
use crate::libvirt::device::interface_detach_xml;
use crate::libvirt::parse_domain_xml;
use crate::netlink::HostDevice;

pub use crate::libvirt::fuzz::network_xml;
pub use crate::netlink::fuzz::stats as netlink_stats;
pub use crate::netlink::fuzz::{link as netlink_link, neighbour as netlink_neigh};
pub use crate::ovn::fuzz::sb_updates as ovn_sb_updates;
pub use crate::ovsdb::fuzz::{datum as ovsdb_datum, messages as ovsdb_messages};
pub use fleet::fleet_records;
pub use fleet_http::fleet_router;
pub use http::http_router;
pub use sse::sse;

/// A harness by its target name.
pub type Harness = fn(&[u8]);

/// Every target, by the name its `fuzz/fuzz_targets/<name>.rs`, seed and regression
/// directories carry.
pub const TARGETS: &[(&str, Harness)] = &[
    ("domain_xml", domain_xml),
    ("network_xml", network_xml),
    ("netlink_link", netlink_link),
    ("netlink_neigh", netlink_neigh),
    ("netlink_stats", netlink_stats),
    ("ovsdb_messages", ovsdb_messages),
    ("ovsdb_datum", ovsdb_datum),
    ("ovn_sb_updates", ovn_sb_updates),
    ("sse", sse),
    ("config_toml", config_toml),
    ("http_router", http_router),
    ("fleet_records", fleet_records),
    ("fleet_router", fleet_router),
];

/// A domain's XML as libvirt gives it (Nova metadata and all), correlated with a tap for
/// each of its interfaces. An interface's removal XML, which vifd writes from what it
/// read, must read back as the same interface.
pub fn domain_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = parse_domain_xml(text) else {
        return;
    };
    for iface in &parsed.interfaces {
        let Some(xml) = interface_detach_xml(iface) else {
            continue;
        };
        let doc = format!("<domain><devices>{xml}</devices></domain>");
        let back = parse_domain_xml(&doc).expect("removal XML is well-formed");
        let back = &back.interfaces[0];
        assert_eq!((&back.kind, back.mac), (&iface.kind, iface.mac), "{xml}");
        let source = |i: &crate::libvirt::DomainInterface| match i.kind.as_str() {
            "network" => i.source.network.clone(),
            "bridge" => i.source.bridge.clone(),
            "direct" => i.source.dev.clone(),
            _ => None,
        };
        assert_eq!(source(back), source(iface), "{xml}");
    }
    let devices: Vec<HostDevice> = (1u32..)
        .zip(parsed.interfaces.iter().filter_map(|i| i.target.clone()))
        .map(|(ifindex, name)| host::tap(ifindex, name))
        .collect();
    drop(crate::correlate(
        &host::running(parsed),
        &devices,
        &Default::default(),
    ));
}

/// `/etc/vifd/config.toml`. Settings that parse read the same from the document as the
/// TOML library writes it back (the round trip); a mistake points at a line of the file.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count() + 1;
    let cfg = match config::parse(text) {
        Ok(cfg) => cfg,
        Err(invalid) => {
            assert!(invalid.line.is_none_or(|l| l <= lines), "{invalid:?}");
            return;
        }
    };
    let table: toml::Table = toml::from_str(text).expect("settings are a TOML document");
    if let Ok(rendered) = toml::to_string(&table) {
        let again = config::parse(&rendered)
            .unwrap_or_else(|e| panic!("re-rendered settings do not parse ({e:?}):\n{rendered}"));
        assert_eq!(again, cfg, "settings survive a round trip:\n{rendered}");
    }
    for key in table.keys() {
        let line = config::locate(text, key);
        assert!(
            line.is_some_and(|l| l <= lines),
            "{key} is located in the file"
        );
    }
    if let Some(networks) = &cfg.networks {
        drop(networks.to_map());
    }
}
