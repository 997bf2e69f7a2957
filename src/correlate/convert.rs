//! The edge between the sources and the inventory: what libvirt and the kernel say,
//! converted into the records' own types. The sources know nothing of the inventory and
//! the inventory nothing of the sources; only this file sees both.

use crate::inventory::{kinds, record};
use crate::{libvirt, netlink};

impl From<libvirt::DomainState> for kinds::DomainState {
    fn from(s: libvirt::DomainState) -> Self {
        use libvirt::DomainState as S;
        match s {
            S::Nostate => Self::Nostate,
            S::Running => Self::Running,
            S::Blocked => Self::Blocked,
            S::Paused => Self::Paused,
            S::Shutdown => Self::Shutdown,
            S::Shutoff => Self::Shutoff,
            S::Crashed => Self::Crashed,
            S::Pmsuspended => Self::Pmsuspended,
        }
    }
}

impl From<&libvirt::Domain> for record::DomainSummary {
    fn from(d: &libvirt::Domain) -> Self {
        record::DomainSummary {
            uuid: d.uuid.clone(),
            name: d.name.clone(),
            state: d.state.into(),
            interface_count: d.interfaces.len(),
        }
    }
}

impl From<&libvirt::InterfaceSource> for record::InterfaceSource {
    fn from(s: &libvirt::InterfaceSource) -> Self {
        record::InterfaceSource {
            bridge: s.bridge.clone(),
            network: s.network.clone(),
            dev: s.dev.clone(),
            mode: s.mode.clone(),
            path: s.path.clone(),
            address: s.address.clone(),
            other: s.other.clone(),
        }
    }
}

impl From<&libvirt::Virtualport> for record::Virtualport {
    fn from(v: &libvirt::Virtualport) -> Self {
        record::Virtualport {
            kind: v.kind.as_deref().map(kinds::VirtualportType::from_name),
            interfaceid: v.interfaceid.clone(),
        }
    }
}

/// The `type` attribute as libvirt writes it.
pub(crate) fn interface_type(iface: &libvirt::DomainInterface) -> kinds::InterfaceType {
    kinds::InterfaceType::from_name(&iface.kind)
}

/// `<link state>`: libvirt accepts only `up` and `down` there; anything else reads as
/// none.
pub(crate) fn link_state(iface: &libvirt::DomainInterface) -> Option<kinds::LinkState> {
    iface
        .link_state
        .as_deref()
        .and_then(kinds::LinkState::from_name)
}

/// The device's operational state; netlink names only the seven of RFC 2863, and reads
/// any other as `unknown`, as this does.
pub(crate) fn oper_state(dev: &netlink::HostDevice) -> kinds::OperState {
    kinds::OperState::from_name(&dev.operstate).unwrap_or(kinds::OperState::Unknown)
}

impl From<&netlink::DeviceKind> for kinds::DeviceKind {
    fn from(k: &netlink::DeviceKind) -> Self {
        use netlink::DeviceKind as K;
        match k {
            K::Tap => Self::Tap,
            K::Tun => Self::Tun,
            K::Macvtap => Self::Macvtap,
            K::Macvlan => Self::Macvlan,
            K::Veth => Self::Veth,
            K::Bridge => Self::Bridge,
            K::Openvswitch => Self::Openvswitch,
            K::Vxlan => Self::Vxlan,
            K::Vlan => Self::Vlan,
            K::Bond => Self::Bond,
            K::Dummy => Self::Dummy,
            K::Loopback => Self::Loopback,
            K::Physical => Self::Physical,
            K::Other(name) => Self::from_name(name),
        }
    }
}

impl From<netlink::LinkStats> for record::LinkStats {
    fn from(s: netlink::LinkStats) -> Self {
        record::LinkStats {
            rx_bytes: s.rx_bytes,
            rx_packets: s.rx_packets,
            rx_errors: s.rx_errors,
            rx_dropped: s.rx_dropped,
            tx_bytes: s.tx_bytes,
            tx_packets: s.tx_packets,
            tx_errors: s.tx_errors,
            tx_dropped: s.tx_dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_kinds_keep_their_names() {
        let all = [
            netlink::DeviceKind::Tap,
            netlink::DeviceKind::Tun,
            netlink::DeviceKind::Macvtap,
            netlink::DeviceKind::Macvlan,
            netlink::DeviceKind::Veth,
            netlink::DeviceKind::Bridge,
            netlink::DeviceKind::Openvswitch,
            netlink::DeviceKind::Vxlan,
            netlink::DeviceKind::Vlan,
            netlink::DeviceKind::Bond,
            netlink::DeviceKind::Dummy,
            netlink::DeviceKind::Loopback,
            netlink::DeviceKind::Physical,
            netlink::DeviceKind::Other("ipvlan".into()),
        ];
        for k in &all {
            assert_eq!(kinds::DeviceKind::from(k).as_str(), k.as_str());
        }
    }

    #[test]
    fn domain_states_keep_their_names() {
        for raw in 0..=8 {
            let s = libvirt::DomainState::from_raw(raw);
            assert_eq!(kinds::DomainState::from(s).as_str(), s.as_str());
        }
    }
}
