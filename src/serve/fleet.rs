//! `vifd fleet serve`: the fleet API on the listeners of `vifd serve` (TCP or unix, the
//! token on listeners other hosts can reach, TLS), fed by the etcd watcher.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tracing::info;

use super::addr::ListenAddr;
use super::check::{check_access, Checked};
use super::error::ServeError;
use super::listen::{self, Bound};
use super::memory;
use super::notify::Notifier;
use super::ready::ReadyFile;
use crate::fleet::{router, FleetConfig, FleetState, Watcher};

/// Where `vifd fleet serve` listens by default (the agent's port + 1).
pub const DEFAULT_FLEET_LISTEN: &str = "127.0.0.1:8790";

/// Everything `vifd fleet serve` needs, resolved from options, environment and file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetServeConfig {
    pub listen: Vec<ListenAddr>,
    pub token_file: Option<PathBuf>,
    /// Certificate chain and key, both PEM.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub header_timeout: Duration,
    /// The etcd to read (its `host` is unused: every host is read).
    pub etcd: FleetConfig,
}

/// The fleet server with its listeners bound, not yet serving.
pub struct FleetServer {
    pub state: Arc<FleetState>,
    bound: Vec<Bound>,
    etcd: FleetConfig,
}

impl FleetServer {
    /// Checks the token and TLS files and binds every listener.
    pub async fn bind(cfg: FleetServeConfig) -> Result<Self, ServeError> {
        if cfg.header_timeout < Duration::from_secs(1) {
            return Err(ServeError::HeaderTimeout);
        }
        let Checked { token, tls } =
            check_access(&cfg.listen, cfg.token_file.as_deref(), cfg.tls.as_ref())?;
        let state = FleetState::new();
        let mut bound = Vec::new();
        for addr in cfg.listen {
            let token = if addr.is_local() { None } else { token.clone() };
            let app = router(state.clone(), token);
            bound.push(listen::bind(addr, app, tls.clone(), cfg.header_timeout).await?);
        }
        Ok(FleetServer {
            state,
            bound,
            etcd: cfg.etcd,
        })
    }

    /// Serves until `shutdown` completes; once etcd is first listed, says so to systemd
    /// and in `ready_file`.
    pub async fn run(self, shutdown: impl Future<Output = ()>, ready_file: Option<PathBuf>) {
        let listening: Vec<String> = self
            .bound
            .iter()
            .map(|b| b.bound_addr().to_string())
            .collect();
        let ready = ready_file.map(|p| ReadyFile::new(p, listening));
        if let Some(r) = &ready {
            r.clear();
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(listen::MAX_CONNECTIONS));
        let loops: Vec<_> = (self.bound.into_iter())
            .map(|b| tokio::spawn(b.serve(limit.clone(), stop_rx.clone())))
            .collect();
        let watcher = Watcher::spawn(self.etcd, self.state.clone());
        // A list of the whole fleet frees as much as it keeps: give it back.
        let trimmer = tokio::spawn(memory::keep_trimmed());
        let mut views = self.state.subscribe();
        let announce = async {
            let revision = match views.wait_for(|v| v.listed).await {
                Ok(v) => v.revision,
                Err(_) => return std::future::pending().await,
            };
            // The file first, as `vifd serve` does: whoever READY=1 wakes may read it.
            if let Some(r) = &ready {
                r.announce(u64::try_from(revision).unwrap_or(0));
            }
            Notifier::from_env().ready(&format!("serving the fleet at revision {revision}"));
            std::future::pending::<()>().await
        };
        tokio::select! {
            () = shutdown => {}
            () = announce => {}
        }
        info!("shutting down");
        trimmer.abort();
        drop(watcher);
        self.state.close();
        let _ = stop_tx.send(true);
        for l in loops {
            let _ = l.await;
        }
        if let Some(r) = &ready {
            r.withdraw();
        }
    }
}
