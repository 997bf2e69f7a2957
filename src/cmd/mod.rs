//! One module per subcommand.

pub mod actions;
pub mod assets;
pub mod check;
pub mod config;
pub mod demo;
pub mod http_client;
pub mod list;
pub mod query;
pub mod serve;
pub mod watch;

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
    Demo(#[from] demo::DemoError),
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Watch(#[from] watch::WatchError),
    #[error(transparent)]
    Action(#[from] actions::ActionError),
}

/// Writes `value` as pretty JSON followed by a newline, streamed through one buffer:
/// a list of thousands of records is neither copied into a JSON tree first nor written
/// line by line.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CmdError> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
