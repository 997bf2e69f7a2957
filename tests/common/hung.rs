//! A source that hangs, and what the tests of it measure: a process held stopped
//! (SIGSTOP, SIGCONT on drop even when an assertion fails), an HTTP load that counts
//! server errors, and the latency of host-side changes to `/v1/watch`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::http::get;
use super::sse::Sse;

/// The budget of a host-side change to `/v1/watch` at the 99th percentile.
pub const WATCH_P99: Duration = Duration::from_millis(100);

/// A process stopped with SIGSTOP until this is dropped.
pub struct Stopped {
    pid: Pid,
    pub since: Instant,
}

impl Stopped {
    pub fn new(pid: u32) -> Self {
        let pid = Pid::from_raw(pid as i32);
        kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
        Stopped {
            pid,
            since: Instant::now(),
        }
    }

    /// The pid a daemon wrote to `pidfile`, stopped.
    pub fn from_pidfile(pidfile: &str) -> Self {
        let text = std::fs::read_to_string(pidfile).unwrap_or_else(|e| panic!("{pidfile}: {e}"));
        Self::new(text.trim().parse().expect("a pid"))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGCONT);
    }
}

/// Clients asking for the served lists and metrics back to back until stopped; counts
/// every answer and every server error (5xx) among them.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<(u64, Vec<String>)>>,
}

/// What the load saw.
#[derive(Debug)]
pub struct LoadSeen {
    pub requests: u64,
    /// `status path` of every 5xx.
    pub errors: Vec<String>,
}

impl Load {
    pub fn start(addr: SocketAddr, paths: &[&str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = paths
            .iter()
            .map(|p| {
                let (stop, path) = (stop.clone(), p.to_string());
                std::thread::spawn(move || {
                    let (mut n, mut errors) = (0, Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        let r = get(addr, &path, &[]);
                        n += 1;
                        if r.status >= 500 {
                            errors.push(format!("{} {path}: {}", r.status, r.body));
                        }
                    }
                    (n, errors)
                })
            })
            .collect();
        Load { stop, threads }
    }

    pub fn finish(self) -> LoadSeen {
        self.stop.store(true, Ordering::Relaxed);
        let mut seen = LoadSeen {
            requests: 0,
            errors: Vec::new(),
        };
        for t in self.threads {
            let (n, errors) = t.join().expect("a load thread");
            seen.requests += n;
            seen.errors.extend(errors);
        }
        seen
    }
}

/// Runs `ip ARGS`, in `netns` when given.
fn ip(netns: Option<&str>, args: &[&str]) {
    let mut all = netns.map_or(vec![], |ns| vec!["-n", ns]);
    all.extend_from_slice(args);
    super::ip(&all);
}

/// Enslaves `dev` to `bridge` and frees it again, `n` times each, waiting each time
/// for the `changed` event that shows it; returns how long each took from `ip` having
/// returned (the kernel has made the change by then).
pub fn master_toggles(
    sse: &mut Sse,
    netns: Option<&str>,
    dev: &str,
    bridge: &str,
    n: usize,
) -> Vec<Duration> {
    let mut took = Vec::with_capacity(2 * n);
    for _ in 0..n {
        for master in [Some(bridge), None] {
            match master {
                Some(b) => ip(netns, &["link", "set", dev, "master", b]),
                None => ip(netns, &["link", "set", dev, "nomaster"]),
            }
            let made = Instant::now();
            let want = master.map_or(serde_json::Value::Null, Into::into);
            sse.until(Duration::from_secs(10), "the master change", |e| {
                e.kind == "changed"
                    && e.data["interface"]["device"] == dev
                    && e.data["interface"]["master"] == want
            });
            took.push(made.elapsed());
        }
    }
    took
}

/// The 99th percentile (nearest rank) of `samples`.
pub fn p99(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    let rank = (s.len() * 99).div_ceil(100).max(1);
    s[rank - 1]
}
