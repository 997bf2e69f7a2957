//! What does not add up on the host: the problem kinds (a contract) and one problem.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::mac::MacAddr;

/// The kinds of discrepancy vifd reports. The names are a contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// An active domain's interface has no host device.
    DeviceMissing,
    /// The host device's MAC breaks libvirt's rule for it.
    MacMismatch,
    /// The host device is enslaved to another bridge than the XML says (or to none).
    WrongMaster,
    /// A running domain's device has no carrier.
    NoCarrier,
    /// A tap or macvtap that no domain claims.
    OrphanDevice,
    /// OVSDB's `attached-mac` or `vm-uuid` for the device disagrees with libvirt.
    OvsdbMismatch,
    /// An OVS port with an `iface-id` but no `net_uuid`: no agent has bound it (OVS
    /// agent hosts only; OVN never writes `net_uuid`).
    PortUnbound,
    /// An `iface-id` that no OVN Southbound `Port_Binding` has.
    OvnPortMissing,
    /// The port's binding has no chassis.
    OvnUnbound,
    /// The port is bound to another chassis, and this one is not an additional chassis.
    OvnBoundElsewhere,
    /// The port's `requested-chassis` names neither this chassis nor its hostname.
    OvnRequestedElsewhere,
    /// Bound here, but ovn-controller has not marked the interface `ovn-installed`.
    OvnNotInstalled,
    /// Bound here, but the binding is not `up`.
    OvnPortDown,
    /// The binding's `neutron:device_id` is not the domain's UUID.
    DeviceIdMismatch,
    /// The binding's `neutron:network_name` names another network than its datapath.
    NetIdMismatch,
    /// The port's network has a metadata port but the host has no `ovnmeta-<net>`
    /// namespace.
    OvnMetadataMissing,
    /// No Southbound `Chassis` row is named by this host's `system-id`.
    OvnChassisMissing,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeviceMissing => "device-missing",
            Self::MacMismatch => "mac-mismatch",
            Self::WrongMaster => "wrong-master",
            Self::NoCarrier => "no-carrier",
            Self::OrphanDevice => "orphan-device",
            Self::OvsdbMismatch => "ovsdb-mismatch",
            Self::PortUnbound => "port-unbound",
            Self::OvnPortMissing => "ovn-port-missing",
            Self::OvnUnbound => "ovn-unbound",
            Self::OvnBoundElsewhere => "ovn-bound-elsewhere",
            Self::OvnRequestedElsewhere => "ovn-requested-elsewhere",
            Self::OvnNotInstalled => "ovn-not-installed",
            Self::OvnPortDown => "ovn-port-down",
            Self::DeviceIdMismatch => "device-id-mismatch",
            Self::NetIdMismatch => "net-id-mismatch",
            Self::OvnMetadataMissing => "ovn-metadata-missing",
            Self::OvnChassisMissing => "ovn-chassis-missing",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, with what it concerns and a sentence for a human.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub struct Problem {
    pub kind: ProblemKind,
    pub device: Option<String>,
    pub domain_uuid: Option<String>,
    #[schema(value_type = Option<String>, example = "52:54:00:12:34:56")]
    pub mac_address: Option<MacAddr>,
    pub detail: String,
}
