//! Reading a snapshot from a libvirt connection. Every call here blocks: run it on a
//! blocking thread, never on an async worker.

use std::sync::Once;

use tracing::{debug, warn};
use virt::connect::Connect;
use virt::domain::{Domain as VirtDomain, DomainState as VirtState};
use virt::enumutil::Enum;
use virt::network::Network as VirtNetwork;

use super::{parse_domain_xml, Domain, DomainState, LibvirtError, Network, Snapshot};

/// Connects to `uri` and reads every domain (in every state) and every network.
///
/// A domain that disappears while we read it, or whose XML cannot be parsed, is logged
/// and skipped: one odd guest must not hide all the others.
pub fn fetch(uri: &str) -> Result<Snapshot, LibvirtError> {
    silence_default_error_printer();
    let conn = Connect::open(Some(uri)).map_err(|e| LibvirtError::Connect {
        uri: uri.to_string(),
        message: e.message().to_string(),
    })?;
    let list_err = |what, e: virt::error::Error| LibvirtError::List {
        uri: uri.to_string(),
        what,
        message: e.message().to_string(),
    };
    let networks = conn
        .list_all_networks(0)
        .map_err(|e| list_err("networks", e))?
        .iter()
        .filter_map(read_network)
        .collect();
    let domains = conn
        .list_all_domains(0)
        .map_err(|e| list_err("domains", e))?
        .iter()
        .filter_map(read_domain)
        .collect();
    Ok(Snapshot { domains, networks })
}

/// libvirt prints every error to stderr by default; ours are reported through tracing.
fn silence_default_error_printer() {
    static ONCE: Once = Once::new();
    ONCE.call_once(virt::error::clear_error_callback);
}

fn read_domain(dom: &VirtDomain) -> Option<Domain> {
    let name = dom.name().unwrap_or_default();
    let xml = match dom.xml_desc(0) {
        Ok(x) => x,
        Err(e) => {
            // Most often the domain went away between the listing and this call.
            debug!(domain = %name, error = %e.message(), "skipping domain: cannot read its XML");
            return None;
        }
    };
    let parsed = match parse_domain_xml(&xml) {
        Ok(p) => p,
        Err(e) => {
            warn!(domain = %name, error = %e, "skipping domain: its XML cannot be parsed");
            return None;
        }
    };
    let uuid = match dom.uuid_string() {
        Ok(u) => u,
        Err(_) => parsed.uuid.clone()?,
    };
    let state = match dom.state() {
        Ok((state, _reason)) => map_state(state),
        Err(e) => {
            debug!(domain = %name, error = %e.message(), "skipping domain: cannot read its state");
            return None;
        }
    };
    Some(Domain {
        uuid,
        name: parsed.name.unwrap_or(name),
        state,
        interfaces: parsed.interfaces,
        disks: parsed.disks,
        nova: parsed.nova,
    })
}

/// libvirt's numeric state, known to the `virt` crate or not, mapped by `from_raw`.
fn map_state(state: Enum<VirtState, u32>) -> DomainState {
    DomainState::from_raw(state.to_raw())
}

fn read_network(net: &VirtNetwork) -> Option<Network> {
    let name = net.name().ok()?;
    let uuid = match net.uuid_string() {
        Ok(u) => u,
        Err(e) => {
            warn!(network = %name, error = %e.message(), "skipping network: cannot read its UUID");
            return None;
        }
    };
    Some(Network {
        // Networks in macvtap or hostdev forward mode have no bridge; that is not an error.
        bridge: net.bridge_name().ok().filter(|b| !b.is_empty()),
        active: net.is_active().unwrap_or(false),
        name,
        uuid,
    })
}
