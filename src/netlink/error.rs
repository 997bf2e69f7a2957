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
    #[error("netlink {what} dump in {ns} failed: {reason}")]
    Dump {
        what: &'static str,
        ns: String,
        #[source]
        reason: DumpFailure,
    },
    #[error("netlink worker thread for {ns} failed: {reason}")]
    Worker {
        ns: String,
        #[source]
        reason: WorkerFailure,
    },
}

/// Why a dump failed: a message that does not decode, or the kernel's error.
#[derive(Debug, thiserror::Error)]
pub enum DumpFailure {
    #[error("{0}")]
    Decode(#[source] rtnetlink::packet_core::DecodeError),
    #[error("{0}")]
    Kernel(#[source] std::io::Error),
}

/// Why a netlink thread gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum WorkerFailure {
    #[error("{0}")]
    Spawn(#[source] std::io::Error),
    #[error("thread exited without an answer")]
    NoAnswer,
    #[error("the link watcher stopped")]
    Stopped,
}
