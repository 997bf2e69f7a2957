//! A blocking Server-Sent Events reader for `GET /v1/watch`: HTTP/1.1 chunked decoding
//! and SSE framing written out plainly, so a test sees exactly what a client would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One event: its kind, its `id` and its data as JSON.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub kind: String,
    pub id: Option<u64>,
    pub data: Value,
}

pub struct Sse {
    reader: BufReader<TcpStream>,
    /// Decoded body bytes not yet framed.
    pending: String,
    /// Events skipped by `until` since the last match, shown when it fails.
    seen: Vec<SseEvent>,
    pub headers: Vec<(String, String)>,
}

impl Sse {
    /// Opens `path` (e.g. `/v1/watch?since=3`) and checks the answer is an event stream.
    pub fn open(addr: SocketAddr, path: &str) -> Sse {
        Self::open_with(addr, path, &[])
    }

    /// As [`open`](Self::open), with extra request headers.
    pub fn open_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Sse {
        Self::opened(addr, path, headers).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// As [`open`](Self::open); `None` when the daemon cannot be reached or its answer
    /// does not come (it is stopped or gone).
    pub fn try_open(addr: SocketAddr, path: &str) -> Option<Sse> {
        Self::opened(addr, path, &[]).ok()
    }

    /// The connection itself, for a reader that only needs to know bytes arrive.
    pub fn into_stream(self) -> TcpStream {
        self.reader.into_inner()
    }

    fn opened(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Sse> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status)?;
        assert!(status.contains(" 200 "), "GET {path}: {status}");
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let ct = headers.iter().find(|(k, _)| k == "content-type");
        assert_eq!(ct.map(|(_, v)| v.as_str()), Some("text/event-stream"));
        reader.get_ref().set_read_timeout(None)?;
        Ok(Sse {
            reader,
            pending: String::new(),
            seen: Vec::new(),
            headers,
        })
    }

    /// The next event within `limit`; `None` when the server ended the stream.
    pub fn next(&mut self, limit: Duration) -> Option<SseEvent> {
        self.try_next(limit)
            .unwrap_or_else(|| panic!("no SSE event within {limit:?}"))
    }

    /// The next event within `limit`: `None` on timeout, `Some(None)` at the end of the
    /// stream.
    pub fn next_within(&mut self, limit: Duration) -> Option<Option<SseEvent>> {
        self.try_next(limit)
    }

    /// `None` on timeout, `Some(None)` at the end of the stream.
    fn try_next(&mut self, limit: Duration) -> Option<Option<SseEvent>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(ev) = self.take_frame() {
                return Some(Some(ev));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.reader.get_ref().set_read_timeout(Some(left)).unwrap();
            if !self.read_chunk() {
                return Some(None);
            }
        }
    }

    /// Events until one satisfies `ok` (returned), failing after `limit`.
    pub fn until(
        &mut self,
        limit: Duration,
        what: &str,
        ok: impl Fn(&SseEvent) -> bool,
    ) -> SseEvent {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = match self.try_next(left) {
                None => panic!("{what}: not seen within {limit:?}; seen: {:#?}", self.seen),
                Some(None) => panic!("{what}: stream ended"),
                Some(Some(ev)) => ev,
            };
            if ok(&ev) {
                self.seen.clear();
                return ev;
            }
            self.seen.push(ev);
        }
    }

    /// Events until each predicate has matched one of them (in any order: one change on
    /// the host can pass through intermediate states). Returns every event read.
    pub fn until_all(
        &mut self,
        limit: Duration,
        what: &str,
        wanted: &[&dyn Fn(&SseEvent) -> bool],
    ) -> Vec<SseEvent> {
        let deadline = Instant::now() + limit;
        let mut matched = vec![false; wanted.len()];
        let mut read = Vec::new();
        while matched.contains(&false) {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = match self.try_next(left) {
                None => {
                    panic!("{what}: not all seen within {limit:?} ({matched:?}); seen: {read:#?}")
                }
                Some(None) => panic!("{what}: stream ended"),
                Some(Some(ev)) => ev,
            };
            for (m, w) in matched.iter_mut().zip(wanted) {
                *m |= w(&ev);
            }
            read.push(ev);
        }
        read
    }

    /// One chunk of the chunked body into `pending`; false at the end of the body.
    fn read_chunk(&mut self) -> bool {
        let mut size = String::new();
        match self.reader.read_line(&mut size) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return true,
            Err(e) => panic!("reading the event stream: {e}"),
        }
        let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if n == 0 {
            return false;
        }
        let mut buf = vec![0; n + 2];
        self.reader.read_exact(&mut buf).expect("a whole chunk");
        self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        true
    }

    fn take_frame(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.pending.find("\n\n")?;
            let frame: String = self.pending.drain(..end + 2).collect();
            let (mut kind, mut id, mut data) = (None, None, String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    kind = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            // Comment-only frames (keepalives) carry no event.
            if let Some(kind) = kind {
                let data = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("event {kind} data is not JSON ({e}): {data}"));
                return Some(SseEvent { kind, id, data });
            }
        }
    }
}
