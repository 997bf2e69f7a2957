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

use crate::identity::{MacPrefix, NetworkMap};

/// Where the file is looked for when `--config` is not given; its absence is fine.
pub const DEFAULT_PATH: &str = "/etc/vifd/vifd.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// The file's content. Unknown keys are an error, so a typo is not silently ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub log_level: Option<String>,
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
    /// The map, every UUID and prefix checked; errors name the key.
    pub fn to_map(&self) -> Result<NetworkMap, String> {
        let check = |section: &str, key: &str, uuid: &str| -> Result<String, String> {
            uuid::Uuid::parse_str(uuid)
                .map(|u| u.hyphenated().to_string())
                .map_err(|e| format!("networks.{section}.{key:?}: {uuid:?} is not a UUID: {e}"))
        };
        let table = |section: &str, t: &Option<BTreeMap<String, String>>| {
            t.iter()
                .flatten()
                .map(|(k, v)| Ok((k.clone(), check(section, k, v)?)))
                .collect::<Result<BTreeMap<_, _>, String>>()
        };
        let mut map = NetworkMap {
            bridges: table("bridges", &self.bridges)?,
            ovs_bridges: table("ovs_bridges", &self.ovs_bridges)?,
            mac_prefixes: Vec::new(),
        };
        for (k, v) in self.mac_prefixes.iter().flatten() {
            let prefix: MacPrefix = k
                .parse()
                .map_err(|e| format!("networks.mac_prefixes.{k:?}: {e}"))?;
            map.mac_prefixes
                .push((prefix, check("mac_prefixes", k, v)?));
        }
        Ok(map)
    }
}

/// Reads `explicit` (which must exist) or, without one, [`DEFAULT_PATH`] if it exists.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = PathBuf::from(DEFAULT_PATH);
            if !p.exists() {
                return Ok(FileConfig::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&text).map_err(|message| ConfigError::Parse { path, message })
}

pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.message().to_string())
}
