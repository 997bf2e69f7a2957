//! What actions may use, from the configuration.

use std::collections::BTreeMap;
use std::time::Duration;

/// How long an action waits for the inventory to show what libvirt did.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// What actions may use, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSettings {
    pub libvirt_uri: String,
    /// Network UUID → Linux bridge (`[networks.bridges]` read the other way): a net_id
    /// found here is plugged as `<interface type='bridge'>`.
    pub bridges: BTreeMap<String, String>,
    /// The storage pool volumes are attached from (`volumes.pool`).
    pub pool: Option<String>,
    pub wait: Duration,
}
