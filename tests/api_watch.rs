//! `/v1/watch` over the router alone: a watcher that keeps up gets every event in order;
//! one that falls more than the log's capacity behind is disconnected instead of
//! holding memory; shutdown ends every stream.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

use vifd::api::{router, RouterOptions};
use vifd::correlate::Changes;
use vifd::inventory::feed::{events, LOG_CAPACITY};
use vifd::inventory::{Shared, View};
use vifd::{Delta, Problem, ProblemKind};

fn orphan(n: usize) -> Delta {
    Delta::ProblemRaised(Arc::new(Problem {
        kind: ProblemKind::OrphanDevice,
        device: Some(format!("tap{n}")),
        domain_uuid: None,
        mac_address: None,
        detail: format!("tap tap{n} is not claimed by any domain"),
    }))
}

fn view(generation: u64) -> View {
    View::build(generation, SystemTime::now(), Changes::default())
}

/// Publishes `n` events after the current generation.
fn publish(shared: &Shared, n: usize) {
    let first = shared.current().generation + 1;
    let deltas: Vec<Delta> = (0..n).map(orphan).collect();
    let evs = events(first, None, &deltas);
    shared.publish(view(first + n as u64 - 1), evs);
}

async fn open(shared: &Arc<Shared>) -> Body {
    let req = Request::get("/v1/watch").body(Body::empty()).unwrap();
    let resp = router(shared.clone(), RouterOptions::default())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body()
}

/// Frames until the stream ends or nothing comes for 500 ms: (kinds, ended).
async fn drain(body: &mut Body) -> (Vec<String>, bool) {
    let mut kinds = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(500), body.frame()).await {
            Err(_) => return (kinds, false),
            Ok(None) => return (kinds, true),
            Ok(Some(frame)) => {
                let data = frame.unwrap().into_data().unwrap();
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some(kind) = text.strip_prefix("event: ") {
                    kinds.push(kind.lines().next().unwrap().to_string());
                }
            }
        }
    }
}

#[tokio::test]
async fn a_watcher_that_keeps_up_gets_every_event() {
    let shared = Shared::with_view(view(1));
    let mut body = open(&shared).await;
    publish(&shared, 100);
    let (kinds, ended) = drain(&mut body).await;
    assert!(!ended);
    assert_eq!(kinds.len(), 101);
    assert_eq!(kinds[0], "snapshot");
    assert!(kinds[1..].iter().all(|k| k == "problem"));
}

#[tokio::test]
async fn a_watcher_that_falls_too_far_behind_is_dropped() {
    let shared = Shared::with_view(view(1));
    let mut body = open(&shared).await;
    publish(&shared, LOG_CAPACITY + 10);
    let (kinds, ended) = drain(&mut body).await;
    assert_eq!(kinds, ["snapshot"], "no backlog is sent to a slow watcher");
    assert!(ended, "the slow watcher is disconnected");
    // It resumes like any client: the log no longer reaches back, so a new snapshot.
    let req = Request::get("/v1/watch?since=1")
        .body(Body::empty())
        .unwrap();
    let resp = router(shared.clone(), RouterOptions::default())
        .oneshot(req)
        .await
        .unwrap();
    let (kinds, _) = drain(&mut resp.into_body()).await;
    assert_eq!(kinds, ["snapshot"]);
}

#[tokio::test]
async fn closing_ends_every_stream() {
    let shared = Shared::with_view(view(1));
    let mut body = open(&shared).await;
    shared.close_watchers();
    let (kinds, ended) = drain(&mut body).await;
    assert_eq!(kinds, ["snapshot"]);
    assert!(ended);
}

#[tokio::test]
async fn no_watch_before_the_first_inventory() {
    let shared = Shared::new();
    let req = Request::get("/v1/watch").body(Body::empty()).unwrap();
    let resp = router(shared, RouterOptions::default())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
}
