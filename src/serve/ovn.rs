//! Keeps the Southbound current for the serve loop: one session on a member of the list,
//! asked for exactly the ports the local Open vSwitch names. When the member goes away
//! (or leaves its cluster), one `Down`, then the next member, with a capped backoff.

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::collect::OVN_TIMEOUT;
use crate::ovn::{SbMonitor, SbState, Wanted};
use crate::ovsdb::OvsdbAddr;

/// A session that lasted this long is followed by an immediate try of the other members.
const FAILOVER_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What to read: where, and which ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub remotes: Vec<OvsdbAddr>,
    pub wanted: Wanted,
}

/// What the task tells the refresher.
#[derive(Debug)]
pub(super) enum OvnUpdate {
    /// The local ports' bindings as they are now.
    State(SbState),
    /// No member answers (the last error says why): keep the last state, marked stale.
    Down(String),
    /// The host is no longer an OVN chassis (its `ovn-remote` went away).
    Off,
}

/// The running task. Dropping it stops the task.
pub(super) struct OvnTask {
    updates: mpsc::Receiver<OvnUpdate>,
    target: watch::Sender<Option<Target>>,
    task: tokio::task::JoinHandle<()>,
}

impl OvnTask {
    /// Starts the task, idle until it has a target.
    pub(super) fn spawn() -> Self {
        let (tx, updates) = mpsc::channel(16);
        let (target, rx) = watch::channel(None);
        let task = tokio::spawn(run(rx, tx));
        OvnTask {
            updates,
            target,
            task,
        }
    }

    /// What to read from now on; `None`: nothing (not a chassis).
    pub(super) fn set_target(&self, next: Option<Target>) {
        self.target.send_if_modified(|t| {
            let changed = *t != next;
            *t = next;
            changed
        });
    }

    /// The next update; `None` once the task has ended.
    pub(super) async fn next(&mut self) -> Option<OvnUpdate> {
        self.updates.recv().await
    }
}

impl Drop for OvnTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(mut target: watch::Receiver<Option<Target>>, tx: mpsc::Sender<OvnUpdate>) {
    let mut backoff = Backoff::SOURCE;
    let (mut start, mut down, mut on) = (0, false, false);
    loop {
        let Some(t) = target.borrow_and_update().clone() else {
            if std::mem::take(&mut on) && tx.send(OvnUpdate::Off).await.is_err() {
                return;
            }
            down = false;
            if target.changed().await.is_err() {
                return;
            }
            continue;
        };
        on = true;
        // Why the Southbound counts as down, if it comes to that.
        let why;
        match SbMonitor::connect(&t.remotes, start, t.wanted.clone(), OVN_TIMEOUT).await {
            Ok((mut monitor, state, index)) => {
                match std::mem::take(&mut down) {
                    true => info!(member = %monitor.addr(), "OVN Southbound is reachable again"),
                    false => debug!(member = %monitor.addr(), "OVN Southbound monitor started"),
                }
                (start, backoff) = (index, Backoff::SOURCE);
                let since = std::time::Instant::now();
                if tx.send(OvnUpdate::State(state)).await.is_err() {
                    return;
                }
                match follow(&mut monitor, &t, &mut target, &tx).await {
                    Ended::Retarget => continue,
                    Ended::Closed => return,
                    Ended::Failed(e) => {
                        // Another member may serve at once (a restart in a healthy
                        // cluster): try them before calling the Southbound down, unless
                        // sessions fail as soon as they start (then the backoff paces).
                        warn!(error = %e, "lost the OVN Southbound member; trying the others");
                        why = e.to_string();
                        start = index + 1;
                        if since.elapsed() >= FAILOVER_AFTER {
                            continue;
                        }
                    }
                }
            }
            Err(e) if !down => {
                warn!(error = %e, "OVN Southbound unreachable; serving the last bindings as stale");
                why = e.to_string();
            }
            Err(e) => {
                debug!(error = %e, retry_in = ?backoff.peek(), "OVN Southbound still unreachable");
                why = e.to_string();
            }
        }
        if !std::mem::replace(&mut down, true) && tx.send(OvnUpdate::Down(why)).await.is_err() {
            return;
        }
        // Reconnect pacing (the capped backoff), cut short by a new target.
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            changed = target.changed() => if changed.is_err() { return },
        }
    }
}

enum Ended {
    /// The addresses changed (or the host stopped being a chassis): connect anew.
    Retarget,
    /// The refresher is gone.
    Closed,
    Failed(crate::ovn::OvnError),
}

/// Forwards states until the session fails or the addresses change; new ports are asked
/// for on the same session.
async fn follow(
    monitor: &mut SbMonitor,
    current: &Target,
    target: &mut watch::Receiver<Option<Target>>,
    tx: &mpsc::Sender<OvnUpdate>,
) -> Ended {
    loop {
        tokio::select! {
            changed = target.changed() => {
                if changed.is_err() {
                    return Ended::Closed;
                }
                match &*target.borrow() {
                    Some(t) if t.remotes == current.remotes => monitor.set_wanted(t.wanted.clone()),
                    _ => return Ended::Retarget,
                }
            }
            state = monitor.next() => match state {
                Ok(s) => {
                    if tx.send(OvnUpdate::State(s)).await.is_err() {
                        return Ended::Closed;
                    }
                }
                Err(e) => return Ended::Failed(e),
            },
        }
    }
}
