//! Device XML for hot-plug: the interfaces and disks vifd attaches, and the smallest
//! description libvirt needs to find one again for removal.

use super::domain::DomainInterface;
use crate::mac::MacAddr;
use crate::xml_text::escape;

/// What a new interface is plugged into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plug {
    /// A libvirt network, by name: `<interface type='network'>`.
    Network(String),
    /// A Linux bridge, by name: `<interface type='bridge'>`.
    Bridge(String),
}

/// An interface to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInterface {
    pub plug: Plug,
    pub mac: MacAddr,
    /// The host tap's name (`tap` + the port's first 11 characters).
    pub target: String,
    /// A user alias (`ua-` + the port UUID): libvirt keeps it in the live and the
    /// persistent XML, which is how the port id survives.
    pub alias: String,
}

/// `<interface>` on virtio, without an option ROM (a guest needs none to hot-plug).
pub fn interface_xml(n: &NewInterface) -> String {
    let (kind, source) = match &n.plug {
        Plug::Network(name) => ("network", format!("<source network='{}'/>", escape(name))),
        Plug::Bridge(name) => ("bridge", format!("<source bridge='{}'/>", escape(name))),
    };
    format!(
        "<interface type='{kind}'><mac address='{}'/>{source}<target dev='{}'/>\
         <model type='virtio'/><alias name='{}'/><rom enabled='no'/></interface>",
        n.mac,
        escape(&n.target),
        escape(&n.alias)
    )
}

/// What libvirt matches an interface by on removal: its MAC (and, to parse, its type and
/// source). Neither the alias nor the PCI address is given: the live and persistent
/// definitions differ in both.
pub fn interface_detach_xml(iface: &DomainInterface) -> Option<String> {
    let mac = iface.mac?;
    let s = &iface.source;
    let source = match iface.kind.as_str() {
        "network" => format!("<source network='{}'/>", escape(s.network.as_deref()?)),
        "bridge" => format!("<source bridge='{}'/>", escape(s.bridge.as_deref()?)),
        "direct" => format!("<source dev='{}'/>", escape(s.dev.as_deref()?)),
        _ => String::new(),
    };
    Some(format!(
        "<interface type='{}'><mac address='{mac}'/>{source}</interface>",
        escape(&iface.kind)
    ))
}

/// A volume of a storage pool to attach as a virtio disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDisk {
    pub pool: String,
    pub volume: String,
    /// The volume's format; raw when the pool does not say.
    pub format: Option<String>,
    /// `vdb`, ...
    pub target: String,
    /// What the guest reads as the disk's serial: the volume id, as Nova does.
    pub serial: String,
}

pub fn disk_xml(d: &NewDisk) -> String {
    format!(
        "<disk type='volume' device='disk'><driver name='qemu' type='{}'/>\
         <source pool='{}' volume='{}'/><target dev='{}' bus='virtio'/>\
         <serial>{}</serial></disk>",
        escape(d.format.as_deref().unwrap_or("raw")),
        escape(&d.pool),
        escape(&d.volume),
        escape(&d.target),
        escape(&d.serial)
    )
}

/// libvirt finds a disk to remove by its target alone.
pub fn disk_detach_xml(target: &str) -> String {
    format!(
        "<disk type='volume' device='disk'><target dev='{}'/></disk>",
        escape(target)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::domain::InterfaceSource;

    #[test]
    fn a_network_interface_names_its_tap_and_alias() {
        let x = interface_xml(&NewInterface {
            plug: Plug::Network("net'1".into()),
            mac: "52:54:00:01:02:03".parse().unwrap(),
            target: "tapabcdef01-23".into(),
            alias: "ua-port".into(),
        });
        assert!(x.starts_with("<interface type='network'><mac address='52:54:00:01:02:03'/>"));
        assert!(x.contains("<source network='net&apos;1'/><target dev='tapabcdef01-23'/>"));
        assert!(x.contains("<alias name='ua-port'/>"));
        roxmltree::Document::parse(&x).unwrap();
    }

    #[test]
    fn removal_matches_by_mac_and_source() {
        let iface = DomainInterface {
            kind: "bridge".into(),
            mac: Some("52:54:00:01:02:03".parse().unwrap()),
            source: InterfaceSource {
                bridge: Some("br0".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            interface_detach_xml(&iface).unwrap(),
            "<interface type='bridge'><mac address='52:54:00:01:02:03'/><source bridge='br0'/></interface>"
        );
        let no_mac = DomainInterface::default();
        assert_eq!(interface_detach_xml(&no_mac), None);
    }

    #[test]
    fn a_disk_carries_the_volume_and_serial() {
        let x = disk_xml(&NewDisk {
            pool: "p".into(),
            volume: "v1".into(),
            format: None,
            target: "vdb".into(),
            serial: "v1".into(),
        });
        assert!(x.contains("type='raw'") && x.contains("<serial>v1</serial>"));
        roxmltree::Document::parse(&x).unwrap();
    }
}
