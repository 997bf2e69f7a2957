//! `GET /v1/watch` of the fleet: a `snapshot` (or the logged events after `?since=`, an
//! etcd revision), then every change as the watcher applies it (see [`super::feed`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::api::listed;
use super::feed::{snapshot, Start};
use super::watcher::FleetState;
use crate::api::fault::Fault;
use crate::api::watch::resume_after;

/// A comment line this often keeps proxies and clients from timing the stream out.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Query of the fleet's `GET /v1/watch`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchParams {
    /// Resume after this etcd revision (the `id` of the last event seen); the header
    /// `Last-Event-ID` does the same.
    pub since: Option<i64>,
}

pub(super) async fn watch(
    State(state): State<Arc<FleetState>>,
    headers: HeaderMap,
    Query(params): Query<WatchParams>,
) -> Result<Response, Fault> {
    let since = resume_after(params.since, &headers, "revision")?;
    let (view, start, rx) = state.watch(since);
    listed(&view)?;
    let first = match start {
        Start::Snapshot => vec![snapshot(&view)],
        Start::Replay(frames) => frames,
    };
    let body = Body::from_stream(frames(first, rx, state.closing()));
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    Ok((headers, body).into_response())
}

struct Client {
    first: std::vec::IntoIter<Bytes>,
    rx: broadcast::Receiver<Bytes>,
    closing: tokio::sync::watch::Receiver<bool>,
    keepalive: tokio::time::Interval,
}

/// The first frames, then live ones, with keepalives; ends when the client lags too far
/// (it resumes with `since`) or the server stops.
fn frames(
    first: Vec<Bytes>,
    rx: broadcast::Receiver<Bytes>,
    closing: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let start = tokio::time::Instant::now() + KEEPALIVE;
    let client = Client {
        first: first.into_iter(),
        rx,
        closing,
        keepalive: tokio::time::interval_at(start, KEEPALIVE),
    };
    stream::unfold(client, |mut c| async move {
        if let Some(f) = c.first.next() {
            return Some((Ok(f), c));
        }
        let frame = tokio::select! {
            ev = c.rx.recv() => match ev {
                Ok(f) => f,
                Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
            },
            _ = c.keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
            _ = c.closing.wait_for(|c| *c) => return None,
        };
        Some((Ok(frame), c))
    })
}
