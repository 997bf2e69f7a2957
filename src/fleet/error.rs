//! Why publishing to etcd failed: each error names the endpoints or the key at fault.

/// A failure of the fleet publisher. None is fatal: the publisher logs it, says the
/// fleet is down (`vifd_source_up{source="fleet"} 0`) and reconnects with a backoff.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot connect to etcd at {endpoints}: {source}")]
    Connect {
        endpoints: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("cannot read {path} (fleet TLS): {source}")]
    TlsFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the fleet password file {path}: {source}")]
    PasswordFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("etcd at {endpoints}: {what} {key}: {source}")]
    Request {
        endpoints: String,
        /// What was asked: `range`, `txn`, `lease grant`, `lease keep-alive`, `put`.
        what: &'static str,
        key: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd at {endpoints}: the lease of {key} expired")]
    LeaseExpired { endpoints: String, key: String },
    #[error(
        "another writer keeps changing the keys of host {host} ({tries} full syncs lost the guard)"
    )]
    Contended { host: String, tries: usize },
    #[error("cannot read the value of {key}: {source}")]
    Decode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("etcd compacted the revisions the watch needed (now at {compacted}): listing again")]
    Compacted { compacted: i64 },
    #[error("etcd at {endpoints} ended the watch")]
    WatchEnded { endpoints: String },
    #[error("etcd at {endpoints} answered nothing on the watch for {silent:?}, not even a progress request: leaving the member")]
    WatchSilent {
        endpoints: String,
        silent: std::time::Duration,
    },
    #[error("cannot encode a value: {0}")]
    Encode(#[source] serde_json::Error),
}
