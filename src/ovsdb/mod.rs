//! Open vSwitch's database, read over OVSDB (RFC 7047 JSON-RPC).
//!
//! On an OVS host a tap's owner is not in the kernel: Nova/os-vif and libvirt write it into
//! `Interface.external_ids`, and the Neutron agent writes the network into the Port. This
//! module reads exactly those columns, either once ([`read_state`]) or as a kept `monitor`
//! ([`OvsdbMonitor`]). It speaks the wire protocol itself (tokio + serde_json) so vifd needs no
//! OVS library and no `ovs-vsctl` process per read.
//!
//! `wire` cuts messages out of the byte stream, `message` and `datum` decode them, `tables`
//! keeps the rows and joins them, `session` runs the requests.

mod datum;
mod message;
mod session;
mod tables;
mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use session::{read_state, OvsdbMonitor};

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

/// What vifd needs from the Open_vSwitch database, by Interface name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsState {
    pub interfaces: BTreeMap<String, OvsInterface>,
}

/// One Interface row joined with its Port and Bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsInterface {
    /// `Interface.name`: the kernel device name for taps.
    pub name: String,
    /// `Interface.external_ids:iface-id`: the Neutron port (or other CMS) id.
    pub iface_id: Option<String>,
    /// `Interface.external_ids:attached-mac`, as written (not normalised).
    pub attached_mac: Option<String>,
    /// `Interface.external_ids:vm-uuid` (os-vif), else `vm-id` (libvirt's own).
    pub vm_uuid: Option<String>,
    /// Name of the Port whose `interfaces` holds this row.
    pub port: Option<String>,
    /// Name of the Bridge whose `ports` holds that Port.
    pub bridge: Option<String>,
    /// `Port.other_config:net_uuid` (Neutron OVS agent).
    pub net_uuid: Option<String>,
    /// `Port.tag`, else `Port.other_config:tag` when numeric.
    pub vlan: Option<u16>,
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
}
