//! Live link state of one namespace: rtnetlink notifications (RTNLGRP_LINK) applied to a
//! table that starts from a dump.
//!
//! One thread owns both the multicast socket and the dumps, so ordering is simple: on a
//! resync it first discards the notifications already queued, then dumps, then forwards
//! what comes after. A notification carries the whole link, so applying one that raced
//! with the dump is harmless. An overrun (ENOBUFS: the kernel dropped notifications) is
//! answered with a resync, never by guessing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rtnetlink::packet_core::NetlinkBuffer;
use rtnetlink::packet_route::link::LinkHeader;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::convert::{resolve_names_of, resolve_one, RawLink};
use super::dump::{dump_raw, RTM_NEWLINK};
use super::netns::{enter, NetnsTarget};
use super::{HostDevice, NetlinkError};

const RTM_DELLINK: u16 = 17;
const AF_BRIDGE: AddressFamily = AddressFamily::Bridge;
const ENOBUFS: i32 = nix::errno::Errno::ENOBUFS as i32;
const RTMGRP_LINK: u32 = 1;
const RECV_BUF: usize = 256 * 1024;
/// The notification socket's receive buffer unless a test sets it.
const DEFAULT_RCVBUF: usize = 8 * 1024 * 1024;
/// Batches queued between the thread and the consumer; beyond, the thread waits and the
/// kernel's socket buffer absorbs the rest (then overruns, then we resync).
const QUEUE: usize = 64;
/// Most link changes sent in one batch.
const MAX_BATCH: usize = 4096;
const MSG_DONTWAIT: i32 = nix::sys::socket::MsgFlags::MSG_DONTWAIT.bits();

/// What the watcher thread sends.
enum Update {
    /// The whole table, after a (re)sync.
    Snapshot(Vec<RawLink>),
    /// Links added or changed (`Ok`) and removed (`Err(ifindex)`), in kernel order.
    Batch(Vec<Result<RawLink, u32>>),
    Failed(NetlinkError),
}

/// What [`LinkWatch::next`] applied.
#[derive(Debug)]
pub enum LinkEvent {
    /// The table was rebuilt from a dump: take [`LinkWatch::devices`] whole.
    Resynced,
    /// These devices, by name, are now as given, or gone (`None`). A rename is the old
    /// name gone and the new one present; devices whose master or lower device was
    /// renamed or deleted come along.
    Changed(Vec<(String, Option<HostDevice>)>),
}

/// The links of a namespace, kept current from notifications.
pub struct LinkWatch {
    rx: mpsc::Receiver<Update>,
    wake: UnixStream,
    table: BTreeMap<u32, RawLink>,
    /// The table with names resolved, as last reported.
    resolved: HashMap<u32, HostDevice>,
    ns: String,
}

impl LinkWatch {
    /// Starts the watcher thread in `target`. `rcvbuf` sets the notification socket's
    /// receive buffer (tests make it small to force overruns).
    pub fn start(target: &NetnsTarget, rcvbuf: Option<usize>) -> Result<Self, NetlinkError> {
        let file = target.open()?;
        let ns = target.clone();
        let worker_err = |e: std::io::Error| NetlinkError::Worker {
            ns: target.describe(),
            message: e.to_string(),
        };
        let (wake, wake_rx) = UnixStream::pair().map_err(worker_err)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("vifd-netlink-watch".into())
            .spawn(move || {
                let res = match &file {
                    Some(f) => enter(&ns, f),
                    None => Ok(()),
                }
                .and_then(|()| watch(&ns, rcvbuf, &wake_rx, &tx));
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
            ns: target.describe(),
        })
    }

    /// Waits for the next notifications and applies them (with any others already queued).
    pub async fn next(&mut self) -> Result<LinkEvent, NetlinkError> {
        let first = self.rx.recv().await.ok_or_else(|| NetlinkError::Worker {
            ns: self.ns.clone(),
            message: "the link watcher stopped".into(),
        })?;
        let mut updates = vec![first];
        while let Ok(more) = self.rx.try_recv() {
            updates.push(more);
        }
        let mut changes: Vec<Result<RawLink, u32>> = Vec::new();
        let mut resynced = false;
        for update in updates {
            match update {
                Update::Snapshot(links) => {
                    self.table = links.into_iter().map(|l| (l.dev.ifindex, l)).collect();
                    changes.clear();
                    resynced = true;
                }
                Update::Batch(batch) => changes.extend(batch),
                Update::Failed(e) => return Err(e),
            }
        }
        if resynced {
            self.apply(changes);
            self.resolved = self.devices().into_iter().map(|d| (d.ifindex, d)).collect();
            return Ok(LinkEvent::Resynced);
        }
        let touched = self.apply(changes);
        Ok(LinkEvent::Changed(self.resolve(touched)))
    }

    /// Applies changes to the raw table; returns the ifindexes touched.
    fn apply(&mut self, changes: Vec<Result<RawLink, u32>>) -> BTreeSet<u32> {
        let mut touched = BTreeSet::new();
        for change in changes {
            match change {
                Ok(link) => {
                    touched.insert(link.dev.ifindex);
                    self.table.insert(link.dev.ifindex, link);
                }
                Err(ifindex) => {
                    touched.insert(ifindex);
                    self.table.remove(&ifindex);
                }
            }
        }
        touched
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
}

/// The watcher thread's loop: runs until the consumer goes away or the socket fails.
fn watch(
    ns: &NetnsTarget,
    rcvbuf: Option<usize>,
    wake: &UnixStream,
    tx: &mpsc::Sender<Update>,
) -> Result<(), NetlinkError> {
    let socket_err = |source| NetlinkError::Socket {
        ns: ns.describe(),
        source,
    };
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(socket_err)?;
    match rcvbuf {
        Some(size) => sock.set_rx_buf_sz(size).map_err(socket_err)?,
        None => {
            // The kernel's default (rmem_default, ~208 KiB) overruns when a few hundred
            // links change at once; every overrun costs a full dump. Root may go past
            // rmem_max; without the capability, the plain option is capped there.
            use nix::sys::socket::{setsockopt, sockopt};
            if setsockopt(&sock, sockopt::RcvBufForce, &DEFAULT_RCVBUF).is_err() {
                sock.set_rx_buf_sz(DEFAULT_RCVBUF).map_err(socket_err)?;
            }
        }
    }
    sock.bind(&SocketAddr::new(0, RTMGRP_LINK))
        .map_err(socket_err)?;
    if !resync(ns, &sock, tx)? {
        return Ok(());
    }
    let mut buf: Vec<u8> = Vec::with_capacity(RECV_BUF);
    loop {
        let mut fds = [
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(socket_err(e.into())),
            Ok(_) => {}
        }
        let woken = fds[1].any().unwrap_or(false);
        if woken {
            let mut b = [0u8; 64];
            let _ = (&*wake).read(&mut b);
            if !resync(ns, &sock, tx)? {
                return Ok(());
            }
            continue;
        }
        // Take everything already queued in one batch: one correlation for a burst, not
        // one per notification.
        let mut changes = Vec::new();
        let mut flags = 0;
        while changes.len() < MAX_BATCH {
            buf.clear();
            match sock.recv(&mut buf, flags) {
                Ok(_) => changes.extend(parse(&buf)),
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    warn!(ns = %ns.describe(), "link notifications overran; resyncing");
                    if !resync(ns, &sock, tx)? {
                        return Ok(());
                    }
                    changes.clear();
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(socket_err(e)),
            }
            flags = MSG_DONTWAIT;
        }
        if !changes.is_empty() && tx.blocking_send(Update::Batch(changes)).is_err() {
            return Ok(());
        }
    }
}

/// Discards queued notifications, dumps, and sends the table. False when the consumer is gone.
fn resync(
    ns: &NetnsTarget,
    sock: &Socket,
    tx: &mpsc::Sender<Update>,
) -> Result<bool, NetlinkError> {
    let mut buf: Vec<u8> = Vec::with_capacity(RECV_BUF);
    loop {
        buf.clear();
        match sock.recv(&mut buf, MSG_DONTWAIT) {
            Ok(_) => continue,
            // ENOBUFS while draining: the overflow is what we are resyncing for.
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => continue,
            Err(_) => break,
        }
    }
    let links = dump_raw(ns)?;
    debug!(ns = %ns.describe(), links = links.len(), "link table resynced");
    Ok(tx.blocking_send(Update::Snapshot(links)).is_ok())
}

/// RTM_NEWLINK and RTM_DELLINK messages of one datagram. Those of family AF_BRIDGE are
/// the bridge's port events (a partial view of the port; a DELLINK there means "left the
/// bridge", not "deleted"): the full link message that accompanies them is what counts.
fn parse(buf: &[u8]) -> Vec<Result<RawLink, u32>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while let Ok(msg) = NetlinkBuffer::new_checked(rest) {
        let header = LinkHeader::parse(msg.payload()).ok();
        let link_family = header
            .as_ref()
            .is_some_and(|h| h.interface_family != AF_BRIDGE);
        match (msg.message_type(), header) {
            (RTM_NEWLINK, Some(_)) if link_family => {
                out.extend(RawLink::parse(msg.payload()).map(Ok))
            }
            (RTM_DELLINK, Some(h)) if link_family => out.push(Err(h.index)),
            _ => {}
        }
        let len = (msg.length() as usize + 3) & !3;
        rest = rest.get(len..).unwrap_or_default();
    }
    out
}
