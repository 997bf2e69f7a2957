//! Connecting to etcd with the fleet's endpoints, TLS and user: the publisher and the
//! fleet server alike.

use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, DeleteOptions, Identity, TlsOptions, Txn, TxnOp,
    TxnOpResponse,
};

use super::config::FleetConfig;
use super::error::FleetError;
use super::keys::HostKeys;

/// Between keep-alives (of the publisher's lease, and of the connection).
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(10);
/// Connecting, and each request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A client connected to `cfg`'s endpoints.
pub async fn connect(cfg: &FleetConfig) -> Result<Client, FleetError> {
    Client::connect(&cfg.endpoints, Some(options(cfg)?))
        .await
        .map_err(|source| FleetError::Connect {
            endpoints: cfg.endpoints.join(","),
            source,
        })
}

fn options(cfg: &FleetConfig) -> Result<ConnectOptions, FleetError> {
    let mut opts = ConnectOptions::new()
        .with_connect_timeout(REQUEST_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
        .with_keep_alive(KEEPALIVE_EVERY, REQUEST_TIMEOUT);
    if let Some((user, path)) = &cfg.user {
        let password =
            std::fs::read_to_string(path).map_err(|source| FleetError::PasswordFile {
                path: path.clone(),
                source,
            })?;
        opts = opts.with_user(user, password.trim_end_matches(['\r', '\n']));
    }
    if cfg.ca.is_none() && cfg.identity.is_none() {
        return Ok(opts);
    }
    let read = |path: &std::path::PathBuf| {
        std::fs::read(path).map_err(|source| FleetError::TlsFile {
            path: path.clone(),
            source,
        })
    };
    let mut tls = TlsOptions::new();
    if let Some(ca) = &cfg.ca {
        tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    if let Some((cert, key)) = &cfg.identity {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(opts.with_tls(tls))
}

/// Removes a host from etcd: every key under `hosts/<host>/` and `alive/<host>`, in one
/// transaction. Returns how many keys were deleted (0: the host was not there).
pub async fn forget(cfg: &FleetConfig, host: &str) -> Result<i64, FleetError> {
    let keys = HostKeys::new(host);
    let mut client = connect(cfg).await?;
    let txn = Txn::new().and_then([
        TxnOp::delete(keys.prefix(), Some(DeleteOptions::new().with_prefix())),
        TxnOp::delete(keys.alive(), None),
    ]);
    let resp = client
        .txn(txn)
        .await
        .map_err(|source| FleetError::Request {
            endpoints: cfg.endpoints.join(","),
            what: "txn",
            key: keys.prefix().to_string(),
            source,
        })?;
    Ok(resp
        .op_responses()
        .iter()
        .map(|r| match r {
            TxnOpResponse::Delete(d) => d.deleted(),
            _ => 0,
        })
        .sum())
}
