//! A network's DHCP leases through `virt-sys` (`virNetworkGetDHCPLeases`): the `virt`
//! crate has no wrapper for it.
#![allow(unsafe_code)] // FFI module: one of the few allowed `unsafe` (Cargo.toml [lints]).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::net::IpAddr;
use std::ptr::{null, null_mut};

use tracing::debug;
use virt::network::Network as VirtNetwork;
use virt_sys as sys;

use super::error::{LibvirtCause, LibvirtError};
use super::ffi::{opt_string, OwnedArray};
use super::network::DhcpLease;
use crate::mac::MacAddr;

/// One lease as libvirt reported it, copied out before any parsing.
#[derive(Debug, Default)]
struct RawLease {
    mac: Option<String>,
    ipaddr: Option<String>,
    prefix: u32,
    hostname: Option<String>,
    expiry: i64,
}

/// The leases of `net` (named `name`, for messages). libvirt reads dnsmasq's lease status
/// file and leaves expired leases out. A lease that does not parse is logged and skipped.
pub(super) fn dhcp_leases(net: &VirtNetwork, name: &str) -> Result<Vec<DhcpLease>, LibvirtError> {
    let mut array: *mut sys::virNetworkDHCPLeasePtr = null_mut();
    // SAFETY: `net` owns a reference on the network for the call; a NULL MAC asks for
    // every lease; libvirt sets `array` only on success.
    let n = unsafe { sys::virNetworkGetDHCPLeases(net.as_ptr(), null(), &mut array, 0) };
    if n < 0 {
        return Err(LibvirtError::Leases {
            network: name.to_string(),
            cause: LibvirtCause::last(),
        });
    }
    // SAFETY: on success libvirt hands us `n` leases (plus a NULL terminator), each to be
    // freed with virNetworkDHCPLeaseFree and the array with free(); `array` may stay NULL
    // when there are none.
    let owned = unsafe { OwnedArray::new(array, n as usize, sys::virNetworkDHCPLeaseFree) };
    let leases = owned
        .iter()
        .map(copy_lease)
        .filter_map(|raw| parse_lease(raw, name))
        .collect();
    Ok(leases)
}

fn copy_lease(lease: &sys::virNetworkDHCPLease) -> RawLease {
    // SAFETY: every string of a lease libvirt returned is NULL or NUL-terminated, and
    // lives as long as the lease (borrowed here).
    unsafe {
        RawLease {
            mac: opt_string(lease.mac),
            ipaddr: opt_string(lease.ipaddr),
            prefix: lease.prefix,
            hostname: opt_string(lease.hostname),
            expiry: lease.expirytime,
        }
    }
}

fn parse_lease(raw: RawLease, network: &str) -> Option<DhcpLease> {
    let address = match raw.ipaddr.as_deref().map(str::parse::<IpAddr>) {
        Some(Ok(a)) => a,
        _ => {
            debug!(network, lease = ?raw, "skipping DHCP lease: no valid IP address");
            return None;
        }
    };
    let mac = match raw.mac.as_deref().map(str::parse::<MacAddr>) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            debug!(network, lease = ?raw, error = %e, "skipping DHCP lease: bad MAC");
            return None;
        }
    };
    Some(DhcpLease {
        mac,
        address,
        prefix: raw.prefix,
        hostname: raw.hostname.filter(|h| !h.is_empty()),
        expiry: raw.expiry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(mac: Option<&str>, ip: Option<&str>) -> RawLease {
        RawLease {
            mac: mac.map(String::from),
            ipaddr: ip.map(String::from),
            prefix: 24,
            hostname: Some(String::new()),
            expiry: 7,
        }
    }

    #[test]
    fn a_lease_with_a_valid_mac_and_address_is_kept() {
        let l = parse_lease(raw(Some("52:54:00:AA:bb:01"), Some("10.0.0.5")), "n").unwrap();
        assert_eq!(l.mac.unwrap().to_string(), "52:54:00:aa:bb:01");
        assert_eq!(l.address, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert_eq!((l.prefix, l.expiry, l.hostname), (24, 7, None));
    }

    #[test]
    fn a_dhcpv6_lease_without_mac_is_kept() {
        let l = parse_lease(raw(None, Some("fd00::5")), "n").unwrap();
        assert_eq!(l.mac, None);
    }

    #[test]
    fn leases_that_do_not_parse_are_skipped() {
        assert!(parse_lease(raw(Some("52:54:00:aa:bb"), Some("10.0.0.5")), "n").is_none());
        assert!(parse_lease(raw(Some("52:54:00:aa:bb:01"), Some("10.0.0")), "n").is_none());
        assert!(parse_lease(raw(Some("52:54:00:aa:bb:01"), None), "n").is_none());
    }
}
