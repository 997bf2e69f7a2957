//! The link watcher's thread: one multicast socket on the link and neighbour groups, one
//! plain socket for dumps, both opened inside the namespace.
//!
//! One thread owns both sockets, so ordering is simple: on a resync it first discards the
//! notifications already queued, then dumps, then forwards what comes after. A
//! notification carries the whole link or neighbour entry, so applying one that raced
//! with the dump is harmless. An overrun (ENOBUFS: the kernel dropped notifications) is
//! answered with a resync, never by guessing.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rtnetlink::packet_core::NetlinkBuffer;
use rtnetlink::packet_route::link::LinkHeader;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::convert::RawLink;
use super::dump::{Dumper, RTM_NEWLINK};
use super::error::NetlinkError;
use super::neigh::{RawNeigh, RTM_DELNEIGH, RTM_NEWNEIGH};
use super::netns::NetnsTarget;
use super::types::LinkStats;

const RTM_DELLINK: u16 = 17;
const AF_BRIDGE: AddressFamily = AddressFamily::Bridge;
const ENOBUFS: i32 = nix::errno::Errno::ENOBUFS as i32;
const RTMGRP_LINK: u32 = 1;
const RTMGRP_NEIGH: u32 = 4;
const RECV_BUF: usize = 256 * 1024;
/// The notification socket's receive buffer unless a test sets it.
const DEFAULT_RCVBUF: usize = 8 * 1024 * 1024;
/// Most changes sent in one batch.
const MAX_BATCH: usize = 4096;
const MSG_DONTWAIT: i32 = nix::sys::socket::MsgFlags::MSG_DONTWAIT.bits();

/// What the watcher thread sends.
pub(super) enum Update {
    /// Both tables whole, after a (re)sync.
    Snapshot {
        links: Vec<RawLink>,
        neighbours: Vec<RawNeigh>,
    },
    /// Notifications, in kernel order.
    Batch(Vec<Change>),
    /// Periodic counters by ifindex.
    Stats(Vec<(u32, LinkStats)>),
    Failed(NetlinkError),
}

/// One notification.
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived in one Vec per batch; a Box would cost an allocation per link"
)]
pub(super) enum Change {
    /// A link added or changed.
    Link(RawLink),
    /// A link deleted, by ifindex.
    LinkGone(u32),
    /// A neighbour entry added, changed or removed.
    Neigh(RawNeigh),
}

/// What the thread is told to do.
pub(super) struct Config {
    pub(super) rcvbuf: Option<usize>,
    pub(super) stats_every: Option<Duration>,
}

/// The thread's body, in the namespace already: runs until the consumer goes away (`Ok`)
/// or a socket fails.
pub(super) fn run(
    ns: &NetnsTarget,
    config: Config,
    wake: &UnixStream,
    tx: &mpsc::Sender<Update>,
) -> Result<(), NetlinkError> {
    let mut w = Watcher {
        sock: notification_socket(ns, config.rcvbuf)?,
        dumper: Dumper::open(ns)?,
        ns,
        wake,
        tx,
        buf: Vec::with_capacity(RECV_BUF),
        stats_every: config.stats_every,
        next_stats: config.stats_every.map(|every| Instant::now() + every),
    };
    w.run()
}

fn notification_socket(ns: &NetnsTarget, rcvbuf: Option<usize>) -> Result<Socket, NetlinkError> {
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
    sock.bind(&SocketAddr::new(0, RTMGRP_LINK | RTMGRP_NEIGH))
        .map_err(socket_err)?;
    Ok(sock)
}

struct Watcher<'a> {
    ns: &'a NetnsTarget,
    /// Joined to the link and neighbour groups.
    sock: Socket,
    /// For dumps: their answers must not queue behind (or be lost with) notifications.
    dumper: Dumper,
    wake: &'a UnixStream,
    tx: &'a mpsc::Sender<Update>,
    buf: Vec<u8>,
    stats_every: Option<Duration>,
    next_stats: Option<Instant>,
}

/// `Ok(false)`: the consumer is gone, the thread should end.
type Alive = Result<bool, NetlinkError>;

impl Watcher<'_> {
    fn run(&mut self) -> Result<(), NetlinkError> {
        let mut alive = self.resync()?;
        while alive {
            let (readable, woken) = self.wait()?;
            alive = if woken {
                let mut b = [0u8; 64];
                let _ = (&*self.wake).read(&mut b);
                self.resync()?
            } else if readable {
                self.notifications()?
            } else {
                true
            };
            // After the notifications already queued, so counters never go back to
            // those of an older notification.
            if alive && self.next_stats.is_some_and(|at| Instant::now() >= at) {
                alive = self.send_stats()?;
            }
        }
        Ok(())
    }

    /// Waits for notifications, a wake-up or the next counters; (readable, woken).
    fn wait(&self) -> Result<(bool, bool), NetlinkError> {
        let timeout = match self.next_stats {
            // Rounded up: a timeout of 0 ms before the deadline would spin.
            Some(at) => {
                let micros = at.saturating_duration_since(Instant::now()).as_micros();
                PollTimeout::try_from(micros.div_ceil(1000)).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [
            PollFd::new(self.sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => Ok((false, false)),
            Err(e) => Err(NetlinkError::Socket {
                ns: self.ns.describe(),
                source: e.into(),
            }),
            Ok(_) => Ok((fds[0].any().unwrap_or(false), fds[1].any().unwrap_or(false))),
        }
    }

    /// Takes everything already queued in one batch: one correlation for a burst, not
    /// one per notification.
    fn notifications(&mut self) -> Alive {
        let mut changes = Vec::new();
        let mut flags = 0;
        while changes.len() < MAX_BATCH {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, flags) {
                Ok(_) => changes.extend(parse(&self.buf)),
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    warn!(ns = %self.ns.describe(), "link notifications overran; resyncing");
                    return self.resync();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let ns = self.ns.describe();
                    return Err(NetlinkError::Socket { ns, source });
                }
            }
            flags = MSG_DONTWAIT;
        }
        Ok(changes.is_empty() || self.tx.blocking_send(Update::Batch(changes)).is_ok())
    }

    /// Discards queued notifications, dumps links and neighbours, and sends both tables.
    fn resync(&mut self) -> Alive {
        loop {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, MSG_DONTWAIT) {
                Ok(_) => continue,
                // ENOBUFS while draining: the overflow is what we are resyncing for.
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => continue,
                Err(_) => break,
            }
        }
        let links = self.dumper.links()?;
        let neighbours = self.dumper.neighbours()?;
        debug!(ns = %self.ns.describe(), links = links.len(), neighbours = neighbours.len(),
            "link and neighbour tables resynced");
        let snapshot = Update::Snapshot { links, neighbours };
        Ok(self.tx.blocking_send(snapshot).is_ok())
    }

    /// Dumps and sends every device's counters. A failed dump is only logged: counters
    /// are not worth losing the link table over, and the next period tries again.
    fn send_stats(&mut self) -> Alive {
        if let Some(every) = self.stats_every {
            // From now, not from the deadline: a late tick must not cause a burst.
            self.next_stats = Some(Instant::now() + every);
        }
        match self.dumper.stats() {
            Ok(stats) => Ok(self.tx.blocking_send(Update::Stats(stats)).is_ok()),
            Err(e) => {
                warn!(error = %e, "cannot read device counters");
                Ok(true)
            }
        }
    }
}

/// The link and neighbour notifications of one datagram. Links of family AF_BRIDGE are
/// the bridge's port events (a partial view of the port; a DELLINK there means "left the
/// bridge", not "deleted"): the full link message that accompanies them is what counts.
pub(super) fn parse(buf: &[u8]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut rest = buf;
    while let Ok(msg) = NetlinkBuffer::new_checked(rest) {
        let kind = msg.message_type();
        match kind {
            RTM_NEWLINK | RTM_DELLINK => out.extend(parse_link(kind, msg.payload())),
            RTM_NEWNEIGH | RTM_DELNEIGH => {
                out.extend(RawNeigh::parse(kind, msg.payload()).map(Change::Neigh))
            }
            _ => {}
        }
        let len = (msg.length() as usize + 3) & !3;
        rest = rest.get(len..).unwrap_or_default();
    }
    out
}

fn parse_link(kind: u16, payload: &[u8]) -> Option<Change> {
    let header = LinkHeader::parse(payload).ok()?;
    if header.interface_family == AF_BRIDGE {
        return None;
    }
    match kind {
        RTM_NEWLINK => RawLink::parse(payload).map(Change::Link),
        _ => Some(Change::LinkGone(header.index)),
    }
}
