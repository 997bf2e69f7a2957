//! The listener access options `vifd serve` and `vifd fleet serve` share.

use std::path::PathBuf;

use clap::Args;

/// Who may ask a server, and over what: `vifd serve`'s and `vifd fleet serve`'s.
#[derive(Debug, Clone, Default, Args)]
pub struct AccessArgs {
    /// File holding the bearer token that requests on non-loopback TCP listeners must carry.
    #[arg(long, env = "VIFD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM certificate chain: serve TCP listeners over TLS (with --tls-key).
    #[arg(long, env = "VIFD_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "VIFD_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}
