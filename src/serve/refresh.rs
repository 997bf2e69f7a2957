//! Keeps the served view current without polling: libvirt domain events re-read just
//! the domain they name (guests.rs), rtnetlink notifications update just the links they
//! carry, OVSDB and OVN monitors send what changed. Each source runs on a task of its
//! own; this loop only applies what they send, so it never waits on any of them.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::carry::Carry;
use super::guests::{GuestTask, GuestTiming, GuestUpdate};
use super::live::Live;
use super::ovn::{OvnTask, OvnUpdate, Target};
use super::ovs::{OvsTask, OvsUpdate};
use crate::backoff::{sleep_until, Backoff};
use crate::collect::{ovn_wanted, Source};
use crate::inventory::Shared;
use crate::netlink::{LinkEvent, LinkWatch, NetlinkError};
use crate::ovsdb::OvsState;

/// How long to wait before restarting a failed (or unstartable) link watcher, growing
/// while it keeps failing.
const WATCH_RETRY: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));

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

/// Runs forever: never returns, never panics on libvirt, netlink or OVSDB trouble. Every
/// source runs on a task of its own and only its results come here, so one that hangs
/// stalls none of the others. It starts from the OVSDB and Southbound states in `carry`
/// (what the refresher a reload replaced last read) and keeps them there.
pub(super) async fn run(shared: Arc<Shared>, source: Source, timing: Timing, carry: Carry) {
    let rcvbuf = timing.netlink_rcvbuf;
    let guest_timing = GuestTiming {
        refresh: timing.refresh,
        poll: timing.poll,
    };
    // Each task is dropped with this future, which a reload aborts: it goes with it.
    let mut guests = Some(GuestTask::spawn(
        &source.libvirt_uri,
        source.guest_agent,
        guest_timing,
    ));
    let mut ovs = source.ovsdb.clone().map(OvsTask::spawn);
    let mut ovn = source.ovn.as_ref().map(|_| OvnTask::spawn());
    let grace = source.ovn.as_ref().map_or(Duration::ZERO, |o| o.grace);
    let mut r = Refresher {
        live: Live::new(shared, source.options.clone(), grace, carry),
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
    let mut poll = tokio::time::interval_at(Instant::now() + timing.poll, timing.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The last ovn-remote refused (logged once, not on every OVSDB change).
    let mut ovn_refused: Option<String> = None;
    loop {
        let grace_ends = r.live.ovn_deadline();
        tokio::select! {
            update = next_guests(&mut guests) => match update {
                Some(update) => r.live.apply_guest_update(update),
                None => {
                    // Only a panic ends the task: its last state is no longer current.
                    error!("the libvirt task ended; its records are stale from now on");
                    r.live.disconnected("the libvirt task ended".to_string());
                    guests = None;
                }
            },
            _ = poll.tick() => r.live.poll_ovn(),
            _ = sleep_until(grace_ends) => r.live.update_ovn(),
            update = next_ovn(&mut ovn) => match update {
                Some(OvnUpdate::State(state)) => r.live.apply_ovn(Some(state)),
                Some(OvnUpdate::Down(why)) => r.live.ovn_down(why),
                Some(OvnUpdate::Off) => r.live.ovn_off(),
                None => {
                    // Only a panic ends the task: its last bindings are no longer current.
                    error!("the OVN Southbound task ended; its bindings are stale from now on");
                    r.live.ovn_down("the OVN Southbound task ended".to_string());
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
                Some(OvsUpdate::Down(why)) => r.live.ovsdb_down(why),
                None => ovs = None,
            },
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

/// The next libvirt update, or never once the task is gone.
async fn next_guests(task: &mut Option<GuestTask>) -> Option<GuestUpdate> {
    match task {
        Some(t) => t.next().await,
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
}
