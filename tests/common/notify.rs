//! The sd_notify side of systemd, in a test: a datagram socket the test binds and passes
//! as NOTIFY_SOCKET. `vifd serve` says where it listens (`STATUS=waiting for the first
//! inventory; listening on ...`) as soon as its listeners are bound, and `READY=1` once the
//! first inventory is served: a test blocks on these instead of probing the daemon.
#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::process::EXITED;

/// The first status line, sent when the listeners are bound.
pub const LISTENING: &str = "STATUS=waiting for the first inventory; listening on ";

/// The daemon's notifications, as received.
pub struct NotifySocket {
    sock: UnixDatagram,
    pub path: PathBuf,
    dir: PathBuf,
}

impl NotifySocket {
    pub fn bind() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vifdt-notify-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the notify directory");
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { sock, path, dir }
    }

    /// The directory holding the socket (free for the test's other files).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The next datagram, or `None` after `limit`.
    pub fn next(&self, limit: Duration) -> Option<String> {
        self.sock
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    /// Datagrams until one has a line equal to or starting with `key`, which is returned
    /// with those before it. Panics after `limit`, or when the process exited first (its
    /// reaper says so on this socket: see [`super::process::Reaped::with_notice`]).
    pub fn until(&self, key: &str, limit: Duration) -> (String, Vec<String>) {
        let deadline = Instant::now() + limit;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {key} within {limit:?}; got {before:?}");
            if let Some(msg) = self.next(left) {
                if let Some(status) = msg.strip_prefix(EXITED) {
                    panic!("the process exited ({status}) before {key}; got {before:?}");
                }
                if msg.lines().any(|l| l == key || l.starts_with(key)) {
                    return (msg, before);
                }
                before.push(msg);
            }
        }
    }

    /// Every datagram from now on, read by a thread of its own as it comes (until the
    /// process exits): the daemon's send never blocks, so a datagram that finds the
    /// socket's short queue full is lost, and a test that reads only now and then would
    /// miss some. Nothing else may read the socket afterwards.
    pub fn forward(&self) -> std::sync::mpsc::Receiver<String> {
        let sock = self.sock.try_clone().expect("clone the notify socket");
        sock.set_read_timeout(None).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let exited = msg.starts_with(EXITED);
                // Nobody listening any more is fine: keep draining.
                let _ = tx.send(msg);
                if exited {
                    break;
                }
            }
        });
        rx
    }

    /// Waits for `READY=1`; returns its datagram.
    pub fn ready(&self, limit: Duration) -> String {
        self.until("READY=1", limit).0
    }

    /// Waits for the first status line; returns the addresses it names.
    pub fn listening(&self, limit: Duration) -> Vec<String> {
        let (msg, _) = self.until(LISTENING, limit);
        let line = msg.lines().find_map(|l| l.strip_prefix(LISTENING)).unwrap();
        line.split(", ").map(String::from).collect()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `STATUS=` text of a notification.
pub fn status_of(msg: &str) -> &str {
    msg.lines()
        .find_map(|l| l.strip_prefix("STATUS="))
        .unwrap_or("")
}

/// What `--ready-file` holds.
#[derive(Debug, Clone)]
pub struct ReadyFile {
    pub pid: u32,
    pub listen: Vec<String>,
    pub generation: u64,
}

impl ReadyFile {
    /// Reads and checks the document at `path` (after `READY=1`: it is written first).
    pub fn read(path: &std::path::Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("the ready file {}: {e}", path.display()));
        let doc: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the ready file is not JSON ({e}): {text:?}"));
        let listen = doc["listen"]
            .as_array()
            .unwrap_or_else(|| panic!("no listen list: {doc}"))
            .iter()
            .map(|a| a.as_str().expect("an address string").to_string())
            .collect();
        ReadyFile {
            pid: doc["pid"].as_u64().expect("a pid") as u32,
            listen,
            generation: doc["generation"].as_u64().expect("a generation"),
        }
    }

    /// The first TCP address it listens on.
    pub fn tcp(&self) -> Option<std::net::SocketAddr> {
        self.listen.iter().find_map(|a| a.parse().ok())
    }
}
