//! The client side of vifd's HTTP API, shared by `vifd watch` and `vifd query`: where an
//! agent is (`http://HOST:PORT[/PREFIX]` or `unix:/PATH`), the bearer token to send it,
//! an HTTP/1.1 connection over TCP or a unix socket, a one-shot GET (or any request with a
//! whole body) held to one deadline, and the message of the Nova fault a refusal carries.
//!
//! Errors here do not name the URL: the caller knows how the agent was named to the user
//! (`--url`, a line of a hosts file) and says so.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Builder;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

/// The most of an error body worth reading: a fault is a sentence.
pub const MAX_FAULT_BODY: usize = 64 * 1024;

/// Why a URL names no agent vifd can talk to.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("https is not supported; use http://HOST:PORT[/PREFIX] (loopback or a trusted network) or unix:/PATH")]
    Https,
    #[error("{0}")]
    Invalid(String),
}

/// Why the token file gives no usable token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the token file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {} {why}", path.display())]
    Bad { path: PathBuf, why: &'static str },
}

/// Why no HTTP connection could be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect: {0}")]
    Io(std::io::Error),
    #[error("HTTP handshake failed: {0}")]
    Handshake(hyper::Error),
}

/// How far a one-shot GET got before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connecting,
    AwaitingAnswer,
    ReadingBody,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Connecting => "while connecting",
            Stage::AwaitingAnswer => "connected, waiting for the answer",
            Stage::ReadingBody => "while reading the answer",
        })
    }
}

/// Why a one-shot GET failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The caller knows how long it allowed; the message says where it stopped.
    #[error("timed out {0}")]
    Timeout(Stage),
    #[error("HTTP exchange failed: {0}")]
    Http(hyper::Error),
    #[error("the answer is larger than {} MiB", .0 >> 20)]
    TooLarge(usize),
    #[error("reading the answer failed: {0}")]
    Body(String),
    #[error("cannot build the request: {0}")]
    Request(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `HOST:PORT`, resolved at each connection.
    Tcp(String),
    Unix(PathBuf),
}

/// An agent: where to connect, and what to put in the request line and `Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    target: Target,
    /// The `Host` header.
    host: String,
    /// Path before `/v1/...`, without a trailing `/`.
    prefix: String,
    /// The URL in one canonical spelling: what messages show, and what tells two
    /// spellings of one agent apart from two agents.
    pub url: String,
}

/// An open HTTP/1.1 connection whose requests carry bodies of type `B`. Dropping it
/// closes the connection.
pub struct Connection<B = Empty<Bytes>> {
    pub sender: SendRequest<B>,
    driver: JoinHandle<()>,
}

impl<B> Drop for Connection<B> {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A whole answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Endpoint {
    /// `http://HOST[:PORT][/PREFIX]` or `unix:/PATH` (also `unix:///PATH`).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |why: &str| UrlError::Invalid(why.to_string());
        if url
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("https:"))
        {
            return Err(UrlError::Https);
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

    /// `GET PREFIX{path_and_query}` with `Host` and `User-Agent` set.
    pub fn request(&self, path_and_query: &str) -> Builder {
        self.request_with(Method::GET, path_and_query)
    }

    /// `METHOD PREFIX{path_and_query}` with `Host` and `User-Agent` set.
    pub fn request_with(&self, method: Method, path_and_query: &str) -> Builder {
        Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.prefix))
            .header(header::HOST, &self.host)
            .header(
                header::USER_AGENT,
                concat!("vifd/", env!("CARGO_PKG_VERSION")),
            )
    }

    /// Opens a connection and completes the HTTP/1.1 handshake; no time limit of its own.
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        self.connect_for().await
    }

    /// As [`connect`](Self::connect), for requests whose bodies are `B`s.
    async fn connect_for<B>(&self) -> Result<Connection<B>, ConnectError>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match &self.target {
            Target::Tcp(addr) => {
                handshake(TcpStream::connect(addr).await.map_err(ConnectError::Io)?).await
            }
            Target::Unix(path) => {
                handshake(UnixStream::connect(path).await.map_err(ConnectError::Io)?).await
            }
        }
    }

    /// One `GET` on a connection of its own, read whole (at most `limit` bytes of body);
    /// every step, connecting included, must be over by `deadline`.
    pub async fn get(
        &self,
        path_and_query: &str,
        accept: &str,
        token: Option<&HeaderValue>,
        deadline: Instant,
        limit: usize,
    ) -> Result<Reply, GetError> {
        let mut req = self.request(path_and_query).header(header::ACCEPT, accept);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, t.clone());
        }
        // Everything that goes into the request was validated by `parse`.
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| GetError::Request(e.to_string()))?;
        self.exchange(req, deadline, limit).await
    }

    /// Sends `req` (built with [`request_with`](Self::request_with), its body whole) on a
    /// connection of its own and reads the answer whole (at most `limit` bytes of body);
    /// every step, connecting included, must be over by `deadline`.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        deadline: Instant,
        limit: usize,
    ) -> Result<Reply, GetError> {
        self.exchange(req, deadline, limit).await
    }

    async fn exchange<B>(
        &self,
        req: Request<B>,
        deadline: Instant,
        limit: usize,
    ) -> Result<Reply, GetError>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut conn = timeout_at(deadline, self.connect_for::<B>())
            .await
            .map_err(|_| GetError::Timeout(Stage::Connecting))??;
        let resp = timeout_at(deadline, conn.sender.send_request(req))
            .await
            .map_err(|_| GetError::Timeout(Stage::AwaitingAnswer))?
            .map_err(GetError::Http)?;
        let (parts, body) = resp.into_parts();
        let body = timeout_at(deadline, read_body(body, limit))
            .await
            .map_err(|_| GetError::Timeout(Stage::ReadingBody))??;
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

async fn handshake<S, B>(io: S) -> Result<Connection<B>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(ConnectError::Handshake)?;
    let driver = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("HTTP connection closed: {e}");
        }
    });
    Ok(Connection { sender, driver })
}

/// The whole body, refusing more than `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, GetError> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(GetError::TooLarge(limit)),
        Err(e) => match e.downcast::<hyper::Error>() {
            Ok(h) => Err(GetError::Http(*h)),
            Err(e) => Err(GetError::Body(e.to_string())),
        },
    }
}

/// The message of a Nova fault body (`{"unauthorized": {"message": ...}}`), else the
/// start of the body's text.
pub fn fault_text(body: &[u8]) -> String {
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
pub fn read_token(path: &Path) -> Result<HeaderValue, TokenError> {
    let bad = |why| TokenError::Bad {
        path: path.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
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

/// `s` with every byte but RFC 3986's unreserved ones percent-encoded: safe as a query
/// value or one path segment.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
        assert!(matches!(e, UrlError::Https), "{e}");
        assert!(e.to_string().contains("use http://"), "{e}");
        for url in [
            "127.0.0.1:8789",
            "ftp://x/",
            "http://a@b:1",
            "http://h:1/?x=1",
            "",
        ] {
            assert!(
                matches!(Endpoint::parse(url), Err(UrlError::Invalid(_))),
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

    #[test]
    fn requests_carry_the_prefix_and_host() {
        let req = ok("http://node-7:9000/vifd/")
            .request("/v1/interfaces")
            .body(())
            .expect("a request");
        assert_eq!(req.uri(), "/vifd/v1/interfaces");
        assert_eq!(req.headers()[header::HOST], "node-7:9000");
    }
}
