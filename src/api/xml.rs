//! The little XML the OpenStack shapes need: content negotiation and escaping.

use axum::http::{header, HeaderMap};

pub const CONTENT_TYPE: &str = "application/xml";
/// The namespace of Compute API v1.1/v2 documents.
pub const COMPUTE_NS: &str = "http://docs.openstack.org/compute/api/v1.1";
/// The namespace of the common extension documents.
pub const COMMON_NS: &str = "http://docs.openstack.org/common/api/v1.0";
pub const DECL: &str = "<?xml version='1.0' encoding='UTF-8'?>\n";

/// Whether the client prefers XML over JSON. JSON wins ties and an absent `Accept`,
/// as in Nova.
pub fn wants_xml(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let (mut json, mut xml) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/json" => json = json.max(q),
            "application/xml" | "text/xml" => xml = xml.max(q),
            "*/*" | "application/*" => {
                json = json.max(q);
                xml = xml.max(q * 0.999);
            }
            _ => {}
        }
    }
    xml > json
}

pub use crate::xml_text::escape;

/// ` name="value"` for each pair with a value; absent values are left out.
pub fn attrs<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!(" {k}=\"{}\"", escape(v))))
        .collect()
}

/// Extractor: whether the client prefers XML (see [`wants_xml`]), without copying headers.
#[derive(Debug, Clone, Copy)]
pub struct PrefersXml(pub bool);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PrefersXml {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(PrefersXml(wants_xml(&parts.headers)))
    }
}
