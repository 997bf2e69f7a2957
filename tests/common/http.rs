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

/// A free loopback port (bound then released: a small race, fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status of `GET path` at `addr`, or `None` when nothing answers (yet).
pub fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
    TcpStream::connect(addr)
        .ok()
        .and_then(|s| raw(s, &request("GET", path, &[])))
        .map(|r| r.status)
}
