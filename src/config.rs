//! The TOML configuration file. Every command-line option has a key of the same name in
//! snake_case; precedence is command line > environment > file > built-in default.
//!
//! ```toml
//! libvirt_uri = "qemu:///system"
//! listen = ["127.0.0.1:8789", "unix:/run/vifd/vifd.sock"]
//! refresh = 300
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

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
