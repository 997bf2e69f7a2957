//! The central side: NB and SB ovsdb-servers and ovn-northd, and the NB/SB records that
//! Neutron's OVN driver writes (networks, ports, the metadata localport), plus the
//! `ovn-sbctl` oracle and event waits the tests check against.

use std::cell::Cell;
use std::process::Command;
use std::time::Duration;

use super::{quoted, run, run_within, tool, Daemon, TempDir, EVENT_TIMEOUT, NB_SCHEMA, SB_SCHEMA};
use crate::common::process::output_within;

/// NB (and unless [`with_sb`](Self::with_sb), SB) `ovsdb-server`s with sockets in a temp
/// dir, and `ovn-northd` between them; all stopped on drop.
pub struct OvnCentral {
    // Fields drop in this order: northd first, the temp dir last.
    northd: Daemon,
    nb: Daemon,
    sb: Option<Daemon>,
    sb_addr: String,
    other_chassis: Cell<u8>,
    dir: TempDir,
}

/// The NB Logical_Switch Neutron names after network `net`.
pub fn switch_name(net: &str) -> String {
    format!("neutron-{net}")
}

/// `external_ids:"KEY"=VALUE` for a ctl `set` command.
fn external_id(key: &str, value: &str) -> String {
    format!("external_ids:{}={}", quoted(key), quoted(value))
}

/// Starts a standalone `ovsdb-server` on a fresh database `NAME.db` of `schema`, listening
/// on `DIR/NAME.sock`.
fn standalone(dir: &TempDir, name: &str, schema: &str) -> Daemon {
    let db = dir.file(&format!("{name}.db"));
    run("ovsdb-tool", &["create", &db, schema]);
    let mut server = Daemon::spawn(
        "ovsdb-server",
        &[
            db,
            format!("--remote=punix:{}", dir.file(&format!("{name}.sock"))),
            format!("--unixctl={}", dir.file(&format!("{name}.ctl"))),
        ],
        &dir.path().join(format!("{name}.log")),
    );
    server.wait_ovsdb_up();
    server
}

impl OvnCentral {
    /// Standalone NB and SB databases and ovn-northd.
    pub fn new() -> Self {
        let dir = TempDir::new("ovn-central");
        let sb = standalone(&dir, "sb", SB_SCHEMA);
        let sb_addr = format!("unix:{}", dir.file("sb.sock"));
        Self::start(dir, Some(sb), sb_addr)
    }

    /// A standalone NB and ovn-northd writing to the SB at `sb_remotes` (e.g. an
    /// [`SbCluster`](super::SbCluster)'s `remotes()`).
    pub fn with_sb(sb_remotes: &str) -> Self {
        Self::start(TempDir::new("ovn-central"), None, sb_remotes.to_string())
    }

    fn start(dir: TempDir, sb: Option<Daemon>, sb_addr: String) -> Self {
        let nb = standalone(&dir, "nb", NB_SCHEMA);
        let mut northd = Daemon::spawn(
            "ovn-northd",
            &[
                format!("--ovnnb-db=unix:{}", dir.file("nb.sock")),
                format!("--ovnsb-db={sb_addr}"),
                format!("--unixctl={}", dir.file("northd.ctl")),
            ],
            &dir.path().join("northd.log"),
        );
        // northd/ovn-northd.c logs this once it holds the SB lock, i.e. is connected to both
        // databases and will translate NB changes.
        northd.wait_line("taking the SB lock", EVENT_TIMEOUT, |l| {
            l.contains("This ovn-northd instance is now active")
        });
        OvnCentral {
            northd,
            nb,
            sb,
            sb_addr,
            other_chassis: Cell::new(0),
            dir,
        }
    }

    pub fn nb_addr(&self) -> String {
        format!("unix:{}", self.dir.file("nb.sock"))
    }

    /// The SB address clients and ovn-controller use (`unix:PATH`, or the cluster's list).
    /// The standalone Southbound's ovsdb-server (not there with [`with_sb`](Self::with_sb)).
    pub fn sb_pid(&self) -> u32 {
        self.sb.as_ref().expect("a standalone Southbound").pid()
    }

    pub fn sb_addr(&self) -> String {
        self.sb_addr.clone()
    }

    /// `ovn-nbctl --db=NB ARGS`; its stdout, or a panic with its stderr.
    pub fn nbctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.nb_addr());
        let mut all = vec![db.as_str(), "--timeout=30"];
        all.extend_from_slice(args);
        run_within("ovn-nbctl", &all, Duration::from_secs(60))
    }

    /// `ovn-sbctl --db=SB ARGS`; its stdout, or a panic with its stderr.
    pub fn sbctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.sb_addr);
        let mut all = vec![db.as_str(), "--timeout=30"];
        all.extend_from_slice(args);
        run_within("ovn-sbctl", &all, Duration::from_secs(60))
    }

    /// The logs of northd and the databases, for failure messages.
    pub fn northd_log(&self) -> String {
        self.northd.log()
    }

    // --- Neutron's side ----------------------------------------------------------------

    /// Network `net` (a Neutron network UUID) named `name`: Logical_Switch `neutron-NET`
    /// with `external_ids:neutron:network_name`.
    pub fn add_network(&self, net: &str, name: &str) {
        let ls = switch_name(net);
        let name_id = external_id("neutron:network_name", name);
        self.nbctl(&["ls-add", &ls, "--", "set", "Logical_Switch", &ls, &name_id]);
    }

    /// Port `port` (a Neutron port UUID) of VM `device_id` on network `net`, as Neutron's
    /// OVN driver writes it: addresses and port security `MAC IP`, external_ids
    /// neutron:device_id, neutron:device_owner=compute:nova, neutron:network_name=
    /// neutron-NET, neutron:cidrs, and `options:requested-chassis` when given. `ip` is in
    /// Neutron's cidrs form, `10.0.0.5/24`.
    pub fn add_port(
        &self,
        net: &str,
        port: &str,
        mac: &str,
        ip: &str,
        device_id: &str,
        requested_chassis: Option<&str>,
    ) {
        let address = ip.split('/').next().unwrap_or(ip);
        self.add_lsp(
            net,
            port,
            &format!("{mac} {address}"),
            &[
                ("neutron:device_id", device_id),
                ("neutron:device_owner", "compute:nova"),
                ("neutron:cidrs", ip),
            ],
            requested_chassis,
            "",
        );
    }

    /// Neutron's metadata port of network `net`: a `localport` with device_id
    /// `ovnmeta-NET` and owner `network:distributed`, on every chassis and bound to none.
    /// Returns its name (a UUID derived from `net`).
    pub fn add_localport(&self, net: &str) -> String {
        let device_id = format!("ovnmeta-{net}");
        let port = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, device_id.as_bytes());
        let b = port.as_bytes();
        let mac = format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2]);
        let port = port.to_string();
        self.add_lsp(
            net,
            &port,
            &mac,
            &[
                ("neutron:device_id", &device_id),
                ("neutron:device_owner", "network:distributed"),
            ],
            None,
            "localport",
        );
        port
    }

    fn add_lsp(
        &self,
        net: &str,
        port: &str,
        addresses: &str,
        ids: &[(&str, &str)],
        requested_chassis: Option<&str>,
        kind: &str,
    ) {
        let ls = switch_name(net);
        let mut set: Vec<String> = ids.iter().map(|(k, v)| external_id(k, v)).collect();
        set.push(external_id("neutron:network_name", &ls));
        if let Some(chassis) = requested_chassis {
            set.push(format!("options:requested-chassis={}", quoted(chassis)));
        }
        let mut args = vec![
            "lsp-add",
            &ls,
            port,
            "--",
            "lsp-set-addresses",
            port,
            addresses,
        ];
        if kind.is_empty() {
            args.extend(["--", "lsp-set-port-security", port, addresses]);
        } else {
            args.extend(["--", "lsp-set-type", port, kind]);
        }
        args.extend(["--", "set", "Logical_Switch_Port", port]);
        args.extend(set.iter().map(String::as_str));
        self.nbctl(&args);
    }

    /// `options:requested-chassis` of `port` (Nova moved the VM to `chassis`).
    pub fn set_requested_chassis(&self, port: &str, chassis: &str) {
        let option = format!("options:requested-chassis={}", quoted(chassis));
        self.nbctl(&["set", "Logical_Switch_Port", port, &option]);
    }

    /// `external_ids:neutron:device_id` of `port`.
    pub fn set_device_id(&self, port: &str, device_id: &str) {
        let id = external_id("neutron:device_id", device_id);
        self.nbctl(&["set", "Logical_Switch_Port", port, &id]);
    }

    /// Binds `port` to `chassis` in the SB by hand (`ovn-sbctl lsp-bind`), as that
    /// chassis's ovn-controller would.
    pub fn bind_elsewhere(&self, port: &str, chassis: &str) {
        self.sbctl(&["lsp-bind", port, chassis]);
    }

    /// A Chassis row with no ovn-controller behind it (a geneve encap on 127.0.0.N, N > 1:
    /// Encap rows are unique per type and IP).
    pub fn add_other_chassis(&self, name: &str) {
        let n = self.other_chassis.get() + 1;
        self.other_chassis.set(n);
        self.sbctl(&["chassis-add", name, "geneve", &format!("127.0.0.{}", n + 1)]);
    }

    // --- the oracle --------------------------------------------------------------------

    /// The `_uuid` of Chassis `name`; panics when there is none.
    pub fn chassis_uuid(&self, name: &str) -> String {
        let uuid = self.sbctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Chassis",
            &format!("name={}", quoted(name)),
        ]);
        let uuid = uuid.trim();
        assert!(
            !uuid.is_empty(),
            "no Chassis {name}: {}",
            self.sbctl(&["show"])
        );
        uuid.to_string()
    }

    /// Column `column` of Port_Binding `port` as `ovn-sbctl --bare` prints it.
    pub fn port_binding(&self, port: &str, column: &str) -> String {
        let columns = format!("--columns={column}");
        self.sbctl(&["--bare", &columns, "list", "Port_Binding", port])
            .trim()
            .to_string()
    }

    /// The name of the chassis `port` is bound to, if any.
    pub fn bound_chassis(&self, port: &str) -> Option<String> {
        let uuid = self.port_binding(port, "chassis");
        (!uuid.is_empty()).then(|| {
            self.sbctl(&["--bare", "--columns=name", "list", "Chassis", &uuid])
                .trim()
                .to_string()
        })
    }

    /// Port_Binding `up` of `port` (false when unset).
    pub fn port_up(&self, port: &str) -> bool {
        self.port_binding(port, "up") == "true"
    }

    /// `external_ids:KEY` of the Datapath_Binding of `port` (northd writes `name` =
    /// neutron-NET, `name2` = the network's name, `logical-switch` = the NB UUID).
    pub fn datapath_external_id(&self, port: &str, key: &str) -> Option<String> {
        let datapath = self.port_binding(port, "datapath");
        let out = Command::new(tool("ovn-sbctl"))
            .args([&format!("--db={}", self.sb_addr), "--timeout=30", "get"])
            .args([
                "Datapath_Binding",
                &datapath,
                &format!("external_ids:{key}"),
            ])
            .output()
            .expect("run ovn-sbctl");
        out.status.success().then(|| {
            let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
            serde_json::from_str(&value).unwrap_or(value)
        })
    }

    /// Runs `ovn-sbctl --timeout=N wait-until ARGS`; panics naming `what` with `dump` (a
    /// `list` of the table) when it does not hold within [`EVENT_TIMEOUT`].
    fn wait_until(&self, what: &str, args: &[&str], dump: &[&str]) {
        let timeout = format!("--timeout={}", EVENT_TIMEOUT.as_secs());
        let db = format!("--db={}", self.sb_addr);
        let out = output_within(
            Command::new(tool("ovn-sbctl"))
                .args([db.as_str(), timeout.as_str(), "wait-until"])
                .args(args),
            EVENT_TIMEOUT + Duration::from_secs(15),
            what,
        );
        if !out.status.success() {
            panic!(
                "{what}: not within {EVENT_TIMEOUT:?} ({}; {})\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                self.sbctl(dump)
            );
        }
    }

    /// Waits until northd has made Port_Binding `port`.
    pub fn wait_port_binding(&self, port: &str) {
        let what = format!("Port_Binding {port} exists");
        self.wait_until(&what, &["Port_Binding", port], &["show"]);
    }

    /// Waits until `port` is bound to `chassis` and up (its ovn-controller claimed it and
    /// installed its flows).
    pub fn wait_bound(&self, port: &str, chassis: &str) {
        let uuid = format!("chassis={}", self.chassis_uuid(chassis));
        let what = format!("Port_Binding {port} bound to {chassis} and up");
        self.wait_until(
            &what,
            &["Port_Binding", port, &uuid, "up=true"],
            &["list", "Port_Binding", port],
        );
    }

    /// Waits until `port` is bound to no chassis.
    pub fn wait_released(&self, port: &str) {
        let what = format!("Port_Binding {port} released");
        self.wait_until(
            &what,
            &["Port_Binding", port, "chassis=[]"],
            &["list", "Port_Binding", port],
        );
    }

    /// `ovn-nbctl --wait=sb sync`: returns once northd has put every NB change so far into
    /// the SB.
    pub fn sync_sb(&self) {
        self.nbctl(&["--wait=sb", "sync"]);
    }

    /// `ovn-nbctl --wait=hv sync`: returns once every chassis with a running controller
    /// has caught up with the NB (a chassis whose controller is stopped blocks it).
    pub fn sync_hv(&self) {
        self.nbctl(&["--wait=hv", "sync"]);
    }

    /// Whether the SB ovsdb-server this value started is still running.
    pub fn sb_running(&mut self) -> bool {
        self.sb.as_mut().is_some_and(|d| !d.exited())
    }
}

impl Default for OvnCentral {
    fn default() -> Self {
        Self::new()
    }
}
