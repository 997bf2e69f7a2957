//! The hypervisor side: Open vSwitch on the default socket (libvirt's
//! `<virtualport type='openvswitch'>` runs ovs-vsctl against it) with a userspace
//! (`netdev`) `br-int`, configured as an OVN chassis, and ovn-controller.

use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use super::{
    ip_quiet, quoted, reap_leftovers, run, run_within, tool, Daemon, TempDir, DEVICES_FILE,
    EVENT_TIMEOUT, VSWITCH_SCHEMA,
};
use crate::common::ip;
use crate::common::process::output_within;

/// The default Open vSwitch socket: the one libvirt and os-vif use.
pub const OVS_SOCK: &str = "/var/run/openvswitch/db.sock";
pub const OVS_RUN: &str = "/var/run/openvswitch";
pub const OVN_RUN: &str = "/var/run/ovn";
/// The integration bridge and the device the netdev datapath makes.
pub const DEVICES: [&str; 2] = ["br-int", "ovs-netdev"];
/// Held by the live [`OvnChassis`] of other processes (other test binaries, worktrees).
const HOST_LOCK: &str = "/run/lock/vifd-test-ovn-chassis.lock";

/// One OVN chassis: ovsdb-server on a fresh conf.db at [`OVS_SOCK`], ovs-vswitchd with
/// a userspace datapath, `br-int` (netdev), the OVN external_ids and ovn-controller.
///
/// The socket is global, so at most one exists at a time: [`new`](Self::new) blocks until
/// the previous one (in this process: a mutex; in others: a file lock) is dropped. Drop
/// stops the daemons and deletes the taps it plugged, `br-int` and `ovs-netdev`.
pub struct OvnChassis {
    name: String,
    controller: Option<Daemon>,
    vswitchd: Daemon,
    ovsdb: Daemon,
    taps: Vec<String>,
    dir: TempDir,
    _host: Flock<File>,
    _process: MutexGuard<'static, ()>,
}

impl OvnChassis {
    /// Chassis `name` (system-id and hostname) talking to the SB at `sb_remote`; returns
    /// once ovn-controller has registered the Chassis.
    pub fn new(name: &str, sb_remote: &str) -> Self {
        static ONE: Mutex<()> = Mutex::new(());
        let process = ONE.lock().unwrap_or_else(PoisonError::into_inner);
        std::fs::create_dir_all("/run/lock").expect("create /run/lock");
        let lock = File::create(HOST_LOCK).expect("create the chassis lock file");
        let host = Flock::lock(lock, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("lock {HOST_LOCK}: {e}"));
        // A killed earlier run's daemons: its ovsdb-server may still serve the socket.
        let leftovers = reap_leftovers();
        if Path::new(OVS_SOCK).exists() {
            assert!(
                leftovers > 0 || UnixStream::connect(OVS_SOCK).is_err(),
                "an Open vSwitch that is not this test's serves {OVS_SOCK}: stop it first"
            );
            // Stale (nothing answers) or a leftover's (killed above): a new server binds anew.
            let _ = std::fs::remove_file(OVS_SOCK);
        }
        for dev in DEVICES {
            ip_quiet(&["link", "del", dev]);
        }
        std::fs::create_dir_all(OVS_RUN).expect("create /var/run/openvswitch");
        std::fs::create_dir_all(OVN_RUN).expect("create /var/run/ovn");

        let dir = TempDir::new("ovn-chassis");
        let db = dir.file("conf.db");
        run("ovsdb-tool", &["create", &db, VSWITCH_SCHEMA]);
        let mut ovsdb = Daemon::spawn(
            "ovsdb-server",
            &[
                db,
                format!("--remote=punix:{OVS_SOCK}"),
                format!("--unixctl={}", dir.file("ovsdb.ctl")),
            ],
            &dir.path().join("ovsdb-server.log"),
        );
        ovsdb.wait_ovsdb_up();
        run("ovs-vsctl", &["--no-wait", "init"]);
        let vswitchd = Daemon::spawn(
            "ovs-vswitchd",
            &[
                format!("unix:{OVS_SOCK}"),
                format!("--unixctl={}", dir.file("vswitchd.ctl")),
            ],
            &dir.path().join("ovs-vswitchd.log"),
        );
        let mut chassis = OvnChassis {
            name: name.to_string(),
            controller: None,
            vswitchd,
            ovsdb,
            taps: vec![],
            dir,
            _host: host,
            _process: process,
        };
        // Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied the change:
        // the bridge exists in the datapath from then on.
        chassis.vsctl(&[
            "add-br",
            "br-int",
            "--",
            "set",
            "Bridge",
            "br-int",
            "datapath_type=netdev",
            "fail-mode=secure",
            "other-config:disable-in-band=true",
        ]);
        let ids = [
            ("system-id", name),
            ("hostname", name),
            ("ovn-remote", sb_remote),
            ("ovn-encap-type", "geneve"),
            ("ovn-encap-ip", "127.0.0.1"),
            ("ovn-bridge-datapath-type", "netdev"),
        ]
        .map(|(k, v)| format!("external_ids:{k}={}", quoted(v)));
        let mut args = vec!["set", "Open_vSwitch", "."];
        args.extend(ids.iter().map(String::as_str));
        chassis.vsctl(&args);
        chassis.start_controller();
        let sb = format!("--db={sb_remote}");
        let timeout = format!("--timeout={}", EVENT_TIMEOUT.as_secs());
        // ovn-sbctl names Chassis records by name: this waits for the row to exist.
        run_within(
            "ovn-sbctl",
            &[&sb, &timeout, "wait-until", "Chassis", name],
            EVENT_TIMEOUT + Duration::from_secs(15),
        );
        chassis
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the chassis's Open vSwitch database (the default socket).
    pub fn ovs_addr(&self) -> String {
        format!("unix:{OVS_SOCK}")
    }

    /// `ovs-vsctl --timeout=30 ARGS` on the default socket (waiting for ovs-vswitchd to
    /// apply the change); its stdout, or a panic with its stderr.
    pub fn vsctl(&self, args: &[&str]) -> String {
        vsctl(args)
    }

    /// Starts ovn-controller (a child; its log in the temp dir). Registration is awaited
    /// by [`new`](Self::new); after a restart, wait on the claim you expect.
    pub fn start_controller(&mut self) {
        assert!(self.controller.is_none(), "ovn-controller already runs");
        let controller = Daemon::spawn(
            "ovn-controller",
            &[
                format!("unix:{OVS_SOCK}"),
                // Not needed by a child; it names the temp dir for `reap_leftovers`.
                format!("--pidfile={}", self.dir.file("ovn-controller.pid")),
            ],
            &self.dir.path().join("ovn-controller.log"),
        );
        self.controller = Some(controller);
    }

    /// Stops ovn-controller (SIGTERM, as a service stop does: the Chassis row and its
    /// bindings stay in the SB) and reaps it.
    pub fn stop_controller(&mut self) {
        let mut controller = self.controller.take().expect("ovn-controller runs");
        controller.stop();
        // It removes its control socket on SIGTERM; not after SIGKILL.
        let _ = std::fs::remove_file(format!("{OVN_RUN}/ovn-controller.{}.ctl", controller.pid()));
    }

    /// ovn-controller's log so far.
    pub fn controller_log(&self) -> String {
        self.controller
            .as_ref()
            .map(Daemon::log)
            .unwrap_or_else(|| {
                std::fs::read_to_string(self.dir.path().join("ovn-controller.log"))
                    .unwrap_or_default()
            })
    }

    /// The VIF of Neutron port `port` as os-vif plugs it for Nova >= 24: tap
    /// `tap<first 11 of port>` (created, up) added to br-int with Interface external_ids
    /// iface-id, attached-mac, vm-uuid and iface-status=active. Returns the tap's name.
    pub fn plug_tap(&mut self, port: &str, mac: &str, vm_uuid: &str) -> String {
        let tap = format!("tap{}", &port[..11.min(port.len())]);
        // Recorded first, so that a killed test's tap is found by `reap_leftovers`.
        let mut devices = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(DEVICES_FILE))
            .expect("open the devices file");
        writeln!(devices, "{tap}").expect("record the tap");
        ip(&["tuntap", "add", "dev", &tap, "mode", "tap"]);
        self.taps.push(tap.clone());
        ip(&["link", "set", &tap, "up"]);
        let ids = [
            ("iface-id", port),
            ("iface-status", "active"),
            ("attached-mac", mac),
            ("vm-uuid", vm_uuid),
        ]
        .map(|(k, v)| format!("external_ids:{k}={}", quoted(v)));
        let mut args = vec!["--", "--may-exist", "add-port", "br-int", &tap];
        args.extend(["--", "set", "Interface", &tap]);
        args.extend(ids.iter().map(String::as_str));
        self.vsctl(&args);
        tap
    }

    /// Removes `tap` from br-int and deletes it.
    pub fn unplug(&mut self, tap: &str) {
        self.vsctl(&["--if-exists", "del-port", "br-int", tap]);
        ip(&["link", "del", tap]);
        self.taps.retain(|t| t != tap);
    }

    /// `external_ids:KEY` of Interface `iface`, if set.
    pub fn iface_external_id(&self, iface: &str, key: &str) -> Option<String> {
        let column = format!("external_ids:{key}");
        let out = self.vsctl(&["--if-exists", "get", "Interface", iface, &column]);
        let value = out.trim();
        (!value.is_empty()).then(|| serde_json::from_str(value).unwrap_or(value.to_string()))
    }

    /// Waits until ovn-controller marks Interface `iface` `ovn-installed="true"` (its flows
    /// are in br-int).
    pub fn wait_installed(&self, iface: &str) {
        self.wait_iface(
            iface,
            "external_ids:ovn-installed=\"true\"",
            "ovn-installed",
        );
    }

    /// Waits until Interface `iface` is no longer `ovn-installed` (the controller released
    /// it; `ovn-installed-ts` stays).
    pub fn wait_not_installed(&self, iface: &str) {
        // `KEY!=V` is false when KEY is absent; the set comparison `KEY{!=}V` is true then.
        self.wait_iface(
            iface,
            "external_ids:ovn-installed{!=}\"true\"",
            "not ovn-installed",
        );
    }

    /// `ovs-vsctl wait-until Interface IFACE CONDITION`; panics naming `what` after
    /// [`EVENT_TIMEOUT`].
    fn wait_iface(&self, iface: &str, condition: &str, what: &str) {
        let timeout = format!("--timeout={}", EVENT_TIMEOUT.as_secs());
        let out = output_within(
            Command::new(tool("ovs-vsctl")).args([
                timeout.as_str(),
                "wait-until",
                "Interface",
                iface,
                condition,
            ]),
            EVENT_TIMEOUT + Duration::from_secs(15),
            "ovs-vsctl wait-until",
        );
        assert!(
            out.status.success(),
            "Interface {iface} {what}: not within {EVENT_TIMEOUT:?}: {}\novn-controller log:\n{}",
            self.vsctl(&["list", "Interface", iface]),
            self.controller_log()
        );
    }
}

impl Drop for OvnChassis {
    fn drop(&mut self) {
        if self.controller.is_some() {
            self.stop_controller();
        }
        for tap in &self.taps {
            ip_quiet(&["link", "del", tap]);
        }
        self.vswitchd.stop();
        self.ovsdb.stop();
        for dev in DEVICES {
            ip_quiet(&["link", "del", dev]);
        }
        // Left behind only by a daemon that had to be SIGKILLed.
        for file in ["db.sock", "br-int.mgmt", "br-int.snoop"] {
            let _ = std::fs::remove_file(Path::new(OVS_RUN).join(file));
        }
    }
}

/// [`OvnChassis::vsctl`], for a thread of its own (the chassis stays on the test's).
pub fn vsctl(args: &[&str]) -> String {
    let mut all = vec!["--timeout=30"];
    all.extend_from_slice(args);
    run_within("ovs-vsctl", &all, Duration::from_secs(60))
}
