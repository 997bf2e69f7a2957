//! The inventory: what vifd knows, as clients see it. The record types (the JSON
//! contract), the live store that the serve loop writes and every request reads, and the
//! change feed behind `/v1/watch`.
//!
//! Correlation builds records from `record`, `kinds` and `problem` alone; the store and
//! the feed sit above it and take its changes. The inventory has its own types: the
//! correlate layer converts what the sources say into them.

pub mod feed;
pub mod kinds;
pub mod problem;
pub mod record;
pub mod store;
pub mod view;

pub use feed::{Event, Start};
pub use kinds::{
    AddressSource, DegradedSource, DeviceKind, DomainState, InterfaceType, LinkState, NetIdSource,
    OperState, PortIdSource, StaleSource, VirtualportType,
};
pub use problem::{Problem, ProblemKind};
pub use record::{
    Binding, DomainRecord, DomainSummary, InterfaceSource, Inventory, IpAddress, LinkStats, Vif,
    Virtualport, Volume,
};
pub use store::{Health, Shared, Sources};
pub use view::{list_body, Seq, View};
