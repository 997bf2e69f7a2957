//! Keeps OVSDB current for the serve loop: one `monitor` connection whose updates are
//! forwarded as whole states; when ovsdb-server goes away, one `Down`, then reconnects
//! with a capped backoff. Never blocks the inventory and never gives up.

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::collect::{OvsdbSource, OVSDB_TIMEOUT};
use crate::ovsdb::{OvsState, OvsdbMonitor};

/// What the OVSDB task tells the refresher.
#[derive(Debug)]
pub(super) enum OvsUpdate {
    /// The database as it is now.
    State(OvsState),
    /// ovsdb-server is unreachable (the error says why): keep the last state, stale.
    Down(String),
}

/// The running task and its updates. Dropping it stops the task: a reload that restarts
/// the refresher leaves no reconnect loop behind.
pub(super) struct OvsTask {
    updates: mpsc::Receiver<OvsUpdate>,
    task: tokio::task::JoinHandle<()>,
}

impl OvsTask {
    /// Starts the task.
    pub(super) fn spawn(src: OvsdbSource) -> Self {
        let (tx, updates) = mpsc::channel(16);
        let task = tokio::spawn(run(src, tx));
        OvsTask { updates, task }
    }

    /// The next update; `None` once the task has ended.
    pub(super) async fn next(&mut self) -> Option<OvsUpdate> {
        self.updates.recv().await
    }
}

impl Drop for OvsTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(src: OvsdbSource, tx: mpsc::Sender<OvsUpdate>) {
    let mut backoff = Backoff::SOURCE;
    let mut absent_said = false;
    // Whether the last thing said (to the log and the refresher) is that it is down.
    let mut down = false;
    loop {
        if !src.present() {
            if !absent_said && !down {
                info!(addr = %src.addr, "no ovsdb-server socket; the ovsdb resolver is off until it appears");
                absent_said = true;
            }
            // Retry pacing, not synchronisation: look again for a socket that may appear.
            tokio::time::sleep(backoff.max()).await;
            continue;
        }
        match OvsdbMonitor::connect(&src.addr, OVSDB_TIMEOUT).await {
            Ok((mut monitor, state)) => {
                if down {
                    info!(addr = %src.addr, "ovsdb-server is reachable again");
                } else {
                    debug!(addr = %src.addr, interfaces = state.interfaces.len(), "OVSDB monitor started");
                }
                backoff.reset();
                if tx.send(OvsUpdate::State(state)).await.is_err() {
                    return;
                }
                let error = loop {
                    match monitor.next().await {
                        Ok(state) => {
                            if tx.send(OvsUpdate::State(state)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => break e,
                    }
                };
                warn!(error = %error, "lost ovsdb-server; serving the last known OVS values as stale");
                down = true;
                if tx.send(OvsUpdate::Down(error.to_string())).await.is_err() {
                    return;
                }
            }
            Err(e) if !down => {
                warn!(error = %e, "ovsdb-server unreachable; retrying");
                down = true;
                if tx.send(OvsUpdate::Down(e.to_string())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                debug!(error = %e, retry_in = ?backoff.peek(), "ovsdb-server still unreachable")
            }
        }
        // Reconnect pacing: the capped backoff between tries.
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ovsdb::OvsdbAddr;

    #[tokio::test]
    async fn dropping_the_task_ends_its_reconnect_loop() {
        // A configured server that never answers: the task retries forever.
        let src = OvsdbSource {
            addr: OvsdbAddr::Unix("/nonexistent/vifd-test/db.sock".into()),
            explicit: true,
        };
        let mut task = OvsTask::spawn(src);
        assert!(matches!(task.next().await, Some(OvsUpdate::Down(_))));
        let running = task.task.abort_handle();
        assert!(!running.is_finished());
        drop(task);
        let ended = async {
            while !running.is_finished() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), ended)
            .await
            .expect("the reconnect loop outlived its owner");
    }
}
