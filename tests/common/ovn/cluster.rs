//! A 3-member clustered OVN Southbound database on loopback TCP, each member an
//! `ovsdb-server` child whose members can be killed and restarted.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::{run, run_within, tool, Daemon, TempDir, EVENT_TIMEOUT, SB_SCHEMA};
use crate::common::process::{output_within, Reaped};

const SIZE: usize = 3;
/// Whole-cluster attempts when a probed port was taken before its member bound it.
const ATTEMPTS: usize = 5;
/// An election takes a second or two here (election timer 1 s plus jitter).
const LEADER_TIMEOUT: Duration = Duration::from_secs(60);

struct Member {
    raft_port: u16,
    client_port: u16,
    server: Option<Daemon>,
}

/// The cluster: member `i` speaks raft on `tcp:127.0.0.1:RAFT_i` and serves clients on
/// `tcp:127.0.0.1:CLIENT_i` and on a unix socket in the temp dir. Stopped on drop.
pub struct SbCluster {
    members: Vec<Member>,
    dir: TempDir,
}

/// `n` distinct free loopback ports. Raft addresses cannot use port 0 (they are written
/// into the database by `ovsdb-tool create-cluster`/`join-cluster` before any server
/// runs), so each port is found by binding 127.0.0.1:0; all `n` listeners are held at
/// once (so the ports differ) and closed just before the members start. Another process
/// can take one in between: the members' logs are watched for "Address already in use"
/// and [`SbCluster::new`] then builds the cluster again on new ports.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

impl SbCluster {
    /// Creates the cluster (member 0 creates it, 1 and 2 join it), starts every member and
    /// returns once all three are connected to the cluster.
    pub fn new() -> Self {
        for attempt in 1..=ATTEMPTS {
            if let Some(cluster) = Self::try_new() {
                return cluster;
            }
            eprintln!("SbCluster: a probed port was taken (attempt {attempt}), again");
        }
        panic!("SbCluster: ports taken {ATTEMPTS} times in a row");
    }

    fn try_new() -> Option<Self> {
        let dir = TempDir::new("ovn-sbcluster");
        let ports = free_ports(2 * SIZE);
        let members = (0..SIZE)
            .map(|i| Member {
                raft_port: ports[2 * i],
                client_port: ports[2 * i + 1],
                server: None,
            })
            .collect();
        let mut cluster = SbCluster { members, dir };
        let first = cluster.raft_addr(0);
        run(
            "ovsdb-tool",
            &["create-cluster", &cluster.db(0), SB_SCHEMA, &first],
        );
        for i in 1..SIZE {
            let (db, raft) = (cluster.db(i), cluster.raft_addr(i));
            run(
                "ovsdb-tool",
                &["join-cluster", &db, "OVN_Southbound", &raft, &first],
            );
        }
        for i in 0..SIZE {
            cluster.spawn(i);
        }
        let connected = (0..SIZE).all(|i| cluster.wait_connected(i));
        if cluster.any_bind_failed() {
            return None;
        }
        assert!(
            connected,
            "SbCluster: a member never connected: {}",
            cluster.logs()
        );
        Some(cluster)
    }

    fn db(&self, i: usize) -> String {
        self.dir.file(&format!("sb{i}.db"))
    }

    fn ctl(&self, i: usize) -> String {
        self.dir.file(&format!("sb{i}.ctl"))
    }

    fn raft_addr(&self, i: usize) -> String {
        format!("tcp:127.0.0.1:{}", self.members[i].raft_port)
    }

    /// The client address of member `i`.
    pub fn remote(&self, i: usize) -> String {
        format!("tcp:127.0.0.1:{}", self.members[i].client_port)
    }

    /// Member `i`'s unix socket (`unix:PATH`).
    pub fn unix_remote(&self, i: usize) -> String {
        format!("unix:{}", self.dir.file(&format!("sb{i}.sock")))
    }

    /// Every member's client address, comma-separated, as clients and ovn-controller take it.
    pub fn remotes(&self) -> String {
        (0..SIZE)
            .map(|i| self.remote(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn is_running(&mut self, i: usize) -> bool {
        self.members[i].server.as_mut().is_some_and(|s| !s.exited())
    }

    fn spawn(&mut self, i: usize) {
        assert!(
            self.members[i].server.is_none(),
            "SB member {i} already runs"
        );
        let args = [
            self.db(i),
            format!("--remote=ptcp:{}:127.0.0.1", self.members[i].client_port),
            format!("--remote=punix:{}", self.dir.file(&format!("sb{i}.sock"))),
            format!("--unixctl={}", self.ctl(i)),
        ];
        let log = self.dir.path().join(format!("sb{i}.log"));
        let mut server = Daemon::spawn("ovsdb-server", &args, &log);
        server.wait_ovsdb_up();
        self.members[i].server = Some(server);
    }

    /// Waits (`ovsdb-client wait ... connected`) until member `i` is in contact with a
    /// majority of the cluster; false after [`EVENT_TIMEOUT`].
    fn wait_connected(&self, i: usize) -> bool {
        let timeout = format!("--timeout={}", EVENT_TIMEOUT.as_secs());
        let out = output_within(
            Command::new(tool("ovsdb-client")).args([
                timeout.as_str(),
                "wait",
                &self.unix_remote(i),
                "OVN_Southbound",
                "connected",
            ]),
            EVENT_TIMEOUT + Duration::from_secs(15),
            "ovsdb-client wait",
        );
        out.status.success()
    }

    fn any_bind_failed(&self) -> bool {
        self.members
            .iter()
            .any(|m| m.server.as_ref().is_some_and(Daemon::bind_failed))
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        let logs = self.members.iter().enumerate().map(|(i, m)| {
            let log = m.server.as_ref().map(Daemon::log).unwrap_or_default();
            format!("--- member {i}:\n{log}")
        });
        logs.collect::<Vec<_>>().join("\n")
    }

    /// `ovs-appctl cluster/status OVN_Southbound` of running member `i`.
    pub fn status(&self, i: usize) -> String {
        run(
            "ovs-appctl",
            &["-t", &self.ctl(i), "cluster/status", "OVN_Southbound"],
        )
    }

    /// The index of the member whose `cluster/status` says `Role: leader`; panics unless
    /// exactly one running member does.
    pub fn leader(&mut self) -> usize {
        let running: Vec<usize> = (0..SIZE).filter(|&i| self.is_running(i)).collect();
        let statuses: Vec<(usize, String)> = running.iter().map(|&i| (i, self.status(i))).collect();
        let leaders: Vec<usize> = statuses
            .iter()
            .filter(|(_, s)| s.lines().any(|l| l.trim() == "Role: leader"))
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(leaders.len(), 1, "not exactly one leader: {statuses:#?}");
        leaders[0]
    }

    /// SIGKILLs member `i` (a crash) and reaps it.
    pub fn kill(&mut self, i: usize) {
        let mut server = self.members[i].server.take().expect("the member runs");
        server.kill();
        // A crashed ovsdb-server leaves its unix sockets behind.
        let _ = std::fs::remove_file(self.dir.file(&format!("sb{i}.sock")));
        let _ = std::fs::remove_file(self.ctl(i));
    }

    /// Restarts member `i` on its database and ports; returns once it is back in the
    /// cluster (connected to a majority).
    pub fn start(&mut self, i: usize) {
        self.spawn(i);
        self.expect_connected(i);
    }

    fn expect_connected(&self, i: usize) {
        let connected = self.wait_connected(i);
        assert!(
            !self.members[i]
                .server
                .as_ref()
                .is_some_and(Daemon::bind_failed),
            "SB member {i}: its port was taken meanwhile: {}",
            self.logs()
        );
        assert!(connected, "SB member {i} not connected: {}", self.logs());
    }

    /// Stops every running member (SIGTERM).
    pub fn stop_all(&mut self) {
        for m in &mut self.members {
            if let Some(mut server) = m.server.take() {
                server.stop();
            }
        }
    }

    /// Starts every stopped member; returns once all are connected.
    pub fn start_all(&mut self) {
        let stopped: Vec<usize> = (0..SIZE)
            .filter(|&i| self.members[i].server.is_none())
            .collect();
        for &i in &stopped {
            self.spawn(i);
        }
        for &i in &stopped {
            self.expect_connected(i);
        }
    }

    /// Blocks until a running member is the leader and returns its index. It watches each
    /// running member's `_Server` database (`ovsdb-client monitor`), which says `leader`
    /// as soon as that member wins an election: no polling.
    pub fn wait_leader(&mut self) -> usize {
        let (tx, rx) = mpsc::channel();
        let mut monitors = vec![];
        let running: Vec<usize> = (0..SIZE).filter(|&i| self.is_running(i)).collect();
        for i in running {
            let mut child = Command::new(tool("ovsdb-client"))
                .args(["--format=json", "monitor", &self.unix_remote(i)])
                .args(["_Server", "Database", "name,leader"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn ovsdb-client monitor");
            let stdout = child.stdout.take().expect("piped stdout");
            monitors.push(Reaped::new(child));
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if reports_leader(&line) {
                        let _ = tx.send(i);
                    }
                }
            });
        }
        drop(tx);
        match rx.recv_timeout(LEADER_TIMEOUT) {
            Ok(i) => i,
            Err(e) => panic!(
                "no SB leader within {LEADER_TIMEOUT:?} ({e}): {}",
                self.logs()
            ),
        }
    }

    /// `ovn-sbctl --db=REMOTES ARGS` (the leader, wherever it is).
    pub fn sbctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.remotes());
        let mut all = vec![db.as_str(), "--timeout=30"];
        all.extend_from_slice(args);
        run_within("ovn-sbctl", &all, Duration::from_secs(60))
    }
}

/// Whether one line of `ovsdb-client --format=json monitor _Server Database name,leader`
/// has OVN_Southbound's row with `leader` true (initial rows and "new" rows of updates).
fn reports_leader(line: &str) -> bool {
    let Ok(update) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    let column = |name: &str| {
        update["headings"]
            .as_array()
            .and_then(|h| h.iter().position(|c| c == name))
    };
    let (Some(name), Some(leader)) = (column("name"), column("leader")) else {
        return false;
    };
    update["data"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|row| row[name] == "OVN_Southbound" && row[leader] == Value::Bool(true))
}

impl Default for SbCluster {
    fn default() -> Self {
        Self::new()
    }
}
