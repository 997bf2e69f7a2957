//! Guests for vifd to read on the OVN bed: libvirt test-driver domains (paused) naming
//! real taps that os-vif-style plugging put on br-int, and vifd's view of them.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::common::vifd_json;

/// The bed's Open vSwitch, where vifd reads iface-ids, system-id and ovn-remote.
pub const OVS: &str = "unix:/var/run/openvswitch/db.sock";

/// A guest (test driver, paused) per tap: `type='ethernet'` with a tap os-vif made, as
/// Nova >= 24 defines it.
pub struct Guests {
    path: std::path::PathBuf,
}

impl Guests {
    pub fn new(tag: &str, guests: &[(&str, &str, &str)]) -> Self {
        let mut xml = String::from("<node>");
        for (i, (vm, tap, mac)) in guests.iter().enumerate() {
            xml += &format!(
                "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\
                 <name>{tag}-{i}</name><uuid>{vm}</uuid><memory>8192</memory>\
                 <os><type>hvm</type></os><devices><interface type='ethernet'>\
                 <mac address='{mac}'/><target dev='{tap}' managed='no'/></interface>\
                 </devices><test:runstate>3</test:runstate></domain>"
            );
        }
        xml += "</node>";
        let path = std::env::temp_dir().join(format!("vifdt-ovn-{tag}-{}.xml", std::process::id()));
        std::fs::write(&path, xml).unwrap();
        Guests { path }
    }

    pub fn uri(&self) -> String {
        format!("test://{}", self.path.display())
    }

    /// `vifd list --json`'s records, by device.
    pub fn list(&self) -> Vec<Value> {
        let out = vifd_json(
            &[
                "list",
                "--json",
                "--libvirt-uri",
                &self.uri(),
                "--ovsdb",
                OVS,
            ],
            0,
        );
        out["interfaces"].as_array().unwrap().clone()
    }

    /// `vifd check --json`'s problems as (kind, device or "-").
    pub fn problems(&self) -> BTreeSet<(String, String)> {
        let out = Command::new(env!("CARGO_BIN_EXE_vifd"))
            .args([
                "check",
                "--json",
                "--libvirt-uri",
                &self.uri(),
                "--ovsdb",
                OVS,
            ])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let list = v["problems"].as_array().unwrap();
        let status = out.status.code();
        assert_eq!(status, Some(i32::from(!list.is_empty())), "{v}");
        list.iter()
            .map(|p| {
                let device = p["device"].as_str().unwrap_or("-");
                (p["kind"].as_str().unwrap().to_string(), device.to_string())
            })
            .collect()
    }
}

impl Drop for Guests {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
