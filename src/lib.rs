//! vifd: which virtual interfaces exist on this hypervisor, who owns them, which host
//! device carries each, and what does not add up.

pub mod correlate;
pub mod identity;
pub mod inventory;
pub mod libvirt;
pub mod mac;
pub mod netlink;
pub mod ovn;
pub mod ovsdb;

pub use correlate::{correlate, correlate_with, CorrelateOptions, Correlation, Delta};
pub use inventory::{Inventory, Problem, ProblemKind, Vif};
pub mod actions;
pub mod api;
pub(crate) mod backoff;
pub mod cli;
pub mod cmd;
pub mod collect;
pub mod config;
pub mod fleet;
/// Fuzz harnesses, one per parser (see the `fuzz/` crate and `tests/fuzz_regressions.rs`).
#[doc(hidden)]
pub mod fuzzing;
pub mod heap;
pub mod logging;
pub mod output;
pub mod serve;
pub mod xml_text;
