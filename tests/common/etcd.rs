//! A real etcd (`etcd` from etcd-server, `etcdctl` from etcd-client) per test: each member
//! on loopback ports of its own, its data under a temp dir of its own, killed on drop.
//! Readiness is `etcdctl` asked again under a deadline; waits on keys are woken by an
//! `etcdctl watch` (`until_changed`). For the fault tests: a cluster's leader, a member
//! killed and started again on its data, hung (SIGSTOP) and resumed, history compacted.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::process::Reaped;

/// How long a member may take to answer after it was started.
pub const START_LIMIT: Duration = Duration::from_secs(30);

/// True when etcd and etcdctl are installed; else fails under `CI=true`, or skips.
pub fn available() -> bool {
    let found = |p: &str, arg: &str| {
        Command::new(p)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    super::ovn::prerequisite(
        "etcd and etcdctl (packages etcd-server, etcd-client)",
        found("etcd", "--version") && found("etcdctl", "version"),
    )
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().unwrap().port()
}

/// One etcd member.
pub struct Etcd {
    pub name: String,
    pub client_url: String,
    peer_url: String,
    /// `--initial-cluster` (this member alone, or every member of its cluster).
    cluster: String,
    dir: PathBuf,
    /// Removed with the last member that owns it.
    owns_dir: bool,
    child: Option<Reaped>,
    /// More `etcd` arguments (TLS), and the `etcdctl` arguments that go with them.
    extra: Vec<String>,
    ctl_extra: Vec<String>,
}

impl Etcd {
    /// A single-member cluster, answering.
    pub fn start(tag: &str) -> Self {
        let dir = scratch(tag);
        let mut e = Self::member(&dir, "m0", free_port(), free_port());
        e.cluster = format!("{}={}", e.name, e.peer_url);
        e.owns_dir = true;
        e.run();
        e.wait_healthy();
        e
    }

    /// A single-member cluster serving clients over TLS that requires a client
    /// certificate signed by `pki`'s CA, answering.
    pub fn start_tls(tag: &str, pki: &super::tls::Pki) -> Self {
        let dir = scratch(tag);
        let mut e = Self::member(&dir, "m0", free_port(), free_port());
        e.client_url = e.client_url.replace("http://", "https://");
        e.cluster = format!("{}={}", e.name, e.peer_url);
        e.owns_dir = true;
        let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_string();
        e.extra = [
            "--cert-file".into(),
            path(&pki.server_cert),
            "--key-file".into(),
            path(&pki.server_key),
            "--trusted-ca-file".into(),
            path(&pki.ca),
            "--client-cert-auth".into(),
        ]
        .to_vec();
        e.ctl_extra = [
            "--cacert".into(),
            path(&pki.ca),
            "--cert".into(),
            path(&pki.client_cert),
            "--key".into(),
            path(&pki.client_key),
        ]
        .to_vec();
        e.run();
        e.wait_healthy();
        e
    }

    /// Turns on etcd's authentication with a `root` user (password `root_password`),
    /// then adds `user` with `password` and a role that may read and write `prefix`.
    pub fn enable_auth(&mut self, user: &str, password: &str, prefix: &str) {
        let root_password = "root-secret";
        for args in [
            vec!["user", "add", "root", "--new-user-password", root_password],
            vec!["user", "add", user, "--new-user-password", password],
            vec!["role", "add", "vifd"],
            vec![
                "role",
                "grant-permission",
                "vifd",
                "--prefix=true",
                "readwrite",
                prefix,
            ],
            vec!["user", "grant-role", user, "vifd"],
            vec!["auth", "enable"],
        ] {
            let out = self.ctl(&args);
            assert!(
                out.status.success(),
                "etcdctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // From now on etcdctl speaks as root.
        self.ctl_extra.push(format!("--user=root:{root_password}"));
    }

    /// A cluster of `n` members, every one answering (for the fleet server's tests).
    pub fn cluster(tag: &str, n: usize) -> Vec<Self> {
        let dir = scratch(tag);
        let mut members: Vec<Etcd> = (0..n)
            .map(|i| Self::member(&dir, &format!("m{i}"), free_port(), free_port()))
            .collect();
        let cluster: Vec<String> = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect();
        for m in &mut members {
            m.cluster = cluster.join(",");
            m.run();
        }
        members[0].owns_dir = true;
        for m in &members {
            m.wait_healthy();
        }
        members
    }

    fn member(dir: &Path, name: &str, client: u16, peer: u16) -> Self {
        Etcd {
            name: name.to_string(),
            client_url: format!("http://127.0.0.1:{client}"),
            peer_url: format!("http://127.0.0.1:{peer}"),
            cluster: String::new(),
            dir: dir.to_path_buf(),
            owns_dir: false,
            child: None,
            extra: Vec::new(),
            ctl_extra: Vec::new(),
        }
    }

    fn run(&mut self) {
        let data = self.dir.join(&self.name);
        let log = std::fs::File::create(self.dir.join(format!("{}.log", self.name))).unwrap();
        let child = Command::new("etcd")
            .arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &self.client_url])
            .args(["--advertise-client-urls", &self.client_url])
            .args(["--listen-peer-urls", &self.peer_url])
            .args(["--initial-advertise-peer-urls", &self.peer_url])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-state", "new"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(Reaped::new(child));
    }

    /// Kills the member, keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Starts it again on the same ports and data, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
        self.wait_healthy();
    }

    /// Starts a stopped member on its data without waiting: a member of a cluster cannot
    /// answer before a quorum runs (start them all, then [`wait_healthy`](Self::wait_healthy)).
    /// `--initial-cluster-state new` is ignored once the data dir exists: it rejoins.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "etcd {} still runs", self.name);
        self.run();
    }

    /// SIGSTOP: it keeps its connections open and answers nothing (a hung member).
    pub fn pause(&mut self) {
        self.child
            .as_mut()
            .expect("a running member")
            .signal(Signal::SIGSTOP);
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&mut self) {
        self.child
            .as_mut()
            .expect("a running member")
            .signal(Signal::SIGCONT);
    }

    /// Waits until it answers a linearizable read (so its cluster has a leader).
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + START_LIMIT;
        while !self.ctl(&["endpoint", "health"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "etcd {} not healthy within {START_LIMIT:?}; see {}",
                self.name,
                self.dir.display()
            );
            // Retry pacing while etcd starts, not synchronisation.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `etcdctl --endpoints URL ARGS` (API v3).
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.client_url, "--command-timeout", "5s"])
            .args(&self.ctl_extra)
            .args(args)
            .output()
            .expect("run etcdctl")
    }

    /// The store's current revision.
    pub fn revision(&self) -> i64 {
        let out = self.ctl(&["get", "-w", "json", "/vifd-test/revision-probe"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("etcdctl get: {e}: {}", String::from_utf8_lossy(&out.stderr))
        });
        v["header"]["revision"].as_i64().expect("a revision")
    }

    /// Checks `ok` now and again at each change etcd makes under `prefix` (an `etcdctl
    /// watch` from the revision read before the first check, so no change is missed)
    /// until it holds; panics naming `what` after `limit`.
    pub fn until_changed(
        &self,
        prefix: &str,
        what: &str,
        limit: Duration,
        ok: impl FnMut() -> bool,
    ) {
        let from = (self.revision() + 1).to_string();
        let mut watch = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.client_url])
            .args(&self.ctl_extra)
            .args(["watch", "--prefix", "--rev", &from, prefix])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run etcdctl watch");
        let stdout = watch.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for _ in std::io::BufReader::new(stdout).lines() {
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
        let held = super::wakes::woken(&rx, limit, ok);
        let _ = watch.kill();
        let _ = watch.wait();
        assert!(held, "{what}: not within {limit:?}");
    }

    /// Every key under `prefix` with its value (values are one-line JSON).
    pub fn get_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        let out = self.ctl(&["get", "--prefix", prefix]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .filter(|kv| kv.len() == 2)
            .map(|kv| (kv[0].to_string(), kv[1].to_string()))
            .collect()
    }

    /// The records published for `host` (under `/vifd/v1/hosts/HOST/vifs/`), by id.
    pub fn published(&self, host: &str) -> BTreeMap<String, serde_json::Value> {
        let vifs = format!("/vifd/v1/hosts/{host}/vifs/");
        self.get_prefix(&vifs)
            .into_iter()
            .map(|(k, v)| {
                let id = k.strip_prefix(&vifs).unwrap().to_string();
                (id, serde_json::from_str(&v).unwrap())
            })
            .collect()
    }

    /// The lease id a key is attached to (0: none); `None` when the key is absent.
    pub fn lease_of(&self, key: &str) -> Option<i64> {
        let out = self.ctl(&["get", key, "-w", "json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let kv = json["kvs"].as_array()?.first()?;
        Some(kv["lease"].as_i64().unwrap_or(0))
    }
}

/// The client URLs of `members` joined by ',' (as `--fleet-etcd` takes them).
pub fn endpoints(members: &[Etcd]) -> String {
    let urls: Vec<&str> = members.iter().map(|m| m.client_url.as_str()).collect();
    urls.join(",")
}

/// The member every running member names as leader (`etcdctl endpoint status`: its
/// `Status.leader` is the leader's `member_id`), once they agree; panics after
/// [`START_LIMIT`]. Members stopped are asked nothing.
pub fn leader(members: &[Etcd]) -> usize {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        let mut ids = Vec::new();
        let mut leaders = Vec::new();
        for m in members.iter().filter(|m| m.child.is_some()) {
            let out = m.ctl(&["endpoint", "status", "-w", "json"]);
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let status = &json[0]["Status"];
            ids.push(status["header"]["member_id"].as_u64());
            leaders.push(status["leader"].as_u64());
        }
        let agreed = leaders.windows(2).all(|w| w[0] == w[1]);
        if let (true, Some(Some(lead))) = (agreed, leaders.first()) {
            if let Some(i) = ids.iter().position(|id| *id == Some(*lead)) {
                let running: Vec<usize> = (0..members.len())
                    .filter(|i| members[*i].child.is_some())
                    .collect();
                return running[i];
            }
        }
        assert!(
            Instant::now() < deadline,
            "no leader within {START_LIMIT:?}"
        );
        // Retry pacing while an election runs, not synchronisation.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts every stopped member, then waits until each answers.
pub fn start_all(members: &mut [Etcd]) {
    for m in members.iter_mut().filter(|m| m.child.is_none()) {
        m.start_again();
    }
    for m in members.iter() {
        m.wait_healthy();
    }
}

impl Etcd {
    /// Compacts the history up to `revision` (a watch behind it is cancelled with the
    /// compacted revision).
    pub fn compact(&self, revision: i64) {
        let out = self.ctl(&["compact", &revision.to_string(), "--physical"]);
        assert!(
            out.status.success(),
            "etcdctl compact: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `count` puts of a `size`-byte value under `prefix` (`prefix0`, `prefix1`...), each
    /// its own revision: through the JSON gateway (`POST /v3/kv/put`), not one etcdctl
    /// per put. What a busy etcd sends a watcher.
    pub fn fill(&self, prefix: &str, count: usize, size: usize) {
        use std::io::{Read, Write};
        let addr = self.client_url.trim_start_matches("http://");
        let value = base64(&vec![b'x'; size]);
        for i in 0..count {
            let key = base64(format!("{prefix}{i}").as_bytes());
            let body = format!(r#"{{"key":"{key}","value":"{value}"}}"#);
            let mut conn = std::net::TcpStream::connect(addr).expect("connect to etcd");
            let head = format!(
                "POST /v3/kv/put HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).unwrap();
            conn.write_all(body.as_bytes()).unwrap();
            let mut answer = String::new();
            conn.read_to_string(&mut answer).unwrap();
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "put {prefix}{i}: {answer}"
            );
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vifd-etcd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
