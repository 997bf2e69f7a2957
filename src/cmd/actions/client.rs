//! The HTTP side of the action commands: one request to the daemon under one deadline,
//! its refusal turned into the fault's code, kind and message, and a domain name turned
//! into the UUID the action paths want.

use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

use super::error::{ActionError, Failure};
use crate::cli::ActionTarget;
use crate::cmd::http_client::{self, fault_text, ConnectError, Endpoint, GetError, Stage};

/// Connecting, sending and reading all included: libvirt can take seconds to detach a
/// device, and a guest that ignores the request makes it wait for its own timeout.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// The most an answer may weigh: the domain list of a big host is well under this.
const MAX_BODY: usize = 16 << 20;
const JSON: &str = "application/json";

/// The daemon to send actions to.
pub struct Agent {
    endpoint: Endpoint,
    token: Option<HeaderValue>,
}

impl Agent {
    /// `--url`, and the token of `--token-file`, else of the config file's token_file.
    pub fn new(target: &ActionTarget, config_token: Option<&Path>) -> Result<Self, ActionError> {
        let endpoint = Endpoint::parse(&target.url).map_err(|source| ActionError::BadUrl {
            url: target.url.clone(),
            source,
        })?;
        let token = target
            .token_file
            .as_deref()
            .or(config_token)
            .map(http_client::read_token)
            .transpose()?;
        Ok(Agent { endpoint, token })
    }

    /// Sends `METHOD path` with `body` as JSON; the body of a 2xx answer, else why not.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Bytes, Failure> {
        let mut req = self
            .endpoint
            .request_with(method, path)
            .header(header::ACCEPT, JSON);
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, t.clone());
        }
        let bytes = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, JSON);
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| self.exchange(GetError::Request(e.to_string())))?;
        let reply = self
            .endpoint
            .send(req, Instant::now() + TIMEOUT, MAX_BODY)
            .await
            .map_err(|e| self.failure(e))?;
        if !reply.status.is_success() {
            return Err(fault(reply.status, &reply.body));
        }
        Ok(reply.body)
    }

    /// The UUID of the domain `server` names: itself when it is one, else the one domain
    /// of that name in the daemon's `GET /v1/domains`.
    pub async fn domain_uuid(&self, server: &str) -> Result<Uuid, Failure> {
        if let Ok(uuid) = Uuid::parse_str(server) {
            return Ok(uuid);
        }
        let body = self.call(Method::GET, "/v1/domains", None).await?;
        let list: DomainList = self.decode("its domain list", &body)?;
        let uuids: Vec<Uuid> = list
            .domains
            .iter()
            .filter(|d| d.name == server)
            .map(|d| d.uuid)
            .collect();
        match uuids.as_slice() {
            [one] => Ok(*one),
            [] => Err(Failure::NoSuchDomain {
                name: server.to_string(),
                url: self.endpoint.url.clone(),
            }),
            _ => Err(Failure::Ambiguous {
                name: server.to_string(),
                uuids: uuids.iter().map(Uuid::to_string).collect(),
            }),
        }
    }

    /// `body` read as a `T`, or a failure saying the daemon's `what` is not one.
    pub fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        body: &[u8],
    ) -> Result<T, Failure> {
        serde_json::from_slice(body).map_err(|source| Failure::BadAnswer {
            url: self.endpoint.url.clone(),
            what,
            source,
        })
    }

    fn failure(&self, e: GetError) -> Failure {
        let url = self.endpoint.url.clone();
        match e {
            GetError::Connect(ConnectError::Io(source)) => match source.kind() {
                ErrorKind::ConnectionRefused | ErrorKind::NotFound => {
                    Failure::NotListening { url, source }
                }
                ErrorKind::PermissionDenied => Failure::NoPermission { url, source },
                _ => Failure::Connect { url, source },
            },
            GetError::Timeout(stage) => Failure::Timeout {
                url,
                secs: TIMEOUT.as_secs(),
                stage,
                // Once the request is out, the daemon may carry it out all the same.
                maybe_done: stage != Stage::Connecting,
            },
            e => self.exchange(e),
        }
    }

    fn exchange(&self, source: GetError) -> Failure {
        Failure::Exchange {
            url: self.endpoint.url.clone(),
            source,
        }
    }
}

#[derive(Debug, Deserialize)]
struct DomainList {
    domains: Vec<Domain>,
}

#[derive(Debug, Deserialize)]
struct Domain {
    uuid: Uuid,
    name: String,
}

/// A refusal: Nova's `{"conflictingRequest": {"code": 409, "message": "..."}}`, or
/// whatever else answered, by its status.
fn fault(status: StatusCode, body: &[u8]) -> Failure {
    let nova: Option<serde_json::Map<String, Value>> = serde_json::from_slice(body).ok();
    let kind = nova
        .as_ref()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.keys().next().cloned())
        .or_else(|| status.canonical_reason().map(str::to_string))
        .unwrap_or_else(|| "error".into());
    Failure::Fault {
        code: status.as_u16(),
        kind,
        message: fault_text(body),
    }
}

/// `s` as one path segment: whatever is not unreserved is percent-encoded, and so are
/// the dots of `.` and `..`, so that a volume or port id cannot reach another path.
pub fn segment(s: &str) -> String {
    if s == "." || s == ".." {
        return s.replace('.', "%2E");
    }
    http_client::percent_encode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_faults_keep_their_kind_and_message() {
        let body = br#"{"conflictingRequest": {"code": 409, "message": "busy"}}"#;
        let f = fault(StatusCode::CONFLICT, body);
        assert_eq!(f.to_string(), "409 conflictingRequest: busy");
    }

    #[test]
    fn other_refusals_are_named_by_their_status() {
        let f = fault(StatusCode::BAD_GATEWAY, b"upstream down\n");
        assert_eq!(f.to_string(), "502 Bad Gateway: upstream down");
    }

    #[test]
    fn segments_cannot_escape_their_path() {
        assert_eq!(segment("vol-1_a.b~c"), "vol-1_a.b~c");
        assert_eq!(segment("../x?y"), "..%2Fx%3Fy");
        assert_eq!(segment(".."), "%2E%2E");
    }
}
