//! The Southbound session: on one member, a `monitor_cond` on `_Server` (is this member in
//! its cluster?) and one on `OVN_Southbound` for this host's rows, sent together; then
//! `monitor_cond_change` whenever the rows read widen what is wanted.
//!
//! Any member that is connected to its cluster serves reads; a member that loses its
//! cluster ends the session so the caller moves to another.

use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use tracing::debug;

use super::conditions::{metadata_requests, Conditions};
use super::error::OvnError;
use super::rows::{members, Kind, Table};
use super::state::{SbState, Wanted};
use super::tables::Tables;
use crate::ovsdb::{Conn, OvsdbAddr, OvsdbError};

const DATABASE: &str = "OVN_Southbound";
/// The monitors' ids, echoed in their `update2` notifications.
const SERVER_MONITOR: &str = "server";
const SB_MONITOR: &str = "sb";
const METADATA_MONITOR: &str = "metadata";
/// How long the session may be silent before vifd probes it with an `echo`, and how long
/// the probe may go unanswered before the member counts as gone.
const PROBE_AFTER: Duration = Duration::from_secs(5);
/// Request ids: the two monitors, then one per condition change.
const SERVER_REQUEST: u64 = 1;
const SB_REQUEST: u64 = 2;
const METADATA_REQUEST: u64 = 3;
const FIRST_CHANGE: u64 = 4;

const SERVER_COLUMNS: &[(&str, Kind)] = &[
    ("name", Kind::Atom),
    ("model", Kind::Atom),
    ("connected", Kind::Atom),
];

/// Reads the wanted rows once: connect to the first member that answers, settle, hang up.
pub async fn read_state(
    remotes: &[OvsdbAddr],
    wanted: Wanted,
    timeout: Duration,
) -> Result<SbState, OvnError> {
    let (_monitor, state, _) = SbMonitor::connect(remotes, 0, wanted, timeout).await?;
    Ok(state)
}

/// A kept Southbound session. After [`next`](Self::next) fails, connect again.
pub struct SbMonitor {
    conn: Conn,
    tables: Tables,
    server: Table,
    wanted: Wanted,
    /// The conditions the server holds (or will, once `in_flight` is answered).
    sent: Conditions,
    in_flight: Option<u64>,
    next_id: u64,
    server_answered: bool,
    monitoring: bool,
    metadata_answered: bool,
    /// `additional_chassis` is asked for (until a server before OVN 22.06 refuses it).
    additional: bool,
    /// Rows changed (or what is wanted did) since the last state returned.
    dirty: bool,
}

impl SbMonitor {
    /// Connects to the members in turn from `start`, and returns the session, the state
    /// it settled on and the index of the member that answered. Each try is bounded by
    /// `timeout`.
    pub async fn connect(
        remotes: &[OvsdbAddr],
        start: usize,
        wanted: Wanted,
        timeout: Duration,
    ) -> Result<(Self, SbState, usize), OvnError> {
        let mut last = OvnError::NoRemote;
        for i in 0..remotes.len() {
            let index = (start + i) % remotes.len();
            let addr = &remotes[index];
            let attempt = async {
                let mut m = SbMonitor::open(addr, wanted.clone()).await?;
                m.settle().await?;
                Ok::<_, OvnError>(m)
            };
            let result = match tokio::time::timeout(timeout, attempt).await {
                Ok(r) => r,
                Err(_) => Err(OvsdbError::Timeout {
                    addr: addr.clone(),
                    timeout,
                }
                .into()),
            };
            match result {
                Ok(mut m) => {
                    m.dirty = false;
                    let state = m.state();
                    return Ok((m, state, index));
                }
                Err(e) => {
                    debug!(error = %e, "OVN Southbound member unusable; trying the next");
                    last = e;
                }
            }
        }
        let tried: Vec<String> = remotes.iter().map(ToString::to_string).collect();
        Err(OvnError::NoMember {
            tried: tried.join(","),
            last: Box::new(last),
        })
    }

    /// The member this session reads from.
    pub fn addr(&self) -> &OvsdbAddr {
        self.conn.addr()
    }

    /// Asks for other ports (or another chassis name); the next state answers for them.
    pub fn set_wanted(&mut self, wanted: Wanted) {
        if wanted != self.wanted {
            self.wanted = wanted;
            self.dirty = true;
        }
    }

    /// Waits until the rows (or what is wanted) changed and the conditions have settled,
    /// and returns the new state. Cancel-safe: everything received stays in `self`.
    pub async fn next(&mut self) -> Result<SbState, OvnError> {
        loop {
            self.step()?;
            self.conn.flush().await?;
            if self.dirty && self.settled() {
                self.dirty = false;
                return Ok(self.state());
            }
            self.conn.fill_or_probe(PROBE_AFTER).await?;
        }
    }

    async fn open(addr: &OvsdbAddr, wanted: Wanted) -> Result<SbMonitor, OvnError> {
        let mut conn = Conn::open(addr).await?;
        let mut tables = Tables::default();
        let sent = tables.conditions(&wanted);
        let server_where = json!([["name", "==", DATABASE]]);
        let server = json!({"Database": [{"where": server_where, "columns": ["name", "model", "connected"]}]});
        conn.queue(&request(
            SERVER_REQUEST,
            "monitor_cond",
            json!(["_Server", SERVER_MONITOR, server]),
        ));
        conn.queue(&sb_monitor(&sent, true));
        let metadata = json!([DATABASE, METADATA_MONITOR, metadata_requests()]);
        conn.queue(&request(METADATA_REQUEST, "monitor_cond", metadata));
        Ok(SbMonitor {
            conn,
            tables,
            server: Table::default(),
            wanted,
            sent,
            in_flight: None,
            next_id: FIRST_CHANGE,
            server_answered: false,
            monitoring: false,
            metadata_answered: false,
            additional: true,
            dirty: true,
        })
    }

    /// Reads until both monitors are answered and the conditions have settled.
    async fn settle(&mut self) -> Result<(), OvnError> {
        loop {
            self.step()?;
            self.conn.flush().await?;
            if self.settled() {
                return Ok(());
            }
            self.conn.fill().await?;
        }
    }

    fn settled(&self) -> bool {
        self.server_answered
            && self.monitoring
            && self.metadata_answered
            && self.in_flight.is_none()
            && !self.conn.has_partial()
    }

    /// Handles every complete message received, then asks for what the rows now need.
    fn step(&mut self) -> Result<(), OvnError> {
        while let Some(frame) = self.conn.next_frame()? {
            // Copied out so that handling it may write to the connection; the rows stay
            // text until applied, one at a time.
            let bytes = self.conn.frame(&frame).to_vec();
            // serde would read an array as the object's fields in order.
            let object = bytes.first() == Some(&b'{');
            let message = object.then(|| serde_json::from_slice::<Envelope>(&bytes));
            let message = match message {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    let what = format!("a message that is not a JSON-RPC object: {e}");
                    return Err(self.conn.protocol(what).into());
                }
                None => {
                    let what = "a message that is not a JSON-RPC object: an array";
                    return Err(self.conn.protocol(what).into());
                }
            };
            self.handle(message)?;
        }
        if self.monitoring && self.in_flight.is_none() {
            let next = self.tables.conditions(&self.wanted);
            if next != self.sent {
                let id = self.next_id;
                self.next_id += 1;
                let change = self.sent.change_to(&next);
                let params = json!([SB_MONITOR, SB_MONITOR, change]);
                self.conn.queue(&request(id, "monitor_cond_change", params));
                self.sent = next;
                self.in_flight = Some(id);
            }
        }
        Ok(())
    }

    fn handle(&mut self, message: Envelope) -> Result<(), OvnError> {
        match message.method.as_deref() {
            Some("update2") => {
                let Some(params) = message.params else {
                    return Ok(());
                };
                let (monitor, updates): (Value, &RawValue) = serde_json::from_str(params.get())
                    .map_err(|e| {
                        self.conn
                            .protocol(format!("an update2 vifd cannot read: {e}"))
                    })?;
                match monitor.as_str() {
                    Some(SB_MONITOR) => self.apply(updates),
                    Some(METADATA_MONITOR) => self.apply_metadata(updates),
                    Some(SERVER_MONITOR) => self.apply_server(updates),
                    _ => Ok(()),
                }
            }
            Some("echo") => {
                let params = message.params.map(|p| serde_json::from_str(p.get()));
                let params: Value = params.transpose().ok().flatten().unwrap_or(Value::Null);
                let reply = json!({"id": message.id, "result": params, "error": null});
                self.conn.queue(&reply);
                Ok(())
            }
            Some(_) => Ok(()),
            None => self.reply(message),
        }
    }

    fn reply(&mut self, message: Envelope) -> Result<(), OvnError> {
        let id = message.id.as_u64();
        let error = message.error;
        let refused = |request: &'static str| OvsdbError::Server {
            addr: self.conn.addr().clone(),
            request,
            message: error.to_string(),
        };
        let result = message.result;
        match id {
            Some(SERVER_REQUEST) if error.is_null() => {
                self.server_answered = true;
                result.map_or(Ok(()), |r| self.apply_server(r))
            }
            // A server without `_Server` (before OVS 2.9) is not clustered.
            Some(SERVER_REQUEST) => {
                self.server_answered = true;
                Ok(())
            }
            Some(SB_REQUEST) if error.is_null() => {
                self.monitoring = true;
                result.map_or(Ok(()), |r| self.apply(r))
            }
            // A server before OVN 22.06 has no additional_chassis: ask again without it.
            Some(SB_REQUEST) if std::mem::take(&mut self.additional) => {
                debug!(error = %error, "asking the Southbound again without additional_chassis");
                self.conn.queue(&sb_monitor(&self.sent, false));
                Ok(())
            }
            Some(SB_REQUEST) => Err(refused("monitor_cond").into()),
            Some(METADATA_REQUEST) if error.is_null() => {
                self.metadata_answered = true;
                result.map_or(Ok(()), |r| self.apply_metadata(r))
            }
            Some(METADATA_REQUEST) => Err(refused("monitor_cond").into()),
            Some(n) if Some(n) == self.in_flight && error.is_null() => {
                self.in_flight = None;
                Ok(())
            }
            Some(n) if Some(n) == self.in_flight => Err(refused("monitor_cond_change").into()),
            _ => Ok(()),
        }
    }

    fn apply_metadata(&mut self, updates: &RawValue) -> Result<(), OvnError> {
        self.dirty = true;
        self.tables
            .apply_metadata(updates)
            .map_err(|e| self.update_error(e))
    }

    fn apply(&mut self, updates: &RawValue) -> Result<(), OvnError> {
        self.dirty = true;
        self.tables.apply(updates).map_err(|e| self.update_error(e))
    }

    /// `_Server`'s row for the Southbound: a clustered member that has lost its cluster
    /// serves old data, so the session ends.
    fn apply_server(&mut self, updates: &RawValue) -> Result<(), OvnError> {
        let tables = members("_Server", updates).map_err(|e| self.update_error(e))?;
        for (_, rows) in tables.into_iter().filter(|(t, _)| *t == "Database") {
            let rows = members("Database", rows).map_err(|e| self.update_error(e))?;
            self.server
                .apply("Database", SERVER_COLUMNS, &rows)
                .map_err(|e| self.update_error(e))?;
        }
        for row in self.server.rows.values() {
            let model = row.str("model").unwrap_or("standalone");
            // `connected` left out of an initial row is at its default: false.
            if model != "standalone" && row.bool("connected") != Some(true) {
                return Err(OvnError::NotConnected {
                    addr: self.conn.addr().clone(),
                    model: model.to_string(),
                });
            }
        }
        Ok(())
    }

    fn update_error(&self, e: impl std::fmt::Display) -> OvnError {
        OvnError::Update {
            addr: self.conn.addr().clone(),
            reason: e.to_string(),
        }
    }

    fn state(&mut self) -> SbState {
        self.tables.state(&self.wanted)
    }
}

/// The Southbound monitor's request, with `additional_chassis` or without.
fn sb_monitor(conditions: &Conditions, additional: bool) -> Value {
    let tables = conditions.monitor_requests(additional);
    request(
        SB_REQUEST,
        "monitor_cond",
        json!([DATABASE, SB_MONITOR, tables]),
    )
}

/// A JSON-RPC message from the server, its payload left as text.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    method: Option<String>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Value,
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"id": id, "method": method, "params": params})
}

#[cfg(test)]
mod tests;
