//! The request flow: one `monitor` request whose reply is the initial state, then (for a kept
//! monitor) `update` notifications, with the server's `echo` probes answered on the way.
//!
//! A one-shot read uses the same `monitor` request and simply hangs up after the reply: it is
//! one round trip, and the reply has exactly the shape updates have, so one decoder serves both.

use std::ops::Range;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::addr::{OvsdbAddr, OvsdbError};
use super::message::{self, Message};
use super::state::OvsState;
use super::tables::{Tables, MONITORED};
use super::wire::Conn;

const DATABASE: &str = "Open_vSwitch";

/// The id of our only request; replies with other ids are not ours to read.
const MONITOR_ID: u64 = 1;
/// How long a kept monitor may be silent before vifd probes ovsdb-server with an `echo`,
/// and how long the echo may go unanswered before the server counts as hung. A local
/// server answers in microseconds.
const PROBE_AFTER: Duration = Duration::from_secs(2);

/// Reads Interface, Port and Bridge once: connect, one `monitor` round trip, close.
/// The whole exchange, connecting included, is bounded by `timeout`.
pub async fn read_state(addr: &OvsdbAddr, timeout: Duration) -> Result<OvsState, OvsdbError> {
    let (_conn, tables) = bounded(addr, timeout, start_monitor(addr)).await?;
    Ok(tables.state())
}

/// A kept connection with a `monitor` on the columns vifd reports.
///
/// After [`next`](Self::next) returns an error the connection is unusable; connect again.
pub struct OvsdbMonitor {
    conn: Conn,
    tables: Tables,
    /// Updates were applied but their state not yet returned (a cancelled `next`).
    dirty: bool,
}

impl OvsdbMonitor {
    /// Connects and sends the monitor request; returns the initial state (bounded by `timeout`).
    pub async fn connect(
        addr: &OvsdbAddr,
        timeout: Duration,
    ) -> Result<(Self, OvsState), OvsdbError> {
        let (conn, tables) = bounded(addr, timeout, start_monitor(addr)).await?;
        let state = tables.state();
        let monitor = OvsdbMonitor {
            conn,
            tables,
            dirty: false,
        };
        Ok((monitor, state))
    }

    /// Where this monitor is connected.
    pub fn addr(&self) -> &OvsdbAddr {
        self.conn.addr()
    }

    /// Waits for the next `update` notification, applies it with every other update already
    /// received (a burst of transactions yields one state), and returns the new full state.
    ///
    /// Cancel-safe: applied updates and buffered bytes stay in `self`, so a dropped call
    /// loses nothing and the next call returns the pending state at once.
    pub async fn next(&mut self) -> Result<OvsState, OvsdbError> {
        loop {
            while let Some(frame) = self.conn.next_frame()? {
                match decode(&self.conn, &frame)? {
                    Message::Update(updates) => {
                        self.tables.apply(updates);
                        self.dirty = true;
                    }
                    Message::Echo { id, params } => answer_echo(&mut self.conn, id, params),
                    Message::Reply(_) => tracing::debug!("ignoring a second monitor reply"),
                    Message::Other => {}
                }
            }
            self.conn.flush().await?;
            // Half a message received means more of the burst is on its way: wait for it.
            if self.dirty && !self.conn.has_partial() {
                self.dirty = false;
                return Ok(self.tables.state());
            }
            self.conn.fill_or_probe(PROBE_AFTER).await?;
        }
    }
}

async fn bounded<T>(
    addr: &OvsdbAddr,
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, OvsdbError>>,
) -> Result<T, OvsdbError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(OvsdbError::Timeout {
            addr: addr.clone(),
            timeout,
        }),
    }
}

/// Connects, sends the monitor request and returns the rows of its reply.
async fn start_monitor(addr: &OvsdbAddr) -> Result<(Conn, Tables), OvsdbError> {
    let mut conn = Conn::open(addr).await?;
    conn.queue(&monitor_request());
    loop {
        while let Some(frame) = conn.next_frame()? {
            match decode(&conn, &frame)? {
                Message::Reply(Ok(updates)) => {
                    let mut tables = Tables::default();
                    tables.apply(updates);
                    return Ok((conn, tables));
                }
                Message::Reply(Err(error)) => {
                    return Err(OvsdbError::Server {
                        addr: addr.clone(),
                        request: "monitor",
                        message: error_text(&error),
                    });
                }
                Message::Echo { id, params } => answer_echo(&mut conn, id, params),
                Message::Update(_) => tracing::debug!("ignoring an update before the reply"),
                Message::Other => {}
            }
        }
        conn.flush().await?;
        conn.fill().await?;
    }
}

fn monitor_request() -> Value {
    let tables: Map<String, Value> = MONITORED
        .iter()
        .map(|(table, columns)| (table.to_string(), json!({ "columns": columns })))
        .collect();
    json!({ "method": "monitor", "params": [DATABASE, null, tables], "id": MONITOR_ID })
}

fn decode<'c>(conn: &'c Conn, frame: &Range<usize>) -> Result<Message<'c>, OvsdbError> {
    message::decode(conn.frame(frame), MONITOR_ID).map_err(|e| conn.protocol(e.to_string()))
}

/// Answers an `echo` (the server's liveness probe); the next flush sends it.
fn answer_echo(conn: &mut Conn, id: Value, params: Value) {
    conn.queue(&json!({ "id": id, "result": params, "error": null }));
}

/// `{"error": E, "details": D}` as "E: D"; anything else as its JSON text.
fn error_text(error: &Value) -> String {
    let field = |name| error.get(name).and_then(Value::as_str);
    match (field("error"), field("details")) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.to_string(),
        _ => match error.as_str() {
            Some(text) => text.to_string(),
            None => error.to_string(),
        },
    }
}
