//! Fuzz harnesses of the rtnetlink decoding (see [`crate::fuzzing`]): here because the
//! decoders are private to this module. Each takes the raw payload of one message, as
//! the kernel would send it, and must not panic. The same bytes are also read as a whole
//! notification datagram (netlink headers and all), as the link watcher reads one.
//!
//! Only what vifd runs is driven: its own `ifinfomsg`/`ndmsg`/`if_stats_msg` decoding
//! and the few typed attribute parses it asks netlink-packet-route for; never the
//! library's full `LinkMessage` parse, which vifd does not use.

use super::convert::{resolve_names, RawLink};
use super::neigh::{NeighTable, RawNeigh, RTM_DELNEIGH, RTM_NEWNEIGH};
use super::stats::{parse_newstats, stats32, stats64};
use super::watcher::{self, Change};

/// An `RTM_NEWLINK` payload: `struct ifinfomsg` and its attributes.
pub fn link(data: &[u8]) {
    datagram(data);
    let Some(raw) = RawLink::parse(data) else {
        return;
    };
    let ifindex = u32::from_ne_bytes(data[4..8].try_into().expect("a parsed header"));
    assert_eq!(raw.dev.ifindex, ifindex, "the ifindex is the header's");
    let master = raw.master_ifindex;
    let devs = resolve_names(vec![raw]);
    // Alone in its dump, a link can only be its own master.
    let own = master == Some(ifindex);
    assert_eq!(
        devs[0].master.is_some(),
        own,
        "a master is named only when known"
    );
}

/// An `RTM_NEWNEIGH` (first byte even) or `RTM_DELNEIGH` (odd) payload, then applied to
/// a neighbour table as the watcher applies it.
pub fn neighbour(data: &[u8]) {
    datagram(data);
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let msg_type = if pick % 2 == 0 {
        RTM_NEWNEIGH
    } else {
        RTM_DELNEIGH
    };
    let Some(n) = RawNeigh::parse(msg_type, payload) else {
        return;
    };
    assert!(
        msg_type == RTM_NEWNEIGH || n.mac.is_none(),
        "a deletion names no MAC"
    );
    let mut table = NeighTable::default();
    let usable = n.mac.is_some();
    table.apply(n.clone());
    assert_eq!(
        table.has_device(n.ifindex),
        usable,
        "only usable entries are kept"
    );
    let listed = table.list(|i| Some(i.to_string()));
    assert_eq!(listed.len(), usize::from(usable));
    assert_eq!(table.remove_device(n.ifindex), usable);
}

/// An `RTM_NEWSTATS` payload; the bytes are also read as a bare counters struct.
pub fn stats(data: &[u8]) {
    datagram(data);
    if let Some((ifindex, _)) = parse_newstats(data) {
        assert_eq!(
            ifindex.to_ne_bytes(),
            data[4..8],
            "the ifindex is the header's"
        );
    }
    // Newer kernels append fields: a longer struct reads as its first eight counters.
    if let Some(s) = stats64(data) {
        assert_eq!(stats64(&data[..64]), Some(s));
    }
    if let Some(s) = stats32(data) {
        assert_eq!(stats32(&data[..32]), Some(s));
    }
}

/// The bytes as one notification datagram of the link and neighbour groups.
fn datagram(data: &[u8]) {
    for change in watcher::parse(data) {
        match change {
            Change::Link(raw) => drop(resolve_names(vec![raw])),
            Change::Neigh(n) => drop(NeighTable::from_dump(vec![n])),
            Change::LinkGone(_) => {}
        }
    }
}
