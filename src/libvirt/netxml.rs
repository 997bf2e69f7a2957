//! The parts of network and volume XML that actions need: what a network's DHCP hands
//! out, and a volume's format, kind and birth time.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::network::{DhcpHost, DhcpRange, NetworkDhcp};
use crate::mac::MacAddr;

/// A network's name, bridge, DHCP ranges and host entries (leases and state are read
/// separately). Ranges and hosts of every `<ip>` element, in document order.
pub(super) fn parse_network_dhcp(xml: &str) -> Result<NetworkDhcp, roxmltree::Error> {
    let doc = roxmltree::Document::parse(xml)?;
    let root = doc.root_element();
    let child_text = |name: &str| {
        root.children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
    };
    let mut dhcp = NetworkDhcp {
        name: child_text("name").unwrap_or_default(),
        uuid: child_text("uuid").unwrap_or_default(),
        bridge: root
            .children()
            .find(|n| n.has_tag_name("bridge"))
            .and_then(|n| n.attribute("name"))
            .map(String::from),
        ..NetworkDhcp::default()
    };
    for ip in root.children().filter(|n| n.has_tag_name("ip")) {
        let Some(gateway) = ip.attribute("address").and_then(|a| a.parse().ok()) else {
            continue;
        };
        let prefix = ip_prefix(ip.attribute("prefix"), ip.attribute("netmask"), gateway);
        for d in ip.children().filter(|n| n.has_tag_name("dhcp")) {
            for r in d.children().filter(|n| n.has_tag_name("range")) {
                let start = r.attribute("start").and_then(|a| a.parse().ok());
                let end = r.attribute("end").and_then(|a| a.parse().ok());
                if let (Some(start), Some(end)) = (start, end) {
                    dhcp.ranges.push(DhcpRange {
                        start,
                        end,
                        gateway,
                        prefix,
                    });
                }
            }
            for h in d.children().filter(|n| n.has_tag_name("host")) {
                dhcp.hosts.push(DhcpHost {
                    mac: h.attribute("mac").and_then(|m| m.parse::<MacAddr>().ok()),
                    ip: h.attribute("ip").and_then(|a| a.parse().ok()),
                    name: h.attribute("name").map(String::from),
                });
            }
        }
    }
    Ok(dhcp)
}

/// `prefix` when given, else the netmask's length, else the family's default.
fn ip_prefix(prefix: Option<&str>, netmask: Option<&str>, addr: IpAddr) -> u8 {
    if let Some(p) = prefix.and_then(|p| p.parse().ok()) {
        return p;
    }
    match (
        netmask.and_then(|m| m.parse::<std::net::Ipv4Addr>().ok()),
        addr,
    ) {
        (Some(m), _) => u32::from(m).count_ones() as u8,
        (None, IpAddr::V4(_)) => 24,
        (None, IpAddr::V6(_)) => 64,
    }
}

/// `<target><format type='...'/>` of a volume's XML.
/// What a storage volume's XML says of it beyond its name and size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct VolumeXml {
    /// `<target><format type>`: `raw`, `qcow2`, ...
    pub format: Option<String>,
    /// `<volume type='file'>`: a file on the host (not a block device, a network disk).
    pub file: bool,
    /// `<target><timestamps><btime>`: libvirt writes 0 where stat(2) has no birth time,
    /// which is every Linux host; that is unknown, not 1970.
    pub btime: Option<SystemTime>,
}

pub(super) fn parse_volume(xml: &str) -> Option<VolumeXml> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    let target = root.children().find(|n| n.has_tag_name("target"));
    let btime = child(child(target, "timestamps"), "btime")
        .and_then(|n| n.text())
        .and_then(timestamp);
    Some(VolumeXml {
        format: child(target, "format")
            .and_then(|n| n.attribute("type"))
            .map(String::from),
        file: root.attribute("type") == Some("file"),
        btime,
    })
}

fn child<'a, 'i>(
    parent: Option<roxmltree::Node<'a, 'i>>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    parent?.children().find(|n| n.has_tag_name(name))
}

/// libvirt's `seconds[.nanoseconds]`; 0 is libvirt's "not known".
fn timestamp(text: &str) -> Option<SystemTime> {
    let (secs, nanos) = text.trim().split_once('.').unwrap_or((text.trim(), "0"));
    let secs: u64 = secs.parse().ok()?;
    // The fraction is nanoseconds, written in full by libvirt; pad a shorter one.
    let nanos: u32 = format!("{nanos:0<9}").get(..9)?.parse().ok()?;
    let at = Duration::new(secs, nanos);
    // checked: a value past what SystemTime holds is not known either, not a panic.
    SystemTime::UNIX_EPOCH
        .checked_add(at)
        .filter(|_| !at.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_birth_time_past_what_systemtime_holds_is_unknown() {
        assert_eq!(timestamp("18446744073709551615.999999999"), None);
        assert_eq!(timestamp("0"), None);
        assert!(timestamp("1700000000.5").is_some());
    }

    const NET: &str = "<network><name>n1</name><uuid>0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e</uuid>\
        <bridge name='virbr9' stp='off'/><ip address='10.9.0.1' netmask='255.255.255.0'><dhcp>\
        <range start='10.9.0.10' end='10.9.0.11'/><host mac='52:54:00:00:00:01' ip='10.9.0.10'/>\
        </dhcp></ip><ip family='ipv6' address='fd00::1' prefix='64'/></network>";

    #[test]
    fn ranges_and_host_entries_are_read() {
        let d = parse_network_dhcp(NET).unwrap();
        assert_eq!(
            (d.name.as_str(), d.bridge.as_deref()),
            ("n1", Some("virbr9"))
        );
        assert_eq!(d.ranges.len(), 1);
        assert_eq!(d.ranges[0].start.to_string(), "10.9.0.10");
        assert_eq!(d.ranges[0].prefix, 24);
        assert_eq!(d.hosts[0].ip.unwrap().to_string(), "10.9.0.10");
        assert_eq!(d.hosts[0].mac.unwrap().to_string(), "52:54:00:00:00:01");
    }

    #[test]
    fn a_volume_format_is_read_from_its_target() {
        let x = "<volume><name>v</name><target><path>/p/v</path><format type='qcow2'/></target></volume>";
        assert_eq!(parse_volume(x).unwrap().format.as_deref(), Some("qcow2"));
        assert_eq!(parse_volume("<volume/>"), Some(VolumeXml::default()));
    }

    #[test]
    fn a_zero_birth_time_is_unknown() {
        let x = |b: &str| {
            format!("<volume type='file'><target><timestamps><btime>{b}</btime></timestamps></target></volume>")
        };
        let v = parse_volume(&x("1700000000.5")).unwrap();
        assert!(v.file);
        assert_eq!(
            v.btime,
            Some(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_volume(&x("0")).unwrap().btime, None);
        assert_eq!(parse_volume(&x("soon")).unwrap().btime, None);
    }
}
