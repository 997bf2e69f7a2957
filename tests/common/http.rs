//! A deliberately small HTTP/1.1 client over std sockets: tests need to send what real
//! clients would never send (malformed heads, stalled requests, odd methods).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `X-Vifd-Generation` header, as a number.
    pub fn generation(&self) -> u64 {
        self.header("x-vifd-generation")
            .and_then(|g| g.parse().ok())
            .expect("an X-Vifd-Generation header")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Sends `raw` as is and reads until the server closes; `None` if it closed without
/// answering.
pub fn raw<S: Read + Write>(mut stream: S, raw: &[u8]) -> Option<Resp> {
    stream.write_all(raw).ok()?;
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    parse(&buf)
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// `GET path` with extra header lines, `Connection: close`.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    raw(connect(addr), &request("GET", path, headers)).expect("a response")
}

pub fn get_unix(path: &std::path::Path, target: &str) -> Resp {
    let s = UnixStream::connect(path).expect("connect to the unix socket");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    raw(s, &request("GET", target, &[])).expect("a response")
}

pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A whole HTTP/1.1 response as read until the server closed: status, headers, body.
pub fn parse(buf: &[u8]) -> Option<Resp> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Resp {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Where a daemon answers: a TCP address or a unix socket.
#[derive(Debug, Clone)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

impl Target {
    /// `GET path`, waiting at most `limit` for the answer.
    pub fn get(&self, path: &str, limit: Duration) -> Resp {
        let req = request("GET", path, &[]);
        match self {
            Target::Tcp(addr) => {
                let s = connect(*addr);
                s.set_read_timeout(Some(limit)).unwrap();
                raw(s, &req)
            }
            Target::Unix(p) => {
                let s = UnixStream::connect(p).expect("connect to the unix socket");
                s.set_read_timeout(Some(limit)).unwrap();
                raw(s, &req)
            }
        }
        .unwrap_or_else(|| panic!("GET {path}: no response within {limit:?}"))
    }

    /// The generation it serves now.
    pub fn generation(&self) -> u64 {
        self.get("/healthz", Duration::from_secs(30)).generation()
    }

    /// Checks `ok` now and again each time the served generation moves (a long poll on
    /// `/v1/interfaces?wait_for_generation=`), until it holds; panics naming `what` after
    /// `limit`. Every change of what is served bumps the generation, except counters
    /// and the sources' health (see `Daemon::until_logged` for those).
    pub fn until(&self, what: &str, limit: Duration, ok: impl FnMut() -> bool) {
        assert!(self.try_until(limit, ok), "{what}: not within {limit:?}");
    }

    /// As [`until`](Self::until); false when `ok` still fails after `limit`.
    pub fn try_until(&self, limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            // Read before the check: a change after it is a generation past this one.
            let seen = self.generation();
            if ok() {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let secs = left.as_secs_f64().ceil().clamp(1.0, 300.0) as u64;
            // A filter that matches nothing: the answer is small whatever is served.
            let poll = format!(
                "/v1/interfaces?wait_for_generation={}&timeout={secs}&mac=00:00:00:00:00:00",
                seen + 1
            );
            self.get(&poll, Duration::from_secs(secs + 30));
        }
    }
}

/// Holds a loopback port that refuses connections: see [`refusing_addr`].
pub struct Refusing {
    _client: TcpStream,
    _server: TcpStream,
}

/// A loopback address where nothing listens, and what holds it so: the port is the local
/// end of a connection the test keeps open (no listener: a new connection to it is
/// refused), so nobody can start listening on it meanwhile.
pub fn refusing_addr() -> (Refusing, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    let addr = client.local_addr().unwrap();
    (
        Refusing {
            _client: client,
            _server: server,
        },
        addr,
    )
}

/// The status of `GET path` at `addr`, or `None` when nothing answers (yet).
pub fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
    TcpStream::connect(addr)
        .ok()
        .and_then(|s| raw(s, &request("GET", path, &[])))
        .map(|r| r.status)
}
