//! One reading of everything libvirt knows: the domains and networks together.

use super::domain::Domain;
use super::network::Network;

/// What libvirt knows about the host at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub domains: Vec<Domain>,
    pub networks: Vec<Network>,
}
