//! Traffic counters: `struct rtnl_link_stats64` (and its 32-bit ancestor) decoded by hand,
//! in link messages and in `RTM_GETSTATS` answers.

use rtnetlink::packet_core::NlasIterator;

use super::types::LinkStats;

/// `IFLA_STATS` in a link message: `struct rtnl_link_stats`, 32-bit counters.
pub(super) const IFLA_STATS: u16 = 7;
/// `IFLA_STATS64` in a link message: `struct rtnl_link_stats64`.
pub(super) const IFLA_STATS64: u16 = 23;
pub(super) const RTM_NEWSTATS: u16 = 92;
pub(super) const RTM_GETSTATS: u16 = 94;
/// `IFLA_STATS_LINK_64` in an `RTM_NEWSTATS` message: the same struct as `IFLA_STATS64`.
const IFLA_STATS_LINK_64: u16 = 1;
/// Size of `struct if_stats_msg`, before the attributes.
const STATS_HEADER_LEN: usize = 12;
/// The counters vifd reports are the struct's first eight fields, in this order:
/// rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped.
const FIELDS: usize = 8;

/// The counters of a `struct rtnl_link_stats64`; `None` when it is too short to hold them
/// (newer kernels only ever append fields).
pub(super) fn stats64(value: &[u8]) -> Option<LinkStats> {
    let field = |i: usize| {
        let bytes = value.get(i * 8..i * 8 + 8)?;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    };
    from_fields(field)
}

/// As [`stats64`] for the 32-bit `struct rtnl_link_stats` (kernels or drivers without 64).
pub(super) fn stats32(value: &[u8]) -> Option<LinkStats> {
    let field = |i: usize| {
        let bytes = value.get(i * 4..i * 4 + 4)?;
        Some(u64::from(u32::from_ne_bytes(bytes.try_into().ok()?)))
    };
    from_fields(field)
}

fn from_fields(field: impl Fn(usize) -> Option<u64>) -> Option<LinkStats> {
    let mut f = [0u64; FIELDS];
    for (i, slot) in f.iter_mut().enumerate() {
        *slot = field(i)?;
    }
    Some(LinkStats {
        rx_packets: f[0],
        tx_packets: f[1],
        rx_bytes: f[2],
        tx_bytes: f[3],
        rx_errors: f[4],
        tx_errors: f[5],
        rx_dropped: f[6],
        tx_dropped: f[7],
    })
}

/// The body of an `RTM_GETSTATS` dump request: every device, 64-bit link counters only.
/// Far cheaper for the kernel than a link dump, which also fills in driver info, per
/// protocol configuration and the rest for every device.
pub(super) fn request_body() -> Vec<u8> {
    let mut body = vec![0u8; STATS_HEADER_LEN];
    // filter_mask, after family, two pads and ifindex: IFLA_STATS_FILTER_BIT(LINK_64).
    let mask: u32 = 1 << (IFLA_STATS_LINK_64 - 1);
    body[8..12].copy_from_slice(&mask.to_ne_bytes());
    body
}

/// The ifindex and counters of one `RTM_NEWSTATS` payload.
pub(super) fn parse_newstats(payload: &[u8]) -> Option<(u32, LinkStats)> {
    let ifindex = u32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    let nlas = NlasIterator::new(payload.get(STATS_HEADER_LEN..)?).filter_map(Result::ok);
    let stats = nlas
        .filter(|nla| nla.kind() == IFLA_STATS_LINK_64)
        .find_map(|nla| stats64(nla.value()))?;
    Some((ifindex, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn struct64(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn fields_come_in_kernel_order() {
        let s = stats64(&struct64(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).unwrap();
        assert_eq!(
            (s.rx_packets, s.tx_packets, s.rx_bytes, s.tx_bytes),
            (1, 2, 3, 4)
        );
        assert_eq!(
            (s.rx_errors, s.tx_errors, s.rx_dropped, s.tx_dropped),
            (5, 6, 7, 8)
        );
    }

    #[test]
    fn short_structs_are_ignored() {
        assert_eq!(stats64(&struct64(&[1, 2, 3, 4, 5, 6, 7])), None);
        assert_eq!(stats32(&[0u8; 31]), None);
        let s = stats32(&[1u32, 2, 3, 4, 5, 6, 7, 8].map(u32::to_ne_bytes).concat()).unwrap();
        assert_eq!((s.rx_packets, s.tx_dropped), (1, 8));
    }
}
