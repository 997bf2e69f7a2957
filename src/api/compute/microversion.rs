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

/// The version a request asks for, checked against what vifd serves.
pub fn negotiate(headers: &HeaderMap) -> Result<Version, Fault> {
    // The legacy header is checked even when the new one wins: a request naming a version
    // not served, in either, is refused rather than half-honoured.
    let legacy = match headers.get(LEGACY_HEADER) {
        Some(v) => Some(served(Version::parse(v.to_str().unwrap_or("\u{fffd}"))?)?),
        None => None,
    };
    let v = if headers.contains_key(HEADER) {
        compute_version(headers)?
    } else if let Some(legacy) = legacy {
        legacy
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

/// The version of the `compute` entry of `OpenStack-API-Version`, which lists `service
/// version` entries separated by commas (in one header line or several; the first
/// compute entry counts). A header that is no such list, or names no compute version, is
/// refused: the OpenAPI document's pattern says exactly this.
fn compute_version(headers: &HeaderMap) -> Result<Version, Fault> {
    let mut lines = Vec::new();
    for value in headers.get_all(HEADER) {
        lines.push(value.to_str().unwrap_or("\u{fffd}"));
    }
    let value = lines.join(", ");
    let malformed = || {
        Fault::bad_request(format!(
            "OpenStack-API-Version {value:?} is not a list of `service version` entries \
             naming compute, as in `compute 2.12`."
        ))
    };
    let mut compute = None;
    for (i, entry) in value.split(',').enumerate() {
        let entry = if i == 0 {
            entry
        } else {
            entry.trim_start_matches(' ')
        };
        let (service, version) = entry.split_once(' ').ok_or_else(malformed)?;
        let service_ok = !service.is_empty()
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        // Printable ASCII but the comma and the space, as the pattern's `[\x21-\x2b\x2d-\x7e]`.
        let version_ok = !version.is_empty()
            && version
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',');
        if !service_ok || !version_ok {
            return Err(malformed());
        }
        if compute.is_none() && service.eq_ignore_ascii_case("compute") {
            compute = Some(version);
        }
    }
    Version::parse(compute.ok_or_else(malformed)?)
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
