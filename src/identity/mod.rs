//! Who a VIF belongs to: its network and port, and the addresses seen on it, each fact
//! tagged with the source it came from. Pure: callers gather the facts (OVSDB rows,
//! neighbours, leases) and this module only reads them.
//!
//! Resolvers are tried in the operator's order; the first that knows a field sets it.
//! `<virtualport>`'s interfaceid is the domain's own statement of its port and always
//! comes first.

mod addresses;
mod context;
mod facts;
mod options;
mod ovn;
mod resolve;

pub(crate) use context::{Context, Names};
pub use facts::{Facts, Known, OvsFacts};
pub use options::{IdentityOptions, MacPrefix, NetworkMap, OptionError, Resolver};
pub use ovn::{ChassisId, Faults, OvnFacts, DEFAULT_OVN_BRIDGE};
pub(crate) use resolve::{network_of, resolve, OvnLookup};
