//! One link dump on a thread of its own, inside the requested namespace.
//!
//! A plain blocking netlink socket, and only the attributes vifd uses are decoded: a full
//! `LinkMessage` parse (inet6 devconf, per-family stats, ...) of thousands of taps costs
//! several times what the kernel needs to produce the dump.

use rtnetlink::packet_core::{
    ErrorBuffer, NetlinkBuffer, NetlinkMessage, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP, NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::convert::{resolve_names, RawLink};
use super::netns::{enter, NetnsTarget};
use super::{HostDevice, NetlinkError};

pub(super) const RTM_NEWLINK: u16 = 16;
/// Larger than any single dump datagram the kernel sends (it caps them near 32 KiB).
const RECV_BUF: usize = 256 * 1024;

/// Reads every link of the namespace.
///
/// The socket is opened on a dedicated thread that first enters the namespace (when one
/// is named), so no tokio worker ever changes namespace: a netlink socket belongs to the
/// namespace it was created in, and the thread is discarded afterwards.
pub async fn read_devices(target: &NetnsTarget) -> Result<Vec<HostDevice>, NetlinkError> {
    let file = target.open()?;
    let ns = target.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("vifd-netlink".into())
        .spawn(move || {
            let result = match &file {
                Some(f) => enter(&ns, f).and_then(|()| dump_links(&ns)),
                None => dump_links(&ns),
            };
            let _ = tx.send(result);
        })
        .map_err(|e| NetlinkError::Worker {
            ns: target.describe(),
            message: e.to_string(),
        })?;
    rx.await.map_err(|_| NetlinkError::Worker {
        ns: target.describe(),
        message: "thread exited without an answer".into(),
    })?
}

fn dump_links(ns: &NetnsTarget) -> Result<Vec<HostDevice>, NetlinkError> {
    dump_raw(ns).map(resolve_names)
}

/// Every link of the calling thread's namespace, names unresolved.
pub(super) fn dump_raw(ns: &NetnsTarget) -> Result<Vec<RawLink>, NetlinkError> {
    let socket_err = |source| NetlinkError::Socket {
        ns: ns.describe(),
        source,
    };
    let dump_err = |message: String| NetlinkError::Dump {
        ns: ns.describe(),
        message,
    };
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(socket_err)?;
    sock.bind_auto().map_err(socket_err)?;
    sock.connect(&SocketAddr::new(0, 0)).map_err(socket_err)?;
    sock.send(&dump_request(), 0).map_err(socket_err)?;

    let mut links = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(RECV_BUF);
    loop {
        buf.clear();
        sock.recv(&mut buf, 0).map_err(socket_err)?;
        let mut rest = &buf[..];
        while !rest.is_empty() {
            let msg = NetlinkBuffer::new_checked(rest).map_err(|e| dump_err(e.to_string()))?;
            match msg.message_type() {
                NLMSG_DONE => return Ok(links),
                NLMSG_ERROR => {
                    let err = ErrorBuffer::new_checked(msg.payload())
                        .map_err(|e| dump_err(e.to_string()))?;
                    if let Some(code) = err.code() {
                        let errno = std::io::Error::from_raw_os_error(-code.get());
                        return Err(dump_err(errno.to_string()));
                    }
                }
                RTM_NEWLINK => links.extend(RawLink::parse(msg.payload())),
                _ => {}
            }
            let len = (msg.length() as usize + 3) & !3;
            rest = rest.get(len..).unwrap_or_default();
        }
    }
}

fn dump_request() -> Vec<u8> {
    let mut msg = NetlinkMessage::from(RouteNetlinkMessage::GetLink(LinkMessage::default()));
    msg.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.header.sequence_number = 1;
    msg.finalize();
    let mut bytes = vec![0; msg.buffer_len()];
    msg.serialize(&mut bytes);
    bytes
}
