//! `vifd serve` under a service manager, without systemd as PID 1: the notification
//! socket is a datagram socket this test binds as NOTIFY_SOCKET, reloads are SIGHUPs the
//! test sends, socket activation goes through `systemd-socket-activate`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http;

/// The daemon's notifications, as received.
struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
    _dir: tempdir::Dir,
}

impl NotifySocket {
    fn bind() -> Self {
        let dir = tempdir::Dir::new("notify");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket {
            sock,
            path,
            _dir: dir,
        }
    }

    /// The next datagram, or `None` after `limit`.
    fn next(&self, limit: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    /// Datagrams until one contains `key`, which is returned with those before it.
    fn until(&self, key: &str, limit: Duration) -> (String, Vec<String>) {
        let deadline = Instant::now() + limit;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {key} within {limit:?}; got {before:?}");
            if let Some(msg) = self.next(left) {
                if msg.lines().any(|l| l == key || l.starts_with(key)) {
                    return (msg, before);
                }
                before.push(msg);
            }
        }
    }
}

/// A minimal temporary directory (removed on drop).
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Self {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("vifd-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `vifd serve --config FILE` with the notification environment, log to `log`.
fn start(config: &Path, notify: &Path, env: &[(&str, &str)], log: &Path) -> Child {
    start_in(None, config, notify, env, log)
}

/// As [`start`], inside network namespace `ns` when given.
fn start_in(
    ns: Option<&str>,
    config: &Path,
    notify: &Path,
    env: &[(&str, &str)],
    log: &Path,
) -> Child {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_vifd")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_vifd")),
    };
    cmd.args(["--config", config.to_str().unwrap(), "serve"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NOTIFY_SOCKET", notify)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start vifd serve")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

fn config_text(uri: &str, ns: &str, port: u16, level: &str) -> String {
    format!(
        "libvirt_uri = \"{uri}\"\nnetns = \"{ns}\"\nlisten = [\"127.0.0.1:{port}\"]\n\
         log_level = \"{level}\"\nresolvers = [\"libvirt-network\", \"nova-metadata\"]\n"
    )
}

fn interfaces(addr: std::net::SocketAddr) -> usize {
    http::get(addr, "/v1/interfaces", &[]).json()["interfaces"]
        .as_array()
        .unwrap()
        .len()
}

fn status_of(msg: &str) -> &str {
    msg.lines()
        .find_map(|l| l.strip_prefix("STATUS="))
        .unwrap_or("")
}

#[test]
fn ready_comes_after_the_first_inventory_then_status_watchdog_and_stopping() {
    let (ns, uri) = common::demo_host("notify");
    let dir = tempdir::Dir::new("ready");
    let port = http::free_port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.path().join("vifd.toml");
    std::fs::write(&config, config_text(&uri, &ns.name, port, "info")).unwrap();
    let notify = NotifySocket::bind();
    let log = dir.path().join("log");
    let mut child = start(&config, &notify.path, &[("WATCHDOG_USEC", "300000")], &log);

    let (ready, _) = notify.until("READY=1", Duration::from_secs(20));
    // READY=1 means served: the inventory is already answerable.
    assert_eq!(http::status_of(addr, "/readyz"), Some(200));
    let n = interfaces(addr);
    assert!(n > 0, "the demo host has interfaces");
    let status = status_of(&ready);
    assert!(
        status.starts_with(&format!("{n} interfaces on ")),
        "STATUS names the VIF count: {status:?}"
    );

    // WatchdogSec=300ms → a ping every 150 ms.
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        if let Some(m) = notify.next(Duration::from_millis(100)) {
            pings += m.lines().filter(|l| *l == "WATCHDOG=1").count();
        }
    }
    assert!(
        (6..=14).contains(&pings),
        "about 10 watchdog pings in 1.5 s at a 150 ms period, got {pings}"
    );

    signal(&child, "TERM");
    notify.until("STOPPING=1", Duration::from_secs(5));
    assert!(child.wait().unwrap().success());
}

#[test]
fn no_watchdog_pings_without_watchdog_usec_or_for_another_pid() {
    let (ns, uri) = common::demo_host("nowd");
    let dir = tempdir::Dir::new("nowd");
    let port = http::free_port();
    let config = dir.path().join("vifd.toml");
    std::fs::write(&config, config_text(&uri, &ns.name, port, "warn")).unwrap();
    let notify = NotifySocket::bind();
    let log = dir.path().join("log");
    let mut child = start(
        &config,
        &notify.path,
        &[("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")],
        &log,
    );
    notify.until("READY=1", Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_millis(800);
    while Instant::now() < deadline {
        if let Some(m) = notify.next(Duration::from_millis(100)) {
            assert!(!m.contains("WATCHDOG=1"), "a ping meant for PID 1: {m:?}");
        }
    }
    signal(&child, "TERM");
    child.wait().unwrap();
}

#[test]
fn sighup_reloads_the_file_without_dropping_listeners() {
    let (ns, uri) = common::demo_host("hup");
    let dir = tempdir::Dir::new("hup");
    let port = http::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.path().join("vifd.toml");
    let missing = format!("test://{}/missing-node.xml", dir.path().display());
    std::fs::write(&config, config_text(&missing, &ns.name, port, "warn")).unwrap();
    let notify = NotifySocket::bind();
    let log = dir.path().join("log");
    let mut child = start(&config, &notify.path, &[], &log);

    // No inventory (libvirt cannot be read): serving, but not ready.
    common::wait_until("the listener", Duration::from_secs(10), || {
        http::status_of(addr, "/healthz") == Some(200)
    });
    assert_eq!(http::status_of(addr, "/readyz"), Some(503));
    assert!(
        notify
            .next(Duration::from_secs(2))
            .is_none_or(|m| !m.contains("READY=1")),
        "READY=1 before any inventory"
    );

    // A keep-alive connection opened before the reload must survive it.
    let mut kept = http::connect(addr);
    let request = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";
    kept.write_all(request).unwrap();
    assert_eq!(read_status(&mut kept), 200);

    std::fs::write(&config, config_text(&uri, &ns.name, port, "debug")).unwrap();
    signal(&child, "HUP");
    let (reloading, _) = notify.until("RELOADING=1", Duration::from_secs(5));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    let (ready, _) = notify.until("READY=1", Duration::from_secs(20));
    assert!(!status_of(&ready).starts_with("0 interfaces"), "{ready:?}");
    assert_eq!(http::status_of(addr, "/readyz"), Some(200));
    assert!(interfaces(addr) > 0);
    kept.write_all(request).unwrap();
    assert_eq!(
        read_status(&mut kept),
        200,
        "the kept connection still answers"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("configuration reloaded"), "{text}");
    assert!(text.contains("DEBUG"), "the new log level applies: {text}");

    // A broken file: logged with its key and line, the running configuration stays.
    std::fs::write(&config, "log_level = \"info\"\nrefersh = 5\n").unwrap();
    signal(&child, "HUP");
    notify.until("RELOADING=1", Duration::from_secs(5));
    notify.until("READY=1", Duration::from_secs(5));
    common::wait_until(
        "the reload error in the log",
        Duration::from_secs(5),
        || {
            let t = std::fs::read_to_string(&log).unwrap();
            t.contains("reload failed") && t.contains("line 2") && t.contains("refersh")
        },
    );
    assert_eq!(http::status_of(addr, "/readyz"), Some(200));
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

/// Reads one response head and body (Content-Length), returns its status.
fn read_status(stream: &mut std::net::TcpStream) -> u16 {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; len];
    std::io::Read::read_exact(&mut r, &mut body).unwrap();
    status
}

#[test]
fn socket_activation_serves_the_inherited_sockets_only() {
    let (ns, uri) = common::demo_host("activate");
    let dir = tempdir::Dir::new("activate");
    let inherited = http::free_port();
    let configured = http::free_port();
    let sock = dir.path().join("vifd.sock");
    let mut child = Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{inherited}")])
        .args(["-l", sock.to_str().unwrap()])
        .arg(env!("CARGO_BIN_EXE_vifd"))
        .args(["serve", "--libvirt-uri", &uri, "--netns", &ns.name])
        .args(["--listen", &format!("127.0.0.1:{configured}")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (package systemd) is a prerequisite");
    let addr = format!("127.0.0.1:{inherited}").parse().unwrap();
    // The first connection starts vifd; it answers on the socket it inherited.
    common::wait_until(
        "readiness on the inherited socket",
        Duration::from_secs(20),
        || http::status_of(addr, "/readyz") == Some(200),
    );
    assert!(interfaces(addr) > 0);
    assert_eq!(http::get_unix(&sock, "/readyz").status, 200);
    let other = format!("127.0.0.1:{configured}").parse().unwrap();
    assert_eq!(
        http::status_of(other, "/healthz"),
        None,
        "the configured listen address is not bound under socket activation"
    );
    signal(&child, "TERM");
    child.wait().unwrap();
}

#[test]
fn sighup_rotates_the_bearer_token_of_open_listeners() {
    let (ns, uri) = common::demo_host("token");
    ns.batch("addr add 10.254.0.1/32 dev lo\n");
    let dir = tempdir::Dir::new("token");
    let port = http::free_port();
    let token = dir.path().join("token");
    std::fs::write(&token, "first-secret\n").unwrap();
    let config = dir.path().join("vifd.toml");
    let text = format!(
        "libvirt_uri = \"{uri}\"\nlisten = [\"10.254.0.1:{port}\"]\ntoken_file = \"{}\"\n\
         resolvers = [\"nova-metadata\"]\n",
        token.display()
    );
    std::fs::write(&config, text).unwrap();
    let notify = NotifySocket::bind();
    let log = dir.path().join("log");
    let mut child = start_in(Some(&ns.name), &config, &notify.path, &[], &log);
    notify.until("READY=1", Duration::from_secs(20));
    let status = move |secret: &'static str| {
        let addr = format!("10.254.0.1:{port}").parse().unwrap();
        let auth = format!("Bearer {secret}");
        common::daemon::in_netns(&ns.name.clone(), move || {
            http::get(addr, "/v1/interfaces", &[("Authorization", &auth)]).status
        })
    };
    assert_eq!(status("first-secret"), 200);
    assert_eq!(status("second-secret"), 401);
    std::fs::write(&token, "second-secret\n").unwrap();
    signal(&child, "HUP");
    notify.until("RELOADING=1", Duration::from_secs(5));
    notify.until("READY=1", Duration::from_secs(5));
    assert_eq!(status("second-secret"), 200);
    assert_eq!(status("first-secret"), 401);
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}
