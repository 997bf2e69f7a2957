//! The Southbound rows held, the conditions that keep them to this host's ports, and the
//! join into an [`SbState`].
//!
//! Which rows are wanted depends on rows already read: a port's datapath and chassis are
//! references. So the conditions are recomputed from the rows when a port's references
//! change, and changed on the server when they differ from those sent: a fixpoint reached
//! in two round trips. The metadata ports come from a second, fixed monitor (`localport`s,
//! their datapath only).
//!
//! The state is kept between updates: an update of Port_Binding rows rebuilds only their
//! ports; one of a datapath, a chassis or a metadata port (rare) rebuilds all.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::value::RawValue;
use uuid::Uuid;

use super::conditions::{Conditions, CHASSIS, DATAPATH_BINDING, PORT_BINDING};
use super::rows::{members, Columns, Kind, RawRows, Row, Table, UpdateError};
use super::state::{SbChassis, SbDatapath, SbPort, SbState, Wanted};

const PORT_COLUMNS: Columns = &[
    ("logical_port", Kind::Atom),
    ("type", Kind::Atom),
    ("datapath", Kind::Atom),
    ("chassis", Kind::Optional),
    ("additional_chassis", Kind::Set),
    ("up", Kind::Optional),
    ("options", Kind::Map),
    ("external_ids", Kind::Map),
];
const DATAPATH_COLUMNS: Columns = &[("external_ids", Kind::Map)];
const CHASSIS_COLUMNS: Columns = &[("name", Kind::Atom), ("hostname", Kind::Atom)];
/// The metadata ports (`localport`s) by their datapath: one row per network of the cloud.
const METADATA_COLUMNS: Columns = &[("datapath", Kind::Atom)];

/// The key under which Neutron names a port's owner.
const DEVICE_ID: &str = "neutron:device_id";

/// The wanted ports, shared with the [`Wanted`] they came in.
type Ports = Arc<BTreeSet<String>>;

#[derive(Debug, Default)]
pub(super) struct Tables {
    ports: Table,
    datapaths: Table,
    chassis: Table,
    /// The metadata monitor's Port_Binding rows.
    metadata: Table,
    /// Their datapaths: the networks with a metadata port.
    localports: BTreeSet<Uuid>,
    /// The state as last built, and the wanted ports it was built for.
    cache: Option<(Ports, imbl::OrdMap<String, SbPort>)>,
    /// Each Port_Binding row's `logical_port` in the cache.
    names: HashMap<Uuid, String>,
    /// Port_Binding rows changed since the cache was built.
    dirty_ports: BTreeSet<Uuid>,
    /// Something every port reads changed: rebuild all.
    dirty_all: bool,
    /// The wanted ports' references (datapaths, chassis), while no port's changed.
    refs: Option<(Ports, BTreeSet<Uuid>, BTreeSet<Uuid>)>,
}

impl Tables {
    /// Applies a `<table-updates2>` object (a reply's result or an `update2`'s).
    pub(super) fn apply(&mut self, updates: &RawValue) -> Result<(), UpdateError> {
        for (name, update) in members("-", updates)? {
            match name {
                PORT_BINDING => self.apply_ports(&members(PORT_BINDING, update)?)?,
                DATAPATH_BINDING => {
                    self.dirty_all = true;
                    let rows = members(DATAPATH_BINDING, update)?;
                    self.datapaths
                        .apply(DATAPATH_BINDING, DATAPATH_COLUMNS, &rows)?
                }
                CHASSIS => {
                    self.dirty_all = true;
                    let rows = members(CHASSIS, update)?;
                    self.chassis.apply(CHASSIS, CHASSIS_COLUMNS, &rows)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Port_Binding rows: marked dirty, and the references dropped when one changed.
    fn apply_ports(&mut self, rows: &RawRows) -> Result<(), UpdateError> {
        let ids: Vec<Uuid> = rows
            .iter()
            .filter_map(|(k, _)| Uuid::try_parse(k).ok())
            .collect();
        let refs = |t: &Table, u: &Uuid| t.rows.get(u).map(references);
        let before: Vec<_> = ids.iter().map(|u| refs(&self.ports, u)).collect();
        self.ports.apply(PORT_BINDING, PORT_COLUMNS, rows)?;
        if ids
            .iter()
            .zip(&before)
            .any(|(u, b)| refs(&self.ports, u) != *b)
        {
            self.refs = None;
        }
        self.dirty_ports.extend(ids);
        Ok(())
    }

    /// Applies the metadata monitor's `<table-updates2>`.
    pub(super) fn apply_metadata(&mut self, updates: &RawValue) -> Result<(), UpdateError> {
        for (name, update) in members("-", updates)? {
            if name != PORT_BINDING {
                continue;
            }
            self.dirty_all = true;
            let rows = members(PORT_BINDING, update)?;
            self.metadata.apply(PORT_BINDING, METADATA_COLUMNS, &rows)?;
            let datapaths = self
                .metadata
                .rows
                .values()
                .filter_map(|m| m.uuid("datapath"));
            self.localports = datapaths.collect();
        }
        Ok(())
    }

    /// The conditions that select exactly what `wanted` needs, given the rows held. The
    /// references are gathered again only when a port's changed or other ports are wanted.
    pub(super) fn conditions(&mut self, wanted: &Wanted) -> Conditions {
        let fresh = matches!(&self.refs, Some((w, ..)) if Arc::ptr_eq(w, &wanted.ports));
        if !fresh {
            let (mut datapaths, mut chassis) = (BTreeSet::new(), BTreeSet::new());
            for row in self.wanted_rows(&wanted.ports) {
                let (dp, bound, additional) = references(row);
                datapaths.extend(dp);
                chassis.extend(bound.into_iter().chain(additional));
            }
            self.refs = Some((wanted.ports.clone(), datapaths, chassis));
        }
        let (_, datapaths, chassis) = self.refs.clone().unwrap_or_default();
        Conditions {
            ports: wanted.ports.clone(),
            datapaths,
            chassis,
            system_id: wanted.system_id.clone(),
        }
    }

    /// The Port_Binding rows of wanted ports.
    fn wanted_rows<'a>(&'a self, wanted: &'a BTreeSet<String>) -> impl Iterator<Item = &'a Row> {
        let rows = self.ports.rows.values();
        rows.filter(|r| r.str("logical_port").is_some_and(|p| wanted.contains(p)))
    }

    /// The wanted ports joined with their datapaths and chassis: the changed ports'
    /// entries replaced in the kept state, or everything rebuilt.
    pub(super) fn state(&mut self, wanted: &Wanted) -> SbState {
        let same_wanted = matches!(&self.cache, Some((w, _)) if Arc::ptr_eq(w, &wanted.ports));
        let dirty = std::mem::take(&mut self.dirty_ports);
        let ports = match self.cache.take() {
            Some((_, mut ports)) if same_wanted && !std::mem::take(&mut self.dirty_all) => {
                for uuid in dirty {
                    self.rejoin(uuid, &wanted.ports, &mut ports);
                }
                ports
            }
            _ => self.rebuild(&wanted.ports),
        };
        self.cache = Some((wanted.ports.clone(), ports.clone()));
        let ours = wanted.system_id.as_deref();
        let own = self
            .chassis
            .rows
            .values()
            .find(|c| ours.is_some() && c.str("name") == ours);
        let chassis = own.map(|c| SbChassis {
            name: c.str("name").unwrap_or_default().to_string(),
            hostname: c.str("hostname").map(str::to_string),
        });
        SbState {
            ports,
            chassis,
            asked: wanted.ports.clone(),
        }
    }

    fn rebuild(&mut self, wanted: &BTreeSet<String>) -> imbl::OrdMap<String, SbPort> {
        self.dirty_all = false;
        self.names.clear();
        let mut ports = imbl::OrdMap::new();
        let uuids: Vec<Uuid> = self.ports.rows.keys().copied().collect();
        for uuid in uuids {
            self.rejoin(uuid, wanted, &mut ports);
        }
        ports
    }

    /// Replaces one Port_Binding row's entry (its old name dropped, its new one joined).
    fn rejoin(
        &mut self,
        uuid: Uuid,
        wanted: &BTreeSet<String>,
        ports: &mut imbl::OrdMap<String, SbPort>,
    ) {
        if let Some(old) = self.names.remove(&uuid) {
            ports.remove(&old);
        }
        let Some(row) = self.ports.rows.get(&uuid) else {
            return;
        };
        let Some(name) = row.str("logical_port").filter(|p| wanted.contains(*p)) else {
            return;
        };
        let port = self.join(row);
        self.names.insert(uuid, name.to_string());
        ports.insert(name.to_string(), port);
    }

    /// One Port_Binding row with its chassis by name and its datapath.
    fn join(&self, row: &Row) -> SbPort {
        let chassis_name = |u: Uuid| match self.chassis.rows.get(&u).and_then(|c| c.str("name")) {
            Some(name) => name.to_string(),
            None => u.to_string(),
        };
        let ext = |key| row.map_get("external_ids", key).map(str::to_string);
        let datapath = row.uuid("datapath").and_then(|u| {
            let dp = self.datapaths.rows.get(&u)?;
            let name = |key| dp.map_get("external_ids", key).map(str::to_string);
            Some(SbDatapath {
                name: name("name"),
                name2: name("name2"),
                has_localport: self.localports.contains(&u),
            })
        });
        let requested = row.map_get("options", "requested-chassis").unwrap_or("");
        let requested = requested
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty());
        SbPort {
            logical_port: row.str("logical_port").unwrap_or_default().to_string(),
            kind: row.str("type").unwrap_or_default().to_string(),
            chassis: row.uuid("chassis").map(chassis_name),
            additional_chassis: row
                .uuids("additional_chassis")
                .into_iter()
                .map(chassis_name)
                .collect(),
            requested_chassis: requested.map(str::to_string).collect(),
            up: row.bool("up"),
            device_id: ext(DEVICE_ID),
            neutron_network: ext("neutron:network_name"),
            datapath,
        }
    }
}

/// A Port_Binding row's references: its datapath, chassis and additional chassis.
fn references(row: &Row) -> (Option<Uuid>, Option<Uuid>, Vec<Uuid>) {
    (
        row.uuid("datapath"),
        row.uuid("chassis"),
        row.uuids("additional_chassis"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const P1: &str = "6603ef07-deb9-4864-919b-2e461fa24935";
    const P2: &str = "7603ef07-deb9-4864-919b-2e461fa24935";
    const DP: &str = "8ad4ee9e-e063-4c3d-a80e-bdf3c7eb304b";
    const CH: &str = "cb99b761-479b-468f-87b6-8ca76d1f0625";
    const NET: &str = "0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e";

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    fn apply(t: &mut Tables, v: serde_json::Value) -> Result<(), UpdateError> {
        t.apply(&raw(v))
    }

    fn apply_metadata(t: &mut Tables, v: serde_json::Value) -> Result<(), UpdateError> {
        t.apply_metadata(&raw(v))
    }

    fn wanted(ports: &[&str]) -> Wanted {
        Wanted {
            ports: Arc::new(ports.iter().map(|p| p.to_string()).collect()),
            system_id: Some("hv-a".into()),
        }
    }

    fn loaded() -> Tables {
        let mut t = Tables::default();
        apply(&mut t, json!({
            "Port_Binding": {
                P1: {"initial": {"logical_port": "a", "datapath": ["uuid", DP], "chassis": ["uuid", CH], "up": true}},
                P2: {"initial": {"logical_port": "b", "datapath": ["uuid", DP]}},
            },
            "Datapath_Binding": {DP: {"initial": {"external_ids": ["map", [["name", format!("neutron-{NET}")]]]}}},
            "Chassis": {CH: {"initial": {"name": "hv-a", "hostname": "a.example"}}},
        }))
        .unwrap();
        t
    }

    #[test]
    fn a_port_change_rebuilds_that_port_and_shares_the_rest() {
        let mut t = loaded();
        let w = wanted(&["a", "b"]);
        let first = t.state(&w);
        t.conditions(&w);
        assert_eq!(first.ports["a"].chassis.as_deref(), Some("hv-a"));
        assert_eq!(
            first.ports["b"]
                .datapath
                .as_ref()
                .unwrap()
                .network_id()
                .as_deref(),
            Some(NET)
        );
        assert_eq!(
            first.chassis.as_ref().unwrap().hostname.as_deref(),
            Some("a.example")
        );
        apply(
            &mut t,
            json!({"Port_Binding": {P2: {"modify": {"up": false}}}}),
        )
        .unwrap();
        assert!(t.refs.is_some(), "an up change keeps the references");
        let second = t.state(&w);
        assert_eq!(second.ports["b"].up, Some(false));
        let changed: Vec<_> = first.ports.diff(&second.ports).collect();
        assert_eq!(changed.len(), 1);
        // A port renamed, then deleted: its old entry goes.
        apply(
            &mut t,
            json!({"Port_Binding": {P2: {"modify": {"logical_port": "c"}}}}),
        )
        .unwrap();
        assert!(!t.state(&w).ports.contains_key("b"));
        apply(&mut t, json!({"Port_Binding": {P1: {"delete": null}}})).unwrap();
        assert!(t.state(&w).ports.is_empty());
    }

    #[test]
    fn references_and_shared_rows_are_followed() {
        let mut t = loaded();
        let w = wanted(&["a"]);
        let c = t.conditions(&w);
        assert_eq!(c.datapaths.len(), 1);
        assert_eq!(c.chassis.len(), 1);
        assert_eq!(t.state(&w).ports.len(), 1);
        // The chassis is renamed: every port reads it again.
        apply(
            &mut t,
            json!({"Chassis": {CH: {"modify": {"name": "hv-b"}}}}),
        )
        .unwrap();
        assert_eq!(t.state(&w).ports["a"].chassis.as_deref(), Some("hv-b"));
        // The port moves to another chassis: the references are gathered again.
        let other = "db99b761-479b-468f-87b6-8ca76d1f0625";
        apply(
            &mut t,
            json!({"Port_Binding": {P1: {"modify": {"chassis": ["uuid", other]}}}}),
        )
        .unwrap();
        assert!(t
            .conditions(&w)
            .chassis
            .contains(&Uuid::parse_str(other).unwrap()));
        // A metadata port appears on the datapath.
        apply_metadata(
            &mut t,
            json!({"Port_Binding": {CH: {"initial": {"datapath": ["uuid", DP]}}}}),
        )
        .unwrap();
        assert!(
            t.state(&w).ports["a"]
                .datapath
                .as_ref()
                .unwrap()
                .has_localport
        );
        // Other ports wanted: the state answers for them.
        let more = wanted(&["a", "b"]);
        assert_eq!(t.state(&more).ports.len(), 2);
    }
}
