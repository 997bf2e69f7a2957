//! Ethernet MAC addresses and libvirt's rule for the MAC of a host tap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 48-bit Ethernet MAC address, printed as lowercase `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// The text was not a MAC address of the form `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex octets separated by ':'")]
pub struct MacParseError(pub String);

impl MacAddr {
    /// Reads a MAC from the raw bytes of a netlink address attribute; `None` unless it is 6 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }

    /// The MAC libvirt gives the host side of a tap it creates for a guest NIC: the guest
    /// MAC with the first byte set to 0xFE, or 0xFA when the guest MAC already starts with
    /// 0xFE, so that the bridge never learns the guest's own address on the tap.
    pub fn libvirt_tap_mac(self) -> Self {
        let mut b = self.0;
        b[0] = if b[0] == 0xfe { 0xfa } else { 0xfe };
        MacAddr(b)
    }
}

/// The text [`MacAddr::from_str`] accepts, as a JSON Schema (ECMA 262) pattern: six
/// colon-separated groups of one or two hex digits.
pub const PATTERN: &str = "^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}$";

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.trim().split(':');
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(err)?;
            // Hex digits only: `from_str_radix` alone would take a leading `+`.
            if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_mac_sets_first_byte_to_fe() {
        let g: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(g.libvirt_tap_mac().to_string(), "fe:54:00:12:34:56");
    }

    #[test]
    fn tap_mac_of_fe_guest_uses_fa() {
        let g: MacAddr = "FE:16:3e:00:00:01".parse().unwrap();
        assert_eq!(g.libvirt_tap_mac().to_string(), "fa:16:3e:00:00:01");
    }

    #[test]
    fn malformed_macs_are_rejected() {
        for bad in [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:56:78",
            "zz:54:00:12:34:56",
            "525:4:00:12:34:56",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
