//! Why watching failed, and which failures are final.

use std::path::PathBuf;

use hyper::StatusCode;

use super::sse;

/// Why watching failed. Those [`is_final`](Self::is_final) end the command; the others
/// are logged and retried.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("--url {0}: https is not supported; use http://HOST:PORT[/PREFIX] (loopback or a trusted network) or unix:/PATH")]
    Https(String),
    #[error("--url {url}: {why}")]
    BadUrl { url: String, why: String },
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {} {why}", path.display())]
    BadToken { path: PathBuf, why: &'static str },
    #[error("{url} refused the watch with {status}: {message}")]
    Refused {
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("{url} answered with {content_type} instead of an event stream; is it a vifd daemon?")]
    NotEventStream { url: String, content_type: String },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("{url} did not {what} within {secs} s")]
    Timeout {
        url: String,
        what: &'static str,
        secs: u64,
    },
    #[error("HTTP exchange with {url} failed: {source}")]
    Http { url: String, source: hyper::Error },
    #[error("{url} is unavailable ({status}): {message}")]
    Unavailable {
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("the event stream from {url} is broken: {source}")]
    Sse { url: String, source: sse::TooLarge },
    #[error("the event stream from {url} ended")]
    Ended { url: String },
}

impl WatchError {
    /// True when trying again would get the same answer.
    pub(super) fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Https(_)
                | Self::BadUrl { .. }
                | Self::TokenFile { .. }
                | Self::BadToken { .. }
                | Self::Refused { .. }
                | Self::NotEventStream { .. }
                | Self::Output(_)
        )
    }
}
