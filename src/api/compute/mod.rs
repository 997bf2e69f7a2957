//! The OpenStack Compute shapes: versions documents, extensions, os-virtual-interfaces,
//! os-interface, os-volume_attachments and os-volumes, under /v2 (legacy) and /v2.1 (microversions),
//! each with or without a `/{project_id}` segment.

pub mod attachments;
pub mod discovery;
pub mod extensions;
pub mod facts;
pub(crate) mod fields;
pub(crate) mod lookup;
pub mod microversion;
pub mod vifs;
pub mod volumes;

use std::sync::Arc;

use crate::api::bodies::read;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;

use super::actions;
use crate::inventory::Shared;
pub use discovery::Scheme;
pub use microversion::Flavor;

/// The routes of one API version, relative to `/v2[.1][/{project_id}]`.
fn resources() -> Router<Arc<Shared>> {
    Router::new()
        .route("/extensions", gated(read(extensions::list)))
        .route("/extensions/{alias}", gated(read(extensions::show)))
        .route(
            "/servers/{server_id}/os-virtual-interfaces",
            gated(read(vifs::list)),
        )
        .route(
            "/servers/{server_id}/os-interface",
            gated(read(attachments::interfaces).post(actions::compute::attach_interface)),
        )
        .route(
            "/servers/{server_id}/os-interface/{port_id}",
            gated(read(attachments::interface).delete(actions::compute::detach_interface)),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments",
            gated(read(attachments::volumes).post(actions::volumes::attach)),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments/{volume_id}",
            gated(read(attachments::volume).delete(actions::volumes::detach)),
        )
        .route("/os-volumes", gated(read(actions::volumes::list)))
        .route("/os-volumes/detail", gated(read(actions::volumes::detail)))
        .route(
            "/os-volumes/{volume_id}",
            gated(read(actions::volumes::show)),
        )
}

/// `/v2...` and `/v2.1...`, plus `/` (the versions document). Which API a request is
/// on is decided by [`flavor`] from its path, so faults and unknown paths get the same
/// treatment as the resources.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", gated(read(discovery::versions)))
        .route("/v2", gated(read(discovery::version_v2)))
        .route("/v2/", gated(read(discovery::version_v2)))
        .route("/v2.1", gated(read(discovery::version_v21)))
        .route("/v2.1/", gated(read(discovery::version_v21)))
        .nest("/v2", resources())
        .nest("/v2/{project_id}", resources())
        .nest("/v2.1", resources())
        .nest("/v2.1/{project_id}", resources())
}

/// Which Compute API a path is under, if any.
pub fn api_of(path: &str) -> Option<Api> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/v2.1") {
        Some(Api::V21)
    } else if under("/v2") {
        Some(Api::V2)
    } else {
        None
    }
}

/// The two Compute APIs served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V2,
    V21,
}

/// Marks requests under /v2 as legacy and negotiates the microversion of those under
/// /v2.1, naming it on every response there (see [`microversion::layer`]). A version the
/// request cannot have is answered by [`version_gate`], after authentication.
pub async fn flavor(mut req: Request, next: Next) -> Response {
    match api_of(req.uri().path()) {
        Some(Api::V21) => microversion::layer(req, next).await,
        Some(Api::V2) => {
            req.extensions_mut().insert(Flavor::Legacy);
            next.run(req).await
        }
        None => next.run(req).await,
    }
}

/// A route's methods behind [`version_gate`]: on the methods only, so that another method
/// on the path is the router's 405 whatever version it asks for.
pub fn gated<S: Clone + Send + Sync + 'static>(methods: MethodRouter<S>) -> MethodRouter<S> {
    methods.route_layer(middleware::from_fn(version_gate))
}

/// Answers the version fault [`flavor`] found, once the client has been let in.
async fn version_gate(req: Request, next: Next) -> Response {
    match req.extensions().get::<microversion::Refused>() {
        Some(refused) => refused.0.clone().into_response(),
        None => next.run(req).await,
    }
}
