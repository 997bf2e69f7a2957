//! Connecting to etcd with the fleet's endpoints, TLS and user: the publisher and the
//! fleet server alike.
//!
//! A session talks to one member, chosen when it connects: the first, in turn, that
//! answers its status within [`PROBE_TIMEOUT`] and has a leader. Not a channel balanced
//! over every endpoint: there a member that is down fails a share of the requests (each
//! failure ends the session and costs a backoff, so a session rarely got through all of
//! its requests), and a hung one holds a share until their timeout. The next session
//! starts with the next endpoint, so a session that failed on a member tries another
//! first, and processes start at different members (by pid) to spread the load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tracing::debug;

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

/// A member that does not answer its status within this is passed over (a hung member
/// accepts connections and answers nothing).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A write (transaction, put, lease grant) not answered within this ends the session. A
/// follower forwards a proposal to the leader it knows: when that leader has just died,
/// the proposal is lost and etcd answers only after its own timeout (7 s); the new leader
/// is elected within about 2 s (etcd's default election timeout, 1 s, randomized up to
/// twice that), and the next session writes through it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Index (modulo the endpoints) of the endpoint the next session tries first.
static NEXT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// A client connected to one of `cfg`'s endpoints, and that endpoint (errors of the
/// session name it): the first, from the one after the last session's, that answers
/// with a leader.
pub async fn connect(cfg: &FleetConfig) -> Result<(Client, String), FleetError> {
    let opts = options(cfg)?;
    let n = cfg.endpoints.len().max(1);
    let start = match NEXT.load(Ordering::Relaxed) {
        usize::MAX => std::process::id() as usize,
        next => next,
    };
    let mut last = None;
    for i in (start..start + n).map(|i| i % n) {
        let Some(endpoint) = cfg.endpoints.get(i) else {
            break;
        };
        match probe(endpoint, opts.clone()).await {
            Ok(client) => {
                NEXT.store(i + 1, Ordering::Relaxed);
                return Ok((client, endpoint.clone()));
            }
            Err(source) => {
                debug!(endpoint, error = %source, "fleet: passing over an etcd member");
                last = Some(source);
            }
        }
    }
    Err(FleetError::Connect {
        endpoints: cfg.endpoints.join(","),
        source: last.unwrap_or_else(|| etcd_client::Error::InvalidArgs("no endpoint".into())),
    })
}

/// A client of `endpoint` alone, once the member says it has a leader.
async fn probe(endpoint: &str, opts: ConnectOptions) -> Result<Client, etcd_client::Error> {
    let timed_out = || {
        let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "no status within 1 s");
        etcd_client::Error::IoError(e)
    };
    let asked = async {
        let mut client = Client::connect([endpoint], Some(opts)).await?;
        let status = client.status().await?;
        match status.leader() {
            0 => Err(etcd_client::Error::EndpointError(format!(
                "{endpoint} has no leader"
            ))),
            _ => Ok(client),
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, asked)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

/// `request` bounded by [`WRITE_TIMEOUT`] (a timeout is an I/O error, `TimedOut`).
pub async fn write<T>(
    request: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, etcd_client::Error> {
    tokio::time::timeout(WRITE_TIMEOUT, request)
        .await
        .unwrap_or_else(|_| {
            let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 2 s");
            Err(etcd_client::Error::IoError(e))
        })
}

fn options(cfg: &FleetConfig) -> Result<ConnectOptions, FleetError> {
    let mut opts = ConnectOptions::new()
        .with_connect_timeout(REQUEST_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
        .with_keep_alive(KEEPALIVE_EVERY, REQUEST_TIMEOUT)
        // A member that has lost its leader (cut off from the others) rejects requests
        // and ends its watches, rather than serving a past it cannot update.
        .with_require_leader(true);
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
    let (mut client, _) = connect(cfg).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoints: Vec<String>) -> FleetConfig {
        FleetConfig {
            endpoints,
            host: "h".to_string(),
            ca: None,
            identity: None,
            user: None,
        }
    }

    /// A member that accepts connections (the kernel completes the handshake into the
    /// backlog) and answers nothing, as a SIGSTOPped etcd does.
    fn hung_member() -> (std::net::TcpListener, String) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        (l, url)
    }

    #[tokio::test]
    async fn hung_and_dead_members_are_passed_over_within_the_probe_timeout() {
        let (_held, hung) = hung_member();
        let dead = {
            let (l, url) = hung_member();
            drop(l);
            url
        };
        let started = std::time::Instant::now();
        let answer = connect(&cfg(vec![hung, dead])).await;
        let took = started.elapsed();
        assert!(
            matches!(answer, Err(FleetError::Connect { .. })),
            "{:?}",
            answer.map(|(_, member)| member)
        );
        assert!(took < PROBE_TIMEOUT * 2, "{took:?}");
    }
}
