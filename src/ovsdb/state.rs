//! What is read: the Interface rows joined with their Port and Bridge, and the host's own
//! row of the Open_vSwitch table.

use std::collections::BTreeMap;

/// What vifd needs from the Open_vSwitch database, by Interface name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsState {
    pub interfaces: BTreeMap<String, OvsInterface>,
    /// The host's settings in the (single) Open_vSwitch row.
    pub host: OvsHost,
}

/// `Open_vSwitch.external_ids`: what ovn-controller reads to join OVN as a chassis. All
/// `None` on a host that is not (or not yet) configured as one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsHost {
    /// `system-id`: the chassis name under OVN.
    pub system_id: Option<String>,
    /// `hostname`: the host name ovn-controller reports (else the kernel's).
    pub hostname: Option<String>,
    /// `ovn-remote`: the OVN Southbound database address(es), as written.
    pub ovn_remote: Option<String>,
    /// `ovn-bridge`: the integration bridge (ovn-controller's default is `br-int`).
    pub ovn_bridge: Option<String>,
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
    /// `Interface.external_ids:ovn-installed` is `"true"`: ovn-controller has installed the
    /// port's flows.
    pub ovn_installed: bool,
    /// `Interface.external_ids:ovn-installed-ts`: when it did, in milliseconds since the
    /// epoch as ovn-controller writes it; `None` when absent or not a number.
    pub ovn_installed_ts: Option<u64>,
    /// `Interface.type`: `""` for a plain system port (a tap), `internal`,
    /// `dpdkvhostuser`, `dpdkvhostuserclient`, ...
    pub iface_type: String,
    /// The vhost-user socket of a `dpdkvhostuser*` Interface: `options:vhost-server-path`
    /// for `dpdkvhostuserclient` (the guest's QEMU is the server), and for `dpdkvhostuser`
    /// the server socket OVS itself creates, [`OVS_RUNDIR`]`/<name>`.
    pub vhost_socket: Option<String>,
    /// `Bridge.datapath_type` of that Bridge: `""` or `"system"` is the kernel datapath,
    /// `"netdev"` the userspace one (OVS-DPDK); `None` when the row is on no Bridge.
    pub datapath_type: Option<String>,
}

/// Where ovs-vswitchd creates a `dpdkvhostuser` port's server socket (its default rundir,
/// as Debian's and most distributions' packages build it).
pub const OVS_RUNDIR: &str = "/var/run/openvswitch";

impl OvsInterface {
    /// The row's bridge uses the userspace datapath: its ports have no kernel master.
    pub fn is_userspace_datapath(&self) -> bool {
        self.datapath_type.as_deref() == Some("netdev")
    }
}
