//! One link dump on a thread of its own, inside the requested namespace.

use futures::TryStreamExt;

use super::convert::{resolve_names, RawLink};
use super::netns::{enter, NetnsTarget};
use super::{HostDevice, NetlinkError};

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
    let socket_err = |source| NetlinkError::Socket {
        ns: ns.describe(),
        source,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(socket_err)?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(socket_err)?;
        tokio::spawn(conn);
        let mut links = handle.link().get().execute();
        let mut raw = Vec::new();
        while let Some(msg) = links.try_next().await.map_err(|e| NetlinkError::Dump {
            ns: ns.describe(),
            message: e.to_string(),
        })? {
            if let Some(link) = RawLink::from_message(msg) {
                raw.push(link);
            }
        }
        Ok(resolve_names(raw))
    })
}
