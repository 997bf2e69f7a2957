//! The daemon's life under a service manager: the refresher task, readiness and status
//! for systemd, watchdog pings, and SIGHUP reloading the configuration while the
//! listeners stay open.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::carry::Carry;
use super::check::check_config;
use super::config::{timing_of, ServeConfig};
use super::memory;
use super::notify::Notifier;
use super::ready::ReadyFile;
use super::refresh;
use crate::api::auth::Token;
use crate::inventory::{Shared, View};

/// Why a reload could not produce a configuration (the file unreadable, a bad value).
pub type ReloadError = Box<dyn std::error::Error + Send + Sync>;

/// Re-reads the configuration (file and command line) for a reload.
pub type Reload = Box<dyn FnMut() -> Result<ServeConfig, ReloadError> + Send>;

/// How often the status line is brought up to date.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// What the service manager gets: notifications, and a way to reload.
#[derive(Default)]
pub struct Control {
    pub notifier: Option<Notifier>,
    /// `None`: SIGHUP is logged and ignored.
    pub reload: Option<Reload>,
    /// `--ready-file`: written when READY=1 is sent (see [`super::ready`]).
    pub ready_file: Option<std::path::PathBuf>,
}

impl Control {
    /// Runs the refresher until `shutdown`, restarting it when a reload changes what it
    /// reads. Returns once `shutdown` completes and the refresher is stopped. `listening`
    /// names the addresses actually bound, for the first status line and the ready file.
    pub(super) async fn supervise(
        mut self,
        shared: Arc<Shared>,
        mut cfg: ServeConfig,
        token: Option<Arc<Token>>,
        timing: refresh::Timing,
        listening: Vec<String>,
        shutdown: impl Future<Output = ()>,
    ) {
        // The signal handlers first: whoever hears from this daemon below (the status
        // line, READY=1) may signal it at once. `shutdown` installs its own when first
        // polled.
        tokio::pin!(shutdown);
        let mut stopped = (&mut shutdown).now_or_never().is_some();
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "cannot watch SIGHUP; reloading is unavailable");
                None
            }
        };
        let notifier = Arc::new(self.notifier.take().unwrap_or_else(Notifier::disabled));
        let ready_file = self
            .ready_file
            .take()
            .map(|path| ReadyFile::new(path, listening.clone()));
        if let Some(f) = &ready_file {
            f.clear();
        }
        // Before anything is served: where it listens (a port 0 shows the port it got).
        notifier.status(&format!(
            "waiting for the first inventory; listening on {}",
            listening.join(", ")
        ));
        let carry = Carry::default();
        let mut refresher = tokio::spawn(refresh::run(
            shared.clone(),
            cfg.source.clone(),
            timing,
            carry.clone(),
        ));
        let ready = Arc::new(Mutex::new(false));
        let status = tokio::spawn(report(
            shared.clone(),
            notifier.clone(),
            ready.clone(),
            ready_file.clone(),
        ));
        let trimmer = tokio::spawn(memory::keep_trimmed());
        let pings = notifier
            .watchdog()
            .map(|every| tokio::spawn(ping(notifier.clone(), every)));
        while !stopped {
            tokio::select! {
                _ = &mut shutdown => stopped = true,
                _ = hangup(&mut hup) => {
                    notifier.reloading();
                    if let Some(new) = self.reload(&cfg, token.as_deref()) {
                        refresher = restart_if_changed(refresher, &shared, &carry, &cfg, &new).await;
                        cfg = new;
                    }
                    // Before the first inventory, READY=1 is still the reporter's to send
                    // (with the ready file before it): the lock keeps the two in order.
                    let ready = lock(&ready);
                    if *ready {
                        notifier.ready(&status_line(&shared.current(), shared.health().last_error));
                    } else {
                        notifier.status("reloaded; waiting for the first inventory");
                    }
                }
            }
        }
        notifier.stopping();
        refresher.abort();
        trimmer.abort();
        status.abort();
        // Done with the ready file before it is removed (it may be being written).
        let _ = status.await;
        if let Some(f) = &ready_file {
            f.withdraw();
        }
        if let Some(p) = pings {
            p.abort();
        }
    }

    /// The new configuration, or `None` (logged) when it cannot be used: the daemon goes
    /// on with the one it has.
    fn reload(&mut self, old: &ServeConfig, token: Option<&Token>) -> Option<ServeConfig> {
        let Some(reload) = self.reload.as_mut() else {
            warn!("SIGHUP: nothing to reload");
            return None;
        };
        let (new, checked) = match reload().and_then(|c| {
            let checked = check_config(&c)?;
            Ok((c, checked))
        }) {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, "reload failed; keeping the running configuration");
                return None;
            }
        };
        for (what, changed) in [
            ("listen", new.listen != old.listen),
            ("tls_cert/tls_key", new.tls != old.tls),
            ("header_timeout", new.header_timeout != old.header_timeout),
            ("actions.enabled/volumes.pool", new.actions != old.actions),
            ("fleet", new.fleet != old.fleet),
        ] {
            if changed {
                warn!(setting = what, "changed in the configuration; it takes effect at the next restart (listeners stay open across reloads)");
            }
        }
        match (token, checked.token.map(Arc::try_unwrap)) {
            (Some(current), Some(Ok(fresh))) => current.replace(fresh),
            (Some(_), None) => {
                warn!("token_file removed: the running listeners keep their token until a restart")
            }
            (None, Some(_)) => {
                info!("token_file set: no running listener needs it until a restart")
            }
            _ => {}
        }
        info!("configuration reloaded");
        Some(new)
    }
}

/// A new refresher when the sources or timings changed; the served view stays until
/// the new one has read everything, and it starts from the old one's last OVSDB and
/// Southbound states where it reads the same servers.
async fn restart_if_changed(
    old_task: JoinHandle<()>,
    shared: &Arc<Shared>,
    carry: &Carry,
    old: &ServeConfig,
    new: &ServeConfig,
) -> JoinHandle<()> {
    let timing = |c: &ServeConfig| (c.refresh, c.poll, c.netlink_rcvbuf);
    if new.source == old.source && timing(new) == timing(old) {
        return old_task;
    }
    info!("sources or intervals changed; restarting the refresher");
    old_task.abort();
    let _ = old_task.await;
    carry.keep_for(&old.source, &new.source);
    tokio::spawn(refresh::run(
        shared.clone(),
        new.source.clone(),
        timing_of(new),
        carry.clone(),
    ))
}

async fn hangup(sig: &mut Option<Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// READY=1 once the first inventory is served (the ready file written just before it),
/// then STATUS= whenever the line changes.
async fn report(
    shared: Arc<Shared>,
    notifier: Arc<Notifier>,
    ready: Arc<Mutex<bool>>,
    ready_file: Option<ReadyFile>,
) {
    let mut last = String::new();
    loop {
        let seen = shared.current().generation;
        let view = shared.wait_for(seen + 1, STATUS_EVERY).await;
        if view.generation == 0 {
            continue;
        }
        let line = status_line(&view, shared.health().last_error);
        let mut ready = lock(&ready);
        if !*ready {
            // First the file, then READY=1: whoever heard READY=1 can read it.
            if let Some(f) = &ready_file {
                f.announce(view.generation);
            }
            notifier.ready(&line);
            *ready = true;
        } else if line != last {
            notifier.status(&line);
        }
        last = line;
    }
}

/// Whether READY=1 has been sent; held while sending it (a poisoned lock still holds a
/// plain bool).
fn lock(ready: &Mutex<bool>) -> MutexGuard<'_, bool> {
    ready.lock().unwrap_or_else(|e| e.into_inner())
}

/// One line for `systemctl status`: the inventory's size and whether it is current.
pub fn status_line(view: &View, error: Option<String>) -> String {
    let mut line = format!(
        "{} interfaces on {} domains, {} problems (generation {})",
        view.interface_count(),
        view.domain_count(),
        view.problem_count(),
        view.generation
    );
    if let Some(e) = error {
        line.push_str(&format!("; degraded: {e}"));
    }
    line
}

/// Pings the watchdog while the runtime runs. It proves the process answers, not that
/// libvirt does: a hung libvirtd must not get vifd killed (the view is served stale).
async fn ping(notifier: Arc<Notifier>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        notifier.watchdog_ping();
    }
}
