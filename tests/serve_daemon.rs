//! `vifd serve` as a process: listeners (TCP, unix, TLS), access rules, configuration
//! precedence, readiness, shutdown, and what malformed requests get. The host is the demo
//! fixture (a libvirt test-driver node file with real devices in a fresh namespace).

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::daemon::{in_netns, Daemon};
use common::http::{self, connect, get, raw, request};
use common::notify::{status_of, ReadyFile};
use common::{vifd, TestNs};

const DEMO_SERVER: &str = "0d7c3a52-9b1e-4f3a-8c6d-2e4f6a8b0c11";

fn demo_host() -> (TestNs, String) {
    common::demo_host("srv")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vifd-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn unix_socket_listener_has_mode_0660_and_replaces_a_stale_socket() {
    let (ns, uri) = demo_host();
    let dir = scratch("unix");
    let sock = dir.join("run/vifd.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    // A socket file nobody answers on, as a crashed daemon leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let listen = format!("unix:{}", sock.display());
    let mut d = Daemon::start(
        None,
        &[
            "--listen",
            &listen,
            "--libvirt-uri",
            &uri,
            "--netns",
            &ns.name,
        ],
    );
    let ready = d.wait_ready();
    assert_eq!(
        ready.listen,
        std::slice::from_ref(&listen),
        "the ready file names the socket"
    );
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let r = http::get_unix(
        &sock,
        &format!("/v2.1/servers/{DEMO_SERVER}/os-virtual-interfaces"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["virtual_interfaces"].as_array().unwrap().len(), 2);

    // A second daemon on the same live socket must refuse, not steal it.
    let second = vifd(&["serve", "--listen", &listen, "--libvirt-uri", &uri]);
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another server is answering"));

    assert!(d.stop().success());
    assert!(!sock.exists(), "the socket file is removed at shutdown");
}

#[test]
fn non_loopback_listener_without_a_token_is_refused_at_start() {
    let out = vifd(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--libvirt-uri",
        "test:///default",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without a bearer token"),
        "{err}"
    );
}

#[test]
fn bearer_token_listener_in_a_namespace_rejects_missing_and_wrong_tokens() {
    let (ns, uri) = demo_host();
    ns.batch(
        "link add vtok0 type veth peer name vtok1\naddr add 10.250.0.1/24 dev vtok0\nlink set vtok0 up\nlink set vtok1 up\n",
    );
    let dir = scratch("token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let mut d = Daemon::start(
        Some(&ns.name),
        &[
            "--listen",
            "10.250.0.1:0",
            "--token-file",
            token_file.to_str().unwrap(),
            "--libvirt-uri",
            &uri,
        ],
    );
    d.wait_ready();
    let addr = d.addr();
    assert_eq!(addr.ip().to_string(), "10.250.0.1");
    let ns_name = ns.name.clone();
    let probe = move |auth: Option<&'static str>| {
        let ns_name = ns_name.clone();
        in_netns(&ns_name, move || {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("Authorization", a)).into_iter().collect();
            std::net::TcpStream::connect(addr)
                .ok()
                .and_then(|s| raw(s, &request("GET", "/readyz", &headers)))
        })
    };
    assert_eq!(probe(Some("Bearer s3cret-token")).unwrap().status, 200);

    let missing = probe(None).expect("an answer");
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["unauthorized"]["code"], 401);
    assert!(missing
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let wrong = probe(Some("Bearer s3cret-tokem")).expect("an answer");
    assert_eq!(wrong.status, 401);
    let prefix = probe(Some("Bearer s3cret")).expect("an answer");
    assert_eq!(prefix.status, 401, "a prefix of the token is not the token");
    let basic = probe(Some("Basic czNjcmV0LXRva2Vu")).expect("an answer");
    assert_eq!(basic.status, 401);
    assert_eq!(probe(Some("Bearer s3cret-token")).unwrap().status, 200);
    assert!(d.stop().success());
}

#[test]
fn tls_listener_serves_https() {
    let (ns, uri) = demo_host();
    let dir = scratch("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let gen = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (a prerequisite, installed by `make deps`)");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let mut d = Daemon::start(
        None,
        &[
            "--listen",
            "127.0.0.1:0",
            "--libvirt-uri",
            &uri,
            "--netns",
            &ns.name,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    d.wait_ready();
    let port = d.addr().port();
    let url = format!("https://localhost:{port}");
    let curl = |path: &str| {
        std::process::Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(&cert)
            .args([
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
                "-w",
                "\n%{http_code}",
            ])
            .arg(format!("{url}{path}"))
            .output()
            .expect("run curl (a prerequisite, installed by `make deps`)")
    };
    let ready = String::from_utf8(curl("/readyz").stdout).unwrap();
    assert!(ready.ends_with("\n200"), "{ready}");
    let out = String::from_utf8(curl("/").stdout).unwrap();
    assert!(
        out.contains(&format!("\"href\":\"https://localhost:{port}/v2.1/\"")),
        "{out}"
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = raw(connect(d.addr()), &request("GET", "/healthz", &[]));
    assert!(plain.is_none_or(|r| r.status != 200));
    assert!(d.stop().success());
}

#[test]
fn config_file_then_environment_then_command_line_take_precedence() {
    let (ns, uri) = demo_host();
    let dir = scratch("config");
    // Each source names another loopback address (port 0 each): the address the daemon
    // bound, as its ready file reports, says which source won.
    let (a_file, a_env, a_cli) = ("127.0.0.2", "127.0.0.3", "127.0.0.4");
    let cfg = dir.join("vifd.toml");
    std::fs::write(
        &cfg,
        format!(
            "libvirt_uri = \"{uri}\"\nnetns = \"{}\"\nlisten = [\"{a_file}:0\"]\nrefresh = 5\n",
            ns.name
        ),
    )
    .unwrap();
    let run = |env_listen: Option<&str>, cli_listen: Option<&str>| {
        let mut cmd = Daemon::command(None);
        cmd.args(["--config", cfg.to_str().unwrap()]);
        if let Some(l) = env_listen {
            cmd.env("VIFD_LISTEN", format!("{l}:0"));
        }
        let cli = cli_listen.map(|l| format!("{l}:0"));
        let args: Vec<&str> = match &cli {
            Some(l) => vec!["--listen", l],
            None => vec![],
        };
        let mut d = Daemon::spawn(cmd, &args, None);
        d.wait_ready();
        d
    };
    let domains_on = |d: &Daemon, ip: &str| {
        assert_eq!(d.listen.len(), 1, "{:?}", d.listen);
        assert_eq!(d.addr().ip().to_string(), ip, "{:?}", d.listen);
        get(d.addr(), "/v1/domains", &[]).json()["domains"]
            .as_array()
            .unwrap()
            .len()
    };
    let mut d = run(None, None);
    assert_eq!(
        domains_on(&d, a_file),
        4,
        "file: listen, libvirt_uri and netns from the file"
    );
    assert!(d.stop().success());
    let mut d = run(Some(a_env), None);
    assert_eq!(domains_on(&d, a_env), 4, "environment over file");
    assert!(d.stop().success());
    let mut d = run(Some(a_env), Some(a_cli));
    assert_eq!(domains_on(&d, a_cli), 4, "command line over environment");
    assert!(d.stop().success());

    std::fs::write(&cfg, "listen = [\"127.0.0.1:1\"]\nlisten_port = 3\n").unwrap();
    let out = vifd(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid config file") && err.contains("listen_port"),
        "{err}"
    );
    let out = vifd(&["list", "--config", "/nonexistent/vifd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read config file /nonexistent/vifd.toml"));
}

#[test]
fn readyz_is_503_while_libvirt_is_unreachable_and_healthz_stays_200() {
    let mut d = Daemon::start(
        None,
        &[
            "--listen",
            "127.0.0.1:0",
            "--libvirt-uri",
            "qemu+unix:///system?socket=/nonexistent/sock",
        ],
    );
    // healthz answers as soon as the listener is up (its first status line says so);
    // readyz stays 503.
    d.wait_listening();
    let addr = d.addr();
    assert_eq!(http::status_of(addr, "/healthz"), Some(200));
    let r = get(addr, "/readyz", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["serviceUnavailable"]["code"], 503);
    let r = get(addr, "/v1/interfaces", &[]);
    assert_eq!(r.status, 503, "no inventory yet: 503, not an empty list");
    assert!(d.stop().success());
}

/// Every malformed request gets its status, and the daemon answers normally afterwards.
#[test]
fn malformed_requests_get_clear_statuses_and_the_daemon_keeps_answering() {
    let (ns, uri) = demo_host();
    let d = Daemon::on_loopback(&[
        "--libvirt-uri",
        &uri,
        "--netns",
        &ns.name,
        "--header-timeout",
        "2",
    ]);
    let addr = d.addr();
    let status = |raw_req: &[u8]| raw(connect(addr), raw_req).map(|r| r.status);
    let cases: Vec<(&str, Vec<u8>, Option<u16>)> = vec![
        ("server id not a UUID", request("GET", "/v2.1/servers/not-a-uuid/os-virtual-interfaces", &[]), Some(400)),
        ("unknown server", request("GET", "/v2.1/servers/6a3c1b0e-0000-4000-8000-000000000000/os-virtual-interfaces", &[]), Some(404)),
        ("unknown path", request("GET", "/v3/anything", &[]), Some(404)),
        ("bad percent-encoding", request("GET", "/v1/domains/%ff%fe/interfaces", &[]), Some(400)),
        ("unknown method", request("BREW", "/v1/interfaces", &[]), Some(405)),
        ("PUT", request("PUT", "/v2.1/servers/x/os-interface/y", &[]), Some(405)),
        ("DELETE with actions disabled", request("DELETE", "/v2.1/servers/x/os-interface/y", &[]), Some(403)),
        ("malformed version", request("GET", "/v2.1/extensions", &[("OpenStack-API-Version", "compute 2.x")]), Some(400)),
        ("version too new", request("GET", "/v2.1/extensions", &[("X-OpenStack-Nova-API-Version", "2.99")]), Some(406)),
        ("unknown filter", request("GET", "/v1/interfaces?colour=red", &[]), Some(400)),
        ("bad limit", request("GET", &format!("/v2.1/servers/{DEMO_SERVER}/os-virtual-interfaces?limit=-1"), &[]), Some(400)),
        ("JSON body on GET", b"GET /v1/interfaces HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_vec(), Some(400)),
        ("text body on GET", b"GET /v1/interfaces HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi".to_vec(), Some(415)),
        ("huge declared body", b"GET /v1/interfaces HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 1073741824\r\n\r\n".to_vec(), Some(413)),
        ("bad content-length", b"GET /v1/interfaces HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: abc\r\n\r\n".to_vec(), Some(400)),
        ("header line without colon", b"GET /healthz HTTP/1.1\r\nHost: t\r\nthis is not a header\r\n\r\n".to_vec(), Some(400)),
        ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(), Some(400)),
        ("huge header", {
            let big = "x".repeat(64 * 1024);
            request("GET", "/healthz", &[("X-Big", &big)])
        }, Some(431)),
        ("too many headers", {
            let mut r = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".to_vec();
            for i in 0..500 { r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes()); }
            r.extend_from_slice(b"\r\n");
            r
        }, Some(431)),
    ];
    for (what, req, want) in &cases {
        assert_eq!(status(req), *want, "{what}");
    }

    // Faults are Nova-shaped JSON.
    let r = get(addr, "/v2.1/servers/not-a-uuid/os-virtual-interfaces", &[]);
    assert_eq!(r.json()["badRequest"]["code"], 400, "{}", r.body);

    // A client that stalls mid-head is cut off after --header-timeout (2 s), with the
    // daemon serving others meanwhile: the daemon closes it (end of stream), not before
    // the timeout. (Reads wait at most 20 s: a daemon that never closes fails there.)
    let started = Instant::now();
    let mut slow = connect(addr);
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    assert_eq!(
        get(addr, "/healthz", &[]).status,
        200,
        "others are served while one stalls"
    );
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "the daemon closes a stalled head: {closed:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "closed before the header timeout, after {waited:?}"
    );

    // An idle keep-alive connection is also closed (no request head within the timeout).
    let mut idle = connect(addr);
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let closed = idle.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "the daemon closes an idle connection: {closed:?}"
    );

    // Many connections at once that send nothing do not stop the daemon from answering.
    let hogs: Vec<_> = (0..200).map(|_| connect(addr)).collect();
    assert_eq!(get(addr, "/healthz", &[]).status, 200);
    drop(hogs);

    let r = get(
        addr,
        &format!("/v2.1/servers/{DEMO_SERVER}/os-virtual-interfaces"),
        &[],
    );
    assert_eq!(r.status, 200, "still answering after all that: {}", r.body);
}

#[test]
fn sigterm_drains_and_exits_0() {
    let (ns, uri) = demo_host();
    let mut d = Daemon::on_loopback(&["--libvirt-uri", &uri, "--netns", &ns.name]);
    // A keep-alive connection open at shutdown does not hold the daemon up.
    let mut conn = connect(d.addr());
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(conn.read(&mut buf).unwrap() > 0);
    assert!(d.stop().success());
    // Not held up by that connection: a drain that waited for it would have logged
    // that connections were still open after the drain timeout. The log ends with the
    // process (its pipe closes), so every line is in by now.
    while let Some(line) = d.log_line(Duration::from_secs(15)) {
        assert!(
            !line.contains("after the drain timeout"),
            "held up by an idle keep-alive connection: {line}"
        );
    }
}

#[test]
fn the_ready_file_names_the_port_a_port_0_listener_got() {
    let (ns, uri) = demo_host();
    let dir = scratch("ready");
    let sock = dir.join("vifd.sock");
    let unix = format!("unix:{}", sock.display());
    let mut d = Daemon::start(
        None,
        &[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            &unix,
            "--libvirt-uri",
            &uri,
            "--netns",
            &ns.name,
        ],
    );
    // Written before READY=1 goes out: there once the notification is.
    let (_, before) = d.notify.until("READY=1", Duration::from_secs(60));
    let ready = ReadyFile::read(&d.ready_file);
    assert_eq!(ready.pid, d.child.pid(), "{ready:?}");
    assert_eq!(ready.listen.len(), 2, "{ready:?}");
    let tcp: std::net::SocketAddr = ready.listen[0].parse().expect("IP:PORT first");
    assert_eq!(tcp.ip().to_string(), "127.0.0.1");
    assert_ne!(tcp.port(), 0, "the port it got, not the one asked for");
    assert_eq!(ready.listen[1], unix);
    assert!(ready.generation >= 1, "{ready:?}");
    // The port is the daemon's: it answers there, at that generation or later.
    let r = get(tcp, "/readyz", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.generation() >= ready.generation);
    // The first status line, sent as soon as the listeners were bound, named them too.
    let first = before.first().map(String::as_str).unwrap_or_default();
    assert_eq!(
        status_of(first),
        format!("waiting for the first inventory; listening on {tcp}, {unix}"),
        "{before:?}"
    );
    assert!(d.stop().success());
    assert!(!d.ready_file.exists(), "removed at a clean shutdown");
}
