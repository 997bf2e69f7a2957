//! Keeps OVSDB current for the serve loop: one `monitor` connection whose updates are
//! forwarded as whole states; when ovsdb-server goes away, one `Down`, then reconnects
//! with a capped backoff. Never blocks the inventory and never gives up.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::collect::{OvsdbSource, OVSDB_TIMEOUT};
use crate::ovsdb::{OvsState, OvsdbMonitor};

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the OVSDB task tells the refresher.
#[derive(Debug)]
pub(super) enum OvsUpdate {
    /// The database as it is now.
    State(OvsState),
    /// ovsdb-server is unreachable: keep the last state, marked stale.
    Down,
}

/// Starts the task; its updates arrive on the returned channel.
pub(super) fn spawn(src: OvsdbSource) -> mpsc::Receiver<OvsUpdate> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(src, tx));
    rx
}

async fn run(src: OvsdbSource, tx: mpsc::Sender<OvsUpdate>) {
    let mut backoff = BACKOFF_FIRST;
    let mut absent_said = false;
    // Whether the last thing said (to the log and the refresher) is that it is down.
    let mut down = false;
    loop {
        if !src.present() {
            if !absent_said && !down {
                info!(addr = %src.addr, "no ovsdb-server socket; the ovsdb resolver is off until it appears");
                absent_said = true;
            }
            tokio::time::sleep(BACKOFF_MAX).await;
            continue;
        }
        match OvsdbMonitor::connect(&src.addr, OVSDB_TIMEOUT).await {
            Ok((mut monitor, state)) => {
                if down {
                    info!(addr = %src.addr, "ovsdb-server is reachable again");
                } else {
                    debug!(addr = %src.addr, interfaces = state.interfaces.len(), "OVSDB monitor started");
                }
                backoff = BACKOFF_FIRST;
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
                if tx.send(OvsUpdate::Down).await.is_err() {
                    return;
                }
            }
            Err(e) if !down => {
                warn!(error = %e, "ovsdb-server unreachable; retrying");
                down = true;
                if tx.send(OvsUpdate::Down).await.is_err() {
                    return;
                }
            }
            Err(e) => debug!(error = %e, retry_in = ?backoff, "ovsdb-server still unreachable"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 3 / 2).min(BACKOFF_MAX);
    }
}
