//! The fleet server's router: the native endpoints ([`super::api`]), `/metrics`, and the
//! Compute views of any server ([`super::compute`]), behind the agent's middleware (the
//! token, microversions, Nova's fault bodies). Every response carries
//! `X-Vifd-Revision`, the etcd revision it describes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use super::api::{hosts, interfaces, problems, readyz};
use super::watcher::FleetState;
use crate::api::auth::{self, Token};
use crate::api::bodies::read;
use crate::api::fault;
use crate::api::{compute, native};

/// Every endpoint of the fleet server; `token` required on every request when given.
pub fn router(state: Arc<FleetState>, token: Option<Arc<Token>>) -> Router {
    let mut app = Router::new()
        .route("/healthz", read(native::healthz))
        .route("/readyz", read(readyz))
        .route("/v1/interfaces", read(interfaces))
        .route("/v1/hosts", read(hosts))
        .route("/v1/problems", read(problems))
        .route("/v1/watch", read(super::sse::watch))
        .route("/metrics", read(super::metrics::metrics))
        .merge(super::compute::router())
        .fallback(crate::api::not_found);
    if let Some(token) = token {
        app = app.layer(middleware::from_fn_with_state(token, auth::require));
    }
    app.layer(middleware::from_fn(compute::flavor))
        .layer(middleware::from_fn_with_state(state.clone(), with_view))
        .layer(middleware::from_fn(fault::render_faults))
        .with_state(state)
}

/// Hands the request the latest snapshot and names its revision on the response.
async fn with_view(State(state): State<Arc<FleetState>>, mut req: Request, next: Next) -> Response {
    let view = state.current();
    req.extensions_mut().insert(view.clone());
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert("x-vifd-revision", view.revision.into());
    resp
}
