//! Which interfaces name no target and so are matched to a device by MAC: those of a
//! domain with a process whose interface type has a host netdev.

use crate::libvirt::Domain;

pub(super) fn needs_mac_match(iface: &crate::libvirt::DomainInterface) -> bool {
    iface.target.is_none() && iface.has_host_netdev()
}

pub(super) fn has_mac_matched(dom: &Domain) -> bool {
    dom.state.has_process() && dom.interfaces.iter().any(needs_mac_match)
}
