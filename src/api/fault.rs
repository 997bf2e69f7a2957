//! Errors as Nova shapes them: `{"itemNotFound": {"code": 404, "message": "..."}}`.
//!
//! Handlers return a [`Fault`]; the framework's own refusals (unknown method, bad path
//! parameter) come back as bare statuses. [`render_faults`] is the one place both become
//! a fault body, in JSON or (when the client asked for it) XML.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::xml;

/// The most of a framework error body we read to use as the fault message.
const MAX_FRAMEWORK_MESSAGE: usize = 1024;

/// Nova's fault names, by the statuses they are used for; [`OTHER`] for any other.
pub const NAMES: [(&[u16], &str); 10] = [
    (&[400], "badRequest"),
    (&[401], "unauthorized"),
    (&[403], "forbidden"),
    (&[404], "itemNotFound"),
    (&[405], "badMethod"),
    (&[409], "conflictingRequest"),
    (&[413, 429], "overLimit"),
    (&[415], "badMediaType"),
    (&[501], "notImplemented"),
    (&[503], "serviceUnavailable"),
];

/// The fault name of every status not in [`NAMES`] (406 and 500 among them).
pub const OTHER: &str = "computeFault";

/// An error answer. The body is rendered by [`render_faults`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub status: StatusCode,
    pub message: String,
}

impl Fault {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Fault {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Nova's name for the fault of this status.
    pub fn name(&self) -> &'static str {
        let status = self.status.as_u16();
        NAMES
            .iter()
            .find(|(codes, _)| codes.contains(&status))
            .map_or(OTHER, |(_, name)| name)
    }

    fn json(&self) -> String {
        let inner = serde_json::json!({"code": self.status.as_u16(), "message": self.message});
        serde_json::json!({ self.name(): inner }).to_string()
    }

    fn xml(&self) -> String {
        format!(
            "{}<{name} code=\"{code}\" xmlns=\"{ns}\"><message>{msg}</message></{name}>",
            xml::DECL,
            name = self.name(),
            code = self.status.as_u16(),
            ns = xml::COMPUTE_NS,
            msg = xml::escape(&self.message),
        )
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Gives every error response a fault body.
pub async fn render_faults(req: Request, next: Next) -> Response {
    let xml = xml::wants_xml(req.headers());
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let fault = match parts.extensions.remove::<Fault>() {
        Some(f) => f,
        None => Fault::new(status, framework_message(status, &method, body).await),
    };
    let (content_type, text) = if xml {
        (xml::CONTENT_TYPE, fault.xml())
    } else {
        ("application/json", fault.json())
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(text))
}

/// The message for an error the framework produced itself.
async fn framework_message(status: StatusCode, method: &Method, body: Body) -> String {
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return format!("The method {method} is not allowed for this resource.");
    }
    let limited = http_body_util::Limited::new(body, MAX_FRAMEWORK_MESSAGE);
    let text = match limited.collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("The request failed.")
            .to_string()
    } else {
        text
    }
}

/// The one mapping of action failures to Nova faults: the client's mistakes are 4xx, a
/// libvirt refusal that names the request's conflict with the host is 409, any other
/// libvirt failure 500 with libvirt's message.
impl From<crate::actions::ActionError> for Fault {
    fn from(e: crate::actions::ActionError) -> Self {
        use crate::actions::ActionError as E;
        use crate::libvirt::Failure;
        let status = match &e {
            E::Invalid { .. } => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::NotSeen(_) => StatusCode::INTERNAL_SERVER_ERROR,
            E::Libvirt(_) => match e.libvirt_failure() {
                Some(Failure::NotFound) => StatusCode::NOT_FOUND,
                Some(Failure::Conflict) => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        };
        Fault::new(status, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ActionError;
    use crate::libvirt::{LibvirtCause, LibvirtError};
    use virt_sys as sys;

    fn refused(code: u32, message: &str) -> Fault {
        Fault::from(ActionError::Libvirt(LibvirtError::Action {
            action: "attach a device",
            target: "domain 7a1c".into(),
            cause: LibvirtCause {
                code,
                domain: sys::VIR_FROM_QEMU,
                message: message.into(),
            },
        }))
    }

    #[test]
    fn libvirt_refusals_map_to_statuses_by_error_code() {
        let cases = [
            (sys::VIR_ERR_NO_DOMAIN, "Domain not found", 404),
            (sys::VIR_ERR_NO_NETWORK, "Network not found", 404),
            (sys::VIR_ERR_NO_STORAGE_POOL, "Storage pool not found", 404),
            (sys::VIR_ERR_NO_STORAGE_VOL, "Storage volume not found", 404),
            (sys::VIR_ERR_OPERATION_INVALID, "domain is not running", 409),
            (sys::VIR_ERR_CONFIG_UNSUPPORTED, "unsupported config", 409),
            (
                sys::VIR_ERR_OPERATION_FAILED,
                "target vda already exists",
                409,
            ),
            (
                sys::VIR_ERR_INTERNAL_ERROR,
                "No more available PCI slots",
                409,
            ),
            (sys::VIR_ERR_INTERNAL_ERROR, "qemu closed the monitor", 500),
            // The text of a missing domain under another code decides nothing.
            (sys::VIR_ERR_RPC, "no domain with matching uuid", 500),
        ];
        for (code, message, status) in cases {
            let f = refused(code, message);
            assert_eq!(f.status.as_u16(), status, "{code} {message}");
            assert_eq!(
                f.message,
                format!("cannot attach a device on domain 7a1c: {message}")
            );
        }
    }

    #[test]
    fn failing_to_reach_libvirt_is_a_500_whatever_the_code() {
        let f = Fault::from(ActionError::Libvirt(LibvirtError::Connect {
            uri: "qemu:///system".into(),
            cause: LibvirtCause {
                code: sys::VIR_ERR_NO_DOMAIN,
                domain: sys::VIR_FROM_REMOTE,
                message: "odd".into(),
            },
        }));
        assert_eq!(f.status, StatusCode::INTERNAL_SERVER_ERROR);
        let f = Fault::from(ActionError::Libvirt(LibvirtError::Worker {
            uri: "qemu:///system".into(),
            reason: "boom".into(),
        }));
        assert_eq!(f.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            f.message,
            "libvirt worker for qemu:///system stopped unexpectedly: boom"
        );
    }
}
