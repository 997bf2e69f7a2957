//! What `vifd serve` is configured with.

use std::path::PathBuf;
use std::time::Duration;

use super::addr::ListenAddr;
use super::refresh;
use crate::collect::Source;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8789";
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
pub const DEFAULT_POLL: Duration = Duration::from_secs(10);

/// Everything `vifd serve` needs, resolved from options, environment and file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    pub source: Source,
    pub listen: Vec<ListenAddr>,
    pub refresh: Duration,
    /// Between reads of counters and DHCP leases, which send no notifications.
    pub poll: Duration,
    pub token_file: Option<PathBuf>,
    /// Certificate chain and key, both PEM.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Time a client has to send a request head before its connection is closed.
    pub header_timeout: Duration,
    /// Receive buffer of the link-notification socket (tests shrink it to force overruns).
    pub netlink_rcvbuf: Option<usize>,
    pub actions: ActionsConfig,
    /// Where to publish the inventory; `None`: the fleet is off.
    pub fleet: Option<crate::fleet::FleetConfig>,
}

/// The write side: off unless enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionsConfig {
    /// `--enable-actions` / `actions.enabled`.
    pub enabled: bool,
    /// `--volume-pool` / `volumes.pool`: the storage pool volumes are attached from.
    pub pool: Option<String>,
}

pub(super) fn timing_of(cfg: &ServeConfig) -> refresh::Timing {
    refresh::Timing {
        refresh: cfg.refresh,
        poll: cfg.poll,
        netlink_rcvbuf: cfg.netlink_rcvbuf,
    }
}
