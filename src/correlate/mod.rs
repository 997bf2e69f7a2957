//! Matching the guest side to the host side: a pure function of two snapshots, and the
//! same matching kept current one domain or device at a time.

mod state;

use std::collections::HashMap;

use uuid::Uuid;

use crate::inventory::{Inventory, Problem, Vif};
use crate::libvirt::{Domain, DomainInterface, Network, Snapshot};
use crate::mac::MacAddr;
use crate::netlink::HostDevice;

pub use state::{Correlation, Delta};

/// UUID v5 namespace for VIF ids that have no Neutron port: never change it, or every
/// such id changes.
const VIF_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c2b8e_4d3a_4e7b_9c5d_1a2b3c4d5e6f);

/// Settings that change what counts as a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelateOptions {
    /// Unclaimed tap/macvtap devices whose names match one of these globs are orphans.
    pub orphan_patterns: Vec<String>,
}

impl Default for CorrelateOptions {
    fn default() -> Self {
        Self {
            orphan_patterns: ["tap*", "vnet*", "macvtap*"].map(String::from).to_vec(),
        }
    }
}

/// Builds the inventory from what libvirt and the kernel say.
pub fn correlate(guests: &Snapshot, devices: &[HostDevice], opts: &CorrelateOptions) -> Inventory {
    Correlation::new(guests.clone(), devices.to_vec(), opts.clone()).inventory()
}

/// The host's devices by name: what a record is matched against.
pub(crate) type Devices = HashMap<String, HostDevice>;

pub(crate) fn build_record(
    dom: &Domain,
    index: usize,
    iface: &DomainInterface,
    dev: Option<&HostDevice>,
    networks: &[Network],
    host: &Devices,
    stale: bool,
) -> (Vif, Vec<Problem>) {
    let network = network_of(iface, networks);
    let (port_id, port_id_source) = port_of(dom, iface);
    let id = port_id
        .clone()
        .unwrap_or_else(|| stable_id(&dom.uuid, iface.mac, index));
    let mut vif = Vif {
        id,
        domain_uuid: dom.uuid.clone(),
        domain_name: dom.name.clone(),
        domain_state: dom.state,
        mac_address: iface.mac,
        kind: iface.kind.clone(),
        model: iface.model.clone(),
        alias: iface.alias.clone(),
        source: iface.source.clone(),
        net_id: network.map(|n| n.uuid.clone()),
        net_id_source: network.map(|_| "libvirt-network".to_string()),
        port_id,
        port_id_source,
        target_managed: iface.target_managed,
        virtualport: iface.virtualport.clone(),
        link_state: iface.link_state.clone(),
        device: dev.map(|d| d.name.clone()).or_else(|| iface.target.clone()),
        ifindex: dev.map(|d| d.ifindex),
        device_kind: dev.map(|d| d.kind.clone()),
        host_mac: dev.and_then(|d| d.mac),
        master: dev.and_then(|d| d.master.clone()),
        operstate: dev.map(|d| d.operstate.clone()),
        admin_up: dev.map(|d| d.admin_up),
        carrier: dev.and_then(|d| d.carrier),
        mtu: dev.and_then(|d| d.mtu).or(iface.mtu),
        problems: Vec::new(),
        stale,
    };
    let problems = crate::checks::check_interface(dom, iface, dev, network, host);
    vif.problems = problems.iter().map(|p| p.kind).collect();
    (vif, problems)
}

/// The libvirt network of a `<source network>`, or the one whose bridge the source names.
fn network_of<'a>(iface: &DomainInterface, networks: &'a [Network]) -> Option<&'a Network> {
    if let Some(name) = iface.source.network.as_deref() {
        return networks.iter().find(|n| n.name == name);
    }
    let bridge = iface.source.bridge.as_deref()?;
    networks
        .iter()
        .find(|n| n.bridge.as_deref() == Some(bridge))
}

/// The port id: `<virtualport>`'s interfaceid, else the `<nova:port>` whose UUID the
/// tap's name abbreviates (Nova names taps `tap` + the first 11 characters of the port).
fn port_of(dom: &Domain, iface: &DomainInterface) -> (Option<String>, Option<String>) {
    if let Some(id) = iface
        .virtualport
        .as_ref()
        .and_then(|v| v.interfaceid.clone())
    {
        return (Some(id), Some("virtualport".into()));
    }
    let prefix = iface
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("tap"))
        .filter(|p| p.len() == 11);
    let port = prefix.and_then(|p| {
        let nova = dom.nova.as_ref()?;
        nova.ports.iter().find(|port| port.uuid.starts_with(p))
    });
    match port {
        Some(p) => (Some(p.uuid.clone()), Some("nova-metadata".into())),
        None => (None, None),
    }
}

/// A UUID that stays the same across restarts for the same domain and guest MAC.
fn stable_id(domain_uuid: &str, mac: Option<MacAddr>, index: usize) -> String {
    let key = match mac {
        Some(m) => format!("{domain_uuid}/{m}"),
        None => format!("{domain_uuid}/#{index}"),
    };
    Uuid::new_v5(&VIF_ID_NAMESPACE, key.as_bytes()).to_string()
}

pub(crate) fn is_watched(name: &str, opts: &CorrelateOptions) -> bool {
    opts.orphan_patterns.iter().any(|p| glob_match(p, name))
}

/// Shell-style matching of `*` and `?`, enough for device-name patterns.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
