//! Synthetic hosts: each a view of `vifs` records shaped like a Nova/OVN compute node's
//! (OVS ports on `br-int`, Neutron port and network UUIDs, an OVN binding, two addresses,
//! a volume per domain), so that the values written to etcd are the size real ones are
//! (about 1.2 KB per record).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::SystemTime;

use uuid::Uuid;
use vifd::correlate::{Changes, DomainKey};
use vifd::inventory::DomainSummary;
use vifd::inventory::{
    AddressSource, Binding, DeviceKind, DomainRecord, DomainState, InterfaceSource, InterfaceType,
    IpAddress, NetIdSource, OperState, PortIdSource, View, Vif, Virtualport, VirtualportType,
    Volume,
};
use vifd::mac::MacAddr;

/// Records per domain (a record is one NIC of a domain).
pub const PER_DOMAIN: usize = 2;
/// Networks the simulated ports spread over.
const NETWORKS: usize = 200;

fn uuid(name: &str) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// A MAC with this prefix byte and the global record number `g` in its last 3 bytes
/// (unique up to 16 M records).
fn mac(first: u8, g: usize) -> MacAddr {
    MacAddr([first, 0x16, 0x3e, (g >> 16) as u8, (g >> 8) as u8, g as u8])
}

/// Record `j` of domain `d` of host `host` (`g` its number across the fleet).
fn vif(host: &str, chassis: &str, summary: &DomainSummary, j: usize, g: usize) -> Vif {
    let port = uuid(&format!("{host}-port-{j}"));
    let net = g % NETWORKS;
    Vif {
        id: port.clone(),
        domain_uuid: summary.uuid.clone(),
        domain_name: summary.name.clone(),
        domain_state: DomainState::Running,
        mac_address: Some(mac(0xfa, g)),
        kind: InterfaceType::Bridge,
        model: Some("virtio".into()),
        alias: Some(format!("net{}", j % PER_DOMAIN)),
        source: InterfaceSource {
            bridge: Some("br-int".into()),
            ..InterfaceSource::default()
        },
        net_id: Some(uuid(&format!("net-{net}"))),
        net_id_source: Some(NetIdSource::Ovn),
        port_id: Some(port.clone()),
        port_id_source: Some(PortIdSource::Virtualport),
        vlan: Some(1 + (net as u16)),
        ovs_bridge: Some("br-int".into()),
        binding: Some(Binding {
            chassis: Some(chassis.to_string()),
            requested_chassis: vec![host.to_string()],
            up: Some(true),
            installed: true,
            installed_at: Some("2026-12-06T12:00:00.123Z".into()),
            network_name: Some(format!("tenant-net-{net}")),
        }),
        ip_addresses: vec![
            IpAddress::new(
                IpAddr::V4(Ipv4Addr::new(10, (g >> 16) as u8, (g >> 8) as u8, g as u8)),
                AddressSource::NovaMetadata,
            ),
            IpAddress::new(
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    net as u16,
                    0,
                    0,
                    0,
                    (g >> 16) as u16,
                    g as u16,
                )),
                AddressSource::NovaMetadata,
            ),
        ],
        stale_sources: vec![],
        target_managed: None,
        virtualport: Some(Virtualport {
            kind: Some(VirtualportType::Openvswitch),
            interfaceid: Some(port.clone()),
        }),
        link_state: None,
        device: Some(format!("tap{}", &port[..11])),
        ifindex: Some(100 + j as u32),
        device_kind: Some(DeviceKind::Tap),
        host_mac: Some(mac(0xfe, g)),
        master: Some("ovs-system".into()),
        operstate: Some(OperState::Up),
        admin_up: Some(true),
        carrier: Some(true),
        mtu: Some(1442),
        stats: None,
        problems: vec![],
        stale: false,
    }
}

/// Host number `i` (`sim-<i>`): its first view (generation 1) and its domains' keys, in
/// record order (record `j` is in domain `j / PER_DOMAIN`).
pub fn host_view(i: usize, vifs: usize) -> (View, Vec<DomainKey>) {
    let host = format!("sim-{i}");
    let chassis = uuid(&format!("{host}-chassis"));
    let mut domains = Vec::new();
    let mut keys = Vec::new();
    for d in 0..vifs.div_ceil(PER_DOMAIN) {
        let first = d * PER_DOMAIN;
        let count = PER_DOMAIN.min(vifs - first);
        let summary = DomainSummary {
            uuid: uuid(&format!("{host}-domain-{d}")),
            name: format!("instance-{:08x}", i * 1000 + d),
            state: DomainState::Running,
            interface_count: count,
        };
        let interfaces = (first..first + count)
            .map(|j| Arc::new(vif(&host, &chassis, &summary, j, i * vifs + j)))
            .collect();
        let volumes = vec![Volume {
            volume_id: uuid(&format!("{host}-volume-{d}")),
            device: Some("/dev/vdb".into()),
        }];
        let key = (summary.name.clone(), summary.uuid.clone());
        let record = DomainRecord {
            summary,
            interfaces,
            problems: vec![],
            volumes,
        };
        keys.push(key.clone());
        domains.push((key, Some(Arc::new(record))));
    }
    let changes = Changes {
        reset: true,
        domains,
        ..Changes::default()
    };
    (View::build(1, SystemTime::now(), changes), keys)
}

/// `view` with the MTU of the records `js` (indices in record order) set to `mtu`, at the
/// next generation: what a correlation hands the serve loop when taps change.
pub fn with_mtu(view: &View, keys: &[DomainKey], js: &[usize], mtu: u32) -> (View, Vec<String>) {
    let mut touched: Vec<(usize, DomainRecord)> = Vec::new();
    let mut ids = Vec::new();
    for &j in js {
        let d = j / PER_DOMAIN;
        if touched.last().is_none_or(|(last, _)| *last != d) {
            let record = view.domain_by_uuid(&keys[d].1).expect("the host's domain");
            touched.push((d, record.clone()));
        }
        let (_, record) = touched.last_mut().expect("pushed above");
        // A new record object: the publisher's encoder re-encodes only new ones.
        let vif = Arc::make_mut(&mut record.interfaces[j % PER_DOMAIN]);
        vif.mtu = Some(mtu);
        ids.push(vif.id.clone());
    }
    let domains = touched
        .into_iter()
        .map(|(d, record)| (keys[d].clone(), Some(Arc::new(record))))
        .collect();
    let changes = Changes {
        domains,
        ..Changes::default()
    };
    (
        view.next(view.generation + 1, SystemTime::now(), changes),
        ids,
    )
}
