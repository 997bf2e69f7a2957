//! The fleet publisher of `vifd serve`: the host's records, host-level problems and meta
//! in etcd, kept equal to the served view (README, "Fleet", documents the key layout and
//! the values, a contract with the fleet server).
//!
//! - `keys`: the key layout;
//! - `codec`: the values (a record without its counters, the problems, the meta);
//! - `batch`: what to write, as a diff of states cut into transactions;
//! - `publisher`: the task (connection, lease, guard, full syncs and repairs);
//! - `view`, `watcher`: the fleet server's side, every host's keys read and followed.

pub mod api;
pub mod batch;
mod client;
pub mod codec;
mod compute;
mod config;
mod error;
mod feed;
pub mod keys;
mod lag;
mod metrics;
mod publisher;
mod router;
mod sse;
mod strict;
pub mod view;
mod watcher;

pub use client::{connect, forget};
pub use config::{check_endpoint, hostname, FleetConfig};
pub use error::FleetError;
pub use publisher::Publisher;
pub use router::router;
pub use watcher::{FleetState, Watcher};
