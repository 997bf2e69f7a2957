//! A private ovsdb-server holding an empty Open_vSwitch database, for OVSDB client tests.
//!
//! The server runs as a child process (never `--detach`) with its socket, control socket,
//! pidfile and log inside a temp dir of its own, so parallel tests never share state and a
//! dropped server leaves nothing behind. ovs-vsctl works against it with `--no-wait`, since
//! no ovs-vswitchd runs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

pub struct OvsdbServer {
    dir: PathBuf,
    child: Option<Child>,
}

impl OvsdbServer {
    /// Creates the database, starts the server and runs `ovs-vsctl init`.
    pub fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("vifdt-ovsdb-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the ovsdb test dir");
        assert!(
            Path::new(SCHEMA).exists(),
            "{SCHEMA} is missing: install openvswitch-switch"
        );
        let mut server = OvsdbServer { dir, child: None };
        let db = server.db_path();
        run(&tool("ovsdb-tool"), &["create", path_str(&db), SCHEMA]);
        server.start();
        server.vsctl(&["init"]);
        server
    }

    pub fn sock_path(&self) -> PathBuf {
        self.dir.join("db.sock")
    }

    /// The address as `ovs-vsctl --db` and `OvsdbAddr` take it.
    pub fn addr(&self) -> String {
        format!("unix:{}", self.sock_path().display())
    }

    fn db_path(&self) -> PathBuf {
        self.dir.join("conf.db")
    }

    /// Starts ovsdb-server on the database and waits until its socket accepts.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "ovsdb-server is already running");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("ovsdb-server.log"))
            .expect("open the ovsdb-server log");
        let mut child = Command::new(tool("ovsdb-server"))
            .arg(self.db_path())
            .arg(format!("--remote=punix:{}", self.sock_path().display()))
            .arg(format!("--unixctl={}", self.dir.join("ctl").display()))
            .arg(format!("--pidfile={}", self.dir.join("pid").display()))
            // The line that says it is up (below) is logged at info.
            .arg("-vovsdb_server:console:info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ovsdb-server");
        // Its log, line by line, to the file and to `started` until the version line.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, started) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if line.contains("(Open vSwitch)") {
                    let _ = tx.send(());
                }
            }
        });
        self.child = Some(child);
        // ovsdb-server logs its version once initialised, right after it has bound and
        // listened on its remotes (ovsdb/ovsdb-server.c: reconfigure_remotes, then
        // daemonize_complete, then the version): from then on the socket accepts. The
        // log closing first (`Disconnected`) means it exited.
        match started.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("ovsdb-server not up in 10 s: {}", self.log())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.as_mut().map(|c| c.wait());
                panic!("ovsdb-server exited ({status:?}): {}", self.log())
            }
        }
    }

    /// Kills the server (SIGKILL) and reaps it; the database file stays for [`start`](Self::start).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The running server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("ovsdb-server runs").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ovsdb-server.log")).unwrap_or_default()
    }

    /// Adds bridge `name` with this `datapath_type` (`netdev`: userspace, as on a host
    /// without the kernel module, where taps rightly have no kernel master).
    pub fn add_bridge(&self, name: &str, datapath: &str) {
        let dp = format!("datapath_type={datapath}");
        self.vsctl(&["add-br", name, "--", "set", "Bridge", name, &dp]);
    }

    /// Runs `ovs-vsctl --db=unix:SOCK --no-wait ARGS`; panics with its stderr on failure.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.addr());
        let mut all = vec![db.as_str(), "--no-wait", "--timeout=30"];
        all.extend_from_slice(args);
        run(&tool("ovs-vsctl"), &all)
    }

    /// Runs one `transact` of these operations on Open_vSwitch over the socket, for changes
    /// too big for ovs-vsctl's command line; panics if any operation fails.
    pub fn transact(&self, ops: Vec<Value>) -> Value {
        let mut params = vec![json!("Open_vSwitch")];
        params.extend(ops);
        let request = json!({"method": "transact", "params": params, "id": 1});
        let mut sock = UnixStream::connect(self.sock_path()).expect("connect to ovsdb-server");
        sock.write_all(request.to_string().as_bytes()).unwrap();
        let reply: Value = serde_json::Deserializer::from_reader(&sock)
            .into_iter()
            .next()
            .expect("a transact reply")
            .expect("transact reply is JSON");
        let failed = reply["result"]
            .as_array()
            .is_none_or(|results| results.iter().any(|r| r.get("error").is_some()));
        assert!(!failed, "transact failed: {reply}");
        reply
    }

    /// Adds ports `tap{first}`…`tap{first+count-1}` to `bridge` in one transaction. Port `i`
    /// gets iface-id `iface-{i}`, attached-mac `fa:16:3e:00:HH:LL`, vm-uuid `vm-{i}`,
    /// other_config:net_uuid `net-{i % 10}` and tag `i % 4095`.
    pub fn add_ports(&self, bridge: &str, first: usize, count: usize) {
        let mut ops = Vec::with_capacity(2 * count + 1);
        let mut port_refs = Vec::with_capacity(count);
        for i in first..first + count {
            let mac = format!("fa:16:3e:00:{:02x}:{:02x}", (i >> 8) & 0xff, i & 0xff);
            let (iface_id, vm) = (format!("iface-{i}"), format!("vm-{i}"));
            let ids = json!([
                "map",
                [
                    ["iface-id", iface_id],
                    ["attached-mac", mac],
                    ["vm-uuid", vm]
                ]
            ]);
            ops.push(
                json!({"op": "insert", "table": "Interface", "uuid-name": format!("i{i}"),
                "row": {"name": format!("tap{i}"), "external_ids": ids}}),
            );
            ops.push(
                json!({"op": "insert", "table": "Port", "uuid-name": format!("p{i}"),
                "row": {"name": format!("tap{i}"), "interfaces": ["named-uuid", format!("i{i}")],
                        "tag": i % 4095,
                        "other_config": ["map", [["net_uuid", format!("net-{}", i % 10)]]]}}),
            );
            port_refs.push(json!(["named-uuid", format!("p{i}")]));
        }
        ops.push(
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
            "mutations": [["ports", "insert", ["set", port_refs]]]}),
        );
        self.transact(ops);
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Finds an Open vSwitch program (sbin directories are not always in PATH); a missing one
/// fails the test with what to install, never skips it.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} not found in PATH or /usr/sbin: install openvswitch-switch");
}

fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {}: {}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}
