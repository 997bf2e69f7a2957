//! Where ovsdb-server listens, and what can go wrong talking to it (every failure names
//! the address; a bad address is one of them).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The socket `ovs-vsctl` uses when no `--db` is given.
pub const DEFAULT_ADDR: &str = "unix:/var/run/openvswitch/db.sock";

/// OVSDB's IANA port, used when a `tcp:` address names no port (as OVS itself does).
const DEFAULT_TCP_PORT: u16 = 6640;

/// Where ovsdb-server listens: `unix:PATH` or `tcp:HOST:PORT` (as `ovs-vsctl --db` takes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OvsdbAddr {
    Unix(PathBuf),
    /// `host:port`, with an IPv6 host in brackets.
    Tcp(String),
}

impl FromStr for OvsdbAddr {
    type Err = OvsdbError;

    fn from_str(text: &str) -> Result<Self, OvsdbError> {
        let bad = |message: &str| OvsdbError::Address {
            text: text.to_string(),
            message: format!("{message}; expected unix:PATH or tcp:HOST:PORT"),
        };
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("empty socket path"));
            }
            return Ok(OvsdbAddr::Unix(PathBuf::from(path)));
        }
        let Some(rest) = text.strip_prefix("tcp:") else {
            return Err(bad("unsupported connection method"));
        };
        parse_host_port(rest).map(OvsdbAddr::Tcp).map_err(bad)
    }
}

/// Checks `HOST[:PORT]` (IPv6 hosts in brackets) and returns `host:port`.
fn parse_host_port(rest: &str) -> Result<String, &'static str> {
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, tail) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
        match tail {
            "" => (host, None),
            _ => (host, Some(tail.strip_prefix(':').ok_or("junk after ']'")?)),
        }
    } else {
        match rest.split_once(':') {
            Some((_, p)) if p.contains(':') => return Err("IPv6 hosts must be in brackets"),
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err("empty host");
    }
    let port = match port {
        None => DEFAULT_TCP_PORT,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| "the port is not a number 0-65535")?,
    };
    Ok(match rest.starts_with('[') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    })
}

impl fmt::Display for OvsdbAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvsdbAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            OvsdbAddr::Tcp(host_port) => write!(f, "tcp:{host_port}"),
        }
    }
}

/// Failures talking to ovsdb-server. Every message names the address, hence the socket path.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    #[error("invalid OVSDB address {text:?}: {message}")]
    Address { text: String, message: String },
    #[error("cannot connect to ovsdb-server at {addr}: {source}")]
    Connect {
        addr: OvsdbAddr,
        source: std::io::Error,
    },
    #[error("I/O error on the connection to ovsdb-server at {addr}: {source}")]
    Io {
        addr: OvsdbAddr,
        source: std::io::Error,
    },
    #[error("malformed message from ovsdb-server at {addr}: {message}")]
    Protocol { addr: OvsdbAddr, message: String },
    #[error("ovsdb-server at {addr} refused the {request} request: {message}")]
    Server {
        addr: OvsdbAddr,
        request: &'static str,
        message: String,
    },
    #[error("ovsdb-server at {addr} closed the connection")]
    Closed { addr: OvsdbAddr },
    #[error("no answer from ovsdb-server at {addr} within {timeout:?}")]
    Timeout { addr: OvsdbAddr, timeout: Duration },
    /// Silent for `silent`, then an `echo` unanswered for as long: hung or gone.
    #[error("ovsdb-server at {addr} sent nothing for {silent:?} and did not answer an echo within {silent:?} (hung?)")]
    Unanswered { addr: OvsdbAddr, silent: Duration },
}
