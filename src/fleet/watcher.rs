//! The fleet server's reader: lists everything under `/vifd/v1/`, then watches from the
//! next revision, applying each change to the [`FleetView`] and publishing the new
//! snapshot. A compacted revision or a lost connection lists again (after a backoff when
//! etcd is unreachable); requests keep the last snapshot meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;

use etcd_client::{Client, EventType, GetOptions, WatchOptions};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::client;
use super::config::FleetConfig;
use super::error::FleetError;
use super::feed::{self, Feed, Start};
use super::keys::{self, Entry, Key, ROOT};
use super::lag::Lag;
use super::view::{Change, FleetView};
use crate::backoff::Backoff;

/// The snapshot requests read, and how the link to etcd is.
#[derive(Debug)]
pub struct FleetState {
    view: watch::Sender<Arc<FleetView>>,
    up: AtomicBool,
    /// Lists after the first: because the watch fell behind a compaction, or after any
    /// other end of a session (etcd unreachable, a member gone).
    relists_compacted: AtomicU64,
    relists_error: AtomicU64,
    /// A session has listed once (later lists are relists).
    listed_once: AtomicBool,
    feed: Mutex<Feed>,
    lag: Mutex<Lag>,
    closing: watch::Sender<bool>,
}

impl FleetState {
    pub fn new() -> Arc<Self> {
        Arc::new(FleetState {
            view: watch::channel(Arc::new(FleetView::default())).0,
            up: AtomicBool::new(false),
            relists_compacted: AtomicU64::new(0),
            relists_error: AtomicU64::new(0),
            listed_once: AtomicBool::new(false),
            feed: Mutex::new(Feed::default()),
            lag: Mutex::default(),
            closing: watch::channel(false).0,
        })
    }

    /// A state serving `view`, as if etcd had been listed (for the fuzz harness of the
    /// router: the daemon's views come from etcd).
    pub fn with_view(view: FleetView) -> Arc<Self> {
        let state = Self::new();
        state.view.send_replace(Arc::new(view));
        state.up.store(true, Ordering::SeqCst);
        state
    }

    /// The latest snapshot.
    pub fn current(&self) -> Arc<FleetView> {
        self.view.borrow().clone()
    }

    /// Follows the snapshots (the SSE feed and tests wait on it).
    pub fn subscribe(&self) -> watch::Receiver<Arc<FleetView>> {
        self.view.subscribe()
    }

    /// The watch is connected and current.
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The lags observed so far (for `/metrics`).
    pub fn lag(&self) -> Lag {
        self.lag
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counts the lag of a meta just applied from the watch.
    fn observe_meta(&self, view: &FleetView, key: &str) {
        let Some(Key::Host(host, Entry::Meta)) = keys::parse(key) else {
            return;
        };
        if let Some(meta) = view.host(host).and_then(|h| h.meta.as_ref()) {
            let mut lag = self.lag.lock().unwrap_or_else(PoisonError::into_inner);
            lag.observe(&meta.published_at, std::time::SystemTime::now());
        }
    }

    /// Lists after the first, as (after a compaction, after another error).
    pub fn relists(&self) -> (u64, u64) {
        (
            self.relists_compacted.load(Ordering::Relaxed),
            self.relists_error.load(Ordering::Relaxed),
        )
    }

    /// Ends every `/v1/watch` stream (the server is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The current view and where a `/v1/watch` client resuming after `since` starts.
    pub fn watch(&self, since: Option<i64>) -> (Arc<FleetView>, Start, broadcast::Receiver<Bytes>) {
        let feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        let view = self.current();
        let (start, rx) = feed.start(since, &view);
        (view, start, rx)
    }

    /// Counts the list to come as a relist, when a session listed before.
    fn relisting(&self, counter: &AtomicU64) {
        if self.listed_once.load(Ordering::Relaxed) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A new list: the view, and a snapshot for every watching client.
    fn listed(&self, view: &FleetView) {
        let mut feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        self.view.send_replace(Arc::new(view.clone()));
        feed.listed(view);
        self.listed_once.store(true, Ordering::Relaxed);
    }

    /// Changes applied: the view, and their events.
    fn changed(&self, view: &FleetView, events: Vec<(i64, Bytes)>) {
        let mut feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        self.view.send_replace(Arc::new(view.clone()));
        for (revision, frame) in events {
            feed.push(revision, frame);
        }
    }
}

/// A watch quiet for this long asks etcd for its progress (a progress request, answered
/// with the revision even when nothing changed).
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// A progress request unanswered for this long: the member is hung; the session ends and
/// the next one tries another member. Well above a loaded member's answer time.
const SILENT_LIMIT: Duration = Duration::from_secs(2);

/// Keys per range request of the list: 10,000 records of about 1.2 KB are about 12 MB.
/// One range of a whole fleet (400,000 records, 500 MB) would exceed any sane message
/// limit and hold etcd while it is built. Not smaller: etcd 3.4 walks its index over the
/// whole rest of the range for each page, limit or not (3.5 stops at the limit), so the
/// list costs pages × keys; with pages of 1000, 400,000 keys took 60 s (BENCHMARKS.md,
/// "Fleet").
const PAGE: i64 = 10_000;
/// The largest response accepted (the client's default is 4 MiB): a page, or a watch
/// response catching up, which batches up to 1000 revisions (each a transaction of at
/// most 129 records: about 150 MB at worst). Not fragmented: the client cannot tell a
/// fragment, and applying half a transaction would serve half a host's change.
const MAX_MESSAGE: usize = 256 << 20;

/// The view of everything under [`ROOT`], read in pages of [`PAGE`] keys all at the
/// revision of the first (a consistent snapshot, as one range would be), each applied
/// and dropped before the next is asked for; and the values left out, for the log.
async fn list(client: &Client) -> Result<(FleetView, Vec<FleetError>), etcd_client::Error> {
    let mut ranges = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
    let end = prefix_end(ROOT);
    let (mut view, mut errors) = (FleetView::listing(), Vec::new());
    let mut from = ROOT.as_bytes().to_vec();
    loop {
        let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if view.revision > 0 {
            opts = opts.with_revision(view.revision);
        }
        let page = ranges.get(from.clone(), Some(opts)).await?;
        if view.revision == 0 {
            view.revision = page.header().map_or(0, |h| h.revision());
        }
        for kv in page.kvs() {
            let change = Change::Put(kv.key_str().unwrap_or(""), kv.value());
            errors.extend(view.apply(change).err());
        }
        match page.kvs().last() {
            // The next page starts right after the last key.
            Some(last) if page.more() => from = [last.key(), &[0]].concat(),
            _ => {
                let revision = view.revision;
                view.list_done(revision);
                return Ok((view, errors));
            }
        }
    }
}

/// The first key after every key that starts with `prefix` (its last byte plus one;
/// `prefix` is ASCII and does not end in 0xff).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// The running reader. Dropping it stops the task.
pub struct Watcher {
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    pub fn spawn(cfg: FleetConfig, state: Arc<FleetState>) -> Self {
        Watcher {
            task: tokio::spawn(run(cfg, state)),
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(cfg: FleetConfig, state: Arc<FleetState>) {
    let mut backoff = Backoff::FLEET;
    let mut warned = false;
    loop {
        let error = follow(&cfg, &state, &mut backoff).await;
        state.up.store(false, Ordering::Relaxed);
        if let FleetError::Compacted { .. } = error {
            info!(error = %error, "fleet: listing again");
            state.relisting(&state.relists_compacted);
            continue;
        }
        state.relisting(&state.relists_error);
        match std::mem::replace(&mut warned, true) {
            false => {
                warn!(error = %error, "fleet: cannot follow etcd; serving the last view, retrying")
            }
            true => {
                debug!(error = %error, retry_in = ?backoff.peek(), "fleet: etcd still unreachable")
            }
        }
        // Reconnect pacing: the capped backoff between tries.
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// One session: list, then watch until an error ends it.
async fn follow(cfg: &FleetConfig, state: &FleetState, backoff: &mut Backoff) -> FleetError {
    match session(cfg, state, backoff).await {
        Ok(()) => FleetError::WatchEnded {
            endpoints: cfg.endpoints.join(","),
        },
        Err(e) => e,
    }
}

async fn session(
    cfg: &FleetConfig,
    state: &FleetState,
    backoff: &mut Backoff,
) -> Result<(), FleetError> {
    let (client, endpoints) = client::connect(cfg).await?;
    let request = |what: &'static str| {
        let endpoints = endpoints.clone();
        move |source| FleetError::Request {
            endpoints,
            what,
            key: ROOT.to_string(),
            source,
        }
    };
    let (mut view, errors) = list(&client).await.map_err(request("range"))?;
    let revision = view.revision;
    for e in errors {
        warn!(error = %e, "fleet: a value is left out");
    }
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let mut stream = (client.watch_client())
        .max_decoding_message_size(MAX_MESSAGE)
        .watch(ROOT, Some(options))
        .await
        .map_err(request("watch"))?;
    state.listed(&view);
    state.up.store(true, Ordering::Relaxed);
    backoff.reset();
    info!(
        revision,
        hosts = view.hosts().count(),
        endpoint = endpoints,
        "fleet: listed; watching"
    );
    // A hung member (stopped, or cut off below TCP) keeps the stream open and says
    // nothing: when the watch has been quiet for a while, ask etcd where it is, and leave
    // the member when even that gets no answer.
    let mut quiet = tokio::time::interval(PROGRESS_AFTER);
    quiet.reset();
    let mut asked: Option<tokio::time::Instant> = None;
    loop {
        let message = tokio::select! {
            m = stream.message() => m.map_err(request("watch"))?,
            _ = quiet.tick() => {
                match asked {
                    Some(at) if at.elapsed() >= SILENT_LIMIT => {
                        return Err(FleetError::WatchSilent {
                            endpoints: endpoints.clone(),
                            silent: at.elapsed() + PROGRESS_AFTER,
                        });
                    }
                    Some(_) => {}
                    None => {
                        stream.request_progress().await.map_err(request("watch progress"))?;
                        asked = Some(tokio::time::Instant::now());
                    }
                }
                continue;
            }
        };
        asked = None;
        quiet.reset();
        let Some(resp) = message else { break };
        if resp.compact_revision() > 0 {
            return Err(FleetError::Compacted {
                compacted: resp.compact_revision(),
            });
        }
        if resp.canceled() {
            return Ok(());
        }
        let mut events = Vec::with_capacity(resp.events().len());
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            view.revision = view.revision.max(kv.mod_revision());
            let key = kv.key_str().unwrap_or("");
            let change = match event.event_type() {
                EventType::Put => Change::Put(key, kv.value()),
                EventType::Delete => Change::Delete(key),
            };
            match view.apply(change) {
                Ok(()) => state.observe_meta(&view, key),
                Err(e) => warn!(error = %e, "fleet: a value is left out"),
            }
            events
                .extend(feed::event(&view, key, kv.mod_revision()).map(|f| (kv.mod_revision(), f)));
        }
        if !resp.events().is_empty() {
            state.changed(&view, events);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_ends_after_every_key_of_the_root() {
        assert_eq!(super::prefix_end("/vifd/v1/"), b"/vifd/v10");
        assert!(b"/vifd/v1/\xff".as_slice() < super::prefix_end("/vifd/v1/").as_slice());
    }
}
