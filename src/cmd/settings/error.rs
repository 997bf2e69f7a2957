//! Why a configuration cannot be used.

use crate::config::{ConfigError, Loaded, MapReason};
use crate::identity::{OptionError, Resolver};
use crate::logging::LogError;
use crate::ovn::OvnError;
use crate::ovsdb::OvsdbError;
use crate::serve::ServeError;

/// The file could not be read or parsed, or one setting's value cannot be used. A value
/// error names its dotted key, and its line when the value came from the file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    File(#[from] ConfigError),
    #[error("{}{key}: {reason}", line_prefix(*.line))]
    Invalid {
        /// The dotted key (`networks.bridges.br0`), as the file spells it.
        key: String,
        /// 1-based line in the file; `None` when the value came from the command line,
        /// the environment or a default.
        line: Option<usize>,
        #[source]
        reason: Reason,
    },
}

/// What is wrong with one setting's value.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    #[error(transparent)]
    LogFilter(Box<LogError>),
    #[error(transparent)]
    Resolver(OptionError),
    #[error("{0} is listed twice")]
    DuplicateResolver(Resolver),
    #[error(transparent)]
    Ovsdb(OvsdbError),
    #[error(transparent)]
    Ovn(Box<OvnError>),
    #[error(transparent)]
    Network(MapReason),
    #[error("--tls-cert and --tls-key go together")]
    TlsPair,
    #[error(transparent)]
    Serve(Box<ServeError>),
    #[error("{0}")]
    Fleet(String),
}

fn line_prefix(line: Option<usize>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

impl SettingsError {
    /// The dotted key at fault, for a value error.
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingsError::Invalid { key, .. } => Some(key),
            SettingsError::File(_) => None,
        }
    }
}

/// A value error on `key`; its line is looked up only when the value came from the file.
pub(super) fn invalid(
    loaded: &Loaded,
    key: &str,
    from_file: bool,
    reason: Reason,
) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_string(),
        line: from_file.then(|| loaded.line_of(key)).flatten(),
        reason,
    }
}
