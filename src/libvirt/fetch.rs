//! Reading a snapshot from a libvirt connection. Every call here blocks: run it on a
//! blocking thread, never on an async worker.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use tracing::{debug, warn};
use virt::connect::Connect;

use super::agent::GuestAgent;
use super::domain::Domain;
use super::error::{panic_message, LibvirtError};
use super::events::{start_event_loop, EventSink, Registration};
use super::network::Network;
use super::read::{read_domain, read_networks, read_snapshot};
use super::snapshot::Snapshot;

/// Connects to `uri` and reads every domain (in every state) and every network.
///
/// A domain that disappears while we read it, or whose XML cannot be parsed, is logged
/// and skipped: one odd guest must not hide all the others.
pub fn fetch(uri: &str) -> Result<Snapshot, LibvirtError> {
    Session::new(uri).fetch()
}

/// A connection kept open between snapshots, reopened when it breaks (libvirtd
/// restarted, the socket went away). Opening is the expensive part for some drivers.
pub struct Session {
    uri: String,
    /// Where events go, for a session made by `with_events`.
    sink: Option<EventSink>,
    /// The event callbacks on `conn`. `reset` drops it before `conn`: deregistering needs
    /// the connection.
    events: Option<Registration>,
    conn: Option<Connect>,
    /// Set by `set_guest_agent`: domain reads also ask the guest agent for addresses.
    agent: Option<GuestAgent>,
}

impl Session {
    pub fn new(uri: &str) -> Self {
        Session {
            uri: uri.to_string(),
            sink: None,
            events: None,
            conn: None,
            agent: None,
        }
    }

    /// A session whose every connection also delivers domain events (lifecycle, device
    /// added/removed, metadata), network lifecycle events and its own close to `sink`.
    /// Events flow only while a connection is open: after `GuestEvent::Closed`, call
    /// `reset_connection` and then any reading method to reconnect.
    pub fn with_events(uri: &str, sink: EventSink) -> Self {
        let mut session = Session::new(uri);
        session.sink = Some(sink);
        session
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether the session holds a connection libvirt still considers alive.
    pub fn connected(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.is_alive().unwrap_or(false))
    }

    /// Whether domain reads (`fetch`, `read_domain`) also ask the QEMU guest agent of each
    /// running domain whose agent is connected for its addresses, waiting at most `timeout`
    /// per domain. `None` (the default) turns it off. A slow or failing agent only leaves
    /// that domain's `guest_addresses` empty.
    pub fn set_guest_agent(&mut self, timeout: Option<Duration>) {
        self.agent = timeout.map(GuestAgent::new);
    }

    /// Reads a snapshot, connecting first when there is no live connection. After a
    /// failure the connection is dropped, so the next call starts afresh.
    pub fn fetch(&mut self) -> Result<Snapshot, LibvirtError> {
        let conn = self.take_connection()?;
        let res = read_snapshot(&conn, &self.uri, self.agent.as_ref());
        self.put_back(conn, res)
    }

    /// Reads every network with its DHCP leases, and nothing else (no domain is read), so
    /// it is cheap enough to poll. Connection handling as in `fetch`.
    pub fn read_networks(&mut self) -> Result<Vec<Network>, LibvirtError> {
        let conn = self.take_connection()?;
        let res = read_networks(&conn, &self.uri);
        self.put_back(conn, res)
    }

    /// Reads one domain by UUID, connecting first like `fetch`. `Ok(None)` when no such
    /// domain exists (any more). After a failure the connection is dropped.
    pub fn read_domain(&mut self, uuid: &str) -> Result<Option<Domain>, LibvirtError> {
        // A malformed UUID is the caller's mistake, not a reason to drop the connection.
        let parsed = uuid::Uuid::parse_str(uuid).map_err(|source| LibvirtError::BadUuid {
            uri: self.uri.clone(),
            uuid: uuid.to_string(),
            source,
        })?;
        let conn = self.take_connection()?;
        let res = match conn.lookup_domain_by_uuid(parsed) {
            Ok(dom) => Ok(read_domain(&dom, self.agent.as_ref())),
            Err(e) if e.code().to_raw() == virt_sys::VIR_ERR_NO_DOMAIN => Ok(None),
            Err(e) => Err(LibvirtError::Lookup {
                uri: self.uri.clone(),
                uuid: uuid.to_string(),
                cause: e.into(),
            }),
        };
        self.put_back(conn, res)
    }

    /// Asks libvirtd for its library version (an RPC on remote drivers): one round trip that reads nothing, to tell
    /// a libvirtd that answers from one that hangs. Connection handling as in `fetch`.
    pub fn probe(&mut self) -> Result<(), LibvirtError> {
        let conn = self.take_connection()?;
        let res = conn
            .lib_version()
            .map(drop)
            .map_err(|e| LibvirtError::Probe {
                uri: self.uri.clone(),
                cause: e.into(),
            });
        self.put_back(conn, res)
    }

    /// Runs `f` on the live connection (opening one first when needed). The connection is
    /// kept for the next call unless it died: a refused action is no reason to reconnect.
    pub(super) fn with_connection<T>(
        &mut self,
        f: impl FnOnce(&Connect, &str) -> Result<T, LibvirtError>,
    ) -> Result<T, LibvirtError> {
        let conn = self.take_connection()?;
        let res = f(&conn, &self.uri);
        let alive = conn.is_alive().unwrap_or(false);
        self.conn = Some(conn);
        if !alive {
            self.reset();
        }
        res
    }

    /// Drops the connection (and its event callbacks); the next read reconnects.
    pub fn reset_connection(&mut self) {
        self.reset();
    }

    /// The live connection, or a new one when there is none or it died.
    fn take_connection(&mut self) -> Result<Connect, LibvirtError> {
        silence_default_error_printer();
        if self.conn.is_some() && !self.connected() {
            debug!(uri = %self.uri, "libvirt connection is dead; reconnecting");
            self.reset();
        }
        match self.conn.take() {
            Some(c) => Ok(c),
            None => self.open(),
        }
    }

    fn open(&mut self) -> Result<Connect, LibvirtError> {
        if self.sink.is_some() {
            // libvirt only delivers events on connections opened after the loop exists.
            start_event_loop().map_err(|source| LibvirtError::EventLoop {
                uri: self.uri.clone(),
                source,
            })?;
        }
        let conn = Connect::open(Some(&self.uri)).map_err(|e| LibvirtError::Connect {
            uri: self.uri.clone(),
            cause: e.into(),
        })?;
        let Some(sink) = &self.sink else {
            return Ok(conn);
        };
        // Keepalive is what notices a libvirtd that vanished without closing the socket.
        if let Err(e) = conn.set_keep_alive(5, 3) {
            // In-process drivers (test:///) have no socket to keep alive: nothing to warn of.
            if e.code().to_raw() == virt_sys::VIR_ERR_NO_SUPPORT {
                debug!(uri = %self.uri, "driver has no keepalive");
            } else {
                warn!(uri = %self.uri, error = %e.message(), "libvirt keepalive not enabled");
            }
        }
        match Registration::new(&conn, sink.clone()) {
            Ok(reg) => {
                self.events = Some(reg);
                Ok(conn)
            }
            Err(refused) => {
                close(conn);
                Err(LibvirtError::Subscribe {
                    uri: self.uri.clone(),
                    step: refused.step,
                    cause: refused.cause,
                })
            }
        }
    }

    /// Keeps the connection for the next call, unless `res` failed.
    fn put_back<T>(
        &mut self,
        conn: Connect,
        res: Result<T, LibvirtError>,
    ) -> Result<T, LibvirtError> {
        self.conn = Some(conn);
        if res.is_err() {
            self.reset();
        }
        res
    }

    fn reset(&mut self) {
        drop(self.events.take());
        if let Some(conn) = self.conn.take() {
            close(conn);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reset();
    }
}

fn close(conn: Connect) {
    // virt's Drop panics when virConnectClose fails; a broken connection must not take the
    // caller down with it.
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(conn))) {
        warn!(
            panic = panic_message(&*payload),
            "closing the libvirt connection failed"
        );
    }
}

/// libvirt prints every error to stderr by default; ours are reported through tracing.
fn silence_default_error_printer() {
    static ONCE: Once = Once::new();
    ONCE.call_once(virt::error::clear_error_callback);
}

/// Runs `f` on the session on a blocking thread: every libvirt call blocks.
pub async fn with_session<T: Send + 'static>(
    session: Arc<Mutex<Session>>,
    f: impl FnOnce(&mut Session) -> Result<T, LibvirtError> + Send + 'static,
) -> Result<T, LibvirtError> {
    let uri = session
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .uri()
        .to_string();
    let joined = tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves a session that reconnects: usable.
        f(&mut session.lock().unwrap_or_else(|e| e.into_inner()))
    })
    .await;
    joined.unwrap_or_else(|e| {
        let reason = match e.try_into_panic() {
            Ok(payload) => panic_message(&*payload).to_string(),
            Err(_) => "cancelled".to_string(),
        };
        tracing::error!(%uri, panic = %reason, "libvirt worker thread stopped unexpectedly");
        Err(LibvirtError::Worker { uri, reason })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_libvirt_call_is_a_worker_error_with_the_panic_message() {
        let session = Arc::new(Mutex::new(Session::new("test:///default")));
        let res: Result<(), _> = with_session(session.clone(), |_| panic!("lost {}", "it")).await;
        match res {
            Err(e @ LibvirtError::Worker { .. }) => assert_eq!(
                e.to_string(),
                "libvirt worker for test:///default stopped unexpectedly: lost it"
            ),
            other => panic!("expected a worker error, got {other:?}"),
        }
        // The session is still usable afterwards.
        assert!(with_session(session, |_| Ok(1)).await.is_ok());
    }
}
