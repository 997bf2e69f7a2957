//! The fleet's command-line options: `vifd fleet serve|forget`, and `vifd serve`'s
//! publishing to etcd.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::access::AccessArgs;

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Serve every host's inventory, as the agents publish it to etcd (`vifd serve
    /// --fleet-etcd`): /v1/interfaces (with `host=`), /v1/hosts, /v1/problems, /metrics
    /// and the Compute views of any server.
    #[command(
        after_help = "Examples:\n  vifd fleet serve --fleet-etcd http://10.0.0.2:2379,http://10.0.0.3:2379\n  vifd fleet serve --fleet-etcd https://etcd:2379 --fleet-ca ca.pem --listen 0.0.0.0:8790 --token-file /etc/vifd/token"
    )]
    Serve(FleetServeArgs),
    /// Remove a host gone for good from etcd: its records, meta, problems and alive key.
    #[command(
        after_help = "Examples:\n  vifd fleet forget hv-17 --fleet-etcd http://10.0.0.2:2379"
    )]
    Forget(FleetForgetArgs),
}

#[derive(Debug, Clone, Default, Args)]
pub struct FleetServeArgs {
    /// Address to serve on: IP:PORT, or unix:PATH (mode 0660); repeatable
    /// [default: 127.0.0.1:8790]. A non-loopback address needs --token-file.
    #[arg(
        long,
        env = "VIFD_FLEET_LISTEN",
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub listen: Vec<String>,
    /// The bearer token and TLS of the listeners.
    #[command(flatten)]
    pub access: AccessArgs,
    /// Seconds a client has to send a request's head [default: 10].
    #[arg(long, env = "VIFD_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub header_timeout: Option<u64>,
    /// etcd (`--fleet-*`), as `vifd serve` publishes to it (`--fleet-host` is unused).
    #[command(flatten)]
    pub fleet: Box<FleetArgs>,
    /// Once the first list of etcd is served, write {"pid", "listen", "generation"}
    /// here ("generation": the etcd revision), atomically.
    #[arg(long, env = "VIFD_READY_FILE", value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct FleetForgetArgs {
    /// The host name its agent publishes under (`--fleet-host`).
    pub host: String,
    /// etcd (`--fleet-*`).
    #[command(flatten)]
    pub fleet: Box<FleetArgs>,
}

/// `vifd serve`'s fleet options: publishing the inventory to etcd.
#[derive(Debug, Clone, Default, Args)]
pub struct FleetArgs {
    /// Publish the inventory to etcd at these client URLs (http:// or https://HOST:PORT),
    /// for `vifd fleet serve`; comma-separated or repeated [default: off].
    #[arg(id = "fleet_etcd", long = "fleet-etcd", env = "VIFD_FLEET_ETCD")]
    #[arg(value_name = "URL", value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// The host name the inventory is published under [default: the hostname].
    #[arg(id = "fleet_host", long = "fleet-host", env = "VIFD_FLEET_HOST")]
    #[arg(value_name = "NAME")]
    pub host: Option<String>,
    /// PEM CA certificate that etcd's certificate must chain to (https:// endpoints).
    #[arg(
        id = "fleet_ca",
        long = "fleet-ca",
        env = "VIFD_FLEET_CA",
        value_name = "FILE"
    )]
    pub ca: Option<PathBuf>,
    /// PEM client certificate presented to etcd (with --fleet-key).
    #[arg(id = "fleet_cert", long = "fleet-cert", env = "VIFD_FLEET_CERT")]
    #[arg(value_name = "FILE", requires = "fleet_key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --fleet-cert.
    #[arg(id = "fleet_key", long = "fleet-key", env = "VIFD_FLEET_KEY")]
    #[arg(value_name = "FILE", requires = "fleet_cert")]
    pub key: Option<PathBuf>,
    /// etcd user name (with --fleet-password-file).
    #[arg(id = "fleet_user", long = "fleet-user", env = "VIFD_FLEET_USER")]
    #[arg(value_name = "NAME", requires = "fleet_password_file")]
    pub user: Option<String>,
    /// File holding the etcd user's password.
    #[arg(id = "fleet_password_file", long = "fleet-password-file")]
    #[arg(
        env = "VIFD_FLEET_PASSWORD_FILE",
        value_name = "FILE",
        requires = "fleet_user"
    )]
    pub password_file: Option<PathBuf>,
}
