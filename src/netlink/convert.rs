//! From `LinkMessage` to [`HostDevice`].

use std::collections::HashMap;

use rtnetlink::packet_core::{NlasIterator, ParseableParametrized};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkHeader, LinkLayerType, State};

use super::stats::{stats32, stats64, IFLA_STATS, IFLA_STATS64};
use super::types::{DeviceKind, HostDevice};
use crate::mac::MacAddr;

/// `IFLA_TUN_TYPE` in the tun driver's `IFLA_INFO_DATA` (after OWNER=1, GROUP=2); value 1 is a tun, 2 a tap.
const IFLA_TUN_TYPE: u16 = 3;
const IFF_TUN: u8 = 1;
/// Size of `struct ifinfomsg`, before the attributes.
const LINK_HEADER_LEN: usize = 16;
/// The `IFLA_*` attributes decoded through the library: ADDRESS, IFNAME, MTU, LINK, MASTER,
/// OPERSTATE, CARRIER, LINK_NETNSID. LINKINFO and the counters are decoded by hand.
const WANTED: [u16; 8] = [1, 3, 4, 5, 10, 16, 33, 37];
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;

/// A device before master and lower-device indexes are turned into names.
#[derive(Debug, Clone)]
pub(super) struct RawLink {
    pub(super) dev: HostDevice,
    pub(super) master_ifindex: Option<u32>,
}

impl RawLink {
    /// Decodes an `RTM_NEWLINK` payload; `None` when it is malformed or has no name.
    pub(super) fn parse(payload: &[u8]) -> Option<Self> {
        let header = LinkHeader::parse(payload).ok()?;
        let family = header.interface_family;
        let mut kind = None;
        let (mut s64, mut s32) = (None, None);
        let mut attrs = Vec::new();
        for nla in NlasIterator::new(payload.get(LINK_HEADER_LEN..)?).filter_map(Result::ok) {
            match nla.kind() {
                IFLA_LINKINFO => kind = Some(link_kind(nla.value())),
                IFLA_STATS64 => s64 = stats64(nla.value()),
                IFLA_STATS => s32 = stats32(nla.value()),
                k if WANTED.contains(&k) => {
                    attrs.extend(LinkAttribute::parse_with_param(&nla, family).ok())
                }
                _ => {}
            }
        }
        let mut link = Self::from_parts(&header, attrs.into_iter(), kind)?;
        // The 32-bit copy wraps at 4 GiB: only for a kernel that sends no 64-bit one.
        link.dev.stats = s64.or(s32);
        Some(link)
    }

    fn from_parts(
        header: &LinkHeader,
        attributes: impl Iterator<Item = LinkAttribute>,
        kind: Option<DeviceKind>,
    ) -> Option<Self> {
        let mut name = None;
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
            stats: None,
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
    resolve_names_of(raw.iter())
}

/// As [`resolve_names`], from borrowed links.
pub(super) fn resolve_names_of<'a>(
    raw: impl Iterator<Item = &'a RawLink> + Clone,
) -> Vec<HostDevice> {
    let names: HashMap<u32, &str> = raw
        .clone()
        .map(|r| (r.dev.ifindex, r.dev.name.as_str()))
        .collect();
    raw.map(|r| resolve_one(r, |i| names.get(&i).map(|n| n.to_string())))
        .collect()
}

/// One link with its master and lower device named by `name_of(ifindex)`.
pub(super) fn resolve_one(r: &RawLink, name_of: impl Fn(u32) -> Option<String>) -> HostDevice {
    let mut dev = r.dev.clone();
    dev.master = r.master_ifindex.and_then(&name_of);
    // A lower device in another namespace has an index that means nothing here.
    if matches!(dev.kind, DeviceKind::Macvtap | DeviceKind::Macvlan) && dev.link_netnsid.is_none() {
        dev.lower = dev.link_ifindex.and_then(&name_of);
    }
    dev
}

/// The device kind from the raw `IFLA_LINKINFO` nest. Decoded by hand: the library's
/// typed parse rejects the whole nest when one driver attribute is not as it expects
/// (seen with tun's data in link notifications), and only two fields are needed here.
fn link_kind(nest: &[u8]) -> DeviceKind {
    let mut kind: Option<String> = None;
    let mut tun_is_tun = false;
    for nla in NlasIterator::new(nest).filter_map(Result::ok) {
        match nla.kind() {
            IFLA_INFO_KIND => {
                let text = nla.value().split(|&b| b == 0).next().unwrap_or_default();
                kind = Some(String::from_utf8_lossy(text).into_owned());
            }
            IFLA_INFO_DATA => {
                tun_is_tun = NlasIterator::new(nla.value())
                    .filter_map(Result::ok)
                    .any(|a| a.kind() == IFLA_TUN_TYPE && a.value() == [IFF_TUN]);
            }
            _ => {}
        }
    }
    match kind.as_deref() {
        Some("tun") if tun_is_tun => DeviceKind::Tun,
        Some("tun") => DeviceKind::Tap,
        Some("macvtap") => DeviceKind::Macvtap,
        Some("macvlan") => DeviceKind::Macvlan,
        Some("veth") => DeviceKind::Veth,
        Some("bridge") => DeviceKind::Bridge,
        Some("vxlan") => DeviceKind::Vxlan,
        Some("vlan") => DeviceKind::Vlan,
        Some("bond") => DeviceKind::Bond,
        Some("dummy") => DeviceKind::Dummy,
        Some("openvswitch") => DeviceKind::Openvswitch,
        Some(other) => DeviceKind::Other(other.to_string()),
        None => DeviceKind::Physical,
    }
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
