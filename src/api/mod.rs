//! The HTTP API, as a router over the shared view: no I/O here beyond answering. The
//! listeners, TLS and the refresher live in `serve`.

pub mod actions;
pub mod auth;
pub(crate) mod bodies;
pub mod compute;
pub mod fault;
pub mod metrics;
pub mod native;
pub mod openapi;
pub mod watch;
pub mod xml;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, post};
use axum::{Extension, Router};

use crate::inventory::{Shared, View};
use auth::Token;
use bodies::read;
use compute::Scheme;
use fault::Fault;

pub use bodies::MAX_BODY;

/// How one listener's router is set up.
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// Every request must carry `Authorization: Bearer <token>`.
    pub token: Option<Arc<Token>>,
    /// Links say `https`.
    pub tls: bool,
    /// The actions and who may call them on this listener; `None` answers every write
    /// with 403 and the volume listing with 404 (routers built without a server).
    pub actions: Option<actions::ActionAccess>,
}

/// Every endpoint, with the middleware every response goes through.
pub fn router(shared: Arc<Shared>, opts: RouterOptions) -> Router {
    let native = Router::new()
        .route("/healthz", read(native::healthz))
        .route("/readyz", read(native::readyz))
        .route("/v1/interfaces", read(native::interfaces))
        .route("/v1/interfaces/{id}", read(native::interface))
        .route("/v1/domains", read(native::domains))
        .route(
            "/v1/domains/{domain}/interfaces",
            read(native::domain_interfaces).post(actions::native::create_interface),
        )
        .route(
            "/v1/interfaces/{id}/ip_addresses",
            post(actions::native::allocate_address),
        )
        .route(
            "/v1/interfaces/{id}/ip_addresses/{address}",
            delete(actions::native::release_address),
        )
        .route("/v1/problems", read(native::problems))
        .route("/v1/watch", read(watch::watch))
        .route("/openapi.json", read(openapi::serve))
        .route("/metrics", read(metrics::metrics));
    let mut app = native.merge(compute::router()).fallback(not_found);
    if let Some(token) = opts.token {
        app = app.layer(middleware::from_fn_with_state(token, auth::require));
    }
    if let Some(access) = opts.actions {
        app = app.layer(Extension(access));
    }
    app.layer(middleware::from_fn(compute::flavor))
        .layer(middleware::from_fn_with_state(shared.clone(), with_view))
        .layer(middleware::from_fn(fault::render_faults))
        .layer(Extension(Scheme(if opts.tls { "https" } else { "http" })))
        .with_state(shared)
}

/// The fallback: any path no route takes, in Nova's fault shape.
pub(crate) async fn not_found(method: Method, req: Request) -> Fault {
    Fault::not_found(format!(
        "The resource could not be found: {method} {}",
        req.uri().path()
    ))
}

/// Hands the request the current view and stamps its generation on the response, so a
/// response and its header always describe the same inventory.
async fn with_view(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let view = shared.current();
    let compute = compute::api_of(req.uri().path()).is_some();
    req.extensions_mut().insert(view.clone());
    let mut resp = next.run(req).await;
    // A long poll answers from a later view than the one it started with.
    let view = resp.extensions_mut().remove::<Arc<View>>().unwrap_or(view);
    let h = resp.headers_mut();
    h.insert("x-vifd-generation", view.generation.into());
    if compute {
        h.insert("x-vifd-host-generation", view.generation.into());
    }
    if view.stale {
        h.insert("x-vifd-stale", HeaderValue::from_static("1"));
    }
    resp
}
