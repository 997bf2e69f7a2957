//! A whole OVN chassis on this machine, started and torn down by tests: the central side
//! ([`OvnCentral`]: NB and SB ovsdb-servers and ovn-northd, or NB + northd against a
//! clustered SB, [`SbCluster`]) and the hypervisor side ([`OvnChassis`]: Open vSwitch on
//! the default socket with a userspace `br-int`, and ovn-controller).
//!
//! Every daemon is a child process (never `--detach`) whose console log goes to a file in
//! a temp dir of its own; dropping a value stops its daemons (SIGTERM, then SIGKILL),
//! reaps them and removes what they left behind. Nothing is synchronised by sleeping: a
//! daemon is up when it logs so (or its socket answers), and state changes are awaited
//! with `ovn-sbctl`/`ovs-vsctl wait-until`, `ovsdb-client wait` or `ovsdb-client monitor`,
//! each under a generous timeout that fails the test naming what did not happen.
//!
//! A test calls [`available`] first: a missing program or schema (or not being root)
//! fails it under `CI=true` and otherwise skips it with a message on stderr.
//!
//! ```text
//! if !ovn::available() { return; }
//! let central = OvnCentral::new();                        // or ::with_sb(&cluster.remotes())
//! let mut chassis = OvnChassis::new("hv-a", &central.sb_addr());
//! central.add_network(NET, "private");
//! central.add_port(NET, PORT, MAC, "10.0.0.5/24", VM, Some("hv-a"));
//! let tap = chassis.plug_tap(PORT, MAC, VM);              // "tap" + PORT[..11]
//! central.wait_bound(PORT, "hv-a");
//! chassis.wait_installed(&tap);
//! // vifd reads Open vSwitch at chassis.ovs_addr() (the default socket) and the SB at
//! // central.sb_addr(); the faults: set_requested_chassis, bind_elsewhere,
//! // stop_controller, add_localport, set_device_id, a tap with no port.
//! ```
#![allow(dead_code)]

pub mod central;
pub mod chassis;
pub mod cluster;
pub mod guests;

// Re-exports for the test binaries that use the bed (unused in the others).
#[allow(unused_imports)]
pub use {
    central::OvnCentral,
    chassis::OvnChassis,
    cluster::SbCluster,
    guests::{Guests, QemuGuest},
};

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::process::{output_within, Reaped};

pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// How long a wait for an OVN/OVS event may take before the test fails. Events come
/// within a second or two here; the margin is for a loaded CI machine.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

const PROGRAMS: [(&str, &str); 10] = [
    ("ovsdb-server", "openvswitch-common"),
    ("ovsdb-tool", "openvswitch-common"),
    ("ovsdb-client", "openvswitch-common"),
    ("ovs-appctl", "openvswitch-common"),
    ("ovs-vsctl", "openvswitch-switch"),
    ("ovs-vswitchd", "openvswitch-switch"),
    ("ovn-northd", "ovn-central"),
    ("ovn-nbctl", "ovn-common"),
    ("ovn-sbctl", "ovn-common"),
    ("ovn-controller", "ovn-host"),
];

/// A stable UUID for a label (Neutron networks, ports and VMs are UUIDs).
pub fn id(label: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, label.as_bytes()).to_string()
}

/// True when this machine can run the bed (root, every program, every schema). Otherwise
/// fails the test under `CI=true`, or says what is missing on stderr and returns false.
pub fn available() -> bool {
    let mut missing = vec![];
    let uid = Command::new("id").arg("-u").output();
    if !uid.is_ok_and(|o| o.stdout.trim_ascii() == b"0") {
        missing.push("root (tap devices, /var/run/openvswitch)".to_string());
    }
    for (program, package) in PROGRAMS {
        if find_tool(program).is_none() {
            missing.push(format!("{program} (package {package})"));
        }
    }
    for schema in [NB_SCHEMA, SB_SCHEMA, VSWITCH_SCHEMA] {
        if !Path::new(schema).is_file() {
            missing.push(schema.to_string());
        }
    }
    prerequisite(&missing.join(", "), missing.is_empty())
}

/// True when `ok`; otherwise fails under `CI=true`, or prints `skipped: WHAT` and returns
/// false (a skip is never silent).
pub fn prerequisite(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "missing: {what} (required under CI=true; `make deps` / `make services`)"
        );
        eprintln!("skipped: missing {what}");
    }
    ok
}

/// An Open vSwitch / OVN program (sbin directories are not always in PATH).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

pub(crate) fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| panic!("{name} not found: install ovn-central ovn-host"))
}

/// Runs `program ARGS` (at most `limit`) and returns its stdout; panics with its stderr
/// when it fails.
pub(crate) fn run_within(program: &str, args: &[&str], limit: Duration) -> String {
    let out = output_within(
        Command::new(tool(program)).args(args),
        limit,
        &format!("{program} {}", args.join(" ")),
    );
    assert!(
        out.status.success(),
        "{program} {} ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`run_within`] for commands that do not wait on anything (one minute).
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    run_within(program, args, Duration::from_secs(60))
}

/// `ip ARGS`, ignoring failure (for clean-up).
pub(crate) fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip").args(args).output();
}

/// A string as an OVSDB atom on a ctl command line (a JSON string): values with `:`,
/// `/`, `=` or spaces need the quotes.
pub fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A fresh directory under the temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("vifdt-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a test dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `DIR/name` as a string (temp paths are UTF-8).
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8 path").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The file in a temp dir that lists, one a line, the host devices its owner created.
pub const DEVICES_FILE: &str = "devices";

/// Kills the daemons a killed test process left behind (SIGKILLed by a timeout, say: no
/// Drop ran), deletes the devices listed in their temp dirs and removes the dirs. They are recognised by an argument inside a
/// `vifdt-ovn-TAG-PID-N` dir whose PID no longer runs; returns how many were killed.
pub fn reap_leftovers() -> usize {
    let prefix = std::env::temp_dir().join("vifdt-ovn-");
    let prefix = prefix.to_str().expect("UTF-8 temp dir").to_string();
    let owner = |arg: &str| -> Option<(u32, String)> {
        let at = arg.find(&prefix)?;
        let rest = &arg[at + prefix.len()..];
        let dir = arg[at..at + prefix.len() + rest.find('/').unwrap_or(rest.len())].to_string();
        let pid = rest.split('-').nth(1)?.parse().ok()?;
        Some((pid, dir))
    };
    let mut killed = 0;
    let mut dirs = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args = String::from_utf8_lossy(&cmdline).into_owned();
        let Some((test_pid, dir)) = args.split('\0').find_map(owner) else {
            continue;
        };
        if test_pid != std::process::id() && !Path::new(&format!("/proc/{test_pid}")).exists() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            dirs.insert(dir);
            killed += 1;
        }
    }
    for dir in dirs {
        // The devices it made (OvnChassis::plug_tap records them).
        let devices = std::fs::read_to_string(Path::new(&dir).join(DEVICES_FILE));
        for dev in devices.iter().flat_map(|d| d.lines()) {
            ip_quiet(&["link", "del", dev]);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    killed
}

/// One OVS/OVN daemon as a child process. Its stderr (the console log, at info level) goes
/// line by line to a log file and to a channel that [`wait_line`](Self::wait_line) reads.
pub struct Daemon {
    name: String,
    log: PathBuf,
    proc: Reaped,
    lines: Receiver<String>,
    bind_failed: Arc<AtomicBool>,
}

impl Daemon {
    /// Starts `program ARGS -vconsole:info`, logging to `log` (appended).
    pub fn spawn(program: &str, args: &[String], log: &Path) -> Self {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open a daemon log");
        let mut child = Command::new(tool(program))
            .args(args)
            .arg("-vconsole:info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let bind_failed = Arc::new(AtomicBool::new(false));
        let flag = bind_failed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(file, "{line}");
                if line.contains("Address already in use") {
                    flag.store(true, Ordering::SeqCst);
                }
                let _ = tx.send(line);
            }
        });
        Daemon {
            name: program.to_string(),
            log: log.to_path_buf(),
            proc: Reaped::new(child),
            lines,
            bind_failed,
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Blocks until the daemon logs a line for which `wanted` holds; panics naming `what`
    /// (with the log) when it exits first or after `limit`.
    pub fn wait_line(&mut self, what: &str, limit: Duration, wanted: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: {what}: not within {limit:?}; log:\n{}",
                        self.name,
                        self.log()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.proc.wait(Duration::from_secs(10));
                    panic!(
                        "{}: exited ({status:?}) before {what}; log:\n{}",
                        self.name,
                        self.log()
                    )
                }
            }
        }
    }

    /// Waits for an ovsdb-server's version line, which it logs once its remotes are bound
    /// and listening (ovsdb/ovsdb-server.c: reconfigure_remotes, then the version); raft
    /// listens later, see [`bind_failed`](Self::bind_failed).
    pub fn wait_ovsdb_up(&mut self) {
        self.wait_line("start-up", EVENT_TIMEOUT, |l| {
            l.contains("ovsdb-server (Open vSwitch)")
        });
    }

    /// Whether the daemon has logged "Address already in use" (a remote or raft port).
    pub fn bind_failed(&self) -> bool {
        self.bind_failed.load(Ordering::SeqCst)
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.proc.status().is_some()
    }

    /// SIGTERM (the daemon removes its sockets and pidfile), then SIGKILL after 15 s;
    /// returns once it is reaped.
    pub fn stop(&mut self) {
        self.proc.signal(Signal::SIGTERM);
        if self.proc.wait(Duration::from_secs(15)).is_none() {
            self.proc.kill();
        }
    }

    /// SIGKILL (a crash: sockets and pidfiles stay), reaped.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
