//! Bearer-token access for listeners that are reachable from other hosts.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::fault::Fault;

/// Who is on the other end of a connection, as the listener saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Tcp(std::net::SocketAddr),
    /// The kernel's credentials of the connecting process (`SO_PEERCRED`).
    Unix {
        uid: Option<u32>,
        pid: Option<i32>,
    },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "tcp:{a}"),
            Peer::Unix { uid, pid } => {
                f.write_str("unix:")?;
                match uid {
                    Some(u) => write!(f, "uid={u}")?,
                    None => f.write_str("uid=?")?,
                }
                match pid {
                    Some(p) => write!(f, ",pid={p}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The bearer token a request presents, if any.
pub fn presented(headers: &axum::http::HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .and_then(|v| {
            let (scheme, rest) = v.split_at_checked(7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
        })
}

/// 401 in Nova's fault shape, with the challenge.
pub fn unauthorized(presented: bool) -> Response {
    let message = if presented {
        "The bearer token is not valid."
    } else {
        "Authentication required: send Authorization: Bearer <token>."
    };
    let mut resp = Fault::new(StatusCode::UNAUTHORIZED, message).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"vifd\""),
    );
    resp
}

/// The secret a client must present as `Authorization: Bearer <token>`. Replaceable in
/// place, so that a reload rotates it under every listener at once.
pub struct Token(std::sync::RwLock<Vec<u8>>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token from a file's content: surrounding whitespace (the trailing newline) is not
    /// part of it. `None` when nothing is left.
    pub fn new(text: &str) -> Option<Self> {
        let t = text.trim();
        (!t.is_empty()).then(|| Token(std::sync::RwLock::new(t.as_bytes().to_vec())))
    }

    /// Takes `other`'s secret; requests from now on must present it.
    pub fn replace(&self, other: Token) {
        let new = other.0.into_inner().unwrap_or_else(|e| e.into_inner());
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = new;
    }

    /// Compares in time that depends only on the expected token's length, so a client
    /// cannot learn it byte by byte from response times.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let secret = self.0.read().unwrap_or_else(|e| e.into_inner());
        let mut diff = secret.len() ^ presented.len();
        for (i, &b) in secret.iter().enumerate() {
            diff |= usize::from(b ^ presented.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

/// Refuses any request without the right bearer token, 401 in Nova's fault shape.
pub async fn require(State(token): State<Arc<Token>>, req: Request, next: Next) -> Response {
    let given = presented(req.headers());
    if given.is_some_and(|t| token.matches(t)) {
        return next.run(req).await;
    }
    unauthorized(given.is_some())
}
