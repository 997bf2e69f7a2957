//! libvirt domain events, through `virt-sys`: the `virt` crate has no event callbacks.
//!
//! This is the only module with `unsafe` for events. Callbacks run on libvirt's event-loop
//! thread; they only copy what libvirt handed them into our own types and call the sink.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::transmute;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::warn;
use virt::connect::Connect;
use virt_sys as sys;

use super::LibvirtError;

/// What libvirt told us, as our own types (no virt handle leaves the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestEvent {
    /// Something about this domain changed: re-read it.
    Domain { uuid: String, cause: EventCause },
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
pub(crate) fn start_event_loop() -> Result<(), LibvirtError> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        virt::event::event_register_default_impl().map_err(|e| e.message().to_string())?;
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
            .map_err(|e| format!("cannot spawn its thread: {e}"))
    });
    started
        .clone()
        .map_err(|message| LibvirtError::EventLoop { message })
}

/// Domain event callbacks and the close callback registered on one connection; dropping
/// it deregisters them all.
pub(super) struct Registration {
    /// Our own reference (virConnectRef), so deregistering never touches a freed object.
    conn: Conn,
    callback_ids: Vec<c_int>,
    close_registered: bool,
}

// SAFETY: libvirt connections are thread-safe (locked internally); the pointer is only used
// to deregister and unref, which any thread may do.
unsafe impl Send for Registration {}

type Conn = sys::virConnectPtr;
type Dom = sys::virDomainPtr;
type Opaque = *mut c_void;
type Generic = unsafe extern "C" fn(Conn, Dom, Opaque);
type LifecycleFn = unsafe extern "C" fn(Conn, Dom, c_int, c_int, Opaque) -> c_int;
type AliasFn = unsafe extern "C" fn(Conn, Dom, *const c_char, Opaque);
type MetadataFn = unsafe extern "C" fn(Conn, Dom, c_int, *const c_char, Opaque);

// libvirt takes every callback as the generic type and calls each with the C signature of
// its event id: these are the casts the C macro VIR_DOMAIN_EVENT_CALLBACK does.
// SAFETY: same-size fn pointers; libvirt calls it only for VIR_DOMAIN_EVENT_ID_LIFECYCLE.
const LIFECYCLE: Generic = unsafe { transmute::<LifecycleFn, Generic>(on_lifecycle) };
// SAFETY: same-size fn pointers; called only for VIR_DOMAIN_EVENT_ID_DEVICE_ADDED.
const DEVICE_ADDED: Generic = unsafe { transmute::<AliasFn, Generic>(on_device_added) };
// SAFETY: same-size fn pointers; called only for VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED.
const DEVICE_REMOVED: Generic = unsafe { transmute::<AliasFn, Generic>(on_device_removed) };
// SAFETY: same-size fn pointers; called only for VIR_DOMAIN_EVENT_ID_METADATA_CHANGE.
const METADATA: Generic = unsafe { transmute::<MetadataFn, Generic>(on_metadata) };

impl Registration {
    /// Subscribes `sink` to every domain's lifecycle, device and metadata events and to the
    /// connection's close. On error, whatever was registered already is undone.
    pub(super) fn new(conn: &Connect, sink: EventSink) -> Result<Self, String> {
        // SAFETY: `conn` is live for this call, and our own reference keeps it alive after.
        let ptr = unsafe { conn.as_ptr() };
        // SAFETY: `ptr` is a live connection (above).
        if unsafe { sys::virConnectRef(ptr) } < 0 {
            return Err(last_error("virConnectRef"));
        }
        let mut reg = Registration {
            conn: ptr,
            callback_ids: Vec::new(),
            close_registered: false,
        };
        let callbacks: [(u32, &str, Generic); 4] = [
            (sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE, "lifecycle", LIFECYCLE),
            (
                sys::VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                "device-added",
                DEVICE_ADDED,
            ),
            (
                sys::VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                "device-removed",
                DEVICE_REMOVED,
            ),
            (
                sys::VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                "metadata-change",
                METADATA,
            ),
        ];
        for (id, what, cb) in callbacks {
            let opaque = Box::into_raw(Box::new(sink.clone())).cast();
            // SAFETY: live connection; a NULL domain means every domain. libvirt owns
            // `opaque` (a Box<EventSink>) from here on and passes it to `free_sink` once,
            // when it can no longer call the callback: no dangling sink, no double free.
            let ret = unsafe {
                sys::virConnectDomainEventRegisterAny(
                    ptr,
                    null_mut(),
                    id as c_int,
                    Some(cb),
                    opaque,
                    Some(free_sink),
                )
            };
            if ret < 0 {
                // SAFETY: libvirt neither kept `opaque` nor freed it: it is still ours.
                unsafe { free_sink(opaque) };
                return Err(last_error(&format!("registering for {what} events")));
            }
            reg.callback_ids.push(ret);
        }
        let opaque = Box::into_raw(Box::new(sink)).cast();
        // SAFETY: as above; libvirt frees `opaque` once the callback has fired, on
        // unregister, or when the connection is freed.
        let ret = unsafe {
            sys::virConnectRegisterCloseCallback(ptr, Some(on_close), opaque, Some(free_sink))
        };
        if ret < 0 {
            // SAFETY: not registered, so still ours.
            unsafe { free_sink(opaque) };
            return Err(last_error("registering the close callback"));
        }
        reg.close_registered = true;
        Ok(reg)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Errors are ignored: on a dead connection deregistering may fail, and libvirt then
        // frees the callbacks (and their sinks) when the connection itself is freed.
        for id in self.callback_ids.drain(..) {
            // SAFETY: we hold a reference on `conn`; `id` came from a successful register.
            unsafe { sys::virConnectDomainEventDeregisterAny(self.conn, id) };
        }
        if self.close_registered {
            // SAFETY: we hold a reference on `conn`; `on_close` is what we registered.
            unsafe { sys::virConnectUnregisterCloseCallback(self.conn, Some(on_close)) };
        }
        // SAFETY: releases the reference taken in `new`; `conn` is not used afterwards.
        unsafe { sys::virConnectClose(self.conn) };
    }
}

// libvirt's callback contract, relied on by every callback below: `dom` is valid for the
// call, strings are NULL or NUL-terminated, and `opaque` is the Box<EventSink> we gave it,
// freed only after the call returns. A panic must not unwind into C: `deliver` catches it.

unsafe extern "C" fn on_lifecycle(
    _: Conn,
    dom: Dom,
    event: c_int,
    detail: c_int,
    opaque: Opaque,
) -> c_int {
    // SAFETY: the callback contract.
    unsafe { deliver(dom, opaque, || EventCause::Lifecycle { event, detail }) };
    0
}

unsafe extern "C" fn on_device_added(_: Conn, dom: Dom, alias: *const c_char, opaque: Opaque) {
    // SAFETY: the callback contract, `alias` included.
    unsafe {
        deliver(dom, opaque, || EventCause::DeviceAdded {
            alias: string(alias),
        })
    };
}

unsafe extern "C" fn on_device_removed(_: Conn, dom: Dom, alias: *const c_char, opaque: Opaque) {
    // SAFETY: the callback contract, `alias` included.
    unsafe {
        deliver(dom, opaque, || EventCause::DeviceRemoved {
            alias: string(alias),
        })
    };
}

unsafe extern "C" fn on_metadata(_: Conn, dom: Dom, _: c_int, _: *const c_char, opaque: Opaque) {
    // SAFETY: the callback contract.
    unsafe { deliver(dom, opaque, || EventCause::MetadataChanged) };
}

unsafe extern "C" fn on_close(_: Conn, reason: c_int, opaque: Opaque) {
    let reason = match reason as sys::virConnectCloseReason {
        sys::VIR_CONNECT_CLOSE_REASON_ERROR => "error",
        sys::VIR_CONNECT_CLOSE_REASON_EOF => "eof",
        sys::VIR_CONNECT_CLOSE_REASON_KEEPALIVE => "keepalive",
        sys::VIR_CONNECT_CLOSE_REASON_CLIENT => "client",
        _ => "unknown",
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the callback contract.
        let sink = unsafe { &*opaque.cast::<EventSink>() };
        sink(GuestEvent::Closed {
            reason: reason.to_string(),
        });
    }));
}

/// Reads the domain's UUID (local, no RPC) and hands the event to the sink.
///
/// # Safety
/// `dom` is a valid domain and `opaque` a live `Box<EventSink>` pointer for the call.
unsafe fn deliver(dom: Dom, opaque: Opaque, cause: impl FnOnce() -> EventCause) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let mut buf = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
        // SAFETY: `dom` is valid (caller); the buffer has the size libvirt writes into.
        if unsafe { sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) } < 0 {
            warn!("dropping a libvirt event: cannot read its domain's UUID");
            return;
        }
        // SAFETY: on success libvirt wrote a NUL-terminated string into `buf`.
        let uuid = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: `opaque` is a live EventSink (caller).
        let sink = unsafe { &*opaque.cast::<EventSink>() };
        sink(GuestEvent::Domain {
            uuid,
            cause: cause(),
        });
    }));
}

/// Copies a string libvirt lends a callback.
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

/// Frees an opaque made by `Registration::new`. libvirt calls it once per opaque.
unsafe extern "C" fn free_sink(opaque: Opaque) {
    // SAFETY: `opaque` came from Box::into_raw and nobody uses it any more.
    let sink = unsafe { Box::from_raw(opaque.cast::<EventSink>()) };
    // Dropping the last Arc drops the sink's captures: keep a panic there out of C too.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(sink)));
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", virt::error::Error::last_error().message())
}
