//! The fleet server's HTTP API: a request through its router (`oneshot`, no socket) over
//! the fleet view of two hosts, as agents publish them.

use std::cell::RefCell;
use std::sync::Arc;

use axum::Router;

use super::http::{agent_view, dispatch, runtime, Apps, TOKEN};
use crate::api::auth::Token;
use crate::fleet::batch::Encoder;
use crate::fleet::codec::{Meta, Stale};
use crate::fleet::keys::HostKeys;
use crate::fleet::view::FleetView;
use crate::fleet::{router, FleetState};

thread_local! {
    static APP: RefCell<Apps> = const { RefCell::new(None) };
}

/// The request as [`super::http_router`] reads it (with an `Authorization` header, to
/// the router that requires [`TOKEN`]). No request may make the fleet API fail (a 500),
/// and what it says is JSON or XML must parse as such.
pub fn fleet_router(data: &[u8]) {
    dispatch(&APP, build, data);
}

fn build() -> (tokio::runtime::Runtime, Router, Router) {
    let view = agent_view();
    let mut kvs = Vec::new();
    for host in ["compute-1", "compute-2"] {
        let keys = HostKeys::new(host);
        let desired = Encoder::default().desired(&keys, &view);
        kvs.extend(desired.expect("the view encodes"));
        let meta = Meta {
            instance: format!("{host}-instance"),
            generation: view.generation,
            boot_time: None,
            started_at: "2026-01-01T00:00:00Z".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            stale: Stale::of(&view),
            published_at: "2026-01-01T00:00:01.000Z".into(),
            conflict: None,
        };
        kvs.push((keys.meta(), meta.encode().expect("a meta encodes")));
    }
    let pairs = kvs.iter().map(|(k, v)| (k.as_str(), v.as_ref()));
    let (fleet, errors) = FleetView::listed(pairs, 42);
    assert!(errors.is_empty(), "the agents' keys read back: {errors:?}");
    let state = FleetState::with_view(fleet);
    let open = router(state.clone(), None);
    let guarded = router(state, Token::new(TOKEN).map(Arc::new));
    (runtime(), open, guarded)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// The harness fuzzes a router with records in it, not an empty or refusing one.
    #[test]
    fn the_fleet_router_serves_both_hosts_records() {
        let (rt, open, _) = build();
        let req = Request::get("/v1/interfaces?host=compute-2")
            .body(Body::empty())
            .unwrap();
        let resp = rt.block_on(open.oneshot(req)).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let list = body["interfaces"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{body:#}");
        assert!(list.iter().all(|r| r["host"] == "compute-2"), "{body:#}");
    }
}
