//! The byte stream: RFC 7047 sends JSON objects back to back with no delimiter, so messages
//! are cut out of a read buffer by tracking bracket depth outside strings.
//!
//! Every piece of state (unparsed input, unsent output, scanner position) lives in [`Conn`],
//! and the only awaits are single `read_buf`/`write` calls, which tokio documents as
//! cancel-safe. So a caller may drop a future between awaits (in `tokio::select!`) and lose
//! neither received bytes nor half of an outgoing message.

use std::ops::Range;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::addr::{OvsdbAddr, OvsdbError};

/// How much free space each read offers; large replies arrive in few syscalls.
const READ_CHUNK: usize = 256 * 1024;

/// A message larger than this is taken as a broken peer rather than buffered forever.
const MAX_MESSAGE: usize = 512 * 1024 * 1024;

/// The id of vifd's own `echo`.
const PROBE_ID: &str = "vifd-probe";

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// Finds where each top-level JSON value ends, resuming where the last scan stopped so a
/// multi-megabyte reply arriving in many reads is scanned once, not once per read.
#[derive(Default)]
pub(super) struct Scanner {
    /// Start of the first unconsumed byte (the message being assembled).
    pub(super) start: usize,
    /// Next byte to look at.
    pos: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

/// One connection to ovsdb-server.
pub(crate) struct Conn {
    addr: OvsdbAddr,
    stream: Stream,
    rbuf: Vec<u8>,
    scan: Scanner,
    wbuf: Vec<u8>,
    wpos: usize,
    /// When something last arrived (or the connection opened).
    heard: Instant,
    /// When vifd's `echo` went out, if nothing has arrived since.
    probed: Option<Instant>,
}

impl Conn {
    pub(crate) async fn open(addr: &OvsdbAddr) -> Result<Conn, OvsdbError> {
        let connect_err = |source| OvsdbError::Connect {
            addr: addr.clone(),
            source,
        };
        let stream = match addr {
            OvsdbAddr::Unix(path) => {
                Stream::Unix(UnixStream::connect(path).await.map_err(connect_err)?)
            }
            OvsdbAddr::Tcp(hp) => {
                let s = TcpStream::connect(hp.as_str()).await.map_err(connect_err)?;
                // Small requests and echo replies should not wait for Nagle.
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        };
        Ok(Conn {
            addr: addr.clone(),
            stream,
            rbuf: Vec::new(),
            scan: Scanner::default(),
            wbuf: Vec::new(),
            wpos: 0,
            heard: Instant::now(),
            probed: None,
        })
    }

    pub(crate) fn addr(&self) -> &OvsdbAddr {
        &self.addr
    }

    pub(crate) fn protocol(&self, message: impl Into<String>) -> OvsdbError {
        OvsdbError::Protocol {
            addr: self.addr.clone(),
            message: message.into(),
        }
    }

    fn io(&self, source: std::io::Error) -> OvsdbError {
        OvsdbError::Io {
            addr: self.addr.clone(),
            source,
        }
    }

    /// Appends a message to the output; [`flush`](Self::flush) sends it.
    pub(crate) fn queue(&mut self, msg: &Value) {
        // Serialising a Value into a Vec cannot fail (its map keys are strings).
        let _ = serde_json::to_writer(&mut self.wbuf, msg);
    }

    /// Sends everything queued. Cancel-safe: progress is recorded after every `write`.
    pub(crate) async fn flush(&mut self) -> Result<(), OvsdbError> {
        while self.wpos < self.wbuf.len() {
            let res = match &mut self.stream {
                Stream::Unix(s) => s.write(&self.wbuf[self.wpos..]).await,
                Stream::Tcp(s) => s.write(&self.wbuf[self.wpos..]).await,
            };
            match res {
                Ok(0) => {
                    return Err(OvsdbError::Closed {
                        addr: self.addr.clone(),
                    })
                }
                Ok(n) => self.wpos += n,
                Err(e) => return Err(self.io(e)),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    /// Reads whatever has arrived (waiting for at least one byte). Cancel-safe.
    pub(crate) async fn fill(&mut self) -> Result<(), OvsdbError> {
        self.compact();
        if self.rbuf.len() - self.scan.start > MAX_MESSAGE {
            return Err(self.protocol(format!("a message exceeds {MAX_MESSAGE} bytes")));
        }
        self.rbuf.reserve(READ_CHUNK);
        let res = match &mut self.stream {
            Stream::Unix(s) => s.read_buf(&mut self.rbuf).await,
            Stream::Tcp(s) => s.read_buf(&mut self.rbuf).await,
        };
        match res {
            Ok(0) => Err(OvsdbError::Closed {
                addr: self.addr.clone(),
            }),
            Ok(_) => {
                (self.heard, self.probed) = (Instant::now(), None);
                Ok(())
            }
            Err(e) => Err(self.io(e)),
        }
    }

    /// Like [`fill`](Self::fill), for a kept session that may be silent: once nothing has
    /// been received for `silent` it sends an `echo` (id `vifd-probe`, whose reply the
    /// caller reads like any message it does not expect), and `silent` after that it
    /// fails. A server that hangs (stopped, deadlocked) or a host that died sends no
    /// reset: without this its last state would be served as current forever. Cancel-safe,
    /// and the deadlines count from the last byte and the probe, not from the call: a
    /// caller that cancels it more often than `silent` (to ask for other rows) still
    /// finds a hung server out.
    pub(crate) async fn fill_or_probe(&mut self, silent: Duration) -> Result<(), OvsdbError> {
        let deadline = self.probed.unwrap_or(self.heard) + silent;
        match tokio::time::timeout_at(deadline, self.fill()).await {
            Ok(read) => read,
            Err(_) if self.probed.is_some() => Err(OvsdbError::Unanswered {
                addr: self.addr.clone(),
                silent,
            }),
            Err(_) => {
                let now = Instant::now();
                self.probed = Some(now);
                self.queue(&serde_json::json!({"id": PROBE_ID, "method": "echo", "params": []}));
                // A peer that stopped reading must not hold the probe either.
                match tokio::time::timeout_at(now + silent, self.flush()).await {
                    Ok(sent) => sent,
                    Err(_) => Err(OvsdbError::Unanswered {
                        addr: self.addr.clone(),
                        silent,
                    }),
                }
            }
        }
    }

    /// Drops consumed bytes so the buffer does not grow with the connection's lifetime.
    fn compact(&mut self) {
        let start = self.scan.start;
        if start == 0 {
            return;
        }
        if start == self.rbuf.len() || start >= self.rbuf.len() / 2 {
            self.rbuf.drain(..start);
            self.scan.pos -= start;
            self.scan.start = 0;
        }
    }

    /// Whether part of a message has been received but not its end.
    pub(crate) fn has_partial(&self) -> bool {
        self.scan.start < self.rbuf.len()
    }

    /// Where the next complete message already received lies, if any; see [`frame`](Self::frame).
    /// The bytes stay valid until the next [`fill`](Self::fill).
    pub(crate) fn next_frame(&mut self) -> Result<Option<Range<usize>>, OvsdbError> {
        let found = self
            .scan
            .find_end(&self.rbuf)
            .map_err(|m| self.protocol(m))?;
        Ok(found.map(|end| std::mem::replace(&mut self.scan.start, end)..end))
    }

    pub(crate) fn frame(&self, range: &Range<usize>) -> &[u8] {
        &self.rbuf[range.clone()]
    }
}

impl Scanner {
    /// Scans on from `pos`; returns the end (exclusive) of the first complete value.
    pub(super) fn find_end(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        while self.pos < buf.len() {
            let b = buf[self.pos];
            self.pos += 1;
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match (self.depth, b) {
                (_, b'{' | b'[') => self.depth += 1,
                (0, b' ' | b'\t' | b'\r' | b'\n') => self.start = self.pos,
                (0, _) => return Err(format!("unexpected byte {b:#04x} between messages")),
                (_, b'"') => self.in_string = true,
                (_, b'}' | b']') => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Ok(Some(self.pos));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::{Conn, Duration, Instant, OvsdbAddr, OvsdbError, Scanner};

    #[tokio::test(start_paused = true)]
    async fn a_hung_server_is_found_out_though_the_wait_is_cancelled_often() {
        // Accepts, then says nothing: a SIGSTOPped ovsdb-server.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = OvsdbAddr::Tcp(listener.local_addr().unwrap().to_string());
        let mut conn = Conn::open(&addr).await.unwrap();
        let _peer = listener.accept().await.unwrap();
        let silent = Duration::from_secs(5);
        let started = Instant::now();
        let err = loop {
            // Cancelled every second, as a session is that asks for other rows (the
            // clock is the test's own: paused, advanced by tokio when all wait).
            tokio::select! {
                read = conn.fill_or_probe(silent) => if let Err(e) = read { break e },
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            assert!(
                started.elapsed() < 10 * silent,
                "a hung server never found out"
            );
        };
        assert!(matches!(err, OvsdbError::Unanswered { .. }), "{err}");
        let took = started.elapsed();
        assert!(
            took >= 2 * silent && took < 2 * silent + Duration::from_secs(1),
            "{took:?}"
        );
    }

    fn split(chunks: &[&str]) -> Vec<String> {
        let (mut buf, mut scan, mut out) = (Vec::new(), Scanner::default(), Vec::new());
        for chunk in chunks {
            buf.extend_from_slice(chunk.as_bytes());
            while let Some(end) = scan.find_end(&buf).unwrap() {
                out.push(String::from_utf8(buf[scan.start..end].to_vec()).unwrap());
                scan.start = end;
            }
        }
        out
    }

    #[test]
    fn splits_back_to_back_messages_across_reads() {
        let got = split(&[r#"{"a":"}\"{"}  {"b":[1,"#, r#"{"c":2}]}"#, "\n{}"]);
        assert_eq!(got, [r#"{"a":"}\"{"}"#, r#"{"b":[1,{"c":2}]}"#, "{}"]);
    }

    #[test]
    fn rejects_junk_between_messages() {
        let mut scan = Scanner::default();
        assert_eq!(scan.find_end(b"{} x"), Ok(Some(2)));
        scan.start = 2;
        assert!(scan.find_end(b"{} x").is_err());
        assert!(Scanner::default().find_end(b"}").is_err());
    }
}
