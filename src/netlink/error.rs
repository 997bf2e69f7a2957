//! What can go wrong reading host devices over netlink.

/// Failures reading host devices.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("network namespace {name:?} not found at {path}: {source}")]
    NetnsMissing {
        name: String,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {name:?}: {source}")]
    NetnsEnter { name: String, source: nix::Error },
    #[error("cannot open a netlink socket in {ns}: {source}")]
    Socket { ns: String, source: std::io::Error },
    /// A dump of `what` (link, neighbour, counters) failed.
    #[error("netlink {what} dump in {ns} failed: {message}")]
    Dump {
        what: &'static str,
        ns: String,
        message: String,
    },
    #[error("netlink worker thread for {ns} failed: {message}")]
    Worker { ns: String, message: String },
}
