//! Reading domains and networks from an open connection into our own types. Every call
//! here blocks.

use tracing::{debug, warn};
use virt::connect::Connect;
use virt::domain::{Domain as VirtDomain, DomainState as VirtState};
use virt::enumutil::Enum;
use virt::network::Network as VirtNetwork;

use super::agent::GuestAgent;
use super::domain::{Domain, DomainState};
use super::error::LibvirtError;
use super::leases::dhcp_leases;
use super::network::Network;
use super::snapshot::Snapshot;
use super::xml::parse_domain_xml;

/// Every domain (in every state) and every network.
pub(super) fn read_snapshot(
    conn: &Connect,
    uri: &str,
    agent: Option<&GuestAgent>,
) -> Result<Snapshot, LibvirtError> {
    let networks = read_networks(conn, uri)?;
    let mut domains: Vec<Domain> = conn
        .list_all_domains(0)
        .map_err(|e| list_err(uri, "domains", e))?
        .iter()
        .filter_map(|d| read_domain(d, agent))
        .collect();
    // libvirt lists in no stable order (the test driver hashes); sort by name so the same
    // host always reads the same.
    domains.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Snapshot { domains, networks })
}

/// Every network with its leases, sorted by name.
pub(super) fn read_networks(conn: &Connect, uri: &str) -> Result<Vec<Network>, LibvirtError> {
    let mut networks: Vec<Network> = conn
        .list_all_networks(0)
        .map_err(|e| list_err(uri, "networks", e))?
        .iter()
        .filter_map(read_network)
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(networks)
}

fn list_err(uri: &str, what: &'static str, e: virt::error::Error) -> LibvirtError {
    LibvirtError::List {
        uri: uri.to_string(),
        what,
        cause: e.into(),
    }
}

/// One domain; `None` (logged) when it vanished or its XML cannot be used. With `agent`,
/// a running domain whose guest agent is connected also gets the agent's addresses.
pub(super) fn read_domain(dom: &VirtDomain, agent: Option<&GuestAgent>) -> Option<Domain> {
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
    // Only a domain whose agent is there to answer costs the extra call.
    let guest_addresses = match agent {
        Some(agent) if state.is_running() && parsed.agent_connected => {
            agent.addresses(dom, &name, &uuid)
        }
        _ => vec![],
    };
    Some(Domain {
        guest_addresses,
        ..parsed.into_domain(Some(uuid), Some(name), state)
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
    let active = net.is_active().unwrap_or(false);
    let leases = if active {
        dhcp_leases(net, &name).unwrap_or_else(|e| {
            warn!(network = %name, error = %e, "network listed without its DHCP leases");
            vec![]
        })
    } else {
        vec![]
    };
    // Host entries only matter while dnsmasq runs; a definition that cannot be read or
    // parsed only leaves them out.
    let hosts = match active {
        true => net
            .xml_desc(0)
            .ok()
            .and_then(|x| super::netxml::parse_network_dhcp(&x).ok())
            .map(|d| d.hosts)
            .unwrap_or_default(),
        false => vec![],
    };
    Some(Network {
        // Networks in macvtap or hostdev forward mode have no bridge; that is not an error.
        bridge: net.bridge_name().ok().filter(|b| !b.is_empty()),
        active,
        leases,
        hosts,
        name,
        uuid,
    })
}
