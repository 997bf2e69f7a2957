//! `vifd serve`: the refresher and the listeners around the API router.

mod activation;
mod backoff;
pub mod control;
pub mod listen;
mod live;
pub mod notify;
mod ovs;
pub mod refresh;
mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tracing::info;

use crate::actions::{ActionSettings, Actions};
use crate::api::actions::ActionAccess;
use crate::api::auth::Token;
use crate::api::{router, RouterOptions};
use crate::collect::Source;
use crate::inventory::Shared;
pub use control::Control;
pub use listen::{Bound, ListenAddr, DEFAULT_HEADER_TIMEOUT};
pub use notify::Notifier;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8789";
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
pub const DEFAULT_POLL: Duration = Duration::from_secs(10);

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
    #[error("cannot read token file {path}: {message}")]
    Token { path: String, message: String },
    #[error("TLS setup from {path} failed: {message}")]
    Tls { path: String, message: String },
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
    Activation(#[from] activation::ActivationError),
}

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
}

/// The write side: off unless enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionsConfig {
    /// `--enable-actions` / `actions.enabled`.
    pub enabled: bool,
    /// `--volume-pool` / `volumes.pool`: the storage pool volumes are attached from.
    pub pool: Option<String>,
}

/// A server with its listeners bound, not yet serving.
pub struct Server {
    pub shared: Arc<Shared>,
    bound: Vec<Bound>,
    /// The configuration it was bound with (a reload compares against it).
    cfg: ServeConfig,
    /// The bearer token of non-local listeners, rotated in place by a reload.
    token: Option<Arc<Token>>,
    timing: refresh::Timing,
}

impl Server {
    /// Checks the configuration and binds every listener, so that every mistake shows
    /// before anything is served.
    pub async fn bind(cfg: ServeConfig) -> Result<Self, ServeError> {
        let Checked { token, tls } = check_config(&cfg)?;
        let shared = Shared::new();
        let actions = Arc::new(Actions::new(shared.clone(), action_settings(&cfg)));
        let app_for = |addr: &ListenAddr| {
            let unix = matches!(addr, ListenAddr::Unix(_));
            let opts = RouterOptions {
                // Loopback and unix sockets need nothing; every other listener needs the token.
                token: if addr.is_local() { None } else { token.clone() },
                tls: tls.is_some() && !unix,
                actions: Some(ActionAccess {
                    actions: actions.clone(),
                    enabled: cfg.actions.enabled,
                    unix,
                    token: if unix { None } else { token.clone() },
                }),
            };
            router(shared.clone(), opts)
        };
        let mut bound = Vec::new();
        let inherited = activation::take()?;
        if inherited.is_empty() {
            for addr in cfg.listen.clone() {
                let app = app_for(&addr);
                bound.push(listen::bind(addr, app, tls.clone(), cfg.header_timeout).await?);
            }
        } else {
            info!(
                sockets = inherited.len(),
                "socket-activated: serving systemd's sockets, not the configured listen addresses"
            );
            for sock in inherited {
                let addr = sock.addr().map_err(|e| ServeError::Listen {
                    addr: "an inherited socket".into(),
                    message: e.to_string(),
                })?;
                if token.is_none() && !addr.is_local() {
                    return Err(ServeError::NeedsToken {
                        addr: addr.to_string(),
                    });
                }
                if token.is_none() && cfg.actions.enabled && matches!(addr, ListenAddr::Tcp(_)) {
                    return Err(ServeError::ActionsNeedToken {
                        addr: addr.to_string(),
                    });
                }
                let app = app_for(&addr);
                bound.push(listen::adopt(sock, app, tls.clone(), cfg.header_timeout)?);
            }
        }
        Ok(Server {
            shared,
            bound,
            timing: timing_of(&cfg),
            cfg,
            token,
        })
    }

    /// The bound TCP addresses, in listen order.
    pub fn tcp_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.bound.iter().filter_map(Bound::local_addr).collect()
    }

    /// Serves until `shutdown` completes, then drains open connections.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        self.run_with(shutdown, Control::default()).await
    }

    /// Serves like [`run`](Self::run), telling systemd how it goes and reloading the
    /// configuration on SIGHUP through `control`.
    pub async fn run_with(self, shutdown: impl Future<Output = ()>, control: Control) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(listen::MAX_CONNECTIONS));
        let loops: Vec<_> = self
            .bound
            .into_iter()
            .map(|b| tokio::spawn(b.serve(limit.clone(), stop_rx.clone())))
            .collect();
        control
            .supervise(
                self.shared.clone(),
                self.cfg,
                self.token,
                self.timing,
                shutdown,
            )
            .await;
        info!("shutting down");
        self.shared.close_watchers();
        let _ = stop_tx.send(true);
        for l in loops {
            let _ = l.await;
        }
    }
}

/// What actions use: the libvirt URI, the bridges `[networks.bridges]` maps (read from
/// network to bridge), the volume pool.
fn action_settings(cfg: &ServeConfig) -> ActionSettings {
    let bridges = cfg
        .source
        .options
        .identity
        .map
        .bridges
        .iter()
        .map(|(bridge, net)| (net.clone(), bridge.clone()))
        .collect();
    ActionSettings {
        libvirt_uri: cfg.source.libvirt_uri.clone(),
        bridges,
        pool: cfg.actions.pool.clone(),
        wait: crate::actions::DEFAULT_WAIT,
    }
}

fn timing_of(cfg: &ServeConfig) -> refresh::Timing {
    refresh::Timing {
        refresh: cfg.refresh,
        poll: cfg.poll,
        netlink_rcvbuf: cfg.netlink_rcvbuf,
    }
}

/// What checking a configuration read: the token and the TLS acceptor.
pub struct Checked {
    pub token: Option<Arc<Token>>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Every check `bind` makes before binding: intervals, token, TLS files.
pub fn check_config(cfg: &ServeConfig) -> Result<Checked, ServeError> {
    if cfg.refresh < Duration::from_secs(1) {
        return Err(ServeError::Refresh);
    }
    if cfg.poll < Duration::from_secs(1) {
        return Err(ServeError::Poll);
    }
    if cfg.header_timeout < Duration::from_secs(1) {
        return Err(ServeError::HeaderTimeout);
    }
    let token = match &cfg.token_file {
        Some(path) => Some(Arc::new(read_token(path)?)),
        None => None,
    };
    if token.is_none() {
        if let Some(open) = cfg.listen.iter().find(|a| !a.is_local()) {
            return Err(ServeError::NeedsToken {
                addr: open.to_string(),
            });
        }
    }
    if token.is_none() && cfg.actions.enabled {
        if let Some(tcp) = cfg.listen.iter().find(|a| matches!(a, ListenAddr::Tcp(_))) {
            return Err(ServeError::ActionsNeedToken {
                addr: tcp.to_string(),
            });
        }
    }
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    Ok(Checked { token, tls })
}

fn read_token(path: &std::path::Path) -> Result<Token, ServeError> {
    let err = |message: String| ServeError::Token {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    Token::new(&text).ok_or_else(|| err("the file is empty".into()))
}

/// Completes on SIGTERM or SIGINT.
pub async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
