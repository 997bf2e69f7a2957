//! What is read: the Interface rows joined with their Port and Bridge.

use std::collections::BTreeMap;

/// What vifd needs from the Open_vSwitch database, by Interface name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsState {
    pub interfaces: BTreeMap<String, OvsInterface>,
}

/// One Interface row joined with its Port and Bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsInterface {
    /// `Interface.name`: the kernel device name for taps.
    pub name: String,
    /// `Interface.external_ids:iface-id`: the Neutron port (or other CMS) id.
    pub iface_id: Option<String>,
    /// `Interface.external_ids:attached-mac`, as written (not normalised).
    pub attached_mac: Option<String>,
    /// `Interface.external_ids:vm-uuid` (os-vif), else `vm-id` (libvirt's own).
    pub vm_uuid: Option<String>,
    /// Name of the Port whose `interfaces` holds this row.
    pub port: Option<String>,
    /// Name of the Bridge whose `ports` holds that Port.
    pub bridge: Option<String>,
    /// `Port.other_config:net_uuid` (Neutron OVS agent).
    pub net_uuid: Option<String>,
    /// `Port.tag`, else `Port.other_config:tag` when numeric.
    pub vlan: Option<u16>,
}
