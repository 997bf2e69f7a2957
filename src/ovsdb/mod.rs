//! Open vSwitch's database, read over OVSDB (RFC 7047 JSON-RPC).
//!
//! On an OVS host a tap's owner is not in the kernel: Nova/os-vif and libvirt write it into
//! `Interface.external_ids`, and the Neutron agent writes the network into the Port. This
//! module reads exactly those columns (with the bridges' datapath, vhost-user sockets and
//! the host's OVN settings), either once ([`read_state`]) or as a kept `monitor`
//! ([`OvsdbMonitor`]). It speaks the wire protocol itself (tokio + serde_json) so vifd needs no
//! OVS library and no `ovs-vsctl` process per read.
//!
//! `addr` says where the server listens (and what failed talking to it), `state` what is
//! read; `wire` cuts messages out of the byte stream, `message` and `datum` decode them,
//! `tables` keeps the rows and joins them, `session` runs the requests.

mod addr;
mod datum;
#[doc(hidden)]
pub mod fuzz;
mod message;
mod session;
mod state;
mod tables;
mod wire;

pub use addr::{OvsdbAddr, OvsdbError, DEFAULT_ADDR};
pub use session::{read_state, OvsdbMonitor};
pub use state::{OvsHost, OvsInterface, OvsState, OVS_RUNDIR};
// The OVN Southbound client speaks the same wire protocol.
pub(crate) use wire::Conn;
