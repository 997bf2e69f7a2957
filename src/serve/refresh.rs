//! Keeps the served view current. Host devices follow rtnetlink notifications as they
//! come; libvirt is read every `interval` over one kept connection. Each change is
//! correlated against the latest of both and published whole.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};

use crate::api::view::{Shared, View};
use crate::collect::{read_guests, Source};
use crate::correlate::correlate;
use crate::libvirt::{Session, Snapshot};
use crate::netlink::{LinkWatch, NetlinkError};

/// How long to wait before restarting a failed link watcher.
const WATCH_RETRY: Duration = Duration::from_secs(1);

/// Live state: the latest libvirt snapshot and the link table.
struct Live {
    shared: Arc<Shared>,
    source: Source,
    session: Arc<Mutex<Session>>,
    guests: Option<Snapshot>,
    libvirt_error: Option<String>,
    links_ready: bool,
    links_error: Option<String>,
}

/// Runs forever: never returns, never panics on libvirt or netlink trouble.
pub async fn run(shared: Arc<Shared>, source: Source, interval: Duration, rcvbuf: Option<usize>) {
    let session = Arc::new(Mutex::new(Session::new(&source.libvirt_uri)));
    let mut live = Live {
        shared,
        source,
        session,
        guests: None,
        libvirt_error: None,
        links_ready: false,
        links_error: None,
    };
    let mut links = live.start_watch(rcvbuf);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                live.read_libvirt().await;
                if let Some(l) = &links {
                    live.publish(l);
                }
            }
            event = next_link_event(&mut links) => match event {
                Ok(()) => {
                    live.links_ready = true;
                    live.links_error = None;
                    if let Some(l) = &links {
                        live.publish(l);
                    }
                }
                Err(e) => {
                    warn!(error = %e, "link watcher failed; restarting it");
                    live.links_error = Some(e.to_string());
                    live.links_ready = false;
                    live.update_health();
                    tokio::time::sleep(WATCH_RETRY).await;
                    links = live.start_watch(rcvbuf);
                }
            },
        }
    }
}

/// The next applied notification batch, or never when there is no watcher.
async fn next_link_event(links: &mut Option<LinkWatch>) -> Result<(), NetlinkError> {
    match links {
        Some(l) => l.next().await.map(|ev| debug!(?ev, "links changed")),
        None => std::future::pending().await,
    }
}

impl Live {
    fn start_watch(&mut self, rcvbuf: Option<usize>) -> Option<LinkWatch> {
        match LinkWatch::start(&self.source.netns, rcvbuf) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(error = %e, "cannot watch links");
                self.links_error = Some(e.to_string());
                self.update_health();
                None
            }
        }
    }

    async fn read_libvirt(&mut self) {
        match read_guests(self.session.clone()).await {
            Ok(snapshot) => {
                self.guests = Some(snapshot);
                self.libvirt_error = None;
            }
            Err(e) => {
                warn!(error = %e, "libvirt read failed; the last good snapshot (if any) stays in use");
                self.libvirt_error = Some(e.to_string());
            }
        }
        self.update_health();
    }

    fn update_health(&self) {
        let error = self
            .libvirt_error
            .clone()
            .or_else(|| self.links_error.clone())
            .or_else(|| (!self.links_ready).then(|| "host links not read yet".to_string()));
        self.shared.set_error(error);
    }

    /// Correlates the latest of both sides and publishes it. The generation moves only
    /// when the content changed.
    fn publish(&self, links: &LinkWatch) {
        let (Some(guests), true) = (&self.guests, self.links_ready) else {
            return;
        };
        self.update_health();
        let inventory = correlate(guests, &links.devices(), &self.source.options);
        let current = self.shared.current();
        let changed = current.generation == 0 || !current.same_content(guests, &inventory);
        let generation = current.generation + u64::from(changed);
        if current.generation == 0 {
            info!(
                interfaces = inventory.interfaces.len(),
                "first inventory in"
            );
        } else if changed {
            debug!(generation, "inventory changed");
        }
        match View::build(generation, SystemTime::now(), guests, inventory) {
            Ok(view) => self.shared.publish(view),
            Err(e) => {
                warn!(error = %e, "cannot serialize the inventory; the previous one stays served")
            }
        }
    }
}
