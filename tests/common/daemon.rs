//! `vifd serve` as a child process, stopped with SIGTERM on drop.
//!
//! Nothing here polls. The daemon gets a notification socket of the test's own
//! (NOTIFY_SOCKET) and `--ready-file`: it says where it listens once its listeners are
//! bound, then `READY=1` once the first inventory is served, after writing the ready file
//! with the addresses it actually bound (it listens on port 0, never on a port guessed
//! free). Its log comes through a pipe, line by line; its exit through a reaper thread.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::http::Target;
use super::notify::{NotifySocket, ReadyFile};
use super::process::Reaped;

/// How long a daemon may take to bind its listeners, or to serve its first inventory.
pub const START_LIMIT: Duration = Duration::from_secs(60);

pub struct Daemon {
    pub child: Reaped,
    /// Its first TCP listener, once known.
    pub addr: Option<SocketAddr>,
    /// Every address it listens on, once known.
    pub listen: Vec<String>,
    pub notify: NotifySocket,
    pub ready_file: PathBuf,
    log: Receiver<String>,
}

impl Daemon {
    /// Starts `vifd serve ARGS` (inside `netns` when given, through `ip netns exec`).
    pub fn start(netns: Option<&str>, args: &[&str]) -> Self {
        Self::start_logged(netns, args, None)
    }

    /// As [`start`](Self::start), with the log also written to `log` when given (else to
    /// the test's stderr).
    pub fn start_logged(netns: Option<&str>, args: &[&str], log: Option<&Path>) -> Self {
        Self::spawn(Self::command(netns), args, log)
    }

    /// The command that runs vifd (inside `netns` when given), without the caller's
    /// VIFD_* settings.
    pub fn command(netns: Option<&str>) -> Command {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_vifd")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_vifd")),
        };
        for var in [
            "VIFD_LIBVIRT_URI",
            "VIFD_NETNS",
            "VIFD_LISTEN",
            "VIFD_CONFIG",
            "VIFD_READY_FILE",
            "NOTIFY_SOCKET",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs `cmd serve --ready-file F ARGS` with NOTIFY_SOCKET set (the caller may have
    /// set more of the environment on `cmd`).
    pub fn spawn(mut cmd: Command, args: &[&str], log: Option<&Path>) -> Self {
        let notify = NotifySocket::bind();
        let ready_file = notify.dir().join("ready.json");
        let mut child = cmd
            .arg("serve")
            .arg("--ready-file")
            .arg(&ready_file)
            .args(args)
            .env("NOTIFY_SOCKET", &notify.path)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vifd serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = log_lines(stderr, log.map(Path::to_path_buf));
        Daemon {
            child: Reaped::with_notice(child, Some(notify.path.clone())),
            addr: None,
            listen: Vec::new(),
            notify,
            ready_file,
            log,
        }
    }

    /// Starts it on loopback port 0 and waits until it is ready.
    pub fn on_loopback(args: &[&str]) -> Self {
        Self::on_loopback_logged(args, None)
    }

    pub fn on_loopback_logged(args: &[&str], log: Option<&Path>) -> Self {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut d = Self::start_logged(None, &all, log);
        d.wait_ready();
        d
    }

    /// The demo host in a fresh namespace, served with no periodic refresh: only
    /// notifications and events can change what it serves.
    pub fn on_demo_host(tag: &str) -> (super::TestNs, Self) {
        let (ns, uri) = super::demo_host(tag);
        let d = Self::on_demo_ns(&ns, &uri, &[]);
        (ns, d)
    }

    /// As [`on_demo_host`](Self::on_demo_host), on a demo host already made (`ns`, `uri`
    /// from [`super::demo_host`]), with `extra` options.
    pub fn on_demo_ns(ns: &super::TestNs, uri: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "--libvirt-uri",
            uri,
            "--netns",
            &ns.name,
            "--refresh",
            "3600",
        ];
        args.extend_from_slice(extra);
        Self::on_loopback(&args)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP daemon")
    }

    /// Its first TCP listener as a request target.
    pub fn target(&self) -> Target {
        Target::Tcp(self.addr())
    }

    /// Blocks until the listeners are bound (the first status line), for a daemon that
    /// may never be ready; returns the addresses.
    pub fn wait_listening(&mut self) -> Vec<String> {
        let listen = self.notify.listening(START_LIMIT);
        self.set_listen(listen.clone());
        listen
    }

    /// Blocks until `READY=1` (the first inventory served), then reads the ready file.
    pub fn wait_ready(&mut self) -> ReadyFile {
        self.notify.ready(START_LIMIT);
        let ready = ReadyFile::read(&self.ready_file);
        self.set_listen(ready.listen.clone());
        ready
    }

    fn set_listen(&mut self, listen: Vec<String>) {
        self.addr = listen.iter().find_map(|a| a.parse().ok());
        self.listen = listen;
    }

    /// The next line of its log, or `None` after `limit` (or once it closed its stderr).
    pub fn log_line(&self, limit: Duration) -> Option<String> {
        self.log.recv_timeout(limit).ok()
    }

    /// Blocks until a log line containing `marker` (returned); panics after `limit`.
    pub fn wait_log(&self, marker: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no {marker:?} logged within {limit:?}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the daemon closed its log before logging {marker:?}")
                }
            }
        }
    }

    /// Checks `ok` now and after each log line containing `marker`, until it holds;
    /// panics naming `what` after `limit`. For what changes without a new generation
    /// (counters, the sources' health): the daemon logs `marker` once it has changed.
    pub fn until_logged(
        &self,
        what: &str,
        marker: &str,
        limit: Duration,
        mut ok: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            if ok() {
                return;
            }
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "{what}: not within {limit:?}");
                match self.log.recv_timeout(left) {
                    Ok(line) if line.contains(marker) => break,
                    Ok(_) => {}
                    Err(RecvTimeoutError::Timeout) => panic!("{what}: not within {limit:?}"),
                    Err(RecvTimeoutError::Disconnected) => {
                        panic!("{what}: the daemon closed its log")
                    }
                }
            }
        }
    }

    /// Checks `ok` now and each time the served generation moves; see [`Target::until`].
    pub fn until(&self, what: &str, limit: Duration, ok: impl FnMut() -> bool) {
        self.target().until(what, limit, ok);
    }

    /// Writes `text` to its configuration file `config` and sends SIGHUP; returns once the
    /// refresher the reload restarted has served its first view (the watch's resync
    /// "configuration reloaded"). The text must change a source or an interval.
    pub fn reload(&mut self, config: &Path, text: &str) {
        let since = self.target().generation();
        let mut watch = super::sse::Sse::open(self.addr(), &format!("/v1/watch?since={since}"));
        std::fs::write(config, text).expect("write the configuration");
        self.child.signal(Signal::SIGHUP);
        loop {
            let ev = watch
                .next(START_LIMIT)
                .expect("the reloaded refresher's first view (a resync)");
            if ev.kind == "resync" && ev.data["reason"] == "configuration reloaded" {
                return;
            }
        }
    }

    /// SIGTERM, then the exit status (within 15 s).
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_within(Duration::from_secs(15))
            .expect("vifd serve ignored SIGTERM")
    }

    /// SIGTERM, then the exit status if it came within `limit`.
    pub fn stop_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.child.signal(Signal::SIGTERM);
        self.child.wait(limit)
    }
}

/// Reads `stderr` on a thread: each line to `file` when given (else to the test's
/// stderr) and to the returned channel.
fn log_lines(stderr: std::process::ChildStderr, file: Option<PathBuf>) -> Receiver<String> {
    let mut out = file.map(|p| std::fs::File::create(p).expect("create the log"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            match &mut out {
                Some(f) => {
                    let _ = writeln!(f, "{line}");
                }
                None => eprintln!("{line}"),
            }
            // Nobody listening any more is fine: keep draining the pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

/// Runs `f` on a thread that has entered network namespace `ns` (sockets it opens live there).
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open the namespace");
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("a thread in the namespace")
}
