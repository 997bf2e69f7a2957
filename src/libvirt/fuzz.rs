//! Fuzz harnesses of the network and volume XML readers (see [`crate::fuzzing`]): here
//! because the readers are private to this module. Each must not panic.

use super::netxml::{parse_network_dhcp, parse_volume};

/// A network's XML as `virNetworkGetXMLDesc` gives it, and the same text as a volume's.
pub fn network_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(dhcp) = parse_network_dhcp(text) {
        for r in &dhcp.ranges {
            assert_eq!(
                r.start.is_ipv4(),
                r.end.is_ipv4(),
                "{r:?}: a range of one family"
            );
        }
    }
    drop(parse_volume(text));
}
