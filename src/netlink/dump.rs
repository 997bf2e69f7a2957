//! Dumps (links, neighbours, counters) on a plain netlink socket, and the one-shot reads
//! that run them on a thread of their own inside the requested namespace.
//!
//! A plain blocking netlink socket, and only the attributes vifd uses are decoded: a full
//! `LinkMessage` parse (inet6 devconf, per-family stats, ...) of thousands of taps costs
//! several times what the kernel needs to produce the dump.

use std::collections::HashMap;

use rtnetlink::packet_core::{
    ErrorBuffer, NetlinkBuffer, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP, NLM_F_REQUEST,
};
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::convert::{resolve_names, RawLink};
use super::error::{DumpFailure, NetlinkError, WorkerFailure};
use super::neigh::{NeighTable, RawNeigh, NDMSG_LEN, RTM_GETNEIGH, RTM_NEWNEIGH};
use super::netns::{enter, NetnsTarget};
use super::stats::{self, RTM_GETSTATS, RTM_NEWSTATS};
use super::types::{HostDevice, LinkStats, Neighbour};

pub(super) const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
/// Size of `struct ifinfomsg`; all zero asks for every device of every family.
const IFINFOMSG_LEN: usize = 16;
const NLMSG_HDRLEN: usize = 16;
/// Larger than any single dump datagram the kernel sends (it caps them near 32 KiB).
const RECV_BUF: usize = 256 * 1024;

/// Reads every link of the namespace.
///
/// The socket is opened on a dedicated thread that first enters the namespace (when one
/// is named), so no tokio worker ever changes namespace: a netlink socket belongs to the
/// namespace it was created in, and the thread is discarded afterwards.
pub async fn read_devices(target: &NetnsTarget) -> Result<Vec<HostDevice>, NetlinkError> {
    on_ns_thread(target, |d| d.links().map(resolve_names)).await
}

/// Reads every link, then the neighbour table (IPv4 and IPv6), of the namespace. Only
/// usable entries with a MAC on a device of the link dump are kept, sorted.
pub async fn read_host(
    target: &NetnsTarget,
) -> Result<(Vec<HostDevice>, Vec<Neighbour>), NetlinkError> {
    on_ns_thread(target, |d| {
        let links = d.links()?;
        let neighbours = NeighTable::from_dump(d.neighbours()?);
        let names: HashMap<u32, &str> = links
            .iter()
            .map(|l| (l.dev.ifindex, l.dev.name.as_str()))
            .collect();
        let neighbours = neighbours.list(|i| names.get(&i).map(|n| n.to_string()));
        Ok((resolve_names(links), neighbours))
    })
    .await
}

/// Runs `work` with a dump socket opened in `target`, on a thread of its own.
async fn on_ns_thread<T: Send + 'static>(
    target: &NetnsTarget,
    work: impl FnOnce(&mut Dumper) -> Result<T, NetlinkError> + Send + 'static,
) -> Result<T, NetlinkError> {
    let file = target.open()?;
    let ns = target.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("vifd-netlink".into())
        .spawn(move || {
            let entered = match &file {
                Some(f) => enter(&ns, f),
                None => Ok(()),
            };
            let result = entered.and_then(|()| work(&mut Dumper::open(&ns)?));
            let _ = tx.send(result);
        })
        .map_err(|e| NetlinkError::Worker {
            ns: target.describe(),
            reason: WorkerFailure::Spawn(e),
        })?;
    rx.await.map_err(|_| NetlinkError::Worker {
        ns: target.describe(),
        reason: WorkerFailure::NoAnswer,
    })?
}

/// A netlink socket for dumps in the calling thread's namespace, joined to no group.
pub(super) struct Dumper {
    sock: Socket,
    ns: NetnsTarget,
    seq: u32,
    buf: Vec<u8>,
}

impl Dumper {
    pub(super) fn open(ns: &NetnsTarget) -> Result<Self, NetlinkError> {
        let socket_err = |source| NetlinkError::Socket {
            ns: ns.describe(),
            source,
        };
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(socket_err)?;
        sock.bind_auto().map_err(socket_err)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(socket_err)?;
        Ok(Dumper {
            sock,
            ns: ns.clone(),
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Every link, names unresolved.
    pub(super) fn links(&mut self) -> Result<Vec<RawLink>, NetlinkError> {
        let body = [0u8; IFINFOMSG_LEN];
        self.dump("link", RTM_GETLINK, &body, |kind, payload| {
            (kind == RTM_NEWLINK)
                .then(|| RawLink::parse(payload))
                .flatten()
        })
    }

    /// Every IPv4 and IPv6 neighbour entry (family AF_UNSPEC), usable or not.
    pub(super) fn neighbours(&mut self) -> Result<Vec<RawNeigh>, NetlinkError> {
        let body = [0u8; NDMSG_LEN];
        self.dump("neighbour", RTM_GETNEIGH, &body, |kind, payload| {
            (kind == RTM_NEWNEIGH)
                .then(|| RawNeigh::parse(kind, payload))
                .flatten()
        })
    }

    /// Every device's counters by ifindex.
    pub(super) fn stats(&mut self) -> Result<Vec<(u32, LinkStats)>, NetlinkError> {
        let body = stats::request_body();
        self.dump("counters", RTM_GETSTATS, &body, |kind, payload| {
            (kind == RTM_NEWSTATS)
                .then(|| stats::parse_newstats(payload))
                .flatten()
        })
    }

    /// Sends one dump request and collects what `parse(type, payload)` makes of each
    /// answer. Messages of another sequence number (left over from a dump that failed
    /// half-way) are skipped.
    fn dump<T>(
        &mut self,
        what: &'static str,
        msg_type: u16,
        body: &[u8],
        mut parse: impl FnMut(u16, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, NetlinkError> {
        let ns = self.ns.describe();
        let socket_err = |source| NetlinkError::Socket {
            ns: ns.clone(),
            source,
        };
        let dump_err = |reason: DumpFailure| NetlinkError::Dump {
            what,
            ns: ns.clone(),
            reason,
        };
        self.seq = self.seq.wrapping_add(1);
        let request = request(msg_type, self.seq, body);
        self.sock.send(&request, 0).map_err(socket_err)?;
        let mut out = Vec::new();
        loop {
            self.buf.clear();
            self.sock.recv(&mut self.buf, 0).map_err(socket_err)?;
            let mut rest = &self.buf[..];
            while !rest.is_empty() {
                let msg = NetlinkBuffer::new_checked(rest)
                    .map_err(|e| dump_err(DumpFailure::Decode(e)))?;
                let len = (msg.length() as usize + 3) & !3;
                rest = rest.get(len..).unwrap_or_default();
                if msg.sequence_number() != self.seq {
                    continue;
                }
                match msg.message_type() {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let err = ErrorBuffer::new_checked(msg.payload())
                            .map_err(|e| dump_err(DumpFailure::Decode(e)))?;
                        if let Some(code) = err.code() {
                            let errno = std::io::Error::from_raw_os_error(-code.get());
                            return Err(dump_err(DumpFailure::Kernel(errno)));
                        }
                    }
                    kind => out.extend(parse(kind, msg.payload())),
                }
            }
        }
    }
}

/// A dump request: `struct nlmsghdr` and the family header `body`.
fn request(msg_type: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = (NLMSG_HDRLEN + body.len()) as u32;
    let mut bytes = Vec::with_capacity(len as usize);
    bytes.extend(len.to_ne_bytes());
    bytes.extend(msg_type.to_ne_bytes());
    bytes.extend((NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    bytes.extend(seq.to_ne_bytes());
    bytes.extend(0u32.to_ne_bytes()); // port id: the kernel fills in ours
    bytes.extend(body);
    bytes
}
