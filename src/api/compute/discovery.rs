//! The versions documents (`GET /`, `/v2/`, `/v2.1/`): which Compute APIs are served
//! and at which microversions.

use axum::http::{header, HeaderMap};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

/// Whether responses name `http` or `https` in their links.
#[derive(Debug, Clone, Copy)]
pub struct Scheme(pub &'static str);

/// A link in a versions or extensions document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub rel: &'static str,
    #[schema(format = "uri")]
    pub href: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

/// One API version, as `GET /` and `GET /v2.1/` describe it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionDoc {
    pub id: &'static str,
    pub status: &'static str,
    /// The maximum microversion ("" for v2.0).
    pub version: &'static str,
    /// The minimum microversion ("" for v2.0).
    pub min_version: &'static str,
    #[schema(format = DateTime)]
    pub updated: &'static str,
    pub links: Vec<Link>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionsBody {
    pub versions: Vec<VersionDoc>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionBody {
    pub version: VersionDoc,
}

fn base_url(headers: &HeaderMap, scheme: Scheme) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '"', '<']))
        .unwrap_or("localhost");
    format!("{}://{host}", scheme.0)
}

fn doc(v21: bool, base: &str) -> VersionDoc {
    let (id, path) = if v21 {
        ("v2.1", "v2.1")
    } else {
        ("v2.0", "v2")
    };
    VersionDoc {
        id,
        status: if v21 { "CURRENT" } else { "DEPRECATED" },
        version: if v21 { "2.12" } else { "" },
        min_version: if v21 { "2.1" } else { "" },
        updated: if v21 {
            "2013-07-23T11:33:21Z"
        } else {
            "2011-01-21T11:33:21Z"
        },
        links: vec![Link {
            rel: "self",
            href: format!("{base}/{path}/"),
            kind: None,
        }],
    }
}

#[utoipa::path(get, path = "/", tag = "compute",
    responses((status = 200, description = "The Compute API versions served", body = VersionsBody)))]
pub async fn versions(
    headers: HeaderMap,
    Extension(scheme): Extension<Scheme>,
) -> Json<VersionsBody> {
    let base = base_url(&headers, scheme);
    Json(VersionsBody {
        versions: vec![doc(false, &base), doc(true, &base)],
    })
}

#[utoipa::path(get, path = "/v2.1/", tag = "compute",
    responses((status = 200, description = "The v2.1 version document", body = VersionBody)))]
pub async fn version_v21(
    headers: HeaderMap,
    Extension(scheme): Extension<Scheme>,
) -> Json<VersionBody> {
    Json(VersionBody {
        version: doc(true, &base_url(&headers, scheme)),
    })
}

#[utoipa::path(get, path = "/v2/", tag = "compute",
    responses((status = 200, description = "The legacy v2.0 version document", body = VersionBody)))]
pub async fn version_v2(
    headers: HeaderMap,
    Extension(scheme): Extension<Scheme>,
) -> Json<VersionBody> {
    Json(VersionBody {
        version: doc(false, &base_url(&headers, scheme)),
    })
}
