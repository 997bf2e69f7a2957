//! Why the server could not start.

use std::os::fd::RawFd;
use std::path::PathBuf;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error(
        "refusing to listen on {addr} without a bearer token: it is reachable from other \
         hosts; configure --token-file (or listen on loopback or a unix socket)"
    )]
    NeedsToken { addr: String },
    #[error("cannot read token file {}: {source}", path.display())]
    Token {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read token file {}: the file is empty", path.display())]
    EmptyToken { path: PathBuf },
    #[error("TLS setup from {} failed: {reason}", path.display())]
    Tls {
        path: PathBuf,
        #[source]
        reason: TlsError,
    },
    #[error("--refresh must be at least 1 second")]
    Refresh,
    #[error("--poll-interval must be at least 1 second")]
    Poll,
    #[error("--header-timeout must be at least 1 second")]
    HeaderTimeout,
    #[error(
        "refusing to accept actions on {addr} without a bearer token: with --enable-actions \
         every TCP listener needs --token-file (or serve actions on a unix socket only)"
    )]
    ActionsNeedToken { addr: String },
    #[error("socket activation: {0}")]
    Activation(#[from] ActivationError),
}

/// Why the TLS certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Pem(#[source] rustls_pki_types::pem::Error),
    #[error("no certificate in the file")]
    NoCertificate,
    #[error("{0}")]
    Rustls(#[source] tokio_rustls::rustls::Error),
    #[error("certificate and key do not form a pair: {0}")]
    NotAPair(#[source] tokio_rustls::rustls::Error),
}

/// Why the sockets systemd passed (socket activation, `activation.rs`) were not adopted.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("LISTEN_FDS={0:?} is not a number")]
    Count(String),
    #[error("LISTEN_FDS={0:?} is negative")]
    Negative(String),
    #[error("LISTEN_FDS={0:?} is more descriptors than a process can have")]
    TooMany(String),
    #[error("the inherited sockets were taken already (a process adopts them only once)")]
    Taken,
    #[error("inherited descriptor {fd} is not a listening stream socket: {why}")]
    NotListening { fd: RawFd, why: String },
}
