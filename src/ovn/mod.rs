//! OVN's Southbound database, read over OVSDB: the bindings of this host's logical ports,
//! their datapaths (hence Neutron networks) and chassis.
//!
//! Only what concerns local ports is ever asked for (conditional monitors), so what this
//! costs follows the host, not the cloud. `state` says what is read, `tables` keeps the
//! rows and the conditions that select them, `rows` applies `update2` rules, `session`
//! runs the requests against one member of a list.

mod conditions;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod remotes;
mod rows;
mod session;
mod state;
mod tables;

pub use error::OvnError;
pub use remotes::parse_remotes;
pub use session::{read_state, SbMonitor};
pub use state::{neutron_network_id, SbChassis, SbDatapath, SbPort, SbState, Wanted};
