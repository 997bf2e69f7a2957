//! The HTTP side of `vifd watch`: where the daemon is (`--url`), and one
//! `GET PREFIX/v1/watch` over HTTP/1.1 on a TCP or unix socket, whose body is then read
//! chunk by chunk as the daemon writes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::WatchError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// For the response head, and for an error body.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The daemon sends a keepalive every 15 s: this long without a byte means the
/// connection is dead even if TCP has not noticed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
const MAX_FAULT_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `HOST:PORT`, resolved at each connection.
    Tcp(String),
    Unix(PathBuf),
}

/// A daemon to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    target: Target,
    /// The `Host` header.
    host: String,
    /// Path before `/v1/watch`, without a trailing `/`.
    prefix: String,
    /// The URL as messages show it.
    pub url: String,
}

impl Endpoint {
    /// `http://HOST[:PORT][/PREFIX]` or `unix:/PATH`.
    pub fn parse(url: &str) -> Result<Self, WatchError> {
        let bad = |why: &str| WatchError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        if url
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("https:"))
        {
            return Err(WatchError::Https(url.to_string()));
        }
        if let Some(path) = url.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(bad("expected unix:/absolute/path"));
            }
            return Ok(Endpoint {
                target: Target::Unix(path.into()),
                host: "localhost".into(),
                prefix: String::new(),
                url: format!("unix:{path}"),
            });
        }
        let uri: Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        let authority = match (uri.scheme_str(), uri.authority()) {
            (Some(s), Some(a)) if s.eq_ignore_ascii_case("http") => a,
            _ => return Err(bad("expected http://HOST:PORT[/PREFIX] or unix:/PATH")),
        };
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; use --token-file",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("a query is not supported"));
        }
        let prefix = uri.path().trim_end_matches('/').to_string();
        Ok(Endpoint {
            target: Target::Tcp(format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            )),
            host: authority.as_str().to_string(),
            url: format!("http://{authority}{prefix}"),
            prefix,
        })
    }

    /// Sends `GET PREFIX/v1/watch QUERY` and returns the body of a 200 event stream.
    pub async fn open(
        &self,
        query: &str,
        token: Option<&HeaderValue>,
    ) -> Result<Stream, WatchError> {
        let (mut sender, conn) = timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| self.timed_out("accept the connection", CONNECT_TIMEOUT))??;
        let mut req = Request::get(format!("{}/v1/watch{query}", self.prefix))
            .header(header::HOST, &self.host)
            .header(header::ACCEPT, "text/event-stream")
            .header(
                header::USER_AGENT,
                concat!("vifd/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, t.clone());
        }
        let req = req.body(Empty::new()).map_err(|e| WatchError::BadUrl {
            url: self.url.clone(),
            why: e.to_string(),
        })?;
        let resp = timeout(ANSWER_TIMEOUT, sender.send_request(req))
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
            _sender: sender,
            conn,
        })
    }

    async fn connect(&self) -> Result<(SendRequest<Empty<Bytes>>, JoinHandle<()>), WatchError> {
        let connect_err = |source| WatchError::Connect {
            url: self.url.clone(),
            source,
        };
        let handshake = match &self.target {
            Target::Tcp(addr) => {
                handshake(TcpStream::connect(addr).await.map_err(connect_err)?).await
            }
            Target::Unix(path) => {
                handshake(UnixStream::connect(path).await.map_err(connect_err)?).await
            }
        };
        handshake.map_err(|e| self.http(e))
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

async fn handshake<S>(io: S) -> Result<(SendRequest<Empty<Bytes>>, JoinHandle<()>), hyper::Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io)).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("watch connection closed: {e}");
        }
    });
    Ok((sender, task))
}

/// The message of a Nova fault body (`{"unauthorized": {"message": ...}}`), else the
/// start of the body's text.
fn fault_text(body: &[u8]) -> String {
    let fault: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = fault
        .as_ref()
        .and_then(serde_json::Value::as_object)
        .and_then(|o| o.values().next())
        .and_then(|f| f.get("message"))
        .and_then(serde_json::Value::as_str);
    if let Some(m) = message {
        return m.to_string();
    }
    let text = String::from_utf8_lossy(body);
    match text.trim() {
        "" => "(empty body)".into(),
        t => t.chars().take(200).collect(),
    }
}

/// `Bearer <the file's content, trimmed>`, marked sensitive.
pub fn read_token(path: &Path) -> Result<HeaderValue, WatchError> {
    let bad = |why| WatchError::BadToken {
        path: path.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|source| WatchError::TokenFile {
        path: path.to_path_buf(),
        source,
    })?;
    if text.trim().is_empty() {
        return Err(bad("is empty"));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {}", text.trim()))
        .map_err(|_| bad("holds characters a header cannot carry"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// An open event stream. Dropping it closes the connection.
pub struct Stream {
    body: Incoming,
    url: String,
    _sender: SendRequest<Empty<Bytes>>,
    conn: JoinHandle<()>,
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

impl Drop for Stream {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn http_urls() {
        let e = ok("http://127.0.0.1:8789");
        assert_eq!(e.target, Target::Tcp("127.0.0.1:8789".into()));
        assert_eq!((e.host.as_str(), e.prefix.as_str()), ("127.0.0.1:8789", ""));
        let e = ok("http://[::1]:9000/vifd/");
        assert_eq!(e.target, Target::Tcp("[::1]:9000".into()));
        assert_eq!(e.prefix, "/vifd");
        assert_eq!(e.url, "http://[::1]:9000/vifd");
        assert_eq!(ok("HTTP://node-7").target, Target::Tcp("node-7:80".into()));
    }

    #[test]
    fn unix_urls() {
        for url in ["unix:/run/vifd/vifd.sock", "unix:///run/vifd/vifd.sock"] {
            let e = ok(url);
            assert_eq!(e.target, Target::Unix("/run/vifd/vifd.sock".into()));
            assert_eq!(e.url, "unix:/run/vifd/vifd.sock");
        }
        assert!(Endpoint::parse("unix:vifd.sock").is_err());
    }

    #[test]
    fn https_and_nonsense_are_refused() {
        let e = Endpoint::parse("https://node:8789").unwrap_err();
        assert!(e.to_string().contains("use http://"), "{e}");
        for url in [
            "127.0.0.1:8789",
            "ftp://x/",
            "http://a@b:1",
            "http://h:1/?x=1",
            "",
        ] {
            assert!(
                matches!(Endpoint::parse(url), Err(WatchError::BadUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn fault_messages() {
        let nova =
            br#"{"unauthorized": {"code": 401, "message": "The bearer token is not valid."}}"#;
        assert_eq!(fault_text(nova), "The bearer token is not valid.");
        assert_eq!(fault_text(b"  Bad Gateway\n"), "Bad Gateway");
        assert_eq!(fault_text(b""), "(empty body)");
    }
}
