//! `vifd serve` under a service manager, without systemd as PID 1: the notification
//! socket is a datagram socket this test binds as NOTIFY_SOCKET, reloads are SIGHUPs the
//! test sends, socket activation passes sockets the test bound (port 0) as descriptors.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http;
use common::notify::{status_of, NotifySocket, ReadyFile};
use common::process::Reaped;
use nix::sys::signal::Signal;

/// How long `vifd serve` may take to bind, to be ready, or to stop.
const LIMIT: Duration = Duration::from_secs(20);

/// `vifd serve --config FILE` with the notification environment, log to `log`; its
/// ready file goes to `notify`'s directory (`VIFD_READY_FILE`).
fn start(config: &Path, notify: &NotifySocket, env: &[(&str, &str)], log: &Path) -> Reaped {
    start_in(None, config, notify, env, log)
}

/// As [`start`], inside network namespace `ns` when given.
fn start_in(
    ns: Option<&str>,
    config: &Path,
    notify: &NotifySocket,
    env: &[(&str, &str)],
    log: &Path,
) -> Reaped {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_vifd")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_vifd")),
    };
    let child = cmd
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NOTIFY_SOCKET", &notify.path)
        .env("VIFD_READY_FILE", ready_path(notify))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start vifd serve");
    Reaped::with_notice(child, Some(notify.path.clone()))
}

fn ready_path(notify: &NotifySocket) -> std::path::PathBuf {
    notify.dir().join("ready.json")
}

/// Waits for READY=1, then reads the ready file; returns the notification and the file.
fn ready(notify: &NotifySocket) -> (String, ReadyFile) {
    let msg = notify.ready(LIMIT);
    (msg, ReadyFile::read(&ready_path(notify)))
}

/// SIGTERM, then its exit status (within [`LIMIT`]).
fn terminate(child: &mut Reaped) -> std::process::ExitStatus {
    child.signal(Signal::SIGTERM);
    child
        .wait(LIMIT)
        .unwrap_or_else(|| panic!("vifd serve still running {LIMIT:?} after SIGTERM"))
}

/// A configuration on `listen` (port 0: the ready file or the first status line says
/// which port it got).
fn config_text(uri: &str, ns: &str, listen: &str, level: &str) -> String {
    format!(
        "libvirt_uri = \"{uri}\"\nnetns = \"{ns}\"\nlisten = [\"{listen}\"]\n\
         log_level = \"{level}\"\nresolvers = [\"libvirt-network\", \"nova-metadata\"]\n"
    )
}

fn interfaces(addr: std::net::SocketAddr) -> usize {
    http::get(addr, "/v1/interfaces", &[]).json()["interfaces"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn ready_comes_after_the_first_inventory_then_status_watchdog_and_stopping() {
    let (ns, uri) = common::demo_host("notify");
    let notify = NotifySocket::bind();
    let config = notify.dir().join("vifd.toml");
    std::fs::write(&config, config_text(&uri, &ns.name, "127.0.0.1:0", "info")).unwrap();
    let log = notify.dir().join("log");
    let mut child = start(&config, &notify, &[("WATCHDOG_USEC", "300000")], &log);

    let (ready, file) = ready(&notify);
    assert_eq!(file.pid, child.pid(), "{file:?}");
    let addr = file.tcp().expect("a TCP listener");
    assert_ne!(addr.port(), 0);
    // READY=1 means served: the inventory is already answerable.
    assert_eq!(http::status_of(addr, "/readyz"), Some(200));
    let n = interfaces(addr);
    assert!(n > 0, "the demo host has interfaces");
    let status = status_of(&ready);
    assert!(
        status.starts_with(&format!("{n} interfaces on ")),
        "STATUS names the VIF count: {status:?}"
    );

    // WatchdogSec=300ms → a ping every 150 ms. Kept on purpose: the pings are counted
    // over a window of 1.5 s (time passing is what is tested).
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

    child.signal(Signal::SIGTERM);
    notify.until("STOPPING=1", LIMIT);
    let status = child.wait(LIMIT).expect("exits after STOPPING=1");
    assert!(status.success(), "{status}");
    assert!(
        !ready_path(&notify).exists(),
        "the ready file is removed at a clean shutdown"
    );
}

#[test]
fn no_watchdog_pings_without_watchdog_usec_or_for_another_pid() {
    let (ns, uri) = common::demo_host("nowd");
    let notify = NotifySocket::bind();
    let config = notify.dir().join("vifd.toml");
    std::fs::write(&config, config_text(&uri, &ns.name, "127.0.0.1:0", "warn")).unwrap();
    let log = notify.dir().join("log");
    let mut child = start(
        &config,
        &notify,
        &[("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")],
        &log,
    );
    notify.ready(LIMIT);
    // Kept on purpose: time passes (four ping periods) and no ping may come.
    let deadline = Instant::now() + Duration::from_millis(800);
    while Instant::now() < deadline {
        if let Some(m) = notify.next(Duration::from_millis(100)) {
            assert!(!m.contains("WATCHDOG=1"), "a ping meant for PID 1: {m:?}");
        }
    }
    terminate(&mut child);
}

#[test]
fn sighup_reloads_the_file_without_dropping_listeners() {
    let (ns, uri) = common::demo_host("hup");
    let notify = NotifySocket::bind();
    let config = notify.dir().join("vifd.toml");
    let missing = format!("test://{}/missing-node.xml", notify.dir().display());
    std::fs::write(
        &config,
        config_text(&missing, &ns.name, "127.0.0.1:0", "warn"),
    )
    .unwrap();
    let log = notify.dir().join("log");
    let mut child = start(&config, &notify, &[], &log);

    // No inventory (libvirt cannot be read): serving, but not ready. The first status
    // line comes once the listener is bound, and names the port it got.
    let listening = notify.listening(LIMIT);
    let addr: std::net::SocketAddr = listening[0].parse().expect("IP:PORT");
    // Reloads keep the listeners: the same address all along.
    let port = addr.to_string();
    assert_eq!(http::status_of(addr, "/healthz"), Some(200));
    assert_eq!(http::status_of(addr, "/readyz"), Some(503));
    // Kept on purpose: time passes with no inventory, and no READY=1 may come.
    assert!(
        notify
            .next(Duration::from_secs(2))
            .is_none_or(|m| !m.contains("READY=1")),
        "READY=1 before any inventory"
    );
    assert!(
        !ready_path(&notify).exists(),
        "a ready file before any inventory"
    );

    // A keep-alive connection opened before the reload must survive it.
    let mut kept = http::connect(addr);
    let request = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";
    kept.write_all(request).unwrap();
    assert_eq!(read_status(&mut kept), 200);

    std::fs::write(&config, config_text(&uri, &ns.name, "127.0.0.1:0", "debug")).unwrap();
    child.signal(Signal::SIGHUP);
    let (reloading, _) = notify.until("RELOADING=1", LIMIT);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    let (ready, file) = ready(&notify);
    assert!(!status_of(&ready).starts_with("0 interfaces"), "{ready:?}");
    assert_eq!(file.listen, [port], "the listener bound at start");
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

    // A broken file: logged with its key and line, the running configuration stays. The
    // error is logged before READY=1 is sent again.
    std::fs::write(&config, "log_level = \"info\"\nrefersh = 5\n").unwrap();
    child.signal(Signal::SIGHUP);
    notify.until("RELOADING=1", LIMIT);
    notify.ready(LIMIT);
    let t = std::fs::read_to_string(&log).unwrap();
    assert!(
        t.contains("reload failed") && t.contains("line 2") && t.contains("refersh"),
        "the reload error in the log: {t}"
    );
    assert_eq!(http::status_of(addr, "/readyz"), Some(200));
    assert!(terminate(&mut child).success());
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

/// Socket activation as systemd does it (sd_listen_fds(3)): the test binds the sockets
/// (port 0) and passes them as descriptors 3 and 4, with LISTEN_FDS=2 and LISTEN_PID the
/// pid of the process that gets them (`sh` execs vifd under its own pid).
#[test]
fn socket_activation_serves_the_inherited_sockets_only() {
    let (ns, uri) = common::demo_host("activate");
    let notify = NotifySocket::bind();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let inherited = tcp.local_addr().unwrap();
    let sock = notify.dir().join("vifd.sock");
    let unix = UnixListener::bind(&sock).unwrap();
    // The configured address is held by the test: had vifd bound it, it would have
    // failed to start (address in use).
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let configured = held.local_addr().unwrap();
    let script = r#"exec 3<&0 4<&1 0</dev/null 1>&2
export LISTEN_PID=$$ LISTEN_FDS=2
exec "$0" "$@""#;
    let child = Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_vifd")])
        .args(["serve", "--libvirt-uri", &uri, "--netns", &ns.name])
        .args(["--listen", &configured.to_string()])
        .env_remove("VIFD_LISTEN")
        .env_remove("VIFD_CONFIG")
        .env("NOTIFY_SOCKET", &notify.path)
        .env("VIFD_READY_FILE", ready_path(&notify))
        // Descriptors 0 and 1 carry the sockets into sh, which moves them to 3 and 4.
        .stdin(OwnedFd::from(tcp.try_clone().unwrap()))
        .stdout(OwnedFd::from(unix.try_clone().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("start sh");
    let mut child = Reaped::with_notice(child, Some(notify.path.clone()));
    let (_, file) = ready(&notify);
    assert_eq!(
        file.listen,
        [inherited.to_string(), format!("unix:{}", sock.display())],
        "serves the inherited sockets, not the configured {configured}"
    );
    // It answers on both, and there only.
    assert!(interfaces(inherited) > 0);
    assert_eq!(http::get_unix(&sock, "/readyz").status, 200);
    assert!(terminate(&mut child).success());
    assert!(
        sock.exists(),
        "an inherited socket's file stays (it is systemd's)"
    );
    drop(held);
}

#[test]
fn sighup_rotates_the_bearer_token_of_open_listeners() {
    let (ns, uri) = common::demo_host("token");
    ns.batch("addr add 10.254.0.1/32 dev lo\n");
    let notify = NotifySocket::bind();
    let token = notify.dir().join("token");
    std::fs::write(&token, "first-secret\n").unwrap();
    let config = notify.dir().join("vifd.toml");
    let text = format!(
        "libvirt_uri = \"{uri}\"\nlisten = [\"10.254.0.1:0\"]\ntoken_file = \"{}\"\n\
         resolvers = [\"nova-metadata\"]\n",
        token.display()
    );
    std::fs::write(&config, text).unwrap();
    let log = notify.dir().join("log");
    let mut child = start_in(Some(&ns.name), &config, &notify, &[], &log);
    let (_, file) = ready(&notify);
    let addr = file.tcp().expect("a TCP listener");
    let status = move |secret: &'static str| {
        let auth = format!("Bearer {secret}");
        common::daemon::in_netns(&ns.name.clone(), move || {
            http::get(addr, "/v1/interfaces", &[("Authorization", &auth)]).status
        })
    };
    assert_eq!(status("first-secret"), 200);
    assert_eq!(status("second-secret"), 401);
    std::fs::write(&token, "second-secret\n").unwrap();
    child.signal(Signal::SIGHUP);
    notify.until("RELOADING=1", LIMIT);
    notify.ready(LIMIT);
    assert_eq!(status("second-secret"), 200);
    assert_eq!(status("first-secret"), 401);
    assert!(terminate(&mut child).success());
}
