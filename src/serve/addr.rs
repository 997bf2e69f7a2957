//! Listen addresses: `IP:PORT`, `localhost:PORT` or `unix:/path`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::error::ServeError;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl ListenAddr {
    /// `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT` or `unix:/path`.
    pub fn parse(text: &str) -> Result<Self, ServeError> {
        let bad = |why: &str| ServeError::Listen {
            addr: text.to_string(),
            message: why.to_string(),
        };
        if let Some(path) = text.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(bad("a unix socket path must be absolute"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(port) = text.strip_prefix("localhost:") {
            let port = port.parse().map_err(|_| bad("invalid port"))?;
            return Ok(Self::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        text.parse()
            .map(Self::Tcp)
            .map_err(|_| bad("expected IP:PORT, [IPv6]:PORT or unix:/absolute/path"))
    }

    /// Reachable only from this host: loopback TCP or a unix socket.
    pub fn is_local(&self) -> bool {
        match self {
            Self::Tcp(a) => a.ip().is_loopback(),
            Self::Unix(_) => true,
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "{a}"),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}
