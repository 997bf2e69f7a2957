//! `vifd watch` as a process against real daemons in network namespaces (the demo
//! fixture): the snapshot, a live `problem` event, reconnection to a restarted daemon,
//! bearer tokens and unix sockets; and against a scripted server: 503 retried, the stream
//! resumed with `since` and `instance`, frames split across writes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::process::{output_within, Reaped};
use common::TestNs;
use nix::sys::signal::Signal;
use serde_json::Value;

/// How long any expected line may take.
const LIMIT: Duration = Duration::from_secs(20);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vifd-watch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `vifd watch ARGS` (inside `netns` when given), run without the caller's VIFD_* settings.
fn watch_command(netns: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_vifd")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_vifd")),
    };
    cmd.arg("watch").args(args).stdin(Stdio::null());
    for var in [
        "VIFD_URL",
        "VIFD_TOKEN_FILE",
        "VIFD_CONFIG",
        "VIFD_LOG_LEVEL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A running `vifd watch`, its stdout and stderr read line by line on threads.
struct Watcher {
    child: Reaped,
    lines: Receiver<String>,
    /// Lines read so far (shortened), shown when an expectation fails.
    seen: Vec<String>,
    err_lines: Receiver<String>,
    /// Everything it wrote to stderr so far.
    stderr: Arc<Mutex<String>>,
}

/// Reads `pipe` line by line on a thread: each line to the returned channel, and to
/// `all` when given.
fn lines_of(pipe: impl Read + Send + 'static, all: Option<Arc<Mutex<String>>>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(all) = &all {
                let mut all = all.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
            let _ = tx.send(line);
        }
    });
    rx
}

impl Watcher {
    fn start(netns: Option<&str>, args: &[&str]) -> Self {
        let mut child = watch_command(netns, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vifd watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        Watcher {
            lines: lines_of(stdout, None),
            err_lines: lines_of(stderr_pipe, Some(stderr.clone())),
            child: Reaped::new(child),
            seen: Vec::new(),
            stderr,
        }
    }

    /// What it wrote to stderr so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line for which `ok` holds, skipping others; panics after [`LIMIT`].
    fn line(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.chars().take(160).collect());
                    if ok(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{what}: not within {LIMIT:?}\nstdout so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{what}: vifd watch closed its stdout (status {:?})\nstdout:\n{}\nstderr:\n{}",
                    self.child.status(),
                    self.seen.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// The next stderr line containing `text`; panics after [`LIMIT`].
    fn logged(&self, text: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err_lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("{text:?} not logged ({e:?}); stderr:\n{}", self.stderr()),
            }
        }
    }

    /// The next `--json` event for which `ok` holds.
    fn event(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let line = self.line(what, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| ok(&v))
        });
        serde_json::from_str(&line).expect("a JSON line")
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.status() {
            panic!("vifd watch exited ({status}); stderr:\n{}", self.stderr());
        }
    }

    /// SIGTERM, then the exit status (within [`LIMIT`]).
    fn terminate(&mut self) -> ExitStatus {
        self.child.signal(Signal::SIGTERM);
        self.child
            .wait(LIMIT)
            .unwrap_or_else(|| panic!("vifd watch still running {LIMIT:?} after SIGTERM"))
    }
}

/// Runs a `vifd watch` that must stop on its own: its exit code and stderr.
fn watch_until_exit(netns: Option<&str>, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = watch_command(netns, args);
    let out = output_within(&mut cmd, LIMIT, &format!("vifd watch {args:?}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vifd serve ARGS` inside `ns`, ready.
fn daemon_in(ns: &TestNs, args: &[&str]) -> Daemon {
    let mut d = Daemon::start(Some(&ns.name), args);
    d.wait_ready();
    d
}

fn problem_on(v: &Value, device: &str) -> bool {
    v["event"] == "problem" && v["problem"]["device"] == device
}

#[test]
fn json_watch_follows_changes_and_survives_a_daemon_restart() {
    let (ns, uri) = common::demo_host("watch");
    // A fixed port: the restarted daemon must be where the watcher reconnects. No race
    // with anything else for it: the namespace is this test's own.
    let serve = ["--listen", "127.0.0.1:8789", "--libvirt-uri", &uri];
    let mut d = daemon_in(&ns, &serve);
    let mut w = Watcher::start(
        Some(&ns.name),
        &["--json", "--url", "http://127.0.0.1:8789"],
    );

    let snap = w.event("the first snapshot", |v| v["event"] == "snapshot");
    assert!(snap["generation"].as_u64().unwrap() >= 1, "{snap}");
    assert_eq!(snap["interfaces"].as_array().unwrap().len(), 7, "{snap}");
    let instance = snap["instance"].as_str().unwrap().to_string();
    assert_eq!(instance.len(), 16, "{snap}");

    ns.batch("tuntap add dev tapw0 mode tap\n");
    let raised = w.event("the orphan tapw0 raised", |v| problem_on(v, "tapw0"));
    assert_eq!(raised["status"], "raised", "{raised}");
    assert_eq!(raised["problem"]["kind"], "orphan-device", "{raised}");
    assert!(raised["generation"].as_u64() > snap["generation"].as_u64());
    // `event` first, then the data's own fields.
    assert!(w.seen.last().unwrap().starts_with(r#"{"event":"problem","#));

    // An abrupt end (SIGKILL: the connection is reset), then another daemon on the port.
    d.child.kill();
    // The watcher sees the stream end and schedules a reconnect, and keeps running.
    w.logged("reconnecting in");
    w.assert_running();
    let _d2 = daemon_in(&ns, &serve);
    let snap2 = w.event("a snapshot from the new daemon", |v| {
        v["event"] == "snapshot"
    });
    assert_ne!(snap2["instance"], instance.as_str(), "a new instance");
    let orphans = snap2["problems"].as_array().unwrap();
    assert!(
        orphans.iter().any(|p| p["device"] == "tapw0"),
        "the new snapshot has the orphan: {snap2}"
    );

    // Still live after the reconnection.
    ns.batch("link del tapw0\n");
    let cleared = w.event("the orphan tapw0 cleared", |v| problem_on(v, "tapw0"));
    assert_eq!(cleared["status"], "cleared", "{cleared}");
    w.assert_running();

    let status = w.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM ends the watch cleanly");
}

#[test]
fn https_url_is_refused_with_exit_2() {
    let (code, err) = watch_until_exit(None, &["--url", "https://127.0.0.1:8789"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("https is not supported"), "{err}");
    assert!(err.contains("http://") && err.contains("unix:"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn tokens_and_unix_sockets() {
    let (ns, uri) = common::demo_host("wtok");
    ns.batch("link add vw0 type veth peer name vw1\naddr add 10.251.0.1/24 dev vw0\nlink set vw0 up\nlink set vw1 up\n");
    let dir = scratch("token");
    let (good, bad) = (dir.join("good"), dir.join("bad"));
    std::fs::write(&good, "s3cret-token\n").unwrap();
    std::fs::write(&bad, "s3cret-tokem\n").unwrap();
    let sock = dir.join("vifd.sock");
    let unix = format!("unix:{}", sock.display());
    let d = daemon_in(
        &ns,
        &[
            "--listen",
            "10.251.0.1:0",
            "--listen",
            &unix,
            "--token-file",
            good.to_str().unwrap(),
            "--libvirt-uri",
            &uri,
        ],
    );
    let url = format!("http://{}", d.addr());
    let url = url.as_str();
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());

    let (code, err) = watch_until_exit(Some(&ns.name), &["--url", url, "--token-file", bad]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("refused the watch with 401"), "{err}");
    assert!(
        err.contains("The bearer token is not valid."),
        "the server's message: {err}"
    );

    let (code, err) = watch_until_exit(Some(&ns.name), &["--url", url]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("Authentication required"), "{err}");

    // The right token, and the unix socket (no token needed there), both stream.
    for (tag, args) in [
        ("good", ["--json", "--url", url, "--token-file", good]),
        ("unix", ["--json", "--url", &unix, "--log-level", "warn"]),
    ] {
        let mut w = Watcher::start(Some(&ns.name), &args);
        let snap = w.event(&format!("a snapshot over {tag}"), |v| {
            v["event"] == "snapshot"
        });
        assert_eq!(snap["interfaces"].as_array().unwrap().len(), 7, "{snap}");
    }
}

/// Reads a request head; returns its first line and the whole head.
fn read_head(stream: &std::net::TcpStream) -> (String, String) {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    (head.lines().next().unwrap_or("").to_string(), head)
}

const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

/// A scripted server: 503, then a snapshot written in pieces (CRLF, a comment) and an
/// end, then a replay for the resumed request. Human output.
#[test]
fn retries_503_and_resumes_after_the_last_generation() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/pre/", listener.local_addr().unwrap());
    let (heads_tx, heads) = mpsc::channel();
    let (done_tx, done) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let next = || {
            let (s, _) = listener.accept().unwrap();
            let (first, head) = read_head(&s);
            heads_tx.send((first, head)).unwrap();
            s
        };
        let mut s = next();
        let fault = r#"{"serviceUnavailable": {"message": "No inventory yet.", "code": 503}}"#;
        let resp = format!("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{fault}", fault.len());
        s.write_all(resp.as_bytes()).unwrap();
        drop(s);
        let mut s = next();
        s.write_all(SSE_HEAD.as_bytes()).unwrap();
        for piece in [
            ": hello\r\n\r\nevent: snap",
            "shot\r\nid: 5\r\ndata: {\"generation\":5,\"instance\":\"abc\",",
            "\"collected_at\":\"x\",\"stale\":false,\"interfaces\":[],\"problems\":[]}\r",
            "\n\r\n",
        ] {
            s.write_all(piece.as_bytes()).unwrap();
            s.flush().unwrap();
            // Kept on purpose: pacing, so that the pieces reach the client as separate
            // reads (frames split across writes is what is tested), not synchronisation.
            std::thread::sleep(Duration::from_millis(30));
        }
        drop(s);
        let mut s = next();
        s.write_all(SSE_HEAD.as_bytes()).unwrap();
        let record = r#"{"domain_name":"vm-web-1","mac_address":"52:54:00:12:34:56","device":"tap1234abcd-01","master":"br-int","operstate":"up","net_id":null,"problems":[],"stale":false}"#;
        let frame =
            format!("event: added\nid: 6\ndata: {{\"generation\":6,\"interface\":{record}}}\n\n");
        s.write_all(frame.as_bytes()).unwrap();
        let _ = done.recv_timeout(LIMIT);
    });
    let mut w = Watcher::start(None, &["--url", &url]);
    let snap = w.line("the snapshot line", |l| l.starts_with("snapshot"));
    assert_eq!(
        snap,
        "snapshot generation 5: 0 interfaces, 0 problems (instance abc)"
    );
    let added = w.line("the replayed event", |l| l.contains("added"));
    assert!(
        added.starts_with("    6 added    vm-web-1  ")
            && added.contains("52:54:00:12:34:56")
            && added.contains("master=br-int")
            && added.ends_with("net=-"),
        "{added:?}"
    );
    assert_eq!(w.seen.len(), 2, "nothing else printed: {:?}", w.seen);

    let heads: Vec<(String, String)> = heads.try_iter().collect();
    let firsts: Vec<&str> = heads.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        firsts,
        [
            "GET /pre/v1/watch HTTP/1.1",
            "GET /pre/v1/watch HTTP/1.1",
            "GET /pre/v1/watch?since=5&instance=abc HTTP/1.1"
        ]
    );
    assert!(
        heads[0]
            .1
            .to_ascii_lowercase()
            .contains("accept: text/event-stream"),
        "{}",
        heads[0].1
    );
    // Logged before those lines were printed, but through another pipe: wait for them.
    let refused = w.logged("503 Service Unavailable");
    assert!(refused.contains("No inventory yet."), "{refused}");
    w.logged("ended; reconnecting in 250 ms");
    assert_eq!(w.terminate().code(), Some(0));
    let _ = done_tx.send(());
}
