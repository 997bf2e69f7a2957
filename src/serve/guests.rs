//! libvirt on a task of its own. Domain events, the safety-net read, the network polls
//! and the reconnect all wait on libvirt here and never in the serve loop, so a libvirtd
//! that hangs (stopped, deadlocked, swapping) holds up nothing but its own records: link,
//! OVSDB and OVN changes go on being served meanwhile.
//!
//! A hang sends no error: a call just never returns. A prober on a connection of its own
//! asks libvirtd for its version every `PROBE_EVERY`; unanswered for `PROBE_DEADLINE`,
//! libvirt counts as hung (the records turn stale, `/readyz` says so) long before
//! libvirt's keepalive (5 s × 3) would close the connection. When the probe is answered
//! at last, everything is read again, so nothing that happened meanwhile is lost.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::backoff::{sleep_until, Backoff};
use crate::libvirt::{with_session, Domain, EventSink, GuestEvent, Network, Session, Snapshot};

/// libvirt events queued before they count as lost and everything is read.
const EVENT_QUEUE: usize = 4096;
/// How often the prober asks libvirtd for its version.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long a probe may go unanswered before libvirt counts as hung. libvirtd answers
/// a version request from any free worker in microseconds; seconds mean it is stuck.
pub(super) const PROBE_DEADLINE: Duration = Duration::from_secs(3);

/// What the libvirt task tells the serve loop.
#[derive(Debug)]
pub(super) enum GuestUpdate {
    /// Everything libvirt has; `reason` says why it counts as a resync for watchers.
    Snapshot {
        snapshot: Snapshot,
        reason: Option<&'static str>,
        took: Duration,
    },
    /// Domains re-read after their events (`None`: the domain is gone).
    Domains(Vec<(String, Option<Domain>)>),
    /// The networks and their leases, as polled.
    Networks(Vec<Network>),
    /// libvirt failed, went away or hangs: stale until the next `Snapshot`.
    Unreachable(String),
}

/// How often the task reads what sends no events.
#[derive(Debug, Clone, Copy)]
pub(super) struct GuestTiming {
    /// The safety-net full read.
    pub refresh: Duration,
    /// Networks and leases.
    pub poll: Duration,
}

/// The running task (and its prober). Dropping it stops both.
pub(super) struct GuestTask {
    updates: mpsc::Receiver<GuestUpdate>,
    tasks: Vec<JoinHandle<()>>,
}

impl GuestTask {
    /// Connects to `uri` (with the guest agent asked for addresses when `agent` is set)
    /// and starts reading.
    pub(super) fn spawn(uri: &str, agent: Option<Duration>, timing: GuestTiming) -> Self {
        let (tx, updates) = mpsc::channel(64);
        let (resync, resync_rx) = mpsc::channel(1);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        let flag = overflow.clone();
        // Runs on libvirt's event thread: never blocks; a full queue means "read everything".
        let sink: EventSink = Arc::new(move |ev| {
            if events_tx.try_send(ev).is_err() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        let mut session = Session::with_events(uri, sink);
        session.set_guest_agent(agent);
        let reader = Reader {
            session: Arc::new(Mutex::new(session)),
            tx: tx.clone(),
            reconnect_at: None,
            backoff: Backoff::SOURCE,
        };
        let mut tasks = vec![tokio::spawn(
            reader.run(events, overflow, resync_rx, timing),
        )];
        // In-process drivers (test:///) cannot hang, and a second connection to a node
        // file would load the whole node again.
        if !uri.starts_with("test:") {
            tasks.push(tokio::spawn(probe(uri.to_string(), tx, resync)));
        }
        GuestTask { updates, tasks }
    }

    /// The next update; `None` once the task has ended (only a panic ends it).
    pub(super) async fn next(&mut self) -> Option<GuestUpdate> {
        self.updates.recv().await
    }
}

impl Drop for GuestTask {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Asks libvirtd for its version every `PROBE_EVERY` on a connection of its own: one
/// that hangs is reported at `PROBE_DEADLINE`, and when it answers again the reader is
/// asked for a full read. A probe that fails fast is left to the reader (libvirtd down
/// closes the reader's connection too).
async fn probe(uri: String, tx: mpsc::Sender<GuestUpdate>, resync: mpsc::Sender<&'static str>) {
    let session = Arc::new(Mutex::new(Session::new(&uri)));
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let call = with_session(session.clone(), Session::probe);
        tokio::pin!(call);
        let answer = match tokio::time::timeout(PROBE_DEADLINE, &mut call).await {
            Ok(answer) => answer,
            Err(_) => {
                let secs = PROBE_DEADLINE.as_secs();
                warn!(%uri, "libvirtd has not answered for {secs} s; serving its last state as stale");
                let hung = format!("libvirtd at {uri} has not answered for {secs} s (hung?)");
                if tx.send(GuestUpdate::Unreachable(hung)).await.is_err() {
                    return;
                }
                let answer = call.await;
                info!(%uri, "libvirtd answers again; reading everything");
                // Full already means a read is coming.
                let _ = resync.try_send("libvirt answered again");
                answer
            }
        };
        if let Err(e) = answer {
            debug!(%uri, error = %e, "libvirt probe failed");
        }
    }
}

/// The reading half: owns the session with events.
struct Reader {
    session: Arc<Mutex<Session>>,
    tx: mpsc::Sender<GuestUpdate>,
    /// Set while libvirt is unreachable: when to try again.
    reconnect_at: Option<Instant>,
    backoff: Backoff,
}

impl Reader {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<GuestEvent>,
        overflow: Arc<AtomicBool>,
        mut resync: mpsc::Receiver<&'static str>,
        timing: GuestTiming,
    ) {
        self.full_read(None).await;
        let (interval, poll) = (timing.refresh, timing.poll);
        let mut safety = tokio::time::interval_at(Instant::now() + interval, interval);
        safety.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval_at(Instant::now() + poll, poll);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        loop {
            let reconnect_at = self.reconnect_at;
            let connected = reconnect_at.is_none();
            tokio::select! {
                _ = safety.tick(), if connected => self.full_read(None).await,
                _ = sleep_until(reconnect_at) => self.full_read(Some("libvirt reconnected")).await,
                _ = poll.tick(), if connected => self.read_networks().await,
                // While reconnecting, the reconnect reads everything anyway.
                Some(reason) = resync.recv(), if connected => self.full_read(Some(reason)).await,
                n = events.recv_many(&mut batch, EVENT_QUEUE) => {
                    if n == 0 {
                        return; // The session (and its sink) is gone.
                    }
                    let lost = overflow.swap(false, Ordering::SeqCst);
                    self.guest_events(std::mem::take(&mut batch), lost).await;
                }
            }
            if self.tx.is_closed() {
                return;
            }
        }
    }

    /// The serve loop never waits on libvirt, so it is always there to take this.
    async fn send(&self, update: GuestUpdate) {
        // Closed only when the serve loop is gone; `run` then ends.
        let _ = self.tx.send(update).await;
    }

    /// Reads everything libvirt has; on failure, goes stale and schedules a retry.
    async fn full_read(&mut self, reason: Option<&'static str>) {
        let started = Instant::now();
        match with_session(self.session.clone(), Session::fetch).await {
            Ok(snapshot) => {
                if self.reconnect_at.take().is_some() {
                    info!("libvirt is reachable again");
                }
                self.backoff.reset();
                let took = started.elapsed();
                self.send(GuestUpdate::Snapshot {
                    snapshot,
                    reason,
                    took,
                })
                .await;
            }
            Err(e) => self.lost(e.to_string()).await,
        }
    }

    /// libvirt's networks and leases (which send no events).
    async fn read_networks(&mut self) {
        match with_session(self.session.clone(), Session::read_networks).await {
            Ok(networks) => self.send(GuestUpdate::Networks(networks)).await,
            Err(e) => self.lost(e.to_string()).await,
        }
    }

    /// libvirt is gone or failing: stale now, a new connection later.
    async fn lost(&mut self, error: String) {
        if self.reconnect_at.is_none() {
            warn!(%error, "libvirt unreachable; serving the last state as stale");
        } else {
            debug!(%error, retry_in = ?self.backoff.peek(), "libvirt still unreachable");
        }
        let _ = with_session(self.session.clone(), |s| {
            s.reset_connection();
            Ok(())
        })
        .await;
        self.send(GuestUpdate::Unreachable(error)).await;
        self.reconnect_at = Some(Instant::now() + self.backoff.next_delay());
    }

    /// Applies a batch of libvirt events: each named domain is re-read once.
    async fn guest_events(&mut self, events: Vec<GuestEvent>, lost: bool) {
        let mut uuids = BTreeSet::new();
        let mut closed = None;
        let mut networks_changed = false;
        for ev in events {
            match ev {
                GuestEvent::Domain { uuid, cause } => {
                    debug!(%uuid, ?cause, "domain event");
                    uuids.insert(uuid);
                }
                GuestEvent::Network { name } => {
                    debug!(network = %name, "network event");
                    networks_changed = true;
                }
                GuestEvent::Closed { reason } => closed = Some(reason),
            }
        }
        if let Some(reason) = closed {
            self.backoff.reset();
            return self
                .lost(format!("libvirt connection closed: {reason}"))
                .await;
        }
        if self.reconnect_at.is_some() {
            return; // The reconnect reads everything anyway.
        }
        if lost {
            warn!("libvirt events came faster than they were applied; reading everything");
            return self.full_read(Some("libvirt events overflowed")).await;
        }
        if networks_changed {
            self.read_networks().await;
        }
        let list: Vec<String> = uuids.into_iter().collect();
        let read = with_session(self.session.clone(), move |s| {
            list.into_iter()
                .map(|u| s.read_domain(&u).map(|d| (u, d)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        match read {
            Ok(domains) => self.send(GuestUpdate::Domains(domains)).await,
            Err(e) => {
                warn!(error = %e, "cannot re-read a domain after its event; reading everything");
                self.full_read(Some("a domain could not be re-read")).await;
            }
        }
    }
}
