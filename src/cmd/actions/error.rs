//! Why an action command failed.

use crate::cmd::http_client::{GetError, Stage, TokenError, UrlError};

/// Why an action command failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("--url {url}: {source}")]
    BadUrl { url: String, source: UrlError },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{action} on {server}: {why}")]
    Failed {
        action: &'static str,
        server: String,
        why: Failure,
    },
}

/// Why the daemon did not carry out an action (or could not be asked to).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("nothing is listening at {url} ({source}): the daemon is not running there, or it serves actions on another socket or address (--url, VIFD_ACTIONS_URL)")]
    NotListening { url: String, source: std::io::Error },
    #[error(
        "cannot connect to {url} ({source}): run as root or as a member of the socket's group"
    )]
    NoPermission { url: String, source: std::io::Error },
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("{url} timed out after {secs} s ({stage}){}", if *.maybe_done { "; the action may still complete, check with `vifd list`" } else { "" })]
    Timeout {
        url: String,
        secs: u64,
        stage: Stage,
        maybe_done: bool,
    },
    #[error("exchange with {url} failed: {source}")]
    Exchange { url: String, source: GetError },
    #[error("{code} {kind}: {message}")]
    Fault {
        code: u16,
        kind: String,
        message: String,
    },
    #[error("{url} answered {what} with JSON vifd cannot read ({source}); is it a vifd daemon?")]
    BadAnswer {
        url: String,
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("no domain is named {name:?} at {url}")]
    NoSuchDomain { name: String, url: String },
    #[error("{} domains are named {name:?} ({}); give the UUID", .uuids.len(), .uuids.join(", "))]
    Ambiguous { name: String, uuids: Vec<String> },
}
