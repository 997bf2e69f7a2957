//! Compute API microversions, negotiated as Nova does.
//!
//! `OpenStack-API-Version: compute X.Y` wins over the legacy `X-OpenStack-Nova-API-Version:
//! X.Y`; neither means 2.1; `latest` means the maximum. Every response under /v2.1, faults
//! included, names the version it was served at (2.1 when the request's own could not be used).

use std::fmt;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::api::fault::Fault;

pub const HEADER: &str = "openstack-api-version";
pub const LEGACY_HEADER: &str = "x-openstack-nova-api-version";
const VARY: &str = "OpenStack-API-Version, X-OpenStack-Nova-API-Version";

/// A microversion `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const MIN: Version = Version { major: 2, minor: 1 };
    pub const MAX: Version = Version {
        major: 2,
        minor: 12,
    };
    /// `net_id` appears in os-virtual-interfaces.
    pub const VIF_NET_ID: Version = Version {
        major: 2,
        minor: 12,
    };

    /// Parses `X.Y` (no leading zeros, as Nova's pattern demands) or `latest`.
    pub fn parse(text: &str) -> Result<Self, Fault> {
        if text.eq_ignore_ascii_case("latest") {
            return Ok(Self::MAX);
        }
        let invalid = || {
            Fault::bad_request(format!(
                "API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."
            ))
        };
        let (major, minor) = text.split_once('.').ok_or_else(invalid)?;
        let number = |s: &str, zero_ok: bool| -> Option<u16> {
            let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let no_leading_zero = !s.starts_with('0') || (zero_ok && s == "0");
            (digits && no_leading_zero)
                .then(|| s.parse().ok())
                .flatten()
        };
        Ok(Version {
            major: number(major, false).ok_or_else(invalid)?,
            minor: number(minor, true).ok_or_else(invalid)?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Which Compute API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// /v2: extensions, no microversions.
    Legacy,
    /// /v2.1 at the negotiated microversion.
    Micro(Version),
}

/// The version a request asks for, checked against what vifd serves. As Nova: the
/// `compute` entry of `OpenStack-API-Version` wins; an `OpenStack-API-Version` naming no
/// compute version is as good as absent; the legacy header is read only then.
pub fn negotiate(headers: &HeaderMap) -> Result<Version, Fault> {
    let v = if let Some(text) = compute_entry(headers) {
        Version::parse(text.trim())?
    } else if let Some(legacy) = headers.get(LEGACY_HEADER) {
        Version::parse(legacy.to_str().unwrap_or("\u{fffd}"))?
    } else {
        return Ok(Version::MIN);
    };
    served(v)
}

/// `v` if vifd serves it, else 406 as Nova answers.
fn served(v: Version) -> Result<Version, Fault> {
    if v < Version::MIN || v > Version::MAX {
        return Err(Fault::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                Version::MIN,
                Version::MAX
            ),
        ));
    }
    Ok(v)
}

/// The version text of the `compute` entry of `OpenStack-API-Version` (which may name
/// several services, in one header or several).
fn compute_entry(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(HEADER) {
        let Ok(value) = value.to_str() else {
            return Some("\u{fffd}".into());
        };
        for entry in value.split(',') {
            let mut words = entry.split_whitespace();
            if words
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case("compute"))
            {
                return Some(words.collect::<Vec<_>>().join(" "));
            }
        }
    }
    None
}

/// A version the request asked for and cannot have; answered after authentication.
#[derive(Debug, Clone)]
pub struct Refused(pub Fault);

/// Negotiates the version for everything under /v2.1 and names it in the response.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let version = match negotiate(req.headers()) {
        Ok(v) => {
            req.extensions_mut().insert(Flavor::Micro(v));
            v
        }
        Err(fault) => {
            req.extensions_mut().insert(Refused(fault));
            Version::MIN
        }
    };
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let text = version.to_string();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {text}")) {
        h.insert(HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&text) {
        h.insert(LEGACY_HEADER, v);
    }
    h.insert("vary", HeaderValue::from_static(VARY));
    resp
}
