//! Settings resolved once, at the top: the command line (and its environment variables,
//! through clap) over the configuration file over built-in defaults. What lies below gets
//! typed values; a value that cannot be used is a [`SettingsError`] naming its dotted key
//! and, when the file set it, its line. `vifd serve`, its reload and `vifd config check`
//! all go through [`Settings::resolve`].

mod error;
mod fleet;
mod host;
mod log;
mod resolve;
mod serve;

pub use error::{Reason, SettingsError};
pub use fleet::{fleet, fleet_serve, FleetOut};
pub use host::{host, DEFAULT_AGENT_TIMEOUT, DEFAULT_LIBVIRT_URI};
pub use log::{log, Flags, LogSettings};
pub use resolve::Settings;
