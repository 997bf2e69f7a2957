//! Addresses from a libvirt network's DHCP range, bound to an interface's MAC as DHCP
//! host entries: dnsmasq hands the address to that MAC, and the network's definition
//! keeps it across restarts.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;
use utoipa::ToSchema;

use super::error::ActionError;
use super::service::Actions;
use crate::inventory::{AddressSource, View, Vif};
use crate::libvirt::NetworkDhcp;
use crate::mac::MacAddr;

/// An address bound to an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Allocation {
    #[schema(value_type = String, example = "192.168.122.10")]
    pub address: IpAddr,
    /// 4 or 6.
    pub version: u8,
    /// The record id (the port id when known) of the interface it is bound to.
    pub interface_id: String,
    /// The libvirt network's UUID.
    pub network_id: String,
    #[schema(value_type = String, example = "52:54:00:12:34:56")]
    pub mac_address: MacAddr,
}

/// Which address a request wants.
#[derive(Debug, Clone, Copy)]
pub(super) enum Want {
    Any,
    Exactly(IpAddr),
}

impl Actions {
    /// Binds a free address of the interface's libvirt network to its MAC.
    pub async fn allocate_ip(&self, interface: &str) -> Result<Allocation, ActionError> {
        let (vif, net, mac) = self.bindable(interface)?;
        let lock = self.network_lock(&net);
        let _held = lock.lock().await;
        let ip = self.choose_address(&net, mac, Want::Any).await?;
        self.record_address(&net, mac, ip, &vif.id).await
    }

    /// Removes the binding of `address` from the interface.
    pub async fn release_ip(&self, interface: &str, address: IpAddr) -> Result<(), ActionError> {
        let (vif, net, mac) = self.bindable(interface)?;
        let lock = self.network_lock(&net);
        let _held = lock.lock().await;
        let n = net.clone();
        let dhcp = self.libvirt(move |s| s.network_dhcp(&n, false)).await?;
        let bound = dhcp
            .hosts
            .iter()
            .any(|h| h.ip == Some(address) && h.mac == Some(mac));
        if !bound {
            return Err(ActionError::NotFound(format!(
                "Address {address} is not allocated to interface {} on network {}.",
                vif.id, dhcp.name
            )));
        }
        self.libvirt(move |s| s.remove_dhcp_host(&net, mac, address))
            .await
    }

    /// The interface, its network and MAC: 404 when unknown, 409 when it has no network
    /// or MAC to bind to.
    fn bindable(&self, interface: &str) -> Result<(Vif, String, MacAddr), ActionError> {
        let view = self.view()?;
        let vif = find_vif(&view, interface).ok_or_else(|| {
            ActionError::NotFound(format!("Interface {interface} could not be found."))
        })?;
        let net = vif.net_id.clone().ok_or_else(|| {
            ActionError::Conflict(format!(
                "Interface {interface} belongs to no known network: there is no address block to allocate from."
            ))
        })?;
        let mac = vif.mac_address.ok_or_else(|| {
            ActionError::Conflict(format!(
                "Interface {interface} has no MAC to bind an address to."
            ))
        })?;
        Ok((vif.clone(), net, mac))
    }

    /// A free address for `mac` on network `net`. The caller holds the network's lock
    /// until the address is recorded.
    pub(super) async fn choose_address(
        &self,
        net: &str,
        mac: MacAddr,
        want: Want,
    ) -> Result<IpAddr, ActionError> {
        let n = net.to_string();
        let dhcp = match self.libvirt(move |s| s.network_dhcp(&n, true)).await {
            Err(e) if e.libvirt_failure() == Some(crate::libvirt::Failure::NotFound) => {
                return Err(ActionError::Conflict(format!(
                    "Network {net} is not a libvirt network: addresses are allocated on libvirt \
                     networks with a DHCP range only."
                )))
            }
            other => other?,
        };
        if let Some(h) = dhcp.hosts.iter().find(|h| h.mac == Some(mac)) {
            let held =
                h.ip.map_or_else(|| "an address".to_string(), |ip| ip.to_string());
            return Err(ActionError::Conflict(format!(
                "MAC {mac} already holds {held} on network {}: its DHCP binds one address per MAC.",
                dhcp.name
            )));
        }
        let used = used_addresses(&dhcp, &self.shared.current());
        match want {
            Want::Exactly(ip) => {
                if !in_subnet(&dhcp, ip) {
                    return Err(ActionError::invalid(
                        "fixed_ips",
                        format!("{ip} is not in a subnet of network {}", dhcp.name),
                    ));
                }
                if used.contains(&ip) {
                    return Err(ActionError::Conflict(format!(
                        "Address {ip} is already in use on network {}.",
                        dhcp.name
                    )));
                }
                Ok(ip)
            }
            Want::Any => first_free(&dhcp, &used).ok_or_else(|| {
                ActionError::Conflict(format!(
                    "No free address is left in the DHCP range of network {} ({}).",
                    dhcp.name,
                    ranges_text(&dhcp)
                ))
            }),
        }
    }

    /// Writes the host entry. The caller holds the network's lock.
    pub(super) async fn record_address(
        &self,
        net: &str,
        mac: MacAddr,
        ip: IpAddr,
        interface_id: &str,
    ) -> Result<Allocation, ActionError> {
        let n = net.to_string();
        self.libvirt(move |s| s.add_dhcp_host(&n, mac, ip)).await?;
        Ok(Allocation {
            address: ip,
            version: if ip.is_ipv4() { 4 } else { 6 },
            interface_id: interface_id.to_string(),
            network_id: net.to_string(),
            mac_address: mac,
        })
    }
}

/// By record id or port id, any case.
pub(crate) fn find_vif<'a>(view: &'a View, id: &str) -> Option<&'a Vif> {
    view.vif_by_id(id).or_else(|| {
        view.interfaces().map(|v| &**v).find(|v| {
            v.port_id
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(id))
        })
    })
}

/// Host entries and leases as libvirt has them now, the network's own addresses, and
/// every address seen on any interface (neighbours, guest agents, Nova's metadata): none
/// of them may be handed out again.
fn used_addresses(dhcp: &NetworkDhcp, view: &View) -> HashSet<IpAddr> {
    let mut used: HashSet<IpAddr> = dhcp.hosts.iter().filter_map(|h| h.ip).collect();
    used.extend(dhcp.leases.iter().map(|l| l.address));
    used.extend(dhcp.ranges.iter().map(|r| r.gateway));
    // The view's DHCP sources may be a poll old: the fresh read above is what counts
    // for them (an address just released must be free again).
    let seen = view.interfaces().flat_map(|v| &v.ip_addresses);
    used.extend(
        seen.filter(|a| !matches!(a.source, AddressSource::DhcpHost | AddressSource::DhcpLease))
            .map(|a| a.address),
    );
    used
}

/// The lowest free IPv4 address of the ranges, in range order. IPv6 host entries bind a
/// DUID, not a MAC, so IPv6 ranges are not allocated from.
fn first_free(dhcp: &NetworkDhcp, used: &HashSet<IpAddr>) -> Option<IpAddr> {
    dhcp.ranges.iter().find_map(|r| match (r.start, r.end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u32::from(s)..=u32::from(e))
            .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            .find(|ip| !used.contains(ip)),
        _ => None,
    })
}

fn in_subnet(dhcp: &NetworkDhcp, ip: IpAddr) -> bool {
    dhcp.ranges.iter().any(|r| match (r.gateway, ip) {
        (IpAddr::V4(g), IpAddr::V4(a)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(r.prefix.min(32)))
                .unwrap_or(0);
            u32::from(g) & mask == u32::from(a) & mask && a != g
        }
        _ => false,
    })
}

fn ranges_text(dhcp: &NetworkDhcp) -> String {
    let list: Vec<String> = dhcp
        .ranges
        .iter()
        .map(|r| format!("{}-{}", r.start, r.end))
        .collect();
    if list.is_empty() {
        "it has no DHCP range".into()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::DhcpRange;

    fn net(start: &str, end: &str) -> NetworkDhcp {
        NetworkDhcp {
            name: "n".into(),
            ranges: vec![DhcpRange {
                start: start.parse().unwrap(),
                end: end.parse().unwrap(),
                gateway: "10.0.0.1".parse().unwrap(),
                prefix: 24,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_lowest_unused_address_of_the_range_is_chosen() {
        let d = net("10.0.0.10", "10.0.0.12");
        let used: HashSet<IpAddr> = ["10.0.0.10".parse().unwrap()].into();
        assert_eq!(first_free(&d, &used), Some("10.0.0.11".parse().unwrap()));
    }

    #[test]
    fn a_full_range_has_nothing_to_give() {
        let d = net("10.0.0.10", "10.0.0.10");
        let used: HashSet<IpAddr> = ["10.0.0.10".parse().unwrap()].into();
        assert_eq!(first_free(&d, &used), None);
    }

    #[test]
    fn a_fixed_address_must_be_in_the_subnet_and_not_the_gateway() {
        let d = net("10.0.0.10", "10.0.0.12");
        assert!(in_subnet(&d, "10.0.0.200".parse().unwrap()));
        assert!(!in_subnet(&d, "10.0.1.5".parse().unwrap()));
        assert!(!in_subnet(&d, "10.0.0.1".parse().unwrap()));
    }
}
