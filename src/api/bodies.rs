//! Request bodies: the size limit, and the read endpoints' refusal of any body.

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, MethodRouter};

use super::fault::Fault;

/// The largest request body accepted before it is refused with 413. Only the write
/// endpoints take one.
pub const MAX_BODY: u64 = 64 * 1024;

/// Whether a `Content-Type` names JSON: its essence (before any parameter) is
/// `application/json`, in any case.
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// A read endpoint: GET (and HEAD) with [`refuse_bodies`] in front of the handler only,
/// so another method on its path is still the router's 405, whatever its body.
pub(crate) fn read<H, T, S>(handler: H) -> MethodRouter<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    get(handler).route_layer(middleware::from_fn(refuse_bodies))
}

/// No read endpoint takes a body: a large one is over the limit, one of another media
/// type is unsupported, and any other is a bad request. Only GET and HEAD are looked at:
/// the write endpoints read and validate their own bodies (`actions::body`).
async fn refuse_bodies(req: Request, next: Next) -> Result<Response, Fault> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(next.run(req).await);
    }
    let h = req.headers();
    let length = match h.get(header::CONTENT_LENGTH) {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| Fault::bad_request("Content-Length is not a number."))?,
    };
    let chunked = h.contains_key(header::TRANSFER_ENCODING);
    if length > MAX_BODY {
        return Err(Fault::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body of {length} bytes is over the limit of {MAX_BODY} bytes."),
        ));
    }
    if length > 0 || chunked {
        let json = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(is_json);
        if !json {
            return Err(Fault::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Content-Type: this API reads JSON, and no endpoint takes a body.",
            ));
        }
        return Err(Fault::bad_request(format!(
            "{} {} takes no request body.",
            req.method(),
            req.uri().path()
        )));
    }
    Ok(next.run(req).await)
}
