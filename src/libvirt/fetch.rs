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
    Session::new(uri).fetch()
}

/// A connection kept open between snapshots, reopened when it breaks (libvirtd
/// restarted, the socket went away). Opening is the expensive part for some drivers.
pub struct Session {
    uri: String,
    conn: Option<Connect>,
}

impl Session {
    pub fn new(uri: &str) -> Self {
        Session {
            uri: uri.to_string(),
            conn: None,
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Reads a snapshot, connecting first when there is no live connection. After a
    /// failure the connection is dropped, so the next call starts afresh.
    pub fn fetch(&mut self) -> Result<Snapshot, LibvirtError> {
        silence_default_error_printer();
        if self
            .conn
            .as_ref()
            .is_some_and(|c| !c.is_alive().unwrap_or(false))
        {
            debug!(uri = %self.uri, "libvirt connection is dead; reconnecting");
            self.reset();
        }
        let conn = match self.conn.take() {
            Some(c) => c,
            None => Connect::open(Some(&self.uri)).map_err(|e| LibvirtError::Connect {
                uri: self.uri.clone(),
                message: e.message().to_string(),
            })?,
        };
        let res = read_snapshot(&conn, &self.uri);
        self.conn = Some(conn);
        if res.is_err() {
            self.reset();
        }
        res
    }

    fn reset(&mut self) {
        if let Some(conn) = self.conn.take() {
            // virt's Drop panics when virConnectClose fails; a broken connection must not
            // take the caller down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(conn)));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reset();
    }
}

fn read_snapshot(conn: &Connect, uri: &str) -> Result<Snapshot, LibvirtError> {
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
    Ok(sorted(Snapshot { domains, networks }))
}

/// libvirt lists in no stable order (the test driver hashes); sort by name so the same
/// host always reads the same.
fn sorted(mut snap: Snapshot) -> Snapshot {
    snap.domains.sort_by(|a, b| a.name.cmp(&b.name));
    snap.networks.sort_by(|a, b| a.name.cmp(&b.name));
    snap
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
