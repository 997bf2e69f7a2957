//! What went wrong talking to libvirt. Every failure libvirt reported keeps libvirt's own
//! error as its cause ([`LibvirtCause`]): its error number and domain to decide on, its
//! message to show. Messages say what failed on what (URI, domain, network, pool) and end
//! with the cause's message, so the outermost `Display` is the whole story.

use std::any::Any;
use std::sync::Arc;

use virt_sys as sys;

/// Failures talking to libvirt.
#[derive(Debug, thiserror::Error)]
pub enum LibvirtError {
    #[error("cannot connect to libvirt at {uri}: {cause}")]
    Connect {
        uri: String,
        #[source]
        cause: LibvirtCause,
    },
    #[error("cannot list {what} on {uri}: {cause}")]
    List {
        uri: String,
        what: &'static str,
        #[source]
        cause: LibvirtCause,
    },
    /// The blocking thread running libvirt calls died (a panic) or was cancelled; `reason`
    /// is the panic's message.
    #[error("libvirt worker for {uri} stopped unexpectedly: {reason}")]
    Worker { uri: String, reason: String },
    #[error("cannot connect to libvirt at {uri}: cannot start the libvirt event loop: {source}")]
    EventLoop {
        uri: String,
        #[source]
        source: EventLoopError,
    },
    /// `step` names the registration that failed (domain lifecycle events, ...).
    #[error("cannot subscribe to libvirt events on {uri}: {step}: {cause}")]
    Subscribe {
        uri: String,
        step: String,
        #[source]
        cause: LibvirtCause,
    },
    #[error("cannot read the DHCP leases of network {network}: virNetworkGetDHCPLeases: {cause}")]
    Leases {
        network: String,
        #[source]
        cause: LibvirtCause,
    },
    /// libvirt refused or failed an action; [`LibvirtError::failure`] says whose fault.
    #[error("cannot {action} on {target}: {cause}")]
    Action {
        action: &'static str,
        target: String,
        #[source]
        cause: LibvirtCause,
    },
    /// libvirt answered with a network definition we cannot parse.
    #[error("cannot {action} on {target}: invalid network XML: {source}")]
    NetworkXml {
        action: &'static str,
        target: String,
        #[source]
        source: roxmltree::Error,
    },
    /// The liveness probe (a library version request) failed.
    #[error("libvirt at {uri} did not answer a version request: {cause}")]
    Probe {
        uri: String,
        #[source]
        cause: LibvirtCause,
    },
    #[error("cannot look up domain {uuid} on {uri}: {cause}")]
    Lookup {
        uri: String,
        uuid: String,
        #[source]
        cause: LibvirtCause,
    },
    /// The UUID to look up is not a UUID (libvirt was not asked).
    #[error("cannot look up domain {uuid} on {uri}: {source}")]
    BadUuid {
        uri: String,
        uuid: String,
        #[source]
        source: uuid::Error,
    },
}

impl LibvirtError {
    /// libvirt's error, when libvirt reported one.
    pub fn cause(&self) -> Option<&LibvirtCause> {
        match self {
            Self::Connect { cause, .. }
            | Self::List { cause, .. }
            | Self::Subscribe { cause, .. }
            | Self::Leases { cause, .. }
            | Self::Action { cause, .. }
            | Self::Probe { cause, .. }
            | Self::Lookup { cause, .. } => Some(cause),
            Self::EventLoop {
                source: EventLoopError::Register(cause),
                ..
            } => Some(cause),
            Self::EventLoop { .. }
            | Self::Worker { .. }
            | Self::NetworkXml { .. }
            | Self::BadUuid { .. } => None,
        }
    }

    /// Whose fault it is, by libvirt's error code. Only a refused action or lookup names
    /// an object the client chose; failing to connect, list, subscribe or read leases is
    /// always the host's.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Action { cause, .. } | Self::Lookup { cause, .. } => cause.failure(),
            _ => Failure::Failed,
        }
    }
}

/// libvirt's own error, copied out of `virt::error::Error` (no `virt` type leaves this
/// module): what callers decide on (`code`, `domain`) and what operators read (`message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LibvirtCause {
    /// `virErrorNumber` (`VIR_ERR_*` in `virt_sys`), raw: a code newer than our bindings
    /// still compares.
    pub code: u32,
    /// `virErrorDomain` (`VIR_FROM_*`): the part of libvirt that raised it.
    pub domain: u32,
    pub message: String,
}

impl LibvirtCause {
    /// The last libvirt error on this thread (for calls made through `virt-sys`).
    pub(super) fn last() -> Self {
        virt::error::Error::last_error().into()
    }

    /// How a refused action is answered, by error code.
    pub fn failure(&self) -> Failure {
        use sys::*;
        match self.code {
            VIR_ERR_NO_DOMAIN
            | VIR_ERR_NO_NETWORK
            | VIR_ERR_NO_STORAGE_POOL
            | VIR_ERR_NO_STORAGE_VOL => Failure::NotFound,
            VIR_ERR_OPERATION_INVALID
            | VIR_ERR_OPERATION_FAILED
            | VIR_ERR_OPERATION_UNSUPPORTED
            | VIR_ERR_CONFIG_UNSUPPORTED
            | VIR_ERR_DEVICE_MISSING
            | VIR_ERR_NO_SUPPORT
            | VIR_ERR_INVALID_ARG
            | VIR_ERR_XML_ERROR
            | VIR_ERR_XML_DETAIL
            | VIR_ERR_OPERATION_DENIED => Failure::Conflict,
            // A full PCI topology has no code of its own: libvirt's address allocation
            // (domain_addr.c) raises it as VIR_ERR_INTERNAL_ERROR, and only the text tells
            // it from a real internal error. For the client it is the domain's state that
            // forbids the attach.
            VIR_ERR_INTERNAL_ERROR if self.message.contains("No more available PCI slots") => {
                Failure::Conflict
            }
            _ => Failure::Failed,
        }
    }
}

impl From<virt::error::Error> for LibvirtCause {
    fn from(e: virt::error::Error) -> Self {
        LibvirtCause {
            code: e.code().to_raw(),
            domain: e.domain().to_raw(),
            message: e.message().to_string(),
        }
    }
}

/// Why libvirt's event loop could not be started.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EventLoopError {
    /// `virEventRegisterDefaultImpl` failed.
    #[error(transparent)]
    Register(LibvirtCause),
    /// Shared: the loop is started once and its failure handed to every caller.
    #[error("cannot spawn its thread: {0}")]
    Spawn(#[source] Arc<std::io::Error>),
}

/// How libvirt refused an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The domain, network, pool or volume does not exist.
    NotFound,
    /// The request conflicts with the object's state or contents: a domain that is not
    /// running, a device or address already there, an unsupported device.
    Conflict,
    /// Anything else: the host failed.
    Failed,
}

/// A caught panic's message: the payload of `panic!` with a string, as most are.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(code: u32, message: &str) -> LibvirtCause {
        LibvirtCause {
            code,
            domain: sys::VIR_FROM_QEMU,
            message: message.to_string(),
        }
    }

    fn action(code: u32, message: &str) -> LibvirtError {
        LibvirtError::Action {
            action: "attach a device",
            target: "domain 7a1c".to_string(),
            cause: cause(code, message),
        }
    }

    #[test]
    fn missing_objects_are_not_found_by_code() {
        for code in [
            sys::VIR_ERR_NO_DOMAIN,
            sys::VIR_ERR_NO_NETWORK,
            sys::VIR_ERR_NO_STORAGE_POOL,
            sys::VIR_ERR_NO_STORAGE_VOL,
        ] {
            // The text is irrelevant: only the code decides.
            assert_eq!(
                action(code, "whatever").failure(),
                Failure::NotFound,
                "{code}"
            );
        }
    }

    #[test]
    fn state_and_content_refusals_are_conflicts_by_code() {
        for code in [
            sys::VIR_ERR_OPERATION_INVALID,
            sys::VIR_ERR_OPERATION_FAILED,
            sys::VIR_ERR_OPERATION_UNSUPPORTED,
            sys::VIR_ERR_CONFIG_UNSUPPORTED,
            sys::VIR_ERR_DEVICE_MISSING,
            sys::VIR_ERR_NO_SUPPORT,
            sys::VIR_ERR_INVALID_ARG,
            sys::VIR_ERR_XML_ERROR,
            sys::VIR_ERR_XML_DETAIL,
            sys::VIR_ERR_OPERATION_DENIED,
        ] {
            assert_eq!(action(code, "x").failure(), Failure::Conflict, "{code}");
        }
    }

    #[test]
    fn a_message_alone_classifies_nothing() {
        // "no domain" text under a generic code stays a host failure.
        let e = action(
            sys::VIR_ERR_RPC,
            "Domain not found: no domain with matching uuid",
        );
        assert_eq!(e.failure(), Failure::Failed);
        let e = action(
            sys::VIR_ERR_INTERNAL_ERROR,
            "internal error: qemu unexpectedly closed the monitor",
        );
        assert_eq!(e.failure(), Failure::Failed);
        // The PCI text counts only as the internal error libvirt raises it as.
        let e = action(sys::VIR_ERR_RPC, "No more available PCI slots");
        assert_eq!(e.failure(), Failure::Failed);
    }

    #[test]
    fn a_full_pci_topology_is_a_conflict() {
        let e = action(
            sys::VIR_ERR_INTERNAL_ERROR,
            "internal error: No more available PCI slots",
        );
        assert_eq!(e.failure(), Failure::Conflict);
    }

    #[test]
    fn only_actions_and_lookups_blame_the_client() {
        let missing = cause(sys::VIR_ERR_NO_DOMAIN, "Domain not found");
        let lookup = LibvirtError::Lookup {
            uri: "qemu:///system".into(),
            uuid: "u".into(),
            cause: missing.clone(),
        };
        assert_eq!(lookup.failure(), Failure::NotFound);
        let connect = LibvirtError::Connect {
            uri: "qemu:///system".into(),
            cause: cause(sys::VIR_ERR_OPERATION_INVALID, "x"),
        };
        assert_eq!(connect.failure(), Failure::Failed);
        let list = LibvirtError::List {
            uri: "qemu:///system".into(),
            what: "domains",
            cause: missing,
        };
        assert_eq!(list.failure(), Failure::Failed);
    }

    #[test]
    fn the_cause_is_kept_as_source_and_in_the_message() {
        use std::error::Error as _;
        let e = action(sys::VIR_ERR_OPERATION_INVALID, "domain is not running");
        assert_eq!(
            e.to_string(),
            "cannot attach a device on domain 7a1c: domain is not running"
        );
        let source = e.source().expect("a source");
        let c = source
            .downcast_ref::<LibvirtCause>()
            .expect("a LibvirtCause");
        assert_eq!(
            (c.code, c.domain),
            (sys::VIR_ERR_OPERATION_INVALID, sys::VIR_FROM_QEMU)
        );
        assert_eq!(e.cause(), Some(c));
    }

    #[test]
    fn a_virt_error_keeps_its_code_and_domain() {
        // virt builds this one itself for a string with a NUL: InvalidArg, domain None.
        let nul = std::ffi::CString::new("a\0b").unwrap_err();
        let c = LibvirtCause::from(virt::error::Error::from(nul));
        assert_eq!(
            (c.code, c.domain),
            (sys::VIR_ERR_INVALID_ARG, sys::VIR_FROM_NONE)
        );
        assert!(c.message.contains("Null byte"), "{}", c.message);
    }

    #[test]
    fn the_event_loop_and_xml_failures_keep_their_cause() {
        use std::error::Error as _;
        let e = LibvirtError::EventLoop {
            uri: "qemu:///system".into(),
            source: EventLoopError::Spawn(Arc::new(std::io::Error::other("no threads"))),
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to libvirt at qemu:///system: cannot start the libvirt event \
             loop: cannot spawn its thread: no threads"
        );
        assert!(e.source().and_then(|s| s.source()).is_some());
        let xml = roxmltree::Document::parse("<network>").unwrap_err();
        let e = LibvirtError::NetworkXml {
            action: "read the DHCP setup",
            target: "network n".into(),
            source: xml,
        };
        assert!(e
            .to_string()
            .starts_with("cannot read the DHCP setup on network n: invalid network XML: "));
        assert!(e.source().unwrap().is::<roxmltree::Error>());
        assert_eq!(e.failure(), Failure::Failed);
    }

    #[test]
    fn panic_payloads_are_shown_when_they_are_strings() {
        let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
        let p = caught(|| panic!("static text"));
        assert_eq!(panic_message(&*p), "static text");
        let p = caught(|| panic!("formatted {}", 42));
        assert_eq!(panic_message(&*p), "formatted 42");
        let p = caught(|| std::panic::panic_any(7_u32));
        assert_eq!(panic_message(&*p), "non-string panic payload");
    }
}
