//! Something to block on while a test waits for daemons to agree: the `/v1/watch` streams
//! of every daemon a condition reads (agents, fleet servers), opened before the condition
//! is first asked, so whatever changes on any of them wakes the waiter to ask again.
#![allow(dead_code)]

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::sse::Sse;

/// Open watch streams; each event (or a stream's end) is one wake-up.
pub struct Wakes {
    rx: Receiver<()>,
    streams: Vec<TcpStream>,
}

impl Wakes {
    /// Watches `/v1/watch` of each of `addrs`. A daemon that does not answer (stopped, or
    /// being restarted) is left out: what it serves cannot change meanwhile.
    pub fn on(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        let (tx, rx) = mpsc::channel();
        let mut streams = Vec::new();
        for addr in addrs {
            let Some(sse) = Sse::try_open(addr, "/v1/watch") else {
                continue;
            };
            let mut stream = sse.into_stream();
            streams.push(stream.try_clone().expect("clone the watch stream"));
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                // Any bytes are news (an event, or its part); the end is news too.
                loop {
                    let more = matches!(stream.read(&mut buf), Ok(n) if n > 0);
                    if tx.send(()).is_err() || !more {
                        break;
                    }
                }
            });
        }
        Wakes { rx, streams }
    }

    /// Asks `ok` now and after each wake-up until it holds; panics naming `what` after
    /// `limit`.
    pub fn until(&self, what: &str, limit: Duration, ok: impl FnMut() -> bool) {
        assert!(self.wait(limit, ok), "{what}: not within {limit:?}");
    }

    /// Asks `ok` now and after each wake-up until it holds (true) or `limit` has passed
    /// (false, `ok` asked a last time).
    pub fn wait(&self, limit: Duration, ok: impl FnMut() -> bool) -> bool {
        woken(&self.rx, limit, ok)
    }
}

/// Asks `ok` now and after each wake-up on `rx` until it holds (true) or `limit` has
/// passed (false, `ok` asked a last time). Whoever sends on `rx` sends at each change of
/// what `ok` reads.
pub fn woken(rx: &Receiver<()>, limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !ok() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            // Several wake-ups queued are one question.
            Ok(()) => while rx.try_recv().is_ok() {},
            // Disconnected: every sender ended; nothing it reads changes any more.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return ok(),
        }
    }
    true
}

impl Drop for Wakes {
    fn drop(&mut self) {
        for s in &self.streams {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Asks `ok` until it holds, woken by the watch streams of the daemons at `addrs` (those
/// `ok` reads); panics naming `what` after `limit`.
pub fn until_seen(
    what: &str,
    limit: Duration,
    addrs: impl IntoIterator<Item = SocketAddr>,
    ok: impl FnMut() -> bool,
) {
    Wakes::on(addrs).until(what, limit, ok)
}
