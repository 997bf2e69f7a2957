//! The server: its listeners bound from a checked configuration, served until told to
//! stop.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{watch, Semaphore};
use tracing::info;

use super::activation;
use super::addr::ListenAddr;
use super::check::{check_config, Checked};
use super::config::{timing_of, ServeConfig};
use super::control::Control;
use super::error::ServeError;
use super::listen::{self, Bound};
use super::refresh;
use crate::actions::{ActionSettings, Actions};
use crate::api::actions::ActionAccess;
use crate::api::auth::Token;
use crate::api::{router, RouterOptions};
use crate::fleet::Publisher;
use crate::inventory::Shared;

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

    /// Every address actually bound, in listen order: TCP with the port it got, unix
    /// sockets by path.
    pub fn bound_addrs(&self) -> Vec<ListenAddr> {
        self.bound.iter().map(Bound::bound_addr).collect()
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
        let listening = self.bound_addrs().iter().map(|a| a.to_string()).collect();
        let loops: Vec<_> = self
            .bound
            .into_iter()
            .map(|b| tokio::spawn(b.serve(limit.clone(), stop_rx.clone())))
            .collect();
        // Publishes to etcd beside the refresher, on its own task: etcd never holds up a
        // request. Stopped (dropped) once the refresher is.
        let fleet = (self.cfg.fleet.clone()).map(|f| Publisher::spawn(f, self.shared.clone()));
        control
            .supervise(
                self.shared.clone(),
                self.cfg,
                self.token,
                self.timing,
                listening,
                shutdown,
            )
            .await;
        drop(fleet);
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
