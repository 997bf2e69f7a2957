//! Guest addresses from the QEMU guest agent (`virDomainInterfaceAddresses` with the
//! agent as source), bounded in time.
//!
//! Raw `virt-sys` rather than `virt::Domain::interface_addresses`: virt 0.5 frees only the
//! array, never the interfaces in it, which would leak on every poll. The query runs on a
//! thread of its own so a hung agent costs the reader at most the timeout; at most one
//! query per domain is in flight, so a hung agent never piles up threads.
#![allow(unsafe_code)] // FFI module: one of the few allowed `unsafe` (Cargo.toml [lints]).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::collections::HashSet;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::{debug, warn};
use virt::domain::Domain as VirtDomain;
use virt_sys as sys;

use super::domain::GuestAddress;
use super::error::{panic_message, LibvirtCause};
use super::ffi::{opt_string, OwnedArray};
use crate::mac::MacAddr;

/// Asks running guests' agents for their addresses, waiting at most `timeout` per domain.
pub(super) struct GuestAgent {
    timeout: Duration,
    /// UUIDs of domains whose query has not returned yet (it outlived its timeout).
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// Why the agent gave no addresses.
#[derive(Debug, thiserror::Error)]
enum AgentError {
    #[error("virDomainInterfaceAddresses: {0}")]
    Query(#[source] LibvirtCause),
    #[error("cannot spawn a thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The query thread panicked; the panic's message.
    #[error("the query thread panicked: {0}")]
    Panicked(String),
}

/// One guest interface as the agent reported it, copied out before any parsing.
#[derive(Debug, Default)]
struct RawInterface {
    name: Option<String>,
    hwaddr: Option<String>,
    addrs: Vec<(Option<String>, u32)>,
}

impl GuestAgent {
    pub(super) fn new(timeout: Duration) -> Self {
        GuestAgent {
            timeout,
            in_flight: Arc::default(),
        }
    }

    /// The guest's addresses (loopback left out); empty when the agent did not answer in
    /// time or failed, which is logged at debug and never an error.
    pub(super) fn addresses(&self, dom: &VirtDomain, name: &str, uuid: &str) -> Vec<GuestAddress> {
        let Some(guard) = InFlight::claim(&self.in_flight, uuid) else {
            debug!(domain = %name, "guest agent: the previous query has not returned yet");
            return vec![];
        };
        let Some(dom) = DomRef::new(dom) else {
            let error = LibvirtCause::last();
            debug!(domain = %name, %error, "guest agent: skipped: virDomainRef failed");
            return vec![];
        };
        let query = move || {
            let _guard = guard;
            query(&dom)
        };
        match bounded(self.timeout, query).and_then(|r| r.map_err(AgentError::Query)) {
            Ok(ifaces) => ifaces.into_iter().flat_map(|i| convert(i, name)).collect(),
            Err(e @ AgentError::Panicked(_)) => {
                warn!(domain = %name, error = %e, "guest agent: no addresses");
                vec![]
            }
            Err(e) => {
                debug!(domain = %name, error = %e, "guest agent: no addresses");
                vec![]
            }
        }
    }
}

/// Runs `f` on a thread of its own and waits at most `timeout` for its result. On timeout
/// the thread is left to finish on its own. A panic in `f` is its error, with the panic's
/// message (logged by the thread when nobody waits any more).
fn bounded<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AgentError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("vifd-guest-agent".into())
        .spawn(move || {
            let res = catch_unwind(AssertUnwindSafe(f))
                .map_err(|payload| panic_message(&*payload).to_string());
            if let Err(mpsc::SendError(Err(panic))) = tx.send(res) {
                warn!(%panic, "a guest agent query panicked after its caller stopped waiting");
            }
        })
        .map_err(AgentError::Spawn)?;
    match rx.recv_timeout(timeout) {
        Ok(res) => res.map_err(AgentError::Panicked),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(AgentError::Timeout(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(AgentError::Panicked(
            "the query thread ended without an answer".to_string(),
        )),
    }
}

/// A domain's UUID in `in_flight` while its query runs; removed on drop.
struct InFlight {
    set: Arc<Mutex<HashSet<String>>>,
    uuid: String,
}

impl InFlight {
    fn claim(set: &Arc<Mutex<HashSet<String>>>, uuid: &str) -> Option<Self> {
        let mut busy = set.lock().unwrap_or_else(PoisonError::into_inner);
        busy.insert(uuid.to_string()).then(|| InFlight {
            set: set.clone(),
            uuid: uuid.to_string(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut busy = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        busy.remove(&self.uuid);
    }
}

/// Our own reference on a domain (virDomainRef), so the query thread may outlive the
/// caller's `virt::Domain`. Freed on drop.
struct DomRef(sys::virDomainPtr);

// SAFETY: libvirt objects are thread-safe (locked internally); the pointer is only used
// for one query and one unref, from whichever thread holds it.
unsafe impl Send for DomRef {}

impl DomRef {
    fn new(dom: &VirtDomain) -> Option<Self> {
        // SAFETY: `dom` holds a reference for the call; ours keeps the object alive after.
        let ptr = unsafe { dom.as_ptr() };
        // SAFETY: `ptr` is a live domain (above).
        (unsafe { sys::virDomainRef(ptr) } == 0).then_some(DomRef(ptr))
    }
}

impl Drop for DomRef {
    fn drop(&mut self) {
        // SAFETY: releases the reference taken in `new`, once.
        unsafe { sys::virDomainFree(self.0) };
    }
}

fn query(dom: &DomRef) -> Result<Vec<RawInterface>, LibvirtCause> {
    let source = sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT;
    let mut array: *mut sys::virDomainInterfacePtr = null_mut();
    // SAFETY: `dom` holds a reference on a domain; libvirt sets `array` only on success.
    let n = unsafe { sys::virDomainInterfaceAddresses(dom.0, &mut array, source, 0) };
    if n < 0 {
        return Err(LibvirtCause::last());
    }
    // SAFETY: on success libvirt hands us `n` interfaces, each to be freed with
    // virDomainInterfaceFree and the array with free().
    let owned = unsafe { OwnedArray::new(array, n as usize, sys::virDomainInterfaceFree) };
    Ok(owned.iter().map(copy_interface).collect())
}

fn copy_interface(iface: &sys::virDomainInterface) -> RawInterface {
    let addrs = (0..iface.naddrs as usize)
        .map(|i| {
            // SAFETY: `addrs` holds `naddrs` entries, alive as long as `iface`; their
            // strings are NULL or NUL-terminated.
            unsafe {
                let a = &*iface.addrs.add(i);
                (opt_string(a.addr), a.prefix)
            }
        })
        .collect();
    // SAFETY: the interface's strings are NULL or NUL-terminated, alive with `iface`.
    let (name, hwaddr) = unsafe { (opt_string(iface.name), opt_string(iface.hwaddr)) };
    RawInterface {
        name,
        hwaddr,
        addrs,
    }
}

/// The interface's addresses, loopback (`lo`, 127.0.0.0/8, ::1) and unparsable ones left out.
fn convert(iface: RawInterface, domain: &str) -> Vec<GuestAddress> {
    if iface.name.as_deref() == Some("lo") {
        return vec![];
    }
    let mac = iface.hwaddr.as_deref().and_then(|h| parse_mac(h, domain));
    let parse =
        |(addr, prefix): (Option<String>, u32)| match addr.as_deref().map(str::parse::<IpAddr>) {
            Some(Ok(address)) if address.is_loopback() => None,
            Some(Ok(address)) => Some(GuestAddress {
                mac,
                address,
                prefix,
            }),
            _ => {
                debug!(domain, ?addr, "guest agent: skipping an unparsable address");
                None
            }
        };
    iface.addrs.into_iter().filter_map(parse).collect()
}

fn parse_mac(hwaddr: &str, domain: &str) -> Option<MacAddr> {
    hwaddr
        .parse()
        .map_err(|e| debug!(domain, error = %e, "guest agent: interface MAC unusable"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_slow_call_is_abandoned_at_the_timeout() {
        let start = Instant::now();
        let res = bounded(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(2))
        });
        assert!(matches!(res, Err(AgentError::Timeout(_))), "{res:?}");
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(bounded(Duration::from_secs(5), || 7).ok(), Some(7));
    }

    #[test]
    fn a_panicking_query_is_reported_with_its_message() {
        let res = bounded(Duration::from_secs(5), || -> u8 {
            panic!("agent {} broke", 3)
        });
        match res {
            Err(e @ AgentError::Panicked(_)) => {
                assert_eq!(e.to_string(), "the query thread panicked: agent 3 broke")
            }
            other => panic!("expected a panic report, got {other:?}"),
        }
    }

    #[test]
    fn only_one_query_per_domain_is_in_flight() {
        let set = Arc::default();
        let first = InFlight::claim(&set, "u1").unwrap();
        assert!(InFlight::claim(&set, "u1").is_none());
        assert!(InFlight::claim(&set, "u2").is_some());
        drop(first);
        assert!(InFlight::claim(&set, "u1").is_some());
    }

    #[test]
    fn loopback_and_unparsable_addresses_are_left_out() {
        let iface = |name: &str, addrs: &[&str]| RawInterface {
            name: Some(name.to_string()),
            hwaddr: Some("52:54:00:12:34:56".to_string()),
            addrs: addrs.iter().map(|a| (Some(a.to_string()), 8)).collect(),
        };
        assert!(convert(iface("lo", &["127.0.0.1"]), "d").is_empty());
        let got = convert(iface("eth0", &["10.1.2.3", "127.0.0.2", "::1", "x"]), "d");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].address, "10.1.2.3".parse::<IpAddr>().unwrap());
        assert_eq!(got[0].mac.unwrap().to_string(), "52:54:00:12:34:56");
    }
}
