//! The log filter a command runs with.

use crate::config::FileConfig;
use crate::logging;

/// The log filter: `--log-level` (or VIFD_LOG_LEVEL), else `RUST_LOG`, else the file's,
/// else [`logging::DEFAULT_FILTER`].
pub fn log_filter(cli: Option<&str>, file: &FileConfig) -> String {
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    cli.map(str::to_string)
        .or(env)
        .or_else(|| file.log_level.clone())
        .unwrap_or_else(|| logging::DEFAULT_FILTER.to_string())
}
