//! One module per subcommand.

pub mod actions;
pub mod assets;
pub mod check;
pub mod config;
pub mod demo;
mod error;
pub mod fleet;
pub mod http_client;
pub mod list;
mod output;
pub mod query;
pub mod serve;
pub mod settings;
pub mod watch;

pub use error::{CmdError, DemoError};
