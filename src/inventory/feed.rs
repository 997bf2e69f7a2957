//! The change feed behind `GET /v1/watch` and the long poll: every applied change as an
//! event with its own generation, kept in a bounded log for `?since=` and broadcast to
//! live watchers. Events are rendered to SSE frames once and shared by every watcher.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::problem::Problem;
use super::record::Vif;
use crate::correlate::Delta;

/// Events kept for `?since=` and queued per watcher before it counts as too slow.
pub const LOG_CAPACITY: usize = 8192;

/// One event, rendered once as an SSE frame.
#[derive(Debug)]
pub struct Event {
    pub generation: u64,
    /// `added`, `changed`, `removed`, `problem` or `resync`.
    pub kind: &'static str,
    /// `event:`, `id:` and `data:` lines: all a watcher is sent, so the only copy kept.
    pub frame: Bytes,
}

impl Event {
    fn new<T: Serialize>(generation: u64, kind: &'static str, data: &T) -> Arc<Self> {
        // Our own types always serialize; a failure would be a bug, shown rather than hidden.
        let data = serde_json::to_vec(data)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
        let frame = sse_frame(kind, generation, &data);
        Arc::new(Event {
            generation,
            kind,
            frame,
        })
    }
}

/// `event: KIND`, `id: GEN` and one `data:` line (JSON has no raw newlines).
pub fn sse_frame(kind: &str, generation: u64, data: &[u8]) -> Bytes {
    let mut f = Vec::with_capacity(data.len() + 48);
    f.extend_from_slice(format!("event: {kind}\nid: {generation}\ndata: ").as_bytes());
    f.extend_from_slice(data);
    f.extend_from_slice(b"\n\n");
    Bytes::from(f)
}

#[derive(Serialize)]
struct RecordData<'a> {
    generation: u64,
    /// `removed`: the id of the record gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// `changed`: the record's id before, when the change gave it a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_id: Option<&'a str>,
    interface: &'a Vif,
}

#[derive(Serialize)]
struct ProblemData<'a> {
    generation: u64,
    /// `raised` or `cleared`.
    status: &'static str,
    problem: &'a Problem,
}

#[derive(Serialize)]
struct ResyncData<'a> {
    generation: u64,
    reason: &'a str,
}

/// The events for a resync (when `resync` names why) followed by `deltas`, numbered from
/// `first`.
pub fn events(first: u64, resync: Option<&str>, deltas: &[Delta]) -> Vec<Arc<Event>> {
    let mut out = Vec::with_capacity(deltas.len() + 1);
    let mut generation = first;
    let mut next = || {
        let g = generation;
        generation += 1;
        g
    };
    if let Some(reason) = resync {
        let g = next();
        out.push(Event::new(
            g,
            "resync",
            &ResyncData {
                generation: g,
                reason,
            },
        ));
    }
    for d in deltas {
        let g = next();
        let record = |kind, id: Option<&str>, previous_id: Option<&str>, v: &Vif| {
            let data = RecordData {
                generation: g,
                id,
                previous_id,
                interface: v,
            };
            Event::new(g, kind, &data)
        };
        let problem = |status, p: &Problem| {
            let data = ProblemData {
                generation: g,
                status,
                problem: p,
            };
            Event::new(g, "problem", &data)
        };
        out.push(match d {
            Delta::Added(v) => record("added", None, None, v),
            Delta::Changed {
                record: v,
                previous_id,
            } => record("changed", None, previous_id.as_deref(), v),
            Delta::Removed(v) => record("removed", Some(&v.id), None, v),
            Delta::ProblemRaised(p) => problem("raised", p),
            Delta::ProblemCleared(p) => problem("cleared", p),
        });
    }
    out
}

/// Where a new watcher starts.
pub enum Start {
    /// Send the current state first.
    Snapshot,
    /// Send these logged events first; the client has everything before them.
    Replay(Vec<Arc<Event>>),
}

#[derive(Default)]
struct Log {
    events: VecDeque<Arc<Event>>,
    /// Every event up to this generation has left the log (or predates it).
    evicted_through: u64,
}

/// The log and the broadcast, under one lock with the view swap (see `Shared`).
pub struct Feed {
    log: Mutex<Log>,
    tx: broadcast::Sender<Arc<Event>>,
    generation: watch::Sender<u64>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            log: Mutex::new(Log::default()),
            tx: broadcast::channel(LOG_CAPACITY).0,
            generation: watch::channel(0).0,
        }
    }
}

impl Feed {
    /// Runs `swap` (which publishes the view) and records `events`, atomically with
    /// respect to [`subscribe`](Self::subscribe).
    pub(crate) fn record(&self, generation: u64, events: Vec<Arc<Event>>, swap: impl FnOnce()) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        swap();
        if log.evicted_through == 0 && log.events.is_empty() {
            // The first view: a client that saw it has everything before it.
            log.evicted_through = generation.saturating_sub(events.len() as u64);
        }
        for ev in events {
            if log.events.len() == LOG_CAPACITY {
                if let Some(old) = log.events.pop_front() {
                    log.evicted_through = old.generation;
                }
            }
            log.events.push_back(ev.clone());
            // No receivers is fine: nobody is watching.
            let _ = self.tx.send(ev);
        }
        drop(log);
        self.generation.send_replace(generation);
    }

    /// A receiver for live events and where to start: from `since` when the log still
    /// holds everything after it, else from a snapshot. `current` is the served generation,
    /// read under the same lock.
    pub(crate) fn subscribe(
        &self,
        since: Option<u64>,
        current: impl FnOnce() -> u64,
    ) -> (Start, broadcast::Receiver<Arc<Event>>) {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let current = current();
        let start = match since {
            Some(s) if s >= log.evicted_through && s <= current && current > 0 => Start::Replay(
                log.events
                    .iter()
                    .filter(|e| e.generation > s)
                    .cloned()
                    .collect(),
            ),
            _ => Start::Snapshot,
        };
        (start, rx)
    }

    /// A receiver of the served generation, for long polls.
    pub fn generation(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}
