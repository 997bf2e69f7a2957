//! From `LinkMessage` to [`HostDevice`].

use std::collections::HashMap;

use rtnetlink::packet_core::{Nla, NlasIterator, ParseableParametrized};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoTun, LinkAttribute, LinkFlags, LinkHeader, LinkInfo, LinkLayerType,
    State,
};

use super::{DeviceKind, HostDevice};
use crate::mac::MacAddr;

/// `IFLA_TUN_TYPE` in the tun driver's `IFLA_INFO_DATA` (after OWNER=1, GROUP=2); value 1 is a tun, 2 a tap.
const IFLA_TUN_TYPE: u16 = 3;
const IFF_TUN: u8 = 1;
/// Size of `struct ifinfomsg`, before the attributes.
const LINK_HEADER_LEN: usize = 16;
/// The `IFLA_*` attributes decoded: ADDRESS, IFNAME, MTU, LINK, MASTER, OPERSTATE,
/// LINKINFO, CARRIER, LINK_NETNSID.
const WANTED: [u16; 9] = [1, 3, 4, 5, 10, 16, 18, 33, 37];

/// A device before master and lower-device indexes are turned into names.
pub(super) struct RawLink {
    dev: HostDevice,
    master_ifindex: Option<u32>,
}

impl RawLink {
    /// Decodes an `RTM_NEWLINK` payload; `None` when it is malformed or has no name.
    pub(super) fn parse(payload: &[u8]) -> Option<Self> {
        let header = LinkHeader::parse(payload).ok()?;
        let family = header.interface_family;
        let attrs = NlasIterator::new(payload.get(LINK_HEADER_LEN..)?)
            .filter_map(Result::ok)
            .filter(|nla| WANTED.contains(&nla.kind()))
            .filter_map(|nla| LinkAttribute::parse_with_param(&nla, family).ok());
        Self::from_parts(&header, attrs)
    }

    fn from_parts(
        header: &LinkHeader,
        attributes: impl Iterator<Item = LinkAttribute>,
    ) -> Option<Self> {
        let mut name = None;
        let mut kind = None;
        let mut mac = None;
        let mut master_ifindex = None;
        let mut dev = HostDevice {
            ifindex: header.index,
            name: String::new(),
            kind: DeviceKind::Physical,
            mac: None,
            master: None,
            operstate: "unknown".into(),
            carrier: None,
            admin_up: header.flags.contains(LinkFlags::Up),
            mtu: None,
            link_ifindex: None,
            link_netnsid: None,
            lower: None,
        };
        for attr in attributes {
            match attr {
                LinkAttribute::IfName(n) => name = Some(n),
                LinkAttribute::Address(a) => mac = MacAddr::from_bytes(&a),
                LinkAttribute::Controller(m) => master_ifindex = Some(m),
                LinkAttribute::OperState(s) => dev.operstate = operstate_name(s),
                LinkAttribute::Carrier(c) => dev.carrier = Some(c != 0),
                LinkAttribute::Mtu(m) => dev.mtu = Some(m),
                LinkAttribute::Link(l) => dev.link_ifindex = Some(l),
                LinkAttribute::LinkNetNsId(id) => dev.link_netnsid = Some(id),
                LinkAttribute::LinkInfo(infos) => kind = Some(kind_of(&infos)),
                _ => {}
            }
        }
        dev.name = name?;
        dev.mac = mac;
        dev.kind = kind.unwrap_or(match header.link_layer_type {
            LinkLayerType::Loopback => DeviceKind::Loopback,
            _ => DeviceKind::Physical,
        });
        Some(RawLink {
            dev,
            master_ifindex,
        })
    }
}

/// Fills in master and lower-device names from the same dump.
pub(super) fn resolve_names(raw: Vec<RawLink>) -> Vec<HostDevice> {
    let names: HashMap<u32, String> = raw
        .iter()
        .map(|r| (r.dev.ifindex, r.dev.name.clone()))
        .collect();
    raw.into_iter()
        .map(|r| {
            let mut dev = r.dev;
            dev.master = r.master_ifindex.and_then(|i| names.get(&i).cloned());
            // A lower device in another namespace has an index that means nothing here.
            if matches!(dev.kind, DeviceKind::Macvtap | DeviceKind::Macvlan)
                && dev.link_netnsid.is_none()
            {
                dev.lower = dev.link_ifindex.and_then(|i| names.get(&i).cloned());
            }
            dev
        })
        .collect()
}

fn kind_of(infos: &[LinkInfo]) -> DeviceKind {
    let mut kind = None;
    let mut tun_is_tun = false;
    for info in infos {
        match info {
            LinkInfo::Kind(k) => kind = Some(k),
            LinkInfo::Data(InfoData::Tun(attrs)) => tun_is_tun = tun_type_is_tun(attrs),
            _ => {}
        }
    }
    match kind {
        Some(InfoKind::Tun) if tun_is_tun => DeviceKind::Tun,
        Some(InfoKind::Tun) => DeviceKind::Tap,
        Some(InfoKind::MacVtap) => DeviceKind::Macvtap,
        Some(InfoKind::MacVlan) => DeviceKind::Macvlan,
        Some(InfoKind::Veth) => DeviceKind::Veth,
        Some(InfoKind::Bridge) => DeviceKind::Bridge,
        Some(InfoKind::Vxlan) => DeviceKind::Vxlan,
        Some(InfoKind::Vlan) => DeviceKind::Vlan,
        Some(InfoKind::Bond) => DeviceKind::Bond,
        Some(InfoKind::Dummy) => DeviceKind::Dummy,
        Some(InfoKind::Other(s)) if s == "openvswitch" => DeviceKind::Openvswitch,
        Some(other) => DeviceKind::Other(other.to_string()),
        None => DeviceKind::Physical,
    }
}

fn tun_type_is_tun(attrs: &[InfoTun]) -> bool {
    attrs.iter().any(|a| match a {
        InfoTun::Other(nla) if nla.kind() == IFLA_TUN_TYPE && nla.value_len() == 1 => {
            let mut v = [0u8; 1];
            nla.emit_value(&mut v);
            v[0] == IFF_TUN
        }
        _ => false,
    })
}

/// RFC 2863 operational state, lowercase as in /sys/class/net/*/operstate.
fn operstate_name(s: State) -> String {
    match s {
        State::Up => "up",
        State::Down => "down",
        State::LowerLayerDown => "lowerlayerdown",
        State::NotPresent => "notpresent",
        State::Testing => "testing",
        State::Dormant => "dormant",
        State::Unknown => "unknown",
        _ => "unknown",
    }
    .to_string()
}
