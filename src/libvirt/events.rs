//! libvirt domain and network events, through `virt-sys`: the `virt` crate has no event
//! callbacks.
//!
//! This is the only module with `unsafe` for events. Callbacks run on libvirt's event-loop
//! thread; they only copy what libvirt handed them into our own types and call the sink.
#![allow(unsafe_code)] // FFI module: one of the few allowed `unsafe` (Cargo.toml [lints]).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::transmute;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tracing::{error, warn};
use virt::connect::Connect;
use virt_sys as sys;

use super::error::{panic_message, EventLoopError, LibvirtCause};

/// What libvirt told us, as our own types (no virt handle leaves the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestEvent {
    /// Something about this domain changed: re-read it.
    Domain { uuid: String, cause: EventCause },
    /// This network was defined, undefined, started or stopped: re-read the networks.
    Network { name: String },
    /// The connection closed (libvirtd went away, keepalive timeout, ...).
    Closed { reason: String },
}

/// Why a domain event was sent. Lifecycle numbers are libvirt's `virDomainEventType` and
/// its per-type detail enum, passed through untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventCause {
    Lifecycle { event: i32, detail: i32 },
    DeviceAdded { alias: String },
    DeviceRemoved { alias: String },
    MetadataChanged,
}

/// Where events go: called on libvirt's event-loop thread; must not block.
pub type EventSink = Arc<dyn Fn(GuestEvent) + Send + Sync>;

/// Registers libvirt's default event loop and runs it on a thread of its own. Idempotent.
/// Must run before the connection that should receive events is opened: libvirt only
/// watches connections opened after an event implementation exists.
pub(crate) fn start_event_loop() -> Result<(), EventLoopError> {
    static STARTED: OnceLock<Result<(), EventLoopError>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        virt::event::event_register_default_impl()
            .map_err(|e| EventLoopError::Register(e.into()))?;
        std::thread::Builder::new()
            .name("vifd-libvirt-events".into())
            .spawn(|| loop {
                if let Err(e) = virt::event::event_run_default_impl() {
                    warn!(error = %e.message(), "libvirt event loop iteration failed");
                    // A persistent failure must not become a busy loop.
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .map(drop)
            .map_err(|e| EventLoopError::Spawn(Arc::new(e)))
    });
    started.clone()
}

/// A registration step libvirt refused: which one, and libvirt's error.
#[derive(Debug)]
pub(super) struct Refused {
    pub(super) step: String,
    pub(super) cause: LibvirtCause,
}

/// Domain and network event callbacks and the close callback registered on one
/// connection; dropping it deregisters them all.
pub(super) struct Registration {
    /// Our own reference (virConnectRef), so deregistering never touches a freed object.
    conn: Conn,
    callback_ids: Vec<c_int>,
    network_callback_ids: Vec<c_int>,
    close_registered: bool,
    /// The only strong reference libvirt's callbacks depend on: they hold `Weak`s. A driver
    /// without close callbacks (test:///) accepts one and never frees it; with a `Weak`
    /// that leaks a few bytes, not the sink and whatever it captured (a channel's sender).
    _sink: EventSink,
}

// SAFETY: libvirt connections are thread-safe (locked internally); the pointer is only used
// to deregister and unref, which any thread may do.
unsafe impl Send for Registration {}

type Conn = sys::virConnectPtr;
type Dom = sys::virDomainPtr;
type Net = sys::virNetworkPtr;
/// Always a `Box<SinkRef>` made by `opaque`, freed by `free_opaque`.
type Opaque = *mut c_void;
type SinkRef = Weak<dyn Fn(GuestEvent) + Send + Sync>;
type Generic = unsafe extern "C" fn(Conn, Dom, Opaque);
type LifecycleFn = unsafe extern "C" fn(Conn, Dom, c_int, c_int, Opaque) -> c_int;
type AliasFn = unsafe extern "C" fn(Conn, Dom, *const c_char, Opaque);
type MetadataFn = unsafe extern "C" fn(Conn, Dom, c_int, *const c_char, Opaque);
type NetGeneric = unsafe extern "C" fn(Conn, Net, Opaque);
type NetLifecycleFn = unsafe extern "C" fn(Conn, Net, c_int, c_int, Opaque);

// libvirt takes every callback as the generic type and calls each with the C signature of
// its event id: these are the casts the C macro VIR_DOMAIN_EVENT_CALLBACK does.
// SAFETY: same-size fn pointers; libvirt calls it only for VIR_DOMAIN_EVENT_ID_LIFECYCLE.
const LIFECYCLE: Generic = unsafe { transmute::<LifecycleFn, Generic>(on_lifecycle) };
// SAFETY: same-size fn pointers; called only for VIR_DOMAIN_EVENT_ID_DEVICE_ADDED.
const ADDED: Generic = unsafe { transmute::<AliasFn, Generic>(on_device_added) };
// SAFETY: same-size fn pointers; called only for VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED.
const REMOVED: Generic = unsafe { transmute::<AliasFn, Generic>(on_device_removed) };
// SAFETY: same-size fn pointers; called only for VIR_DOMAIN_EVENT_ID_METADATA_CHANGE.
const METADATA: Generic = unsafe { transmute::<MetadataFn, Generic>(on_metadata) };
// The same for networks (the C macro VIR_NETWORK_EVENT_CALLBACK).
// SAFETY: same-size fn pointers; called only for VIR_NETWORK_EVENT_ID_LIFECYCLE.
const NET_LIFECYCLE: NetGeneric =
    unsafe { transmute::<NetLifecycleFn, NetGeneric>(on_network_lifecycle) };

impl Registration {
    /// Subscribes `sink` to every domain's lifecycle, device and metadata events, every
    /// network's lifecycle events and the connection's close. On error, whatever was
    /// registered already is undone (by dropping the half-built registration).
    pub(super) fn new(conn: &Connect, sink: EventSink) -> Result<Self, Refused> {
        // SAFETY: `conn` is live for this call, and our own reference keeps it alive after.
        let ptr = unsafe { conn.as_ptr() };
        // SAFETY: `ptr` is a live connection (above).
        if unsafe { sys::virConnectRef(ptr) } < 0 {
            return Err(last_error("virConnectRef"));
        }
        let mut reg = Registration {
            conn: ptr,
            callback_ids: Vec::new(),
            network_callback_ids: Vec::new(),
            close_registered: false,
            _sink: sink,
        };
        reg.register_domain_events()?;
        reg.register_network_events()?;
        reg.register_close()?;
        Ok(reg)
    }

    fn register_domain_events(&mut self) -> Result<(), Refused> {
        use sys::VIR_DOMAIN_EVENT_ID_DEVICE_ADDED as ADDED_ID;
        use sys::VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED as REMOVED_ID;
        use sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as LIFECYCLE_ID;
        use sys::VIR_DOMAIN_EVENT_ID_METADATA_CHANGE as METADATA_ID;
        let callbacks = [
            (LIFECYCLE_ID, "lifecycle", LIFECYCLE),
            (ADDED_ID, "device-added", ADDED),
            (REMOVED_ID, "device-removed", REMOVED),
            (METADATA_ID, "metadata-change", METADATA),
        ];
        for (id, what, cb) in callbacks {
            let opaque = opaque(&self._sink);
            // SAFETY: live connection (our reference); a NULL domain means every domain.
            // libvirt owns `opaque` from here on and passes it to `free_opaque` once, when
            // it can no longer call the callback: no dangling pointer, no double free.
            let ret = unsafe {
                sys::virConnectDomainEventRegisterAny(
                    self.conn,
                    null_mut(),
                    id as c_int,
                    Some(cb),
                    opaque,
                    Some(free_opaque),
                )
            };
            if ret < 0 {
                // SAFETY: libvirt neither kept `opaque` nor freed it: it is still ours.
                unsafe { free_opaque(opaque) };
                return Err(last_error(&format!("registering for {what} events")));
            }
            self.callback_ids.push(ret);
        }
        Ok(())
    }

    fn register_network_events(&mut self) -> Result<(), Refused> {
        let opaque = opaque(&self._sink);
        // SAFETY: as for domain events; a NULL network means every network.
        let ret = unsafe {
            sys::virConnectNetworkEventRegisterAny(
                self.conn,
                null_mut(),
                sys::VIR_NETWORK_EVENT_ID_LIFECYCLE as c_int,
                Some(NET_LIFECYCLE),
                opaque,
                Some(free_opaque),
            )
        };
        if ret < 0 {
            // SAFETY: not registered, so still ours.
            unsafe { free_opaque(opaque) };
            return Err(last_error("registering for network lifecycle events"));
        }
        self.network_callback_ids.push(ret);
        Ok(())
    }

    fn register_close(&mut self) -> Result<(), Refused> {
        let opaque = opaque(&self._sink);
        // SAFETY: as above; libvirt frees `opaque` once the callback has fired, on
        // unregister, or when the connection is freed (or never, see `_sink`).
        let ret = unsafe {
            sys::virConnectRegisterCloseCallback(
                self.conn,
                Some(on_close),
                opaque,
                Some(free_opaque),
            )
        };
        if ret < 0 {
            // SAFETY: not registered, so still ours.
            unsafe { free_opaque(opaque) };
            return Err(last_error("registering the close callback"));
        }
        self.close_registered = true;
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Errors are ignored: on a dead connection deregistering may fail, and libvirt then
        // frees the callbacks when the connection itself is freed.
        for id in self.callback_ids.drain(..) {
            // SAFETY: we hold a reference on `conn`; `id` came from a successful register.
            unsafe { sys::virConnectDomainEventDeregisterAny(self.conn, id) };
        }
        for id in self.network_callback_ids.drain(..) {
            // SAFETY: as above, for a network callback id.
            unsafe { sys::virConnectNetworkEventDeregisterAny(self.conn, id) };
        }
        if self.close_registered {
            // SAFETY: we hold a reference on `conn`; `on_close` is what we registered.
            unsafe { sys::virConnectUnregisterCloseCallback(self.conn, Some(on_close)) };
        }
        // SAFETY: releases the reference taken in `new`; `conn` is not used afterwards.
        unsafe { sys::virConnectClose(self.conn) };
    }
}

fn opaque(sink: &EventSink) -> Opaque {
    Box::into_raw(Box::new(Arc::downgrade(sink))).cast()
}

/// libvirt's free callback for every opaque. Dropping a `Weak` runs no user code.
unsafe extern "C" fn free_opaque(opaque: Opaque) {
    // SAFETY: made by `opaque` (Box::into_raw), and libvirt (or we) free it once.
    drop(unsafe { Box::from_raw(opaque.cast::<SinkRef>()) });
}

// libvirt's callback contract, relied on by every callback below: `dom` (or `net`) is
// valid for the call, strings are NULL or NUL-terminated, and `opaque` is one we
// registered, freed only after the call returns. A panic must not unwind into C: `deliver`
// catches it.

unsafe extern "C" fn on_lifecycle(
    _: Conn,
    dom: Dom,
    event: c_int,
    detail: c_int,
    opaque: Opaque,
) -> c_int {
    // SAFETY: the callback contract.
    unsafe { domain_event(dom, opaque, || EventCause::Lifecycle { event, detail }) };
    0
}

unsafe extern "C" fn on_device_added(_: Conn, dom: Dom, alias: *const c_char, opaque: Opaque) {
    // SAFETY: the callback contract, `alias` included.
    unsafe {
        domain_event(dom, opaque, || EventCause::DeviceAdded {
            alias: string(alias),
        })
    };
}

unsafe extern "C" fn on_device_removed(_: Conn, dom: Dom, alias: *const c_char, opaque: Opaque) {
    // SAFETY: the callback contract, `alias` included.
    unsafe {
        domain_event(dom, opaque, || EventCause::DeviceRemoved {
            alias: string(alias),
        })
    };
}

unsafe extern "C" fn on_metadata(_: Conn, dom: Dom, _: c_int, _: *const c_char, opaque: Opaque) {
    // SAFETY: the callback contract.
    unsafe { domain_event(dom, opaque, || EventCause::MetadataChanged) };
}

unsafe extern "C" fn on_network_lifecycle(
    _: Conn,
    net: Net,
    _event: c_int,
    _detail: c_int,
    opaque: Opaque,
) {
    // SAFETY: the callback contract.
    unsafe {
        deliver(opaque, || {
            Some(GuestEvent::Network {
                name: network_name(net)?,
            })
        })
    };
}

unsafe extern "C" fn on_close(_: Conn, reason: c_int, opaque: Opaque) {
    let reason = match reason as sys::virConnectCloseReason {
        sys::VIR_CONNECT_CLOSE_REASON_ERROR => "error",
        sys::VIR_CONNECT_CLOSE_REASON_EOF => "eof",
        sys::VIR_CONNECT_CLOSE_REASON_KEEPALIVE => "keepalive",
        sys::VIR_CONNECT_CLOSE_REASON_CLIENT => "client",
        _ => "unknown",
    }
    .to_string();
    // SAFETY: the callback contract.
    unsafe { deliver(opaque, || Some(GuestEvent::Closed { reason })) };
}

/// # Safety
/// The callback contract: `dom` is valid, `opaque` is live.
unsafe fn domain_event(dom: Dom, opaque: Opaque, cause: impl FnOnce() -> EventCause) {
    // SAFETY: the caller's guarantees, passed on.
    unsafe {
        deliver(opaque, || {
            Some(GuestEvent::Domain {
                uuid: uuid(dom)?,
                cause: cause(),
            })
        })
    }
}

/// Builds the event and hands it to the sink, if the sink still exists.
///
/// # Safety
/// `opaque` is one made by `opaque` and not yet freed.
unsafe fn deliver(opaque: Opaque, event: impl FnOnce() -> Option<GuestEvent>) {
    let delivered = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a live Box<SinkRef> (caller).
        let Some(sink) = unsafe { &*opaque.cast::<SinkRef>() }.upgrade() else {
            return;
        };
        match event() {
            Some(event) => sink(event),
            None => warn!(
                "dropping a libvirt event: cannot read its domain's UUID or its network's name"
            ),
        }
    }));
    if let Err(payload) = delivered {
        error!(
            panic = panic_message(&*payload),
            "a libvirt event callback panicked; the event is lost"
        );
    }
}

/// The domain's UUID: a local read, no RPC.
///
/// # Safety
/// `dom` is a valid domain.
unsafe fn uuid(dom: Dom) -> Option<String> {
    let mut buf = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
    // SAFETY: `dom` is valid (caller); the buffer has the size libvirt writes into.
    if unsafe { sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) } < 0 {
        return None;
    }
    // SAFETY: on success libvirt wrote a NUL-terminated string into `buf`.
    Some(unsafe { string(buf.as_ptr()) })
}

/// The network's name: a local read, no RPC.
///
/// # Safety
/// `net` is a valid network.
unsafe fn network_name(net: Net) -> Option<String> {
    // SAFETY: `net` is valid (caller); the name lives as long as `net`, NULL on error.
    let p = unsafe { sys::virNetworkGetName(net) };
    // SAFETY: NULL or NUL-terminated, valid for this call.
    (!p.is_null()).then(|| unsafe { string(p) })
}

/// Copies a string libvirt lends us.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL, so NUL-terminated and valid (caller).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The last libvirt error on this thread, as the failure of `step`.
fn last_error(step: &str) -> Refused {
    Refused {
        step: step.to_string(),
        cause: LibvirtCause::last(),
    }
}
