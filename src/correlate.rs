//! Matching the guest side to the host side: a pure function of two snapshots.

use std::collections::HashMap;

use uuid::Uuid;

use crate::inventory::{DomainSummary, Inventory, Problem, ProblemKind, Vif};
use crate::libvirt::{Domain, DomainInterface, Network, Snapshot};
use crate::mac::MacAddr;
use crate::netlink::{DeviceKind, HostDevice};

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
    let host = HostIndex::new(devices);
    let matches = match_devices(&guests.domains, &host);
    let mut inv = Inventory::default();
    for (d, dom) in guests.domains.iter().enumerate() {
        inv.domains.push(DomainSummary {
            uuid: dom.uuid.clone(),
            name: dom.name.clone(),
            state: dom.state,
            interface_count: dom.interfaces.len(),
        });
        for (i, iface) in dom.interfaces.iter().enumerate() {
            let dev = matches.device_of.get(&(d, i)).map(|&k| &devices[k]);
            let (vif, problems) = build_record(dom, i, iface, dev, &guests.networks, &host);
            inv.interfaces.push(vif);
            inv.problems.extend(problems);
        }
    }
    for (k, dev) in devices.iter().enumerate() {
        if !matches.claimed[k] && dev.kind.is_guest_carrier() && is_watched(&dev.name, opts) {
            inv.problems.push(Problem {
                kind: ProblemKind::OrphanDevice,
                device: Some(dev.name.clone()),
                domain_uuid: None,
                mac_address: dev.mac,
                detail: format!(
                    "{} {} is not claimed by any domain",
                    dev.kind.as_str(),
                    dev.name
                ),
            });
        }
    }
    inv
}

struct Matches {
    /// (domain index, interface index) → device index.
    device_of: HashMap<(usize, usize), usize>,
    claimed: Vec<bool>,
}

/// The host's devices, indexed by name.
pub(crate) struct HostIndex<'a> {
    devices: &'a [HostDevice],
    by_name: HashMap<&'a str, usize>,
}

impl<'a> HostIndex<'a> {
    fn new(devices: &'a [HostDevice]) -> Self {
        let by_name = devices
            .iter()
            .enumerate()
            .map(|(k, d)| (d.name.as_str(), k))
            .collect();
        Self { devices, by_name }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a HostDevice> {
        self.by_name.get(name).map(|&k| &self.devices[k])
    }
}

/// Names first, for every interface; then, for interfaces whose XML names no target, the
/// MAC libvirt would have given the device, among devices no name claimed.
fn match_devices(domains: &[Domain], host: &HostIndex) -> Matches {
    let (devices, by_name) = (host.devices, &host.by_name);
    let mut m = Matches {
        device_of: HashMap::new(),
        claimed: vec![false; devices.len()],
    };
    let mut untargeted = Vec::new();
    for (d, dom) in domains.iter().enumerate() {
        for (i, iface) in dom.interfaces.iter().enumerate() {
            match iface.target.as_deref() {
                Some(t) => {
                    if let Some(&k) = by_name.get(t) {
                        m.device_of.insert((d, i), k);
                        m.claimed[k] = true;
                    }
                }
                None if iface.has_host_netdev() => untargeted.push((d, i)),
                None => {}
            }
        }
    }
    if untargeted.is_empty() {
        return m;
    }
    let mut by_mac: HashMap<(MacAddr, bool), usize> = HashMap::new();
    for (k, dev) in devices.iter().enumerate() {
        if let (false, Some(mac)) = (m.claimed[k], dev.mac) {
            by_mac
                .entry((mac, dev.kind == DeviceKind::Macvtap))
                .or_insert(k);
        }
    }
    for (d, i) in untargeted {
        let iface = &domains[d].interfaces[i];
        let Some(guest) = iface.mac else { continue };
        let key = if iface.kind == "direct" {
            (guest, true)
        } else {
            (guest.libvirt_tap_mac(), false)
        };
        if let Some(k) = by_mac.remove(&key) {
            m.device_of.insert((d, i), k);
            m.claimed[k] = true;
        }
    }
    m
}

fn build_record(
    dom: &Domain,
    index: usize,
    iface: &DomainInterface,
    dev: Option<&HostDevice>,
    networks: &[Network],
    host: &HostIndex,
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
        carrier: dev.and_then(|d| d.carrier),
        mtu: dev.and_then(|d| d.mtu).or(iface.mtu),
        problems: Vec::new(),
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

fn is_watched(name: &str, opts: &CorrelateOptions) -> bool {
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
