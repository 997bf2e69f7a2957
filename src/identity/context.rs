//! What resolving one interface reads: the options and facts, and the names the
//! interface is known by on the host.

use super::facts::{Facts, Known};
use super::options::IdentityOptions;
use crate::libvirt::Network;

/// Everything identity resolution reads besides the interface itself.
pub(crate) struct Context<'a> {
    pub opts: &'a IdentityOptions,
    pub networks: &'a [Network],
    /// Networks libvirt no longer has, remembered for records that still name them.
    pub former: &'a [Network],
    pub facts: &'a Facts,
    pub known: &'a Known,
}

/// The host-side names an interface is known by.
pub(crate) struct Names<'a> {
    /// The host device (or the XML's target when there is none).
    pub device: Option<&'a str>,
    /// The bridge the device is enslaved to.
    pub master: Option<&'a str>,
}
