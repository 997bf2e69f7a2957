//! The log settings: filter and format.

use super::error::{invalid, Reason, SettingsError};
use crate::config::Loaded;
use crate::logging::{self, LogFormat};

/// The log settings: `--log-level` (or `VIFD_LOG_LEVEL`), else `RUST_LOG`, else the file's
/// `log_level`, else [`logging::DEFAULT_FILTER`]; the format likewise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

/// The global flags (and `RUST_LOG`): what wins over the file for every command.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--log-level` or `VIFD_LOG_LEVEL`.
    pub log_level: Option<String>,
    /// `--log-format` or `VIFD_LOG_FORMAT`.
    pub log_format: Option<LogFormat>,
    /// `RUST_LOG`, when set and not empty.
    pub rust_log: Option<String>,
}

impl Flags {
    /// These flags, with `RUST_LOG` read from the environment.
    pub fn with_env(log_level: Option<String>, log_format: Option<LogFormat>) -> Self {
        let rust_log = std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty());
        Flags {
            log_level,
            log_format,
            rust_log,
        }
    }
}

/// The log filter and format, the filter checked.
pub fn log(flags: &Flags, loaded: &Loaded) -> Result<LogSettings, SettingsError> {
    let from_file = flags.log_level.is_none() && flags.rust_log.is_none();
    let filter = flags
        .log_level
        .clone()
        .or_else(|| flags.rust_log.clone())
        .or_else(|| loaded.file.log_level.clone())
        .unwrap_or_else(|| logging::DEFAULT_FILTER.to_string());
    logging::parse_filter(&filter).map_err(|e| {
        invalid(
            loaded,
            "log_level",
            from_file,
            Reason::LogFilter(Box::new(e)),
        )
    })?;
    let format = flags
        .log_format
        .or(loaded.file.log_format)
        .unwrap_or(LogFormat::Text);
    Ok(LogSettings { filter, format })
}
