//! The fleet's change feed for `GET /v1/watch`: each change the watcher applies becomes
//! one Server-Sent Event with `id` = its etcd revision, kept in a bounded log so a client
//! resumes with `since` (or `Last-Event-ID`); a client too far behind, or one resuming
//! across a re-list, starts again from a `snapshot`.
//!
//! Events: `snapshot` (`{"revision", "hosts", "interfaces"}`), `record` (a record put,
//! as `/v1/interfaces` serves it), `removed` (`{"host", "id"}`), `host` (the host's
//! `/v1/hosts` entry, or `{"host", "forgotten": true}`), `problems` (`{"host",
//! "problems"}`: its host-level problems).

use std::collections::VecDeque;
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use super::codec::Conflict;
use super::keys::{self, Entry, Key};
use super::view::{FleetView, Host};
use crate::inventory::feed::sse_frame;

/// Events kept for resuming.
const LOG: usize = 8192;
/// Events a client may fall behind before it is dropped (it resumes with `since`).
const LAG: usize = 4096;

/// An entry of `GET /v1/hosts` (and of `host` and `snapshot` events).
#[derive(Debug, Serialize)]
pub struct HostEntry<'a> {
    /// The name its agent publishes under.
    pub host: &'a str,
    /// Its agent's lease lives (`alive/<host>` exists).
    pub alive: bool,
    /// Its records show last known values of some source (the meta's `stale` flags).
    pub stale: bool,
    /// The agent's generation its keys hold; null without a meta.
    pub generation: Option<u64>,
    /// Seconds since the agent last wrote its meta; null when unknown.
    pub age: Option<f64>,
    /// Its records.
    pub vifs: usize,
    /// Another agent found writing under this host name (two agents given one name), as
    /// the publishing agent last saw it within the last 15 minutes; else null.
    pub conflict: Option<&'a Conflict>,
}

pub fn host_entry<'a>(name: &'a str, h: &'a Host, now: SystemTime) -> HostEntry<'a> {
    let meta = h.meta.as_ref();
    let published = meta.and_then(|m| humantime::parse_rfc3339(&m.published_at).ok());
    let stale = meta.is_some_and(|m| {
        let s = m.stale;
        s.libvirt || s.ovn || s.ovsdb || s.libvirt_network
    });
    HostEntry {
        host: name,
        alive: h.alive,
        stale,
        generation: meta.map(|m| m.generation),
        age: published.and_then(|p| now.duration_since(p).ok().map(|d| d.as_secs_f64())),
        vifs: h.vifs.len(),
        conflict: meta
            .and_then(|m| m.conflict.as_ref())
            .filter(|c| c.current(now)),
    }
}

/// Where a new client starts.
pub enum Start {
    Snapshot,
    /// The logged events after its `since`.
    Replay(Vec<Bytes>),
}

/// The log and the live channel. Changed only with the view (under one lock), so that a
/// client's start and its live events meet without a gap.
#[derive(Debug)]
pub struct Feed {
    log: VecDeque<(i64, Bytes)>,
    /// Every event after this revision is in the log.
    floor: i64,
    tx: broadcast::Sender<Bytes>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            log: VecDeque::new(),
            floor: i64::MAX,
            tx: broadcast::channel(LAG).0,
        }
    }
}

impl Feed {
    /// A new list at `view`: nothing before it can be resumed; every client gets the
    /// snapshot.
    pub fn listed(&mut self, view: &FleetView) {
        self.log.clear();
        self.floor = view.revision;
        // Only for clients already watching (a re-list): at a cold start there is none,
        // and the snapshot of a whole fleet is the size of every record.
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(snapshot(view));
        }
    }

    pub fn push(&mut self, revision: i64, frame: Bytes) {
        if self.log.len() == LOG {
            if let Some((r, _)) = self.log.pop_front() {
                self.floor = self.floor.max(r);
            }
        }
        self.log.push_back((revision, frame.clone()));
        let _ = self.tx.send(frame);
    }

    /// Where a client resuming after `since` starts, at `view` (the current one).
    pub fn start(
        &self,
        since: Option<i64>,
        view: &FleetView,
    ) -> (Start, broadcast::Receiver<Bytes>) {
        let start = match since {
            Some(s) if s >= self.floor && s <= view.revision => Start::Replay(
                (self.log.iter())
                    .filter(|(r, _)| *r > s)
                    .map(|(_, f)| f.clone())
                    .collect(),
            ),
            _ => Start::Snapshot,
        };
        (start, self.tx.subscribe())
    }
}

fn frame(kind: &str, revision: i64, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_vec(data).unwrap_or_default();
    sse_frame(kind, u64::try_from(revision).unwrap_or(0), &json)
}

#[derive(Serialize)]
struct Snapshot<'a> {
    revision: i64,
    hosts: Vec<HostEntry<'a>>,
    interfaces: Vec<serde_json::Value>,
}

/// The `snapshot` event of a view.
pub fn snapshot(view: &FleetView) -> Bytes {
    let now = SystemTime::now();
    let interfaces = (view.records())
        .filter_map(|r| {
            let mut out = Vec::new();
            r.json_with_host(&mut out);
            serde_json::from_slice(&out).ok()
        })
        .collect();
    let data = Snapshot {
        revision: view.revision,
        hosts: view.hosts().map(|(n, h)| host_entry(n, h, now)).collect(),
        interfaces,
    };
    frame("snapshot", view.revision, &data)
}

#[derive(Serialize)]
struct Removed<'a> {
    host: &'a str,
    id: &'a str,
}

#[derive(Serialize)]
struct Forgotten<'a> {
    host: &'a str,
    forgotten: bool,
}

#[derive(Serialize)]
struct Problems<'a> {
    host: &'a str,
    problems: &'a [serde_json::Value],
}

/// The event of a change of `key` at `revision`, `view` having applied it.
pub fn event(view: &FleetView, key: &str, revision: i64) -> Option<Bytes> {
    let (host, entry) = match keys::parse(key)? {
        Key::Alive(h) | Key::Host(h, Entry::Meta) => (h, Entry::Meta),
        Key::Host(h, e) => (h, e),
    };
    let Some(state) = view.host(host) else {
        return Some(frame(
            "host",
            revision,
            &Forgotten {
                host,
                forgotten: true,
            },
        ));
    };
    match entry {
        Entry::Meta => Some(frame(
            "host",
            revision,
            &host_entry(host, state, SystemTime::now()),
        )),
        Entry::Problems => Some(frame(
            "problems",
            revision,
            &Problems {
                host,
                problems: &state.problems,
            },
        )),
        Entry::Vif(id) => Some(match state.vifs.get(id) {
            Some(r) => {
                let mut out = Vec::new();
                r.json_with_host(&mut out);
                sse_frame("record", u64::try_from(revision).unwrap_or(0), &out)
            }
            None => frame("removed", revision, &Removed { host, id }),
        }),
        Entry::Domains | Entry::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::view::Change;

    fn at(revision: i64) -> FleetView {
        let (view, _) = FleetView::listed([], revision);
        view
    }

    #[test]
    fn a_client_resumes_from_the_log_or_starts_from_a_snapshot() {
        let mut feed = Feed::default();
        let (start, _) = feed.start(Some(3), &at(5));
        assert!(matches!(start, Start::Snapshot), "nothing listed yet");
        feed.listed(&at(5));
        feed.push(6, Bytes::from_static(b"six"));
        feed.push(7, Bytes::from_static(b"seven"));
        match feed.start(Some(6), &at(7)).0 {
            Start::Replay(f) => assert_eq!(f, [Bytes::from_static(b"seven")]),
            Start::Snapshot => panic!("6 is in the log"),
        }
        for since in [Some(4), Some(8), None] {
            let (start, _) = feed.start(since, &at(7));
            assert!(matches!(start, Start::Snapshot), "{since:?}");
        }
    }

    #[test]
    fn events_name_what_changed() {
        let k = keys::HostKeys::new("hv-1");
        let mut view = at(1);
        view.apply(Change::Put(&k.alive(), b"i")).unwrap();
        let host = event(&view, &k.alive(), 2).unwrap();
        assert!(host.starts_with(b"event: host\nid: 2\ndata: {\"host\":\"hv-1\",\"alive\":true"));
        let removed = event(&view, &k.vif("r"), 3).unwrap();
        assert!(removed.ends_with(b"{\"host\":\"hv-1\",\"id\":\"r\"}\n\n"));
        view.apply(Change::Delete(&k.alive())).unwrap();
        let gone = event(&view, &k.alive(), 4).unwrap();
        assert!(gone.ends_with(b"{\"host\":\"hv-1\",\"forgotten\":true}\n\n"));
        view.apply(Change::Put(&k.alive(), b"i")).unwrap();
        assert!(
            event(&view, &k.domains(), 5).is_none(),
            "no event of its own"
        );
    }
}
