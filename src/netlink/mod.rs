//! The host side: network devices read over rtnetlink, in this or another namespace.
//!
//! Netlink types stay inside this module; callers get [`HostDevice`].

mod convert;
mod dump;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod monitor;
mod neigh;
mod netns;
mod stats;
mod types;
mod watcher;

pub use dump::{read_devices, read_host};
pub use error::{DumpFailure, NetlinkError, WorkerFailure};
pub use monitor::{LinkEvent, LinkWatch};
pub use netns::{named_namespaces, NetnsTarget};
pub use types::{DeviceKind, HostDevice, LinkStats, Neighbour};
