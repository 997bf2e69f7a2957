//! `GET /v1/watch`: Server-Sent Events. A `snapshot` (or the logged events after
//! `?since=`), then every change as it is applied. A watcher that falls more than the
//! log's capacity behind is disconnected; it resumes with `since` like any other.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, error::RecvError};
use tracing::debug;
use utoipa::IntoParams;

use super::fault::Fault;
use super::native::ready;
use crate::inventory::feed::{sse_frame, Event, Start};
use crate::inventory::{Seq, Shared, View};

/// A comment line this often keeps proxies and clients from timing the stream out.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Query of `GET /v1/watch`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WatchParams {
    /// Resume after this generation (the `id` of the last event seen). The header
    /// `Last-Event-ID` does the same.
    pub since: Option<u64>,
    /// The `instance` of the snapshot the client holds: events from another daemon
    /// instance do not apply to it, so a mismatch starts with a fresh snapshot.
    pub instance: Option<String>,
}

/// The `snapshot` event's data.
#[derive(Serialize)]
struct SnapshotData<'a> {
    generation: u64,
    instance: &'a str,
    collected_at: &'a str,
    stale: bool,
    #[serde(serialize_with = "all_interfaces")]
    interfaces: &'a View,
    #[serde(serialize_with = "all_problems")]
    problems: &'a View,
}

fn all_interfaces<S: serde::Serializer>(view: &&View, s: S) -> Result<S::Ok, S::Error> {
    Seq(|| view.interfaces()).serialize(s)
}

fn all_problems<S: serde::Serializer>(view: &&View, s: S) -> Result<S::Ok, S::Error> {
    Seq(|| view.problems()).serialize(s)
}

#[utoipa::path(get, path = "/v1/watch", tag = "native", params(WatchParams), responses(
    (status = 200, description = "text/event-stream: `snapshot`, then `added`, `changed`, `removed`, `problem` and `resync` events, each with `id` = its generation"),
    (status = 400, description = "Bad `since` or unknown parameter"),
    (status = 503, description = "No inventory yet")))]
pub async fn watch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<WatchParams>,
) -> Result<Response, Fault> {
    let since = resume_after(params.since, &headers, "generation")?;
    let other_instance = params
        .instance
        .as_deref()
        .is_some_and(|i| i != shared.instance());
    let since = since.filter(|_| !other_instance);
    let (view, start, rx) = shared.subscribe(since);
    ready(&view)?;
    let first: Vec<Bytes> = match start {
        Start::Snapshot => vec![snapshot_frame(&view, shared.instance())?],
        Start::Replay(events) => events.iter().map(|e| e.frame.clone()).collect(),
    };
    let body = Body::from_stream(frames(first, rx, shared.closing()));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// Where a client resumes: `since`, else the `Last-Event-ID` header (400 unless it reads
/// as a `what`: a generation, an etcd revision).
pub(crate) fn resume_after<T: std::str::FromStr>(
    since: Option<T>,
    headers: &HeaderMap,
    what: &str,
) -> Result<Option<T>, Fault> {
    match (since, headers.get("last-event-id")) {
        (Some(s), _) => Ok(Some(s)),
        (None, Some(v)) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| Fault::bad_request(format!("Last-Event-ID is not a {what}."))),
        (None, None) => Ok(None),
    }
}

fn snapshot_frame(view: &View, instance: &str) -> Result<Bytes, Fault> {
    let data = SnapshotData {
        generation: view.generation,
        instance,
        collected_at: &view.collected_at,
        stale: view.stale,
        interfaces: view,
        problems: view,
    };
    let json = serde_json::to_vec(&data)
        .map_err(|e| Fault::internal(format!("cannot serialize the snapshot: {e}")))?;
    Ok(sse_frame("snapshot", view.generation, &json))
}

struct Watcher {
    first: std::vec::IntoIter<Bytes>,
    rx: broadcast::Receiver<Arc<Event>>,
    closing: tokio::sync::watch::Receiver<bool>,
    keepalive: tokio::time::Interval,
}

/// The first frames, then live ones, with keepalives; ends when the watcher lags too far
/// or the daemon stops.
fn frames(
    first: Vec<Bytes>,
    rx: broadcast::Receiver<Arc<Event>>,
    closing: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let w = Watcher {
        first: first.into_iter(),
        rx,
        closing,
        keepalive,
    };
    stream::unfold(w, |mut w| async move {
        if let Some(f) = w.first.next() {
            return Some((Ok(f), w));
        }
        let frame = tokio::select! {
            ev = w.rx.recv() => match ev {
                Ok(ev) => ev.frame.clone(),
                Err(RecvError::Lagged(n)) => {
                    debug!(missed = n, "dropping a watcher that fell behind");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            },
            _ = w.keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
            _ = w.closing.wait_for(|c| *c) => return None,
        };
        Some((Ok(frame), w))
    })
}
