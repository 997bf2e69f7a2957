//! Live link and neighbour state of one namespace: rtnetlink notifications applied to
//! tables that start from a dump. The thread that reads them is in `watcher`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use tokio::sync::mpsc;

use super::convert::{resolve_names_of, resolve_one, RawLink};
use super::error::{NetlinkError, WorkerFailure};
use super::neigh::NeighTable;
use super::netns::{enter, NetnsTarget};
use super::types::{HostDevice, LinkStats, Neighbour};
use super::watcher::{self, Change, Config, Update};

/// Batches queued between the thread and the consumer; beyond, the thread waits and the
/// kernel's socket buffer absorbs the rest (then overruns, then we resync).
const QUEUE: usize = 64;

/// What [`LinkWatch::next`] applied.
#[derive(Debug)]
pub enum LinkEvent {
    /// The tables were rebuilt from dumps: take [`LinkWatch::devices`] and
    /// [`LinkWatch::neighbours`] whole.
    Resynced,
    /// These devices, by name, are now as given, or gone (`None`). A rename is the old
    /// name gone and the new one present; devices whose master or lower device was
    /// renamed or deleted come along.
    Changed(Vec<(String, Option<HostDevice>)>),
    /// The neighbour table, whole and sorted, after an entry was added or removed or
    /// changed its MAC or device name. NUD state changes alone are not reported.
    Neighbours(Vec<Neighbour>),
    /// Periodic counters (see [`LinkWatch::start`]): every device that has them, by
    /// name. Already applied to [`LinkWatch::devices`]; not a change of the devices.
    Stats(Vec<(String, LinkStats)>),
}

/// The links and neighbours of a namespace, kept current from notifications.
pub struct LinkWatch {
    rx: mpsc::Receiver<Update>,
    wake: UnixStream,
    table: BTreeMap<u32, RawLink>,
    /// The table with names resolved, as last reported.
    resolved: HashMap<u32, HostDevice>,
    neigh: NeighTable,
    /// The neighbours as last reported (or as of the last resync).
    reported: Vec<Neighbour>,
    /// Events worked out from one batch of updates and not yet returned.
    pending: VecDeque<LinkEvent>,
    ns: String,
}

/// What one batch of updates touched, short of a resync.
#[derive(Default)]
struct Touched {
    /// Ifindexes of link notifications; `None` when there were none.
    links: Option<BTreeSet<u32>>,
    neighbours: bool,
    stats: bool,
}

impl LinkWatch {
    /// Starts the watcher thread in `target`. `rcvbuf` sets the notification socket's
    /// receive buffer (tests make it small to force overruns). With `stats_every`, the
    /// thread also reads every device's counters that often and sends them as
    /// [`LinkEvent::Stats`].
    pub fn start(
        target: &NetnsTarget,
        rcvbuf: Option<usize>,
        stats_every: Option<Duration>,
    ) -> Result<Self, NetlinkError> {
        let file = target.open()?;
        let ns = target.clone();
        let worker_err = |e: std::io::Error| NetlinkError::Worker {
            ns: target.describe(),
            reason: WorkerFailure::Spawn(e),
        };
        let (wake, wake_rx) = UnixStream::pair().map_err(worker_err)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let config = Config {
            rcvbuf,
            stats_every,
        };
        std::thread::Builder::new()
            .name("vifd-netlink-watch".into())
            .spawn(move || {
                let res = match &file {
                    Some(f) => enter(&ns, f),
                    None => Ok(()),
                }
                .and_then(|()| watcher::run(&ns, config, &wake_rx, &tx));
                if let Err(e) = res {
                    let _ = tx.blocking_send(Update::Failed(e));
                }
            })
            .map_err(worker_err)?;
        Ok(LinkWatch {
            rx,
            wake,
            table: BTreeMap::new(),
            resolved: HashMap::new(),
            neigh: NeighTable::default(),
            reported: Vec::new(),
            pending: VecDeque::new(),
            ns: target.describe(),
        })
    }

    /// Waits for the next notifications and applies them (with any others already
    /// queued). Updates that change nothing reported (a neighbour going stale) are
    /// applied without an event.
    pub async fn next(&mut self) -> Result<LinkEvent, NetlinkError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let first = self.rx.recv().await.ok_or_else(|| NetlinkError::Worker {
                ns: self.ns.clone(),
                reason: WorkerFailure::Stopped,
            })?;
            let mut updates = vec![first];
            while let Ok(more) = self.rx.try_recv() {
                updates.push(more);
            }
            self.absorb(updates)?;
        }
    }

    /// Applies a batch of updates in order and queues the events they make.
    fn absorb(&mut self, updates: Vec<Update>) -> Result<(), NetlinkError> {
        let mut touched = Touched::default();
        let mut resynced = false;
        for update in updates {
            match update {
                Update::Snapshot { links, neighbours } => {
                    self.table = links.into_iter().map(|l| (l.dev.ifindex, l)).collect();
                    self.neigh = NeighTable::from_dump(neighbours);
                    touched = Touched::default();
                    resynced = true;
                }
                Update::Batch(batch) => self.apply(batch, &mut touched),
                Update::Stats(stats) => {
                    self.apply_stats(stats);
                    touched.stats = true;
                }
                Update::Failed(e) => return Err(e),
            }
        }
        if resynced {
            self.resolved = self.devices().into_iter().map(|d| (d.ifindex, d)).collect();
            self.reported = self.neighbours();
            self.pending.push_back(LinkEvent::Resynced);
            return Ok(());
        }
        self.queue_events(touched);
        Ok(())
    }

    /// Applies notifications to the raw tables.
    fn apply(&mut self, batch: Vec<Change>, touched: &mut Touched) {
        for change in batch {
            match change {
                Change::Link(link) => {
                    let ifindex = link.dev.ifindex;
                    touched.links.get_or_insert_default().insert(ifindex);
                    self.table.insert(ifindex, link);
                }
                Change::LinkGone(ifindex) => {
                    touched.links.get_or_insert_default().insert(ifindex);
                    self.table.remove(&ifindex);
                    touched.neighbours |= self.neigh.remove_device(ifindex);
                }
                Change::Neigh(n) => touched.neighbours |= self.neigh.apply(n),
            }
        }
    }

    /// Fresh counters into both the raw and the reported table, so that counters alone
    /// never make a device look changed.
    fn apply_stats(&mut self, stats: Vec<(u32, LinkStats)>) {
        for (ifindex, s) in stats {
            if let Some(link) = self.table.get_mut(&ifindex) {
                link.dev.stats = Some(s);
            }
            if let Some(dev) = self.resolved.get_mut(&ifindex) {
                dev.stats = Some(s);
            }
        }
    }

    /// Links first, so a renamed device is known before its neighbours show the name.
    fn queue_events(&mut self, touched: Touched) {
        let mut neighbours = touched.neighbours;
        if let Some(links) = touched.links {
            // A device renamed, added or deleted renames, shows or hides its neighbours.
            neighbours |= links.iter().any(|&i| self.neigh.has_device(i));
            let changes = self.resolve(links);
            self.pending.push_back(LinkEvent::Changed(changes));
        }
        if neighbours {
            let now = self.neighbours();
            if now != self.reported {
                self.reported = now.clone();
                self.pending.push_back(LinkEvent::Neighbours(now));
            }
        }
        if touched.stats {
            let stats = self.table.values();
            let stats = stats.filter_map(|l| Some((l.dev.name.clone(), l.dev.stats?)));
            self.pending.push_back(LinkEvent::Stats(stats.collect()));
        }
    }

    /// Re-resolves the touched links (and those naming a renamed or deleted one) and
    /// reports each by name against what was last reported.
    fn resolve(&mut self, mut touched: BTreeSet<u32>) -> Vec<(String, Option<HostDevice>)> {
        let renamed: BTreeSet<u32> = touched
            .iter()
            .copied()
            .filter(|i| {
                let old = self.resolved.get(i).map(|d| d.name.as_str());
                old.is_some() && old != self.table.get(i).map(|l| l.dev.name.as_str())
            })
            .collect();
        if !renamed.is_empty() {
            let dependents = self.table.values().filter(|l| {
                let m = l.master_ifindex.is_some_and(|m| renamed.contains(&m));
                m || l.dev.link_ifindex.is_some_and(|k| renamed.contains(&k))
            });
            touched.extend(dependents.map(|l| l.dev.ifindex).collect::<Vec<_>>());
        }
        // Names gone first, then devices present: a swap of two names comes out right.
        let (mut gone, mut present) = (Vec::new(), Vec::new());
        for ifindex in touched {
            let new = self
                .table
                .get(&ifindex)
                .map(|l| resolve_one(l, |i| self.table.get(&i).map(|r| r.dev.name.clone())));
            let old = match &new {
                Some(d) => self.resolved.insert(ifindex, d.clone()),
                None => self.resolved.remove(&ifindex),
            };
            if old == new {
                continue;
            }
            if let Some(o) = old.filter(|o| new.as_ref().is_none_or(|n| n.name != o.name)) {
                gone.push(o.name);
            }
            present.extend(new);
        }
        let names: HashSet<&str> = present.iter().map(|d| d.name.as_str()).collect();
        let mut out: Vec<(String, Option<HostDevice>)> = gone
            .into_iter()
            .filter(|n| !names.contains(n.as_str()))
            .map(|n| (n, None))
            .collect();
        out.extend(present.into_iter().map(|d| (d.name.clone(), Some(d))));
        out
    }

    /// Asks for a full resync; its `Resynced` comes through [`next`](Self::next).
    pub fn request_resync(&mut self) {
        let _ = self.wake.write_all(&[1]);
    }

    /// The current devices, masters and lower devices named.
    pub fn devices(&self) -> Vec<HostDevice> {
        resolve_names_of(self.table.values())
    }

    /// The current neighbour entries on known devices, sorted.
    pub fn neighbours(&self) -> Vec<Neighbour> {
        self.neigh
            .list(|i| self.table.get(&i).map(|l| l.dev.name.clone()))
    }
}
