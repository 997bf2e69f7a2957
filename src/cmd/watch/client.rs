//! The HTTP side of `vifd watch`: where the daemon is (`--url`), and one
//! `GET PREFIX/v1/watch` over HTTP/1.1 on a TCP or unix socket, whose body is then read
//! chunk by chunk as the daemon writes it. The transport is `cmd::http_client`'s; this
//! module adds the watch's time limits and turns its errors into [`WatchError`]s.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::StatusCode;
use tokio::time::timeout;

use super::error::WatchError;
use crate::cmd::http_client::{
    self, fault_text, ConnectError, Connection, TokenError, UrlError, MAX_FAULT_BODY,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// For the response head, and for an error body.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The daemon sends a keepalive every 15 s: this long without a byte means the
/// connection is dead even if TCP has not noticed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// A daemon to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: http_client::Endpoint,
    /// The URL as messages show it.
    pub url: String,
}

impl Endpoint {
    /// `http://HOST[:PORT][/PREFIX]` or `unix:/PATH`.
    pub fn parse(url: &str) -> Result<Self, WatchError> {
        let base = http_client::Endpoint::parse(url).map_err(|e| match e {
            UrlError::Https => WatchError::Https(url.to_string()),
            UrlError::Invalid(why) => WatchError::BadUrl {
                url: url.to_string(),
                why,
            },
        })?;
        Ok(Endpoint {
            url: base.url.clone(),
            base,
        })
    }

    /// Sends `GET PREFIX/v1/watch QUERY` and returns the body of a 200 event stream.
    pub async fn open(
        &self,
        query: &str,
        token: Option<&HeaderValue>,
    ) -> Result<Stream, WatchError> {
        let mut conn = timeout(CONNECT_TIMEOUT, self.base.connect())
            .await
            .map_err(|_| self.timed_out("accept the connection", CONNECT_TIMEOUT))?
            .map_err(|e| self.connect_error(e))?;
        let mut req = self
            .base
            .request(&format!("/v1/watch{query}"))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, t.clone());
        }
        let req = req.body(Empty::new()).map_err(|e| WatchError::BadUrl {
            url: self.url.clone(),
            why: e.to_string(),
        })?;
        let resp = timeout(ANSWER_TIMEOUT, conn.sender.send_request(req))
            .await
            .map_err(|_| self.timed_out("answer", ANSWER_TIMEOUT))?
            .map_err(|e| self.http(e))?;
        let (parts, body) = resp.into_parts();
        if parts.status != StatusCode::OK {
            return Err(self.refusal(parts.status, body).await);
        }
        let content_type = parts.headers.get(header::CONTENT_TYPE);
        let ct = content_type.and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.to_ascii_lowercase().starts_with("text/event-stream") {
            return Err(WatchError::NotEventStream {
                url: self.url.clone(),
                content_type: content_type.map_or("no content type".into(), |_| ct.to_string()),
            });
        }
        Ok(Stream {
            body,
            url: self.url.clone(),
            _conn: conn,
        })
    }

    fn connect_error(&self, e: ConnectError) -> WatchError {
        match e {
            ConnectError::Io(source) => WatchError::Connect {
                url: self.url.clone(),
                source,
            },
            ConnectError::Handshake(source) => self.http(source),
        }
    }

    /// A non-200 answer: 4xx (but 408 and 429) is final, the rest is worth retrying.
    async fn refusal(&self, status: StatusCode, body: Incoming) -> WatchError {
        let message =
            match timeout(ANSWER_TIMEOUT, Limited::new(body, MAX_FAULT_BODY).collect()).await {
                Ok(Ok(b)) => fault_text(&b.to_bytes()),
                _ => "(no readable body)".into(),
            };
        let url = self.url.clone();
        let retry = [StatusCode::REQUEST_TIMEOUT, StatusCode::TOO_MANY_REQUESTS];
        if status.is_client_error() && !retry.contains(&status) {
            WatchError::Refused {
                url,
                status,
                message,
            }
        } else {
            WatchError::Unavailable {
                url,
                status,
                message,
            }
        }
    }

    fn timed_out(&self, what: &'static str, after: Duration) -> WatchError {
        WatchError::Timeout {
            url: self.url.clone(),
            what,
            secs: after.as_secs(),
        }
    }

    fn http(&self, source: hyper::Error) -> WatchError {
        WatchError::Http {
            url: self.url.clone(),
            source,
        }
    }
}

/// `Bearer <the file's content, trimmed>`, marked sensitive.
pub fn read_token(path: &Path) -> Result<HeaderValue, WatchError> {
    http_client::read_token(path).map_err(|e| match e {
        TokenError::Read { path, source } => WatchError::TokenFile { path, source },
        TokenError::Bad { path, why } => WatchError::BadToken { path, why },
    })
}

/// An open event stream. Dropping it closes the connection.
pub struct Stream {
    body: Incoming,
    url: String,
    _conn: Connection,
}

impl Stream {
    /// The next chunk of the body, `None` at its end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, WatchError> {
        loop {
            let frame = timeout(IDLE_TIMEOUT, self.body.frame())
                .await
                .map_err(|_| WatchError::Timeout {
                    url: self.url.clone(),
                    what: "send anything, not even a keepalive,",
                    secs: IDLE_TIMEOUT.as_secs(),
                })?;
            match frame {
                None => return Ok(None),
                Some(Err(source)) => {
                    return Err(WatchError::Http {
                        url: self.url.clone(),
                        source,
                    })
                }
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_in_their_canonical_spelling() {
        let e = Endpoint::parse("unix:///run/vifd/vifd.sock").expect("a unix URL");
        assert_eq!(e.url, "unix:/run/vifd/vifd.sock");
        let e = Endpoint::parse("HTTP://[::1]:9000/vifd/").expect("an http URL");
        assert_eq!(e.url, "http://[::1]:9000/vifd");
    }

    #[test]
    fn https_and_nonsense_are_refused_naming_the_url_option() {
        let e = Endpoint::parse("https://node:8789").unwrap_err();
        assert!(matches!(e, WatchError::Https(_)), "{e}");
        assert!(
            e.to_string()
                .starts_with("--url https://node:8789: https is not supported"),
            "{e}"
        );
        for url in [
            "127.0.0.1:8789",
            "ftp://x/",
            "http://a@b:1",
            "unix:vifd.sock",
            "",
        ] {
            let e = Endpoint::parse(url).unwrap_err();
            assert!(matches!(e, WatchError::BadUrl { .. }), "{url}: {e}");
            assert!(e.to_string().starts_with(&format!("--url {url}: ")), "{e}");
        }
    }
}
