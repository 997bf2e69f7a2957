//! `vifd serve`: the refresher and the listeners around the API router.

mod activation;
mod addr;
mod carry;
mod check;
mod config;
pub mod control;
mod error;
mod fleet;
mod guests;
pub mod listen;
mod live;
mod memory;
pub mod notify;
mod ovn;
mod ovs;
pub mod ready;
pub mod refresh;
mod server;
mod tls;

pub use addr::ListenAddr;
pub use check::{check_access, check_config, Checked};
pub use config::{ActionsConfig, ServeConfig, DEFAULT_LISTEN, DEFAULT_POLL, DEFAULT_REFRESH};
pub use control::Control;
pub use error::{ServeError, TlsError};
pub use fleet::{FleetServeConfig, FleetServer, DEFAULT_FLEET_LISTEN};
pub use listen::{Bound, DEFAULT_HEADER_TIMEOUT};
pub use notify::Notifier;
pub use server::{termination, Server};
