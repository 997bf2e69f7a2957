//! The guest side: libvirt domains and networks, read through the `virt` crate.
//!
//! Everything this module returns is our own type; no `virt` handle leaves it.

mod agent;
pub mod device;
mod domain;
mod error;
mod events;
mod fetch;
mod ffi;
#[doc(hidden)]
pub mod fuzz;
mod leases;
mod network;
mod netxml;
mod read;
mod snapshot;
mod write;
mod xml;

pub use domain::{
    Domain, DomainDisk, DomainInterface, DomainState, GuestAddress, InterfaceSource, NovaInstance,
    NovaIp, NovaPort, Virtualport,
};
pub use error::{panic_message, EventLoopError, Failure, LibvirtCause, LibvirtError};
pub use events::{EventCause, EventSink, GuestEvent};
pub use fetch::{fetch, with_session, Session};
pub use network::{DhcpHost, DhcpLease, DhcpRange, Network, NetworkDhcp};
pub use snapshot::Snapshot;
pub use write::{Applied, PoolVolume};
pub use xml::{parse_domain_xml, ParsedDomain, XmlError};
