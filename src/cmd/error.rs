//! Why a command failed.

use super::actions::error::ActionError;
use super::watch::error::WatchError;
use crate::collect::CollectError;

/// Why a command failed. Each becomes one line on stderr and exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error("no domain named or with UUID {0:?}")]
    NoSuchDomain(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Demo(#[from] DemoError),
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Boxed: a settings error carries its cause, and every command returns this type.
    #[error(transparent)]
    Settings(Box<super::settings::SettingsError>),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
}

impl From<super::settings::SettingsError> for CmdError {
    fn from(e: super::settings::SettingsError) -> Self {
        CmdError::Settings(Box::new(e))
    }
}

/// Why `vifd demo` could not set up its host.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("`{cmd}` failed: {stderr}")]
    Ip { cmd: String, stderr: String },
    #[error("cannot run `ip` (is iproute2 installed?): {0}")]
    Spawn(std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}
