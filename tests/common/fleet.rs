//! `vifd fleet serve` as a child process of the test's (killed on drop), and what the
//! fleet tests compare: a fleet server's records of a host with its agent's own.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::agents::Agent;
use super::http::get;
use super::notify::NotifySocket;
use super::process::Reaped;

/// How long a fleet server may take to list etcd after it was started.
pub const START_LIMIT: Duration = Duration::from_secs(30);

/// A `vifd fleet serve` child, killed on drop.
pub struct FleetServer {
    pub child: Reaped,
    pub addr: SocketAddr,
    /// Its NOTIFY_SOCKET; the directory also holds its ready file.
    _notify: NotifySocket,
}

impl FleetServer {
    /// A fleet server reading etcd at `endpoints` (client URLs joined by ','), once it
    /// has listed.
    pub fn start(endpoints: &str, tag: &str) -> Self {
        Self::start_with(endpoints, tag, &[])
    }

    /// As [`start`](Self::start), with more arguments (TLS, user). `tag` names it in a
    /// failure.
    pub fn start_with(endpoints: &str, tag: &str, extra: &[&str]) -> Self {
        let notify = NotifySocket::bind();
        let ready: PathBuf = notify.dir().join("ready.json");
        let child = Command::new(env!("CARGO_BIN_EXE_vifd"))
            .args(["fleet", "serve", "--listen", "127.0.0.1:0"])
            .args(["--fleet-etcd", endpoints])
            .args(extra)
            .arg("--ready-file")
            .arg(&ready)
            .env_remove("VIFD_CONFIG")
            .env("NOTIFY_SOCKET", &notify.path)
            .stdin(Stdio::null())
            .spawn()
            .expect("start vifd fleet serve");
        let child = Reaped::with_notice(child, Some(notify.path.clone()));
        // READY=1 once etcd is listed, after the ready file is written.
        let (msg, _) = notify.until("READY=1", START_LIMIT);
        let doc: Value = serde_json::from_slice(&std::fs::read(&ready).unwrap())
            .unwrap_or_else(|e| panic!("fleet server {tag}: its ready file ({e}); {msg}"));
        let addr = doc["listen"][0].as_str().unwrap().parse().unwrap();
        FleetServer {
            child,
            addr,
            _notify: notify,
        }
    }

    pub fn get(&self, path: &str) -> Value {
        let resp = get(self.addr, path, &[]);
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        resp.json()
    }

    /// The fleet's records of `host`, by id, without the `host` field (checked).
    pub fn records(&self, host: &str) -> BTreeMap<String, Value> {
        let body = self.get(&format!("/v1/interfaces?host={host}"));
        (body["interfaces"].as_array().unwrap().iter())
            .map(|r| {
                let mut r = r.clone();
                let o = r.as_object_mut().unwrap();
                assert_eq!(o.remove("host"), Some(Value::from(host)));
                (o["id"].as_str().unwrap().to_string(), r)
            })
            .collect()
    }

    /// The `/v1/hosts` entry of `host`.
    pub fn host(&self, host: &str) -> Option<Value> {
        let body = self.get("/v1/hosts");
        body["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == host)
            .cloned()
    }

    /// The value of the `/metrics` sample named `series` (with its labels), if any.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = get(self.addr, "/metrics", &[]).body;
        text.lines()
            .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .find_map(|v| v.parse().ok())
    }
}

/// The agent's own records by id, without counters.
pub fn served(a: &Agent) -> BTreeMap<String, Value> {
    super::served_by_id(a.daemon.addr())
}

/// The name agent `a` publishes as (`--fleet-host`).
pub fn host_name(a: &Agent) -> String {
    format!("hv-{}", a.index)
}

/// The fleet's records of `a`'s host are what `a` serves (and it serves some).
pub fn in_sync(f: &FleetServer, a: &Agent) -> bool {
    let theirs = served(a);
    !theirs.is_empty() && f.records(&host_name(a)) == theirs
}

/// The addresses of `servers` and `agents`: what a wait comparing them watches (see
/// [`super::wakes`]).
pub fn addrs<'a>(
    servers: impl IntoIterator<Item = &'a FleetServer>,
    agents: impl IntoIterator<Item = &'a Agent>,
) -> Vec<SocketAddr> {
    let servers = servers.into_iter().map(|f| f.addr);
    servers
        .chain(agents.into_iter().map(|a| a.daemon.addr()))
        .collect()
}
