//! Keeps the served view current without polling: libvirt domain events re-read just
//! the domain they name, rtnetlink notifications update just the links they carry, and a
//! full read every `interval` is only a safety net. When libvirt goes away the records
//! turn stale and the connection is retried with a capped backoff until it is back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::live::Live;
use super::ovn::{OvnTask, OvnUpdate, Target};
use super::ovs::{OvsTask, OvsUpdate};
use crate::backoff::Backoff;
use crate::collect::{ovn_wanted, Source};
use crate::inventory::Shared;
use crate::libvirt::with_session;
use crate::libvirt::{EventSink, GuestEvent, Session};
use crate::netlink::{LinkEvent, LinkWatch, NetlinkError};
use crate::ovsdb::OvsState;

/// How long to wait before restarting a failed link watcher.
/// How long to wait before restarting a failed (or unstartable) link watcher, growing
/// while it keeps failing.
const WATCH_RETRY: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
/// libvirt events queued before the refresher counts them as lost and reads everything.
const EVENT_QUEUE: usize = 4096;

/// How often the refresher reads what sends no events.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Full libvirt re-read: a safety net under the events.
    pub refresh: Duration,
    /// Counters and DHCP leases.
    pub poll: Duration,
    /// Receive buffer of the link-notification socket (tests shrink it).
    pub netlink_rcvbuf: Option<usize>,
}

/// Runs forever: never returns, never panics on libvirt, netlink or OVSDB trouble.
pub async fn run(shared: Arc<Shared>, source: Source, timing: Timing) {
    let (interval, rcvbuf) = (timing.refresh, timing.netlink_rcvbuf);
    let (tx, mut guest_rx) = mpsc::channel(EVENT_QUEUE);
    let overflow = Arc::new(AtomicBool::new(false));
    let flag = overflow.clone();
    // Runs on libvirt's event thread: never blocks; a full queue means "read everything".
    let sink: EventSink = Arc::new(move |ev| {
        if tx.try_send(ev).is_err() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let mut session = Session::with_events(&source.libvirt_uri, sink);
    session.set_guest_agent(source.guest_agent);
    let session = Arc::new(Mutex::new(session));
    // Dropped with this future, which a reload aborts: the task goes with it.
    let mut ovs = source.ovsdb.clone().map(OvsTask::spawn);
    let mut ovn = source.ovn.as_ref().map(|_| OvnTask::spawn());
    let grace = source.ovn.as_ref().map_or(Duration::ZERO, |o| o.grace);
    let mut r = Refresher {
        live: Live::new(shared, source.options.clone(), grace),
        session,
        reconnect_at: None,
        backoff: Backoff::SOURCE,
        links_synced: false,
        poll: timing.poll,
    };
    // A configured server, or the default socket present now, is reported down until
    // the monitor connects; the default socket absent is no source at all (yet).
    let expected = source.ovsdb.as_ref();
    r.live
        .ovsdb_expected(expected.is_some_and(|o| o.explicit || o.present()));
    // Set while the link watcher is down: when to start it again.
    let mut links_retry_at: Option<Instant> = None;
    let mut links_backoff = WATCH_RETRY;
    let mut links = r.start_watch(&source, rcvbuf);
    if links.is_none() {
        links_retry_at = Some(Instant::now() + links_backoff.next_delay());
    }
    r.full_read(None).await;
    let mut safety = tokio::time::interval_at(Instant::now() + interval, interval);
    safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = tokio::time::interval_at(Instant::now() + timing.poll, timing.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    // The last ovn-remote refused (logged once, not on every OVSDB change).
    let mut ovn_refused: Option<String> = None;
    loop {
        let reconnect_at = r.reconnect_at;
        let grace_ends = r.live.ovn_deadline();
        tokio::select! {
            _ = safety.tick(), if reconnect_at.is_none() => r.full_read(None).await,
            _ = sleep_until(reconnect_at) => r.full_read(Some("libvirt reconnected")).await,
            _ = poll.tick() => {
                r.live.poll_ovn();
                if reconnect_at.is_none() {
                    r.read_networks().await;
                }
            }
            _ = sleep_until(grace_ends) => r.live.update_ovn(),
            update = next_ovn(&mut ovn) => match update {
                Some(OvnUpdate::State(state)) => r.live.apply_ovn(Some(state)),
                Some(OvnUpdate::Down) => r.live.apply_ovn(None),
                Some(OvnUpdate::Off) => r.live.ovn_off(),
                None => {
                    // Only a panic ends the task: its last bindings are no longer current.
                    error!("the OVN Southbound task ended; its bindings are stale from now on");
                    r.live.apply_ovn(None);
                    ovn = None;
                }
            },
            _ = sleep_until(links_retry_at) => {
                links = r.start_watch(&source, rcvbuf);
                links_retry_at = links
                    .is_none()
                    .then(|| Instant::now() + links_backoff.next_delay());
            }
            update = next_ovs(&mut ovs) => match update {
                Some(OvsUpdate::State(state)) => {
                    if let Some(task) = &ovn {
                        task.set_target(ovn_target(&source, &state, &mut ovn_refused));
                    }
                    r.live.apply_ovsdb(Some(state));
                }
                Some(OvsUpdate::Down) => r.live.apply_ovsdb(None),
                None => ovs = None,
            },
            n = guest_rx.recv_many(&mut batch, EVENT_QUEUE) => {
                if n > 0 {
                    let lost = overflow.swap(false, Ordering::SeqCst);
                    r.guest_events(std::mem::take(&mut batch), lost).await;
                }
            }
            event = next_link_event(&mut links) => match event {
                Ok(ev) => {
                    if matches!(ev, LinkEvent::Resynced) {
                        links_backoff.reset();
                    }
                    r.link_event(ev, &links)
                }
                Err(e) => {
                    let retry_in = links_backoff.next_delay();
                    warn!(error = %e, ?retry_in, "link watcher failed; restarting it");
                    r.live.links_failed(e.to_string());
                    // The other sources go on meanwhile.
                    links = None;
                    links_retry_at = Some(Instant::now() + retry_in);
                }
            },
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the Southbound task should read for this local OVSDB state; `None` when the host
/// is not an OVN chassis (or its `ovn-remote` cannot be parsed, which is logged).
fn ovn_target(source: &Source, ovs: &OvsState, refused: &mut Option<String>) -> Option<Target> {
    let remotes = match source.ovn.as_ref()?.remotes(ovs)? {
        Ok(r) => r,
        Err(e) => {
            let text = e.to_string();
            if refused.as_ref() != Some(&text) {
                warn!(error = %text, "the ovn resolver cannot use this ovn-remote");
                *refused = Some(text);
            }
            return None;
        }
    };
    let wanted = ovn_wanted(ovs);
    Some(Target { remotes, wanted })
}

/// The next Southbound update, or never when the resolver is off.
async fn next_ovn(task: &mut Option<OvnTask>) -> Option<OvnUpdate> {
    match task {
        Some(t) => t.next().await,
        None => std::future::pending().await,
    }
}

/// The next OVSDB update, or never when the resolver is off.
async fn next_ovs(task: &mut Option<OvsTask>) -> Option<OvsUpdate> {
    match task {
        Some(t) => t.next().await,
        None => std::future::pending().await,
    }
}

/// The next applied notification batch, or never when there is no watcher.
async fn next_link_event(links: &mut Option<LinkWatch>) -> Result<LinkEvent, NetlinkError> {
    match links {
        Some(l) => l.next().await,
        None => std::future::pending().await,
    }
}

struct Refresher {
    live: Live,
    session: Arc<Mutex<Session>>,
    /// Set while libvirt is unreachable: when to try again.
    reconnect_at: Option<Instant>,
    backoff: Backoff,
    /// A link table has been applied once; later dumps are resyncs.
    links_synced: bool,
    poll: Duration,
}

impl Refresher {
    fn start_watch(&mut self, source: &Source, rcvbuf: Option<usize>) -> Option<LinkWatch> {
        self.links_synced = false;
        match LinkWatch::start(&source.netns, rcvbuf, Some(self.poll)) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(error = %e, "cannot watch links");
                self.live.links_failed(e.to_string());
                None
            }
        }
    }

    fn link_event(&mut self, ev: LinkEvent, links: &Option<LinkWatch>) {
        let Some(l) = links else { return };
        match ev {
            LinkEvent::Resynced => {
                let reason = self.links_synced.then_some("link table resynced");
                self.links_synced = true;
                self.live.apply_neighbours(&l.neighbours());
                self.live.apply_devices(l.devices(), reason);
            }
            LinkEvent::Changed(changes) => {
                debug!(links = changes.len(), "links changed");
                self.live.apply_links(changes);
            }
            LinkEvent::Neighbours(table) => self.live.apply_neighbours(&table),
            LinkEvent::Stats(stats) => self.live.apply_stats(&stats),
        }
    }

    /// Reads everything libvirt has; on failure, goes stale and schedules a retry.
    async fn full_read(&mut self, reason: Option<&str>) {
        let started = Instant::now();
        match with_session(self.session.clone(), Session::fetch).await {
            Ok(snapshot) => {
                if self.reconnect_at.take().is_some() {
                    info!("libvirt is reachable again");
                }
                self.backoff.reset();
                self.live.apply_guests(snapshot, reason);
                self.live.inventory_took(started.elapsed());
            }
            Err(e) => self.lost(e.to_string()).await,
        }
    }

    /// libvirt's networks and leases (which send no events); a failure is the
    /// connection's, handled like any other.
    async fn read_networks(&mut self) {
        match with_session(self.session.clone(), Session::read_networks).await {
            Ok(networks) => self.live.apply_networks(networks),
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
        self.live.disconnected(error);
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
            Ok(domains) => {
                for (uuid, dom) in domains {
                    self.live.apply_domain(&uuid, dom);
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot re-read a domain after its event; reading everything");
                self.full_read(Some("a domain could not be re-read")).await;
            }
        }
    }
}
