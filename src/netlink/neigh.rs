//! Neighbour entries (ARP and NDP): `struct ndmsg` decoded by hand, and the table the
//! link watcher keeps of them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rtnetlink::packet_core::NlasIterator;

use super::types::Neighbour;
use crate::mac::MacAddr;

pub(super) const RTM_NEWNEIGH: u16 = 28;
pub(super) const RTM_DELNEIGH: u16 = 29;
pub(super) const RTM_GETNEIGH: u16 = 30;
/// Size of `struct ndmsg`, before the attributes.
pub(super) const NDMSG_LEN: usize = 12;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
/// `NTF_PROXY`: a proxy-ARP/NDP entry, a different table that shares the message; its
/// state is always NONE, which would read as a deletion of the real entry.
const NTF_PROXY: u8 = 0x08;
/// REACHABLE, STALE, DELAY, PROBE, NOARP, PERMANENT: the entry has a link-layer address
/// the kernel uses. INCOMPLETE, FAILED and NONE do not.
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/// One entry as a dump or notification gives it. `mac` is `None` when the entry is gone
/// or unusable (deleted, incomplete, failed, or without a 6-byte link-layer address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawNeigh {
    pub(super) ifindex: u32,
    pub(super) address: IpAddr,
    pub(super) mac: Option<MacAddr>,
}

impl RawNeigh {
    /// Decodes an `RTM_NEWNEIGH` or `RTM_DELNEIGH` payload. `None` for what is not an IPv4
    /// or IPv6 neighbour entry (the bridge's fdb entries, proxy entries) or is malformed.
    pub(super) fn parse(msg_type: u16, payload: &[u8]) -> Option<Self> {
        let header = payload.get(..NDMSG_LEN)?;
        let family = header[0];
        let ifindex = u32::from_ne_bytes(header[4..8].try_into().ok()?);
        let state = u16::from_ne_bytes(header[8..10].try_into().ok()?);
        let flags = header[10];
        if !matches!(family, AF_INET | AF_INET6) || flags & NTF_PROXY != 0 {
            return None;
        }
        let (mut address, mut lladdr) = (None, None);
        for nla in NlasIterator::new(payload.get(NDMSG_LEN..)?).filter_map(Result::ok) {
            match nla.kind() {
                NDA_DST => address = ip_address(family, nla.value()),
                NDA_LLADDR => lladdr = MacAddr::from_bytes(nla.value()),
                _ => {}
            }
        }
        // A bridge that is up gets NOARP entries for the multicast groups it joins: they
        // name no guest, so they are not entries at all here.
        let multicast = address.is_some_and(|a: IpAddr| a.is_multicast());
        let usable = msg_type == RTM_NEWNEIGH && state & NUD_USABLE != 0 && !multicast;
        Some(RawNeigh {
            ifindex,
            address: address?,
            mac: lladdr.filter(|_| usable),
        })
    }
}

fn ip_address(family: u8, value: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?).into()),
        AF_INET6 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(value).ok()?).into()),
        _ => None,
    }
}

/// The usable entries of a namespace by (ifindex, address). Entries on devices the link
/// table does not know are kept (the link may be announced later) but not listed.
#[derive(Debug, Default)]
pub(super) struct NeighTable {
    entries: BTreeMap<(u32, IpAddr), MacAddr>,
}

impl NeighTable {
    pub(super) fn from_dump(dump: Vec<RawNeigh>) -> Self {
        let mut table = Self::default();
        for n in dump {
            table.apply(n);
        }
        table
    }

    /// Applies one entry; true when the table's content changed (a mere NUD state change
    /// of a usable entry does not).
    pub(super) fn apply(&mut self, n: RawNeigh) -> bool {
        let key = (n.ifindex, n.address);
        match n.mac {
            Some(mac) => self.entries.insert(key, mac) != Some(mac),
            None => self.entries.remove(&key).is_some(),
        }
    }

    /// Forgets the entries of a deleted device (the kernel flushes them too).
    pub(super) fn remove_device(&mut self, ifindex: u32) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(i, _), _| *i != ifindex);
        before != self.entries.len()
    }

    /// Whether any entry is on this device.
    pub(super) fn has_device(&self, ifindex: u32) -> bool {
        let first = (ifindex, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        self.entries
            .range(first..)
            .next()
            .is_some_and(|((i, _), _)| *i == ifindex)
    }

    /// The entries on known devices, named by `name_of(ifindex)`, sorted.
    pub(super) fn list(&self, name_of: impl Fn(u32) -> Option<String>) -> Vec<Neighbour> {
        let mut out: Vec<Neighbour> = self
            .entries
            .iter()
            .filter_map(|(&(ifindex, address), &mac)| {
                Some(Neighbour {
                    device: name_of(ifindex)?,
                    ifindex,
                    address,
                    mac,
                })
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ndmsg with NDA_DST and optionally NDA_LLADDR.
    fn msg(family: u8, ifindex: u32, state: u16, flags: u8, dst: &[u8], ll: &[u8]) -> Vec<u8> {
        let mut m = vec![family, 0, 0, 0];
        m.extend(ifindex.to_ne_bytes());
        m.extend(state.to_ne_bytes());
        m.extend([flags, 0]);
        for (kind, value) in [(NDA_DST, dst), (NDA_LLADDR, ll)] {
            if value.is_empty() {
                continue;
            }
            m.extend((4 + value.len() as u16).to_ne_bytes());
            m.extend(kind.to_ne_bytes());
            m.extend(value);
            m.resize(m.len().next_multiple_of(4), 0);
        }
        m
    }

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0xaa, 0xbb, 0xcc];
    const REACHABLE: u16 = 0x02;

    #[test]
    fn usable_entries_have_a_mac_and_others_read_as_removals() {
        let ok = RawNeigh::parse(
            RTM_NEWNEIGH,
            &msg(2, 3, REACHABLE, 0, &[192, 0, 2, 5], &MAC),
        );
        let ok = ok.unwrap();
        assert_eq!(
            (ok.ifindex, ok.address.to_string()),
            (3, "192.0.2.5".into())
        );
        assert_eq!(ok.mac.unwrap().0, MAC);
        let failed = RawNeigh::parse(RTM_NEWNEIGH, &msg(2, 3, 0x20, 0, &[192, 0, 2, 5], &MAC));
        assert_eq!(failed.unwrap().mac, None);
        let no_ll = RawNeigh::parse(RTM_NEWNEIGH, &msg(2, 3, REACHABLE, 0, &[192, 0, 2, 5], &[]));
        assert_eq!(no_ll.unwrap().mac, None);
        let del = RawNeigh::parse(
            RTM_DELNEIGH,
            &msg(2, 3, REACHABLE, 0, &[192, 0, 2, 5], &MAC),
        );
        assert_eq!(del.unwrap().mac, None);
    }

    #[test]
    fn bridge_proxy_and_malformed_entries_are_skipped() {
        let fdb = msg(7, 3, REACHABLE, 0, &[], &MAC);
        assert_eq!(RawNeigh::parse(RTM_NEWNEIGH, &fdb), None);
        let proxy = msg(2, 3, 0, NTF_PROXY, &[192, 0, 2, 5], &[]);
        assert_eq!(RawNeigh::parse(RTM_NEWNEIGH, &proxy), None);
        let short_dst = msg(10, 3, REACHABLE, 0, &[0xfe, 0x80], &MAC);
        assert_eq!(RawNeigh::parse(RTM_NEWNEIGH, &short_dst), None);
        assert_eq!(RawNeigh::parse(RTM_NEWNEIGH, &[2, 0, 0]), None);
    }

    #[test]
    fn state_flips_do_not_change_the_table() {
        let entry = |mac: Option<[u8; 6]>| RawNeigh {
            ifindex: 3,
            address: "2001:db8::5".parse().unwrap(),
            mac: mac.map(MacAddr),
        };
        let mut t = NeighTable::default();
        assert!(t.apply(entry(Some(MAC))));
        assert!(!t.apply(entry(Some(MAC))));
        assert!(t.has_device(3) && !t.has_device(2) && !t.has_device(4));
        assert!(t.apply(entry(Some([2; 6]))));
        assert_eq!(t.list(|_| None), vec![]);
        assert_eq!(t.list(|i| Some(format!("d{i}")))[0].device, "d3");
        assert!(t.apply(entry(None)));
        assert!(!t.apply(entry(None)));
    }
}
