//! Asking one agent: `GET PREFIX/v1/interfaces` under one deadline, and every way that
//! can fail turned into a reason an operator can act on.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;

use super::record::Record;
use crate::cmd::http_client::{fault_text, ConnectError, Endpoint, GetError, Stage};

/// The most one agent's answer may weigh: about 40,000 records, far beyond a host.
const MAX_BODY: usize = 64 << 20;

/// Why an agent gave no inventory.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Connect(ConnectError),
    #[error("timed out after {secs} s ({stage})")]
    Timeout { secs: f64, stage: Stage },
    #[error("HTTP {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("answered {content_type} instead of JSON; is it a vifd agent?")]
    NotJson { content_type: String },
    #[error("answered JSON that is not an interface list ({0}); is it a vifd agent?")]
    NotVifd(serde_json::Error),
    #[error(transparent)]
    Exchange(GetError),
}

impl HostError {
    /// A stable word for the kind of failure, for programs reading `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Timeout { .. } => "timeout",
            Self::Status { .. } => "http-status",
            Self::NotJson { .. } | Self::NotVifd(_) => "not-vifd",
            Self::Exchange(_) => "protocol",
        }
    }

    /// The HTTP status of a refusal.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(status.as_u16()),
            _ => None,
        }
    }
}

/// `GET /v1/interfaces`: what every agent answers (a fleet server answers no
/// generation: its records are each their host's, under a `host` key).
#[derive(Debug, Deserialize)]
pub struct Inventory {
    pub generation: Option<u64>,
    pub collected_at: Option<String>,
    pub interfaces: Vec<Record>,
}

/// A fleet server's answer as one outcome per host it has records of, named by the
/// records' `host` (taken out of them); a failure stays one outcome, named by the URL.
pub fn per_host(fleet: Outcome) -> Vec<Outcome> {
    let answer = match fleet.result {
        Ok(a) => a,
        Err(_) => return vec![fleet],
    };
    let mut hosts: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for mut r in answer.inventory.interfaces {
        let host = r.take("host").and_then(|h| h.as_str().map(String::from));
        hosts.entry(host.unwrap_or_default()).or_default().push(r);
    }
    (hosts.into_iter())
        .map(|(host, interfaces)| Outcome {
            host,
            result: Ok(Answer {
                inventory: Inventory {
                    generation: None,
                    collected_at: None,
                    interfaces,
                },
                stale: false,
            }),
            elapsed: fleet.elapsed,
        })
        .collect()
}

/// An agent's answer.
#[derive(Debug)]
pub struct Answer {
    pub inventory: Inventory,
    /// `X-Vifd-Stale: 1`: libvirt is unreachable there, the guest side is its last read.
    pub stale: bool,
}

/// What one agent said, and how long it took.
#[derive(Debug)]
pub struct Outcome {
    pub host: String,
    pub result: Result<Answer, HostError>,
    pub elapsed: Duration,
}

/// Asks `agent`; connecting, sending and reading must all be over within `limit`,
/// counted from when this starts (not from when the whole query did).
pub async fn ask(agent: &Endpoint, token: Option<&HeaderValue>, limit: Duration) -> Outcome {
    let start = Instant::now();
    let result = match agent
        .get(
            "/v1/interfaces",
            "application/json",
            token,
            start + limit,
            MAX_BODY,
        )
        .await
    {
        Ok(reply) => judge(reply.status, &reply.headers, &reply.body),
        Err(GetError::Connect(e)) => Err(HostError::Connect(e)),
        Err(GetError::Timeout(stage)) => Err(HostError::Timeout {
            secs: limit.as_secs_f64(),
            stage,
        }),
        Err(e) => Err(HostError::Exchange(e)),
    };
    let elapsed = start.elapsed();
    match &result {
        Ok(a) => tracing::info!(
            host = agent.url,
            ms = elapsed.as_millis(),
            records = a.inventory.interfaces.len(),
            "answered"
        ),
        Err(e) => tracing::info!(host = agent.url, ms = elapsed.as_millis(), "failed: {e}"),
    }
    Outcome {
        host: agent.url.clone(),
        result,
        elapsed,
    }
}

/// A whole answer: a 200 with vifd's interface list, or why not.
fn judge(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<Answer, HostError> {
    if status != StatusCode::OK {
        return Err(HostError::Status {
            status,
            message: fault_text(body),
        });
    }
    let content_type = headers.get(header::CONTENT_TYPE);
    let ct = content_type.and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(HostError::NotJson {
            content_type: content_type.map_or("no content type".into(), |_| ct.to_string()),
        });
    }
    let inventory = serde_json::from_slice(body).map_err(HostError::NotVifd)?;
    let stale = headers
        .get("x-vifd-stale")
        .is_some_and(|v| v.as_bytes() == b"1");
    Ok(Answer { inventory, stale })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers(stale: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if stale {
            h.insert("x-vifd-stale", HeaderValue::from_static("1"));
        }
        h
    }

    #[test]
    fn an_interface_list_is_an_answer() {
        let body =
            br#"{"generation":7,"collected_at":"2026-01-01T00:00:00Z","interfaces":[{"id":"a"}]}"#;
        let a = judge(StatusCode::OK, &json_headers(true), body).expect("an answer");
        assert_eq!(a.inventory.generation, Some(7));
        assert_eq!(a.inventory.interfaces.len(), 1);
        assert!(a.stale);
        let a = judge(StatusCode::OK, &json_headers(false), body).expect("an answer");
        assert!(!a.stale);
    }

    #[test]
    fn refusals_carry_the_status_and_the_fault_message() {
        let body = br#"{"unauthorized":{"code":401,"message":"The bearer token is not valid."}}"#;
        let e = judge(StatusCode::UNAUTHORIZED, &json_headers(false), body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP 401 Unauthorized: The bearer token is not valid."
        );
        assert_eq!((e.kind(), e.http_status()), ("http-status", Some(401)));
    }

    #[test]
    fn other_servers_are_told_apart_from_agents() {
        let mut html = HeaderMap::new();
        html.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let e = judge(StatusCode::OK, &html, b"<html>").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("answered text/html instead of JSON"),
            "{e}"
        );
        let e = judge(StatusCode::OK, &json_headers(false), br#"{"status":"ok"}"#).unwrap_err();
        assert!(e.to_string().contains("not an interface list"), "{e}");
        assert_eq!(e.kind(), "not-vifd");
    }

    #[test]
    fn timeouts_say_how_long_and_where() {
        let e = HostError::Timeout {
            secs: 1.5,
            stage: Stage::AwaitingAnswer,
        };
        assert_eq!(
            e.to_string(),
            "timed out after 1.5 s (connected, waiting for the answer)"
        );
    }
}
