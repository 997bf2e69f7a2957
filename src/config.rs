//! The TOML configuration file. Every command-line option has a key of the same name in
//! snake_case; precedence is command line > environment > file > built-in default.
//!
//! ```toml
//! libvirt_uri = "qemu:///system"
//! listen = ["127.0.0.1:8789", "unix:/run/vifd/vifd.sock"]
//! refresh = 300
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::identity::{MacPrefix, NetworkMap, OptionError};

/// Where the file is looked for when `--config` is not given; its absence is fine.
pub const DEFAULT_PATH: &str = "/etc/vifd/vifd.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {}: {invalid}", path.display())]
    Parse { path: PathBuf, invalid: Invalid },
}

/// What is wrong in a config file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The dotted key (`networks.bridges.br0`), when the mistake belongs to one.
    pub key: Option<String>,
    /// 1-based line of the key (or of the mistake, without a key).
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl Invalid {
    /// A mistake in the value of `key`, located in `text`.
    pub fn at_key(text: &str, key: &str, message: impl Into<String>) -> Self {
        Invalid {
            line: locate(text, key),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

/// The file's content. Unknown keys are an error, so a typo is not silently ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub log_level: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<crate::logging::LogFormat>,
    pub libvirt_uri: Option<String>,
    pub netns: Option<String>,
    pub orphan_pattern: Option<Vec<String>>,
    pub listen: Option<Vec<String>>,
    /// Seconds between inventories.
    pub refresh: Option<u64>,
    /// Seconds a client has to send a request head.
    pub header_timeout: Option<u64>,
    pub token_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// ovsdb-server's address: `unix:PATH` or `tcp:HOST:PORT`.
    pub ovsdb: Option<String>,
    /// The OVN Southbound DB: comma-separated `tcp:HOST:PORT` / `unix:PATH`.
    pub ovn_sb: Option<String>,
    /// Seconds a port may stay unbound, not installed or down before it is a problem.
    pub ovn_grace: Option<u64>,
    /// The identity resolvers to use, in order.
    pub resolvers: Option<Vec<String>>,
    /// Ask the QEMU guest agent for addresses.
    pub guest_agent: Option<bool>,
    /// Seconds to wait for one guest agent's answer.
    pub guest_agent_timeout: Option<u64>,
    /// Seconds between reads of counters and DHCP leases (`vifd serve`).
    pub poll_interval: Option<u64>,
    /// The `config` resolver's map.
    pub networks: Option<NetworksTable>,
    /// `[actions]`: the write side of `vifd serve`.
    pub actions: Option<ActionsTable>,
    /// `[volumes]`: where attached volumes come from.
    pub volumes: Option<VolumesTable>,
    /// `[fleet]`: publishing the inventory to etcd.
    pub fleet: Option<FleetTable>,
}

/// `[fleet]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FleetTable {
    /// etcd client URLs; none: the fleet is off.
    pub endpoints: Option<Vec<String>>,
    /// The host name published under (default: the hostname).
    pub host: Option<String>,
    /// PEM CA certificate to verify etcd with.
    pub ca: Option<PathBuf>,
    /// PEM client certificate and key, both or neither.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// etcd user name and the file holding its password, both or neither.
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// `[actions]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActionsTable {
    /// Accept interface, address and volume actions (unix sockets; TCP with the token).
    pub enabled: Option<bool>,
}

/// `[volumes]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VolumesTable {
    /// The libvirt storage pool whose volumes `os-volume_attachments` attaches.
    pub pool: Option<String>,
}

/// `[networks]`: what the `config` resolver maps to a network UUID.
///
/// ```toml
/// [networks.bridges]
/// br-provider = "0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e"
/// [networks.ovs_bridges]
/// br-ex = "..."
/// [networks.mac_prefixes]
/// "fa:16:3e:01" = "..."
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworksTable {
    /// Linux bridge name → network UUID.
    pub bridges: Option<BTreeMap<String, String>>,
    /// Open vSwitch bridge name → network UUID.
    pub ovs_bridges: Option<BTreeMap<String, String>>,
    /// Leading octets of the guest MAC → network UUID; the longest prefix wins.
    pub mac_prefixes: Option<BTreeMap<String, String>>,
}

impl NetworksTable {
    /// The map, every UUID and prefix checked; an error names the entry's dotted key.
    pub fn to_map(&self) -> Result<NetworkMap, MapError> {
        let check = |section: &str, key: &str, uuid: &str| -> Result<String, MapError> {
            uuid::Uuid::parse_str(uuid)
                .map(|u| u.hyphenated().to_string())
                .map_err(|source| MapError {
                    key: format!("networks.{section}.{key}"),
                    reason: MapReason::NotUuid {
                        value: uuid.to_string(),
                        source,
                    },
                })
        };
        let table = |section: &str, t: &Option<BTreeMap<String, String>>| {
            t.iter()
                .flatten()
                .map(|(k, v)| Ok((k.clone(), check(section, k, v)?)))
                .collect::<Result<BTreeMap<_, _>, MapError>>()
        };
        let mut map = NetworkMap {
            bridges: table("bridges", &self.bridges)?,
            ovs_bridges: table("ovs_bridges", &self.ovs_bridges)?,
            mac_prefixes: Vec::new(),
        };
        for (k, v) in self.mac_prefixes.iter().flatten() {
            let prefix: MacPrefix = k.parse().map_err(|e| MapError {
                key: format!("networks.mac_prefixes.{k}"),
                reason: MapReason::Prefix(e),
            })?;
            map.mac_prefixes
                .push((prefix, check("mac_prefixes", k, v)?));
        }
        Ok(map)
    }
}

/// A `[networks]` entry that cannot be used, and its dotted key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct MapError {
    /// `networks.bridges.br0`.
    pub key: String,
    #[source]
    pub reason: MapReason,
}

/// Why a `[networks]` entry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MapReason {
    #[error("{value:?} is not a UUID: {source}")]
    NotUuid {
        value: String,
        #[source]
        source: uuid::Error,
    },
    #[error(transparent)]
    Prefix(#[from] OptionError),
}

/// A configuration file as read: its text (to find a key's line) and its settings. Without
/// a file, both are empty.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub text: String,
    pub file: FileConfig,
}

impl Loaded {
    /// The line of the dotted `key` in the file, if the file sets it.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        locate(&self.text, key)
    }
}

/// Reads `explicit` (which must exist) or, without one, [`DEFAULT_PATH`] if it exists.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = PathBuf::from(DEFAULT_PATH);
            if !p.exists() {
                return Ok(Loaded::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let file = parse(&text).map_err(|invalid| ConfigError::Parse { path, invalid })?;
    Ok(Loaded { text, file })
}

/// The file's settings; a mistake names its key and line.
pub fn parse(text: &str) -> Result<FileConfig, Invalid> {
    toml::from_str(text).map_err(|e| {
        let span = e.span();
        let line = span.as_ref().map(|s| line_of(text, s.start));
        let key = span.and_then(|s| key_at(text, s.start));
        let message = e.message().trim_end().to_string();
        Invalid { key, line, message }
    })
}

/// 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line of the dotted `key` (`networks.bridges.br0`), if the file has it.
pub fn locate(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (k, item) = table.get_key_value(part)?;
        if parts.peek().is_none() {
            let span = k.span().or_else(|| item.span())?;
            return Some(line_of(text, span.start));
        }
        table = item.as_table_like()?;
    }
    None
}

/// The innermost dotted key whose name or value holds byte `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    key_path(doc.as_table(), offset).map(|p| p.join("."))
}

/// Tables declared by a header have no span of their own: every child is searched.
fn key_path(table: &dyn toml_edit::TableLike, offset: usize) -> Option<Vec<String>> {
    let within = |r: Option<std::ops::Range<usize>>| r.is_some_and(|r| r.contains(&offset));
    for (name, item) in table.iter() {
        let key_span = table.get_key_value(name).and_then(|(k, _)| k.span());
        if within(key_span) {
            return Some(vec![name.to_string()]);
        }
        if let Some(inner) = item.as_table_like().and_then(|t| key_path(t, offset)) {
            return Some(std::iter::once(name.to_string()).chain(inner).collect());
        }
        if within(item.span()) {
            return Some(vec![name.to_string()]);
        }
    }
    None
}
