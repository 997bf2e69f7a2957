//! `vifd serve` as a child process, stopped with SIGTERM on drop.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::http;

pub struct Daemon {
    pub child: Child,
    pub addr: Option<SocketAddr>,
}

impl Daemon {
    /// Starts `vifd serve ARGS` (inside `netns` when given, through `ip netns exec`).
    pub fn start(netns: Option<&str>, args: &[&str]) -> Self {
        Self::start_logged(netns, args, None)
    }

    /// As [`start`](Self::start), with stderr (the log) written to `log` when given.
    pub fn start_logged(netns: Option<&str>, args: &[&str], log: Option<&std::path::Path>) -> Self {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_vifd")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_vifd")),
        };
        let child = cmd
            .arg("serve")
            .args(args)
            .env_remove("VIFD_LIBVIRT_URI")
            .env_remove("VIFD_NETNS")
            .env_remove("VIFD_LISTEN")
            .env_remove("VIFD_CONFIG")
            .stdin(Stdio::null())
            .stderr(match log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("create the log")),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("start vifd serve");
        Daemon { child, addr: None }
    }

    /// Starts it on a free loopback port and waits until /readyz says 200.
    pub fn on_loopback(args: &[&str]) -> Self {
        Self::on_loopback_logged(args, None)
    }

    pub fn on_loopback_logged(args: &[&str], log: Option<&std::path::Path>) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", http::free_port()).parse().unwrap();
        let listen = addr.to_string();
        let mut all = vec!["--listen", &listen];
        all.extend_from_slice(args);
        let mut d = Self::start_logged(None, &all, log);
        d.addr = Some(addr);
        d.wait_ready(|| http::status_of(addr, "/readyz"));
        d
    }

    /// The demo host in a fresh namespace, served with no periodic refresh: only
    /// notifications and events can change what it serves.
    pub fn on_demo_host(tag: &str) -> (super::TestNs, Self) {
        let (ns, uri) = super::demo_host(tag);
        let name = ns.name.clone();
        let args = ["--libvirt-uri", &uri, "--netns", &name, "--refresh", "3600"];
        let d = Self::on_loopback(&args);
        (ns, d)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP daemon")
    }

    /// Polls `probe` (the /readyz status) until 200, for at most 60 s.
    pub fn wait_ready(&mut self, probe: impl Fn() -> Option<u16>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("vifd serve exited early: {status}");
            }
            if probe() == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "vifd serve not ready in 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status (within 15 s).
    pub fn stop(&mut self) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "vifd serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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
    .expect("netns thread")
}
