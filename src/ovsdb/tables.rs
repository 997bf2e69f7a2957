//! The monitored rows of Interface, Port, Bridge and Open_vSwitch, kept by uuid, and the
//! join that turns them into an [`OvsState`].
//!
//! Only the values vifd reports are kept (not whole `external_ids` maps), and uuids are parsed
//! into 16-byte keys, so thousands of rows cost little memory and no string hashing. The
//! state is derived after each batch of updates rather than patched, which keeps the joins
//! right whatever order Port, Bridge and Interface changes arrive in.

use std::collections::HashMap;

use uuid::Uuid;

use super::message::{BridgeCols, IfaceCols, OpenVswitchCols, PortCols, RowUpdates, TableUpdates};
use super::state::{OvsHost, OvsInterface, OvsState, OVS_RUNDIR};

/// The monitor request's table → columns; [`TableUpdates`] decodes the same ones.
pub(super) const MONITORED: [(&str, &[&str]); 4] = [
    ("Interface", &["name", "external_ids", "type", "options"]),
    ("Port", &["name", "interfaces", "other_config", "tag"]),
    ("Bridge", &["name", "ports", "datapath_type"]),
    ("Open_vSwitch", &["external_ids"]),
];

type UuidMap<V> = HashMap<Uuid, V>;

#[derive(Default)]
pub(super) struct Tables {
    interfaces: UuidMap<IfaceRow>,
    ports: UuidMap<PortRow>,
    bridges: UuidMap<BridgeRow>,
    /// The schema says one row; kept by uuid like the others so updates apply alike.
    hosts: UuidMap<OvsHost>,
}

#[derive(Default)]
struct IfaceRow {
    name: String,
    iface_id: Option<String>,
    attached_mac: Option<String>,
    vm_uuid: Option<String>,
    vm_id: Option<String>,
    ovn_installed: bool,
    ovn_installed_ts: Option<u64>,
    iface_type: String,
    vhost_server_path: Option<String>,
}

#[derive(Default)]
struct PortRow {
    name: String,
    interfaces: Vec<Uuid>,
    net_uuid: Option<String>,
    tag: Option<u16>,
    other_config_tag: Option<u16>,
}

#[derive(Default)]
struct BridgeRow {
    name: String,
    ports: Vec<Uuid>,
    datapath_type: String,
}

/// A stored row that takes the columns present in an update's `new` object.
trait Row<C>: Default {
    fn merge(&mut self, cols: C);
}

impl Tables {
    /// Applies a monitor reply's or an `update` notification's rows: a `new` object is
    /// merged into the row (inserting it), an update without one deletes it.
    pub(super) fn apply(&mut self, updates: TableUpdates<'_>) {
        apply_rows(&mut self.interfaces, updates.interface);
        apply_rows(&mut self.ports, updates.port);
        apply_rows(&mut self.bridges, updates.bridge);
        apply_rows(&mut self.hosts, updates.open_vswitch);
    }

    /// Joins Bridge → Port → Interface into the state vifd reports.
    pub(super) fn state(&self) -> OvsState {
        let links = self.links();
        let mut rows: Vec<(&Uuid, &IfaceRow)> = self.interfaces.iter().collect();
        // In name order the map is built in bulk rather than by shifting node entries.
        rows.sort_unstable_by(|a, b| a.1.name.cmp(&b.1.name));
        let interfaces = rows
            .into_iter()
            .map(|(uuid, row)| (row.name.clone(), joined(row, links.get(uuid))))
            .collect();
        // Should a database ever hold more than one row, the lowest uuid's is the answer
        // every time, not whichever the hash map yields first.
        let host = self.hosts.iter().min_by_key(|(uuid, _)| **uuid);
        OvsState {
            interfaces,
            host: host.map(|(_, h)| h.clone()).unwrap_or_default(),
        }
    }

    /// Each Interface uuid's Port row, with the Bridge holding that Port.
    fn links(&self) -> UuidMap<Link<'_>> {
        let mut bridge_of_port: UuidMap<&BridgeRow> = UuidMap::default();
        bridge_of_port.reserve(self.ports.len());
        for bridge in self.bridges.values() {
            for port in &bridge.ports {
                bridge_of_port.insert(*port, bridge);
            }
        }
        let mut links: UuidMap<Link> = UuidMap::default();
        links.reserve(self.ports.len());
        for (uuid, port) in &self.ports {
            let bridge = bridge_of_port.get(uuid).copied();
            for iface in &port.interfaces {
                links.insert(*iface, (port, bridge));
            }
        }
        links
    }
}

/// An Interface's Port and that Port's Bridge.
type Link<'t> = (&'t PortRow, Option<&'t BridgeRow>);

fn joined(row: &IfaceRow, link: Option<&Link>) -> OvsInterface {
    let port = link.map(|(port, _)| *port);
    let bridge = link.and_then(|(_, bridge)| *bridge);
    OvsInterface {
        name: row.name.clone(),
        iface_id: row.iface_id.clone(),
        attached_mac: row.attached_mac.clone(),
        vm_uuid: row.vm_uuid.as_ref().or(row.vm_id.as_ref()).cloned(),
        port: port.map(|p| p.name.clone()),
        bridge: bridge.map(|b| b.name.clone()),
        net_uuid: port.and_then(|p| p.net_uuid.clone()),
        vlan: port.and_then(|p| p.tag.or(p.other_config_tag)),
        ovn_installed: row.ovn_installed,
        ovn_installed_ts: row.ovn_installed_ts,
        iface_type: row.iface_type.clone(),
        vhost_socket: vhost_socket(row),
        datapath_type: bridge.map(|b| b.datapath_type.clone()),
    }
}

/// The vhost-user socket path of a `dpdkvhostuser*` Interface (see
/// [`OvsInterface::vhost_socket`]).
fn vhost_socket(row: &IfaceRow) -> Option<String> {
    match row.iface_type.as_str() {
        "dpdkvhostuserclient" => row.vhost_server_path.clone(),
        // ovs-vswitchd names the server socket after the Interface, in its rundir.
        "dpdkvhostuser" => Some(format!("{OVS_RUNDIR}/{}", row.name)),
        _ => None,
    }
}

fn apply_rows<C, R: Row<C>>(rows: &mut UuidMap<R>, updates: RowUpdates<C>) {
    rows.reserve(updates.0.len());
    for (uuid, new) in updates.0 {
        match new {
            Some(cols) => rows.entry(uuid).or_default().merge(cols),
            None => {
                rows.remove(&uuid);
            }
        }
    }
}

impl Row<IfaceCols<'_>> for IfaceRow {
    fn merge(&mut self, cols: IfaceCols<'_>) {
        if let Some(name) = cols.name {
            self.name = name.0.into_owned();
        }
        if let Some(kind) = cols.iface_type {
            self.iface_type = kind.0.into_owned();
        }
        if let Some(options) = cols.options {
            let path = options
                .0
                .into_iter()
                .find(|(k, _)| &**k == "vhost-server-path");
            self.vhost_server_path = path.map(|(_, v)| v.0.into_owned());
        }
        if let Some(ids) = cols.external_ids {
            (self.iface_id, self.attached_mac, self.vm_uuid, self.vm_id) = (None, None, None, None);
            (self.ovn_installed, self.ovn_installed_ts) = (false, None);
            for (key, value) in ids.0 {
                let slot = match &*key {
                    "iface-id" => &mut self.iface_id,
                    "attached-mac" => &mut self.attached_mac,
                    "vm-uuid" => &mut self.vm_uuid,
                    "vm-id" => &mut self.vm_id,
                    "ovn-installed" => {
                        self.ovn_installed = &*value == "true";
                        continue;
                    }
                    "ovn-installed-ts" => {
                        self.ovn_installed_ts = value.trim().parse().ok();
                        continue;
                    }
                    _ => continue,
                };
                *slot = Some(value.0.into_owned());
            }
        }
    }
}

impl Row<PortCols<'_>> for PortRow {
    fn merge(&mut self, cols: PortCols<'_>) {
        if let Some(name) = cols.name {
            self.name = name.0.into_owned();
        }
        if let Some(set) = cols.interfaces {
            self.interfaces = set.0;
        }
        if let Some(tag) = cols.tag {
            // The schema allows 0-4095; anything else is not a VLAN we can report.
            self.tag = tag.0.and_then(|n| u16::try_from(n).ok());
        }
        if let Some(config) = cols.other_config {
            (self.net_uuid, self.other_config_tag) = (None, None);
            for (key, value) in config.0 {
                match &*key {
                    "net_uuid" => self.net_uuid = Some(value.0.into_owned()),
                    "tag" => self.other_config_tag = value.trim().parse().ok(),
                    _ => {}
                }
            }
        }
    }
}

impl Row<BridgeCols<'_>> for BridgeRow {
    fn merge(&mut self, cols: BridgeCols<'_>) {
        if let Some(name) = cols.name {
            self.name = name.0.into_owned();
        }
        if let Some(set) = cols.ports {
            self.ports = set.0;
        }
        if let Some(kind) = cols.datapath_type {
            self.datapath_type = kind.0.into_owned();
        }
    }
}

impl Row<OpenVswitchCols<'_>> for OvsHost {
    fn merge(&mut self, cols: OpenVswitchCols<'_>) {
        let Some(ids) = cols.external_ids else { return };
        *self = OvsHost::default();
        for (key, value) in ids.0 {
            let slot = match &*key {
                "system-id" => &mut self.system_id,
                "hostname" => &mut self.hostname,
                "ovn-remote" => &mut self.ovn_remote,
                "ovn-bridge" => &mut self.ovn_bridge,
                _ => continue,
            };
            *slot = Some(value.0.into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::{TableUpdates, Tables};

    const IF1: &str = "cb99b761-479b-468f-87b6-8ca76d1f0625";
    const P1: &str = "6603ef07-deb9-4864-919b-2e461fa24935";
    const B1: &str = "8ad4ee9e-e063-4c3d-a80e-bdf3c7eb304b";

    fn apply(tables: &mut Tables, updates: Value) {
        let text = updates.to_string();
        tables.apply(serde_json::from_str(&text).unwrap());
    }

    fn initial() -> Tables {
        let mut t = Tables::default();
        apply(
            &mut t,
            json!({
                "Interface": {IF1: {"new": {"name": "tap1", "external_ids":
                    ["map", [["vm-id", "vm-a"], ["attached-mac", "FA:16:3E:00:00:01"]]]}}},
                "Port": {P1: {"new": {"name": "tap1", "interfaces": ["uuid", IF1],
                    "other_config": ["map", [["tag", "7"]]], "tag": ["set", []]}}},
                "Bridge": {B1: {"new": {"name": "br-int", "ports": ["set", [["uuid", P1]]]}}},
                "Open_vSwitch": {B1: {"new": {"bridges": ["uuid", B1]}}},
            }),
        );
        t
    }

    #[test]
    fn joins_and_falls_back_to_vm_id_and_other_config_tag() {
        let s = initial().state();
        let i = &s.interfaces["tap1"];
        assert_eq!(i.vm_uuid.as_deref(), Some("vm-a"));
        assert_eq!(i.attached_mac.as_deref(), Some("FA:16:3E:00:00:01"));
        assert_eq!(
            (i.port.as_deref(), i.bridge.as_deref()),
            (Some("tap1"), Some("br-int"))
        );
        assert_eq!((i.vlan, i.net_uuid.as_deref()), (Some(7), None));
    }

    #[test]
    fn modify_merges_columns_and_delete_removes() {
        let mut t = initial();
        apply(
            &mut t,
            json!({"Port": {P1: {"old": {"tag": ["set", []]}, "new": {"tag": 9}}}}),
        );
        assert_eq!(t.state().interfaces["tap1"].vlan, Some(9));
        assert_eq!(t.state().interfaces["tap1"].port.as_deref(), Some("tap1"));
        apply(&mut t, json!({"Port": {P1: {"old": {}}}}));
        assert_eq!(t.state().interfaces["tap1"].port, None);
    }

    #[test]
    fn reads_ovn_host_settings_and_userspace_datapath_columns() {
        const IF2: &str = "0b3a4c5d-6e7f-4a1b-8c2d-3e4f5a6b7c8d";
        const OVS: &str = "5e0c9b1a-2d3e-4f5a-8b6c-7d8e9f0a1b2c";
        let mut t = initial();
        apply(
            &mut t,
            json!({
                "Interface": {
                    IF1: {"new": {"type": "dpdkvhostuserclient", "options":
                        ["map", [["vhost-server-path", "/run/vhu/vhu1"], ["n_rxq", "2"]]],
                        "external_ids": ["map", [["ovn-installed", "true"],
                            ["ovn-installed-ts", "1700000000123"]]]}},
                    IF2: {"new": {"name": "vhu2", "type": "dpdkvhostuser", "external_ids":
                        ["map", [["ovn-installed", "yes"], ["ovn-installed-ts", "soon"]]]}},
                },
                "Bridge": {B1: {"new": {"datapath_type": "netdev"}}},
                "Open_vSwitch": {OVS: {"new": {"external_ids": ["map", [
                    ["system-id", "hv-a"], ["hostname", "hv-a.example"],
                    ["ovn-remote", "tcp:10.0.0.1:6642"], ["ovn-encap-type", "geneve"]]]}}},
            }),
        );
        let s = t.state();
        let i = &s.interfaces["tap1"];
        assert_eq!(i.iface_type, "dpdkvhostuserclient");
        assert_eq!(i.vhost_socket.as_deref(), Some("/run/vhu/vhu1"));
        assert_eq!(
            (i.ovn_installed, i.ovn_installed_ts),
            (true, Some(1_700_000_000_123))
        );
        assert_eq!(i.datapath_type.as_deref(), Some("netdev"));
        assert!(i.is_userspace_datapath());
        // Rewritten external_ids replace the old keys rather than adding to them.
        assert_eq!(i.vm_uuid, None);
        let v = &s.interfaces["vhu2"];
        assert_eq!(v.vhost_socket.as_deref(), Some("/var/run/openvswitch/vhu2"));
        assert_eq!((v.ovn_installed, v.ovn_installed_ts), (false, None));
        assert_eq!(
            (v.bridge.as_deref(), v.datapath_type.as_deref()),
            (None, None)
        );
        assert_eq!(s.host.system_id.as_deref(), Some("hv-a"));
        assert_eq!(s.host.hostname.as_deref(), Some("hv-a.example"));
        assert_eq!(s.host.ovn_remote.as_deref(), Some("tcp:10.0.0.1:6642"));
        assert_eq!(s.host.ovn_bridge, None);
    }

    #[test]
    fn a_plain_tap_on_a_kernel_bridge_has_no_socket_and_no_host_settings() {
        let s = initial().state();
        let i = &s.interfaces["tap1"];
        assert_eq!((i.iface_type.as_str(), &i.vhost_socket), ("", &None));
        assert_eq!(i.datapath_type.as_deref(), Some(""));
        assert!(!i.is_userspace_datapath());
        assert_eq!(s.host, Default::default());
    }

    #[test]
    fn malformed_columns_do_not_decode() {
        for bad in [
            json!({"Interface": {IF1: {"new": {"external_ids": 3}}}}),
            json!({"Port": {"not-a-uuid": {"new": {}}}}),
            json!({"Port": {P1: {"new": {"interfaces": ["set", ["x"]]}}}}),
            json!({"Bridge": {B1: {"new": {"datapath_type": 1}}}}),
            json!({"Open_vSwitch": {B1: {"new": {"external_ids": ["set", []]}}}}),
        ] {
            assert!(
                serde_json::from_str::<TableUpdates>(&bad.to_string()).is_err(),
                "{bad}"
            );
        }
    }
}
