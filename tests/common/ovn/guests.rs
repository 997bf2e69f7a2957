//! Guests for vifd to read on the OVN bed: libvirt test-driver domains (paused) naming
//! real taps that os-vif-style plugging put on br-int ([`Guests`]), real QEMU guests on
//! the real libvirtd plugged either way Nova does ([`QemuGuest`]), and vifd's view of
//! them.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::qemu::{emulator_type, libvirtd_answers, virsh, URI};
use crate::common::{vifd, vifd_json};

/// The bed's Open vSwitch, where vifd reads iface-ids, system-id and ovn-remote.
pub const OVS: &str = "unix:/var/run/openvswitch/db.sock";

/// A guest (test driver, paused) per tap: `type='ethernet'` with a tap os-vif made, as
/// Nova >= 24 defines it.
pub struct Guests {
    path: std::path::PathBuf,
    taps: Vec<String>,
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
        let taps = guests.iter().map(|(_, tap, _)| tap.to_string()).collect();
        Guests { path, taps }
    }

    pub fn uri(&self) -> String {
        format!("test://{}", self.path.display())
    }

    /// `vifd list --json`'s records.
    pub fn list(&self) -> Vec<Value> {
        list(&self.uri())
    }

    /// `vifd check --json`'s problems as (kind, device or "-").
    /// The problems of these guests' taps and the host-level ones without a device (other
    /// tests' devices on the host are theirs to judge).
    pub fn problems(&self) -> BTreeSet<(String, String)> {
        let all = check(&self.uri());
        let mine = |p: &&Value| match p["device"].as_str() {
            Some(d) => self.taps.iter().any(|t| t == d),
            None => true,
        };
        kinds(all.iter().filter(mine))
    }
}

impl Drop for Guests {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `vifd list --json --libvirt-uri URI --ovsdb OVS`'s records (exit status 0).
pub fn list(uri: &str) -> Vec<Value> {
    let out = vifd_json(&["list", "--json", "--libvirt-uri", uri, "--ovsdb", OVS], 0);
    out["interfaces"].as_array().unwrap().clone()
}

/// `vifd check --json --libvirt-uri URI --ovsdb OVS`'s problems; its exit status must say
/// whether there are any.
pub fn check(uri: &str) -> Vec<Value> {
    let out = vifd(&["check", "--json", "--libvirt-uri", uri, "--ovsdb", OVS]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let list = v["problems"].as_array().unwrap().clone();
    let status = out.status.code();
    assert_eq!(status, Some(i32::from(!list.is_empty())), "{v}");
    list
}

/// Problems (of `vifd check --json` or `/v1/problems`) as (kind, device or "-").
pub fn kinds<'a>(problems: impl IntoIterator<Item = &'a Value>) -> BTreeSet<(String, String)> {
    problems
        .into_iter()
        .map(|p| {
            let device = p["device"].as_str().unwrap_or("-");
            (p["kind"].as_str().unwrap().to_string(), device.to_string())
        })
        .collect()
}

/// Whether this machine can run the bed and real QEMU guests on it: [`super::available`]
/// and libvirtd answering on `qemu:///system` (the same CI=true rule).
pub fn qemu_available() -> bool {
    super::available()
        && super::prerequisite(
            "libvirtd on qemu:///system (`make services`)",
            libvirtd_answers(),
        )
}

/// A real QEMU guest on the real libvirtd: transient, paused (it runs nothing), with the
/// NICs given, destroyed on drop (before the chassis is: libvirt unplugs its
/// `virtualport` from Open vSwitch then; taps made outside libvirt stay for their owner).
///
/// Its name is `vifdt-ovn-TAG-PID`: [`create`](Self::create) first destroys the guests a
/// killed test left (a name whose PID no longer runs).
pub struct QemuGuest {
    name: String,
    uuid: String,
    devices: Vec<String>,
}

impl QemuGuest {
    /// A NIC libvirt plugs into br-int itself: `type='bridge'` with `<virtualport
    /// type='openvswitch'>` and `interfaceid` `port` (libvirt writes the Interface's
    /// external_ids iface-id, attached-mac, vm-id and iface-status).
    pub fn virtualport_nic(mac: &str, port: &str) -> String {
        format!(
            "<interface type='bridge'><mac address='{mac}'/><source bridge='br-int'/>\
             <virtualport type='openvswitch'><parameters interfaceid='{port}'/></virtualport>\
             <model type='virtio'/><rom enabled='no'/></interface>"
        )
    }

    /// A NIC as Nova >= 24 defines it: `type='ethernet'` on tap `tap`, which os-vif made
    /// and plugged beforehand ([`OvnChassis::plug_tap`](super::OvnChassis::plug_tap)):
    /// `managed='no'`, libvirt opens it and neither creates nor deletes it. A plain
    /// `ip tuntap add mode tap` will do: libvirt asks for vnet_hdr when it opens the tap
    /// (a tap made `multi_queue` would need `<driver queues='N'/>`).
    pub fn ethernet_nic(mac: &str, tap: &str) -> String {
        format!(
            "<interface type='ethernet'><mac address='{mac}'/>\
             <target dev='{tap}' managed='no'/><model type='virtio'/><rom enabled='no'/>\
             </interface>"
        )
    }

    /// Creates (`virsh create --paused`) guest `vifdt-ovn-TAG-PID` with UUID `uuid` and
    /// `nics` (XML, in order).
    pub fn create(tag: &str, uuid: &str, nics: &[String]) -> Self {
        reap_leftover_guests();
        let name = format!("vifdt-ovn-{tag}-{}", std::process::id());
        let pcie_ports = "<controller type='pci' model='pcie-root-port'/>".repeat(nics.len());
        let xml = format!(
            "<domain type='{}'><name>{name}</name><uuid>{uuid}</uuid>\
             <memory unit='MiB'>32</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='q35'>hvm</type></os>\
             <devices><controller type='pci' index='0' model='pcie-root'/>{pcie_ports}\
             <controller type='usb' model='none'/>{}\
             <memballoon model='none'/></devices></domain>",
            emulator_type(),
            nics.concat()
        );
        let path = std::env::temp_dir().join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        let created = Command::new("virsh")
            .args(["-c", URI, "create", path.to_str().unwrap(), "--paused"])
            .output()
            .expect("run virsh");
        let _ = std::fs::remove_file(&path);
        assert!(
            created.status.success(),
            "virsh create {name}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let mut guest = QemuGuest {
            name,
            uuid: uuid.to_string(),
            devices: vec![],
        };
        let iflist = virsh(&["domiflist", &guest.name]);
        guest.devices = iflist
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        assert_eq!(guest.devices.len(), nics.len(), "{iflist}");
        guest
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The host device of each NIC, in the order of the XML (`virsh domiflist`).
    pub fn devices(&self) -> &[String] {
        &self.devices
    }

    /// `vifd list`'s records of this guest (vifd reads the whole host: libvirtd may have
    /// other guests).
    pub fn list(&self) -> Vec<Value> {
        let mut all = list(URI);
        all.retain(|r| r["domain_uuid"] == self.uuid.as_str());
        all
    }

    /// `vifd check`'s problems of this guest (by its UUID or one of its devices) as
    /// (kind, device): the host may have problems of its own.
    pub fn problems(&self) -> BTreeSet<(String, String)> {
        let all = check(URI);
        kinds(all.iter().filter(|p| self.concerns(p)))
    }

    /// Whether problem `p` (of `vifd check` or `/v1/problems`) concerns this guest.
    pub fn concerns(&self, p: &Value) -> bool {
        p["domain_uuid"] == self.uuid.as_str()
            || p["device"]
                .as_str()
                .is_some_and(|d| self.devices.iter().any(|mine| mine == d))
    }
}

impl Drop for QemuGuest {
    fn drop(&mut self) {
        // Transient: destroyed is gone (its undefine, should it have been made persistent).
        for args in [["destroy", &self.name], ["undefine", &self.name]] {
            let _ = Command::new("virsh").arg("-c").arg(URI).args(args).output();
        }
    }
}

/// Destroys the `vifdt-ovn-TAG-PID` guests whose PID no longer runs (a killed test's).
fn reap_leftover_guests() {
    let Ok(out) = Command::new("virsh")
        .args(["-c", URI, "list", "--all", "--name"])
        .output()
    else {
        return;
    };
    for name in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(pid) = name
            .strip_prefix("vifdt-ovn-")
            .and_then(|rest| rest.rsplit('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            for args in [["destroy", name], ["undefine", name]] {
                let _ = Command::new("virsh").arg("-c").arg(URI).args(args).output();
            }
        }
    }
}
