//! The action commands (`vifd attach-interface`, `detach-interface`, `attach-volume`,
//! `detach-volume`) as processes against a scripted daemon on a unix socket: what they
//! send, what they print, and how a refusal ends them. No libvirt, no root.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

const WEB1: &str = "6f1d0c3e-8a2b-4c5d-9e7f-0a1b2c3d4e5f";
const WEB2: &str = "7a2e1d4f-9b3c-4d6e-8f10-1b2c3d4e5f60";
const NET: &str = "3b4c8a52-6f7e-4d21-9c0a-1f2e3d4c5b6a";
const PORT: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const VOLUME: &str = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f";
/// How long the scripted daemon waits for a request it expects.
const PATIENCE: Duration = Duration::from_secs(20);

/// One request as the daemon received it.
#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    /// By lowercased name.
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON request body")
    }
}

/// What a command printed.
struct Ran {
    stdout: String,
    stderr: String,
}

/// A daemon that answers each connection with the next of its scripted replies, in a
/// scratch directory removed on drop.
struct Daemon {
    dir: PathBuf,
    url: String,
    thread: Option<JoinHandle<Vec<Received>>>,
}

impl Daemon {
    fn new(name: &str, replies: Vec<(u16, Value)>) -> Self {
        let dir = std::env::temp_dir().join(format!("vifd-actions-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        std::fs::write(dir.join("vifd.toml"), "").expect("write an empty config file");
        let sock = dir.join("vifd.sock");
        let listener = UnixListener::bind(&sock).expect("bind the daemon's socket");
        let thread = std::thread::spawn(move || {
            replies
                .into_iter()
                .map_while(|(status, body)| answer(&listener, status, &body))
                .collect()
        });
        Daemon {
            url: format!("unix:{}", sock.display()),
            dir,
            thread: Some(thread),
        }
    }

    /// Runs `vifd ARGS --url THIS` (ARGS split at spaces) and requires exit status `code`.
    fn run(&self, args: &str, code: i32) -> Ran {
        self.run_at(&self.url, args, code)
    }

    /// Runs `vifd ARGS --url URL`, without the caller's VIFD_* settings or config file,
    /// and requires exit status `code`.
    fn run_at(&self, url: &str, args: &str, code: i32) -> Ran {
        let config = self.dir.join("vifd.toml");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vifd"));
        cmd.args(args.split_whitespace())
            .args(["--url", url])
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null());
        for var in ["VIFD_ACTIONS_URL", "VIFD_TOKEN_FILE", "VIFD_LOG_LEVEL"] {
            cmd.env_remove(var);
        }
        let out = cmd.output().expect("run vifd");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(code), "{args:?}\n{stdout}{stderr}");
        Ran { stdout, stderr }
    }

    /// Every request the daemon answered, once the command is over.
    fn received(mut self) -> Vec<Received> {
        let thread = self.thread.take().expect("asked once");
        thread.join().expect("the daemon's thread")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Accepts one connection, reads its request and writes the reply; `None` when no
/// client came in time (the command asked fewer times than scripted).
fn answer(listener: &UnixListener, status: u16, body: &Value) -> Option<Received> {
    let mut stream = accept(listener)?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    let received = read_request(&mut stream)?;
    let text = Some(body)
        .filter(|b| !b.is_null())
        .map_or(String::new(), Value::to_string);
    let head = format!(
        "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        text.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(text.as_bytes()).ok()?;
    Some(received)
}

/// The next connection, blocking at most [`PATIENCE`] for it.
fn accept(listener: &UnixListener) -> Option<UnixStream> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let ms = i32::try_from(PATIENCE.as_millis()).unwrap_or(i32::MAX);
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::try_from(ms).unwrap()) {
        Ok(n) if n > 0 => listener.accept().ok().map(|(stream, _)| stream),
        _ => None,
    }
}

fn read_request(stream: &mut UnixStream) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
    }
    let length = headers
        .get("content-length")
        .map_or(Some(0), |v| v.parse().ok());
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        method,
        path,
        headers,
        body,
    })
}

fn domains() -> Value {
    json!({"generation": 3, "collected_at": "2026-01-01T00:00:00Z", "domains": [
        {"uuid": WEB1, "name": "web-1", "state": "running", "interface_count": 1},
        {"uuid": WEB2, "name": "web-2", "state": "running", "interface_count": 0},
    ]})
}

#[test]
fn attach_interface_posts_only_the_given_keys_and_prints_the_result() {
    let attached = json!({
        "interface": {"id": PORT, "domain_uuid": WEB1, "domain_name": "web-1",
                      "mac_address": "52:54:00:12:34:56", "device": "tap9a8b7c6d-5e",
                      "net_id": NET, "port_id": PORT},
        "ip_address": {"address": "10.0.0.5", "version": 4, "interface_id": PORT,
                       "network_id": NET, "mac_address": "52:54:00:12:34:56"},
    });
    let daemon = Daemon::new("attach-if", vec![(201, attached)]);
    let token = daemon.dir.join("token");
    std::fs::write(&token, "s3cret\n").expect("write the token file");
    let token = token.to_str().expect("a UTF-8 path");
    let mac = "52:54:00:12:34:56";
    let args = format!("attach-interface {WEB1} --net-id {NET} --mac {mac} --allocate-ip");
    let ran = daemon.run(&format!("{args} --token-file {token}"), 0);
    let line = format!("attached {PORT} (mac {mac}, device tap9a8b7c6d-5e, network {NET})");
    assert_eq!(ran.stdout, format!("{line}\naddress 10.0.0.5\n"));
    let got = daemon.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/v1/domains/{WEB1}/interfaces"));
    let want = json!({"net_id": NET, "mac_address": mac, "allocate_ip": true});
    assert_eq!(req.json(), want, "absent options are absent keys");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["accept"], "application/json");
    assert_eq!(req.headers["authorization"], "Bearer s3cret");
}

#[test]
fn a_domain_name_is_resolved_through_the_domain_list() {
    let daemon = Daemon::new("by-name", vec![(200, domains()), (202, Value::Null)]);
    let ran = daemon.run(&format!("detach-interface web-1 {PORT}"), 0);
    let want = format!("detach of {PORT} requested (the guest completes it)\n");
    assert_eq!(ran.stdout, want);
    let got = daemon.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].method.as_str(), got[0].path.as_str()),
        ("GET", "/v1/domains")
    );
    assert_eq!(got[1].method, "DELETE");
    assert_eq!(
        got[1].path,
        format!("/v2.1/servers/{WEB1}/os-interface/{PORT}")
    );
}

#[test]
fn an_unknown_or_ambiguous_name_is_refused_before_acting() {
    let mut twins = domains();
    twins["domains"][1]["name"] = json!("web-1");
    let daemon = Daemon::new("names", vec![(200, domains()), (200, twins)]);
    let ran = daemon.run(&format!("detach-volume db-1 {VOLUME}"), 2);
    assert!(
        ran.stderr.contains(r#"no domain is named "db-1""#),
        "{}",
        ran.stderr
    );
    let ran = daemon.run(&format!("detach-volume web-1 {VOLUME}"), 2);
    assert!(
        ran.stderr.contains(r#"2 domains are named "web-1""#),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(WEB1) && ran.stderr.contains(WEB2),
        "{}",
        ran.stderr
    );
    let got = daemon.received();
    assert!(got.iter().all(|r| r.path == "/v1/domains"), "{got:?}");
}

#[test]
fn a_conflict_fault_is_shown_and_exits_2() {
    let message = "Volume 0c9d8e7f is already attached to this server.";
    let fault = json!({"conflictingRequest": {"code": 409, "message": message}});
    let daemon = Daemon::new("conflict", vec![(409, fault)]);
    let ran = daemon.run(&format!("attach-volume {WEB1} {VOLUME}"), 2);
    assert_eq!(ran.stdout, "");
    let want = format!("vifd: attach-volume on {WEB1}: 409 conflictingRequest: {message}\n");
    assert_eq!(ran.stderr, want);
}

#[test]
fn detach_volume_sends_a_delete_and_exits_0_on_202() {
    let daemon = Daemon::new("detach-vol", vec![(202, Value::Null)]);
    let ran = daemon.run(&format!("detach-volume {WEB1} {VOLUME}"), 0);
    assert_eq!(ran.stdout, format!("detach of volume {VOLUME} requested\n"));
    let got = daemon.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].method, "DELETE");
    let path = format!("/v2.1/servers/{WEB1}/os-volume_attachments/{VOLUME}");
    assert_eq!(got[0].path, path);
    assert!(got[0].body.is_empty());
}

#[test]
fn attach_volume_json_prints_the_answer() {
    let attachment = json!({"volumeAttachment": {
        "id": VOLUME, "volumeId": VOLUME, "serverId": WEB1, "device": "/dev/vdc"}});
    let daemon = Daemon::new("attach-vol", vec![(200, attachment.clone())]);
    let args = format!("attach-volume {WEB1} {VOLUME} --device /dev/vdc --json");
    let ran = daemon.run(&args, 0);
    let printed: Value = serde_json::from_str(&ran.stdout).expect("--json printed JSON");
    assert_eq!(printed, attachment);
    let got = daemon.received();
    assert_eq!(got[0].method, "POST");
    assert_eq!(
        got[0].path,
        format!("/v2.1/servers/{WEB1}/os-volume_attachments")
    );
    let want = json!({"volumeAttachment": {"volumeId": VOLUME, "device": "/dev/vdc"}});
    assert_eq!(got[0].json(), want);
}

#[test]
fn a_socket_nobody_listens_on_is_named_with_a_hint() {
    let daemon = Daemon::new("silent", vec![]);
    let url = format!("unix:{}", daemon.dir.join("elsewhere.sock").display());
    let ran = daemon.run_at(&url, &format!("detach-volume {WEB1} {VOLUME}"), 2);
    let hint = "the daemon is not running there";
    assert!(
        ran.stderr.contains(&url) && ran.stderr.contains(hint),
        "{}",
        ran.stderr
    );
}
