//! A real libvirtd's side of the tests: `virsh`, and a host's worth of test bridges,
//! a libvirt network and paused QEMU domains, all removed on drop.
#![allow(dead_code)]

use std::process::Command;

use super::{fixture, ip};

pub const URI: &str = "qemu:///system";

pub fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh")
        .arg("-c")
        .arg(URI)
        .args(args)
        .output()
        .expect("run virsh");
    assert!(
        out.status.success(),
        "virsh {args:?} failed (is libvirtd running? `make test` starts it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `scripts/NAME` (start-libvirtd.sh, stop-libvirtd.sh); panics with its stderr
/// when it fails.
pub fn script(name: &str) {
    let path = format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(&path)
        .output()
        .expect("run script");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether libvirtd answers on [`URI`].
pub fn libvirtd_answers() -> bool {
    Command::new("virsh")
        .args(["-c", URI, "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Everything the test creates on the host, removed on drop even when an assertion fails.
pub struct Host {
    pub tag: String,
    pub domains: Vec<String>,
    pub network: Option<String>,
    pub devices: Vec<String>,
}

impl Drop for Host {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("virsh").arg("-c").arg(URI).args(args).output();
        };
        for d in &self.domains {
            quiet(&["destroy", d]);
        }
        if let Some(n) = &self.network {
            quiet(&["net-destroy", n]);
            quiet(&["net-undefine", n]);
        }
        for dev in &self.devices {
            let _ = Command::new("ip").args(["link", "del", dev]).output();
        }
    }
}

impl Host {
    /// A host for test number `k` (1..9): tests in one process get different names.
    pub fn new(k: u32) -> Self {
        virsh(&["version"]);
        let tag = format!("{}", (std::process::id() % 1000) * 10 + k);
        let mut h = Host {
            tag,
            domains: vec![],
            network: None,
            devices: vec![],
        };
        let (br, lower) = (h.name("vtbr"), h.name("vtlo"));
        ip(&["link", "add", &br, "type", "bridge"]);
        h.devices.push(br.clone());
        ip(&["link", "set", &br, "up"]);
        ip(&[
            "link",
            "add",
            &lower,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{lower}p"),
        ]);
        h.devices.push(lower.clone());
        ip(&["link", "set", &lower, "up"]);
        h.start_network();
        h
    }

    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.tag)
    }

    fn start_network(&mut self) {
        let name = self.name("vtnet");
        let xml = fixture("qemu/network.xml")
            .replace("@NETNAME@", &name)
            .replace("@NETBRIDGE@", &self.name("vtnbr"))
            .replace(
                "@NETPREFIX@",
                &format!("192.168.{}", 200 + self.tag.parse::<u32>().unwrap() % 50),
            );
        let path = std::env::temp_dir().join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        virsh(&["net-define", path.to_str().unwrap()]);
        self.network = Some(name.clone());
        virsh(&["net-start", &name]);
    }

    /// Creates a paused domain with four NICs (and `disks`); returns its name and guest MACs.
    pub fn create_domain(&mut self, n: u8, disks: &str) -> (String, [String; 4]) {
        let name = format!("vifdt-{}-{n}", self.tag);
        let macs = [1, 2, 3, 4].map(|i| {
            format!(
                "52:54:00:{:02x}:{n:02x}:{i:02x}",
                self.tag.parse::<u32>().unwrap() % 256
            )
        });
        let mut xml = fixture("qemu/domain.xml")
            .replace("@NAME@", &name)
            .replace(
                "@UUID@",
                &format!(
                    "0000{n:04x}-0000-4000-8000-{:012}",
                    self.tag.parse::<u64>().unwrap()
                ),
            )
            .replace("@EMULATOR_TYPE@", emulator_type())
            .replace("@BRIDGE@", &self.name("vtbr"))
            .replace("@NETWORK@", &self.name("vtnet"))
            .replace("@ETH_TAP@", &format!("tapvt{}-{n}", self.tag))
            .replace("@DIRECT_DEV@", &self.name("vtlo"))
            .replace("@DISKS@", disks);
        for (i, m) in macs.iter().enumerate() {
            xml = xml.replace(&format!("@MAC{}@", i + 1), m);
        }
        let path = std::env::temp_dir().join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        virsh(&["create", path.to_str().unwrap(), "--paused"]);
        self.domains.push(name.clone());
        (name, macs)
    }
}

/// KVM when libvirt can use it here, else TCG.
pub fn emulator_type() -> &'static str {
    let kvm = Command::new("virsh")
        .args(["-c", URI, "domcapabilities", "--virttype", "kvm"])
        .output()
        .is_ok_and(|o| o.status.success());
    if kvm {
        "kvm"
    } else {
        "qemu"
    }
}
