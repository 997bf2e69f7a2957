//! The Southbound rows held, the conditions that keep them to this host's ports, and the
//! join into an [`SbState`].
//!
//! Which rows are wanted depends on rows already read: a port's datapath and chassis are
//! references. So the conditions are recomputed from the rows after every update, and
//! changed on the server when they differ from those sent: a fixpoint reached in two round
//! trips. Every clause is an `==`, which ovsdb-server matches through a hash of the values
//! rather than testing each clause on each row. The metadata ports come from a second,
//! fixed monitor (`localport`s, their datapath only).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use uuid::Uuid;

use super::rows::{Columns, Kind, Row, Table, UpdateError};
use super::state::{SbChassis, SbDatapath, SbPort, SbState, Wanted};

pub(super) const PORT_BINDING: &str = "Port_Binding";
pub(super) const DATAPATH_BINDING: &str = "Datapath_Binding";
pub(super) const CHASSIS: &str = "Chassis";

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

/// The key under which Neutron names a metadata port's owner: `ovnmeta-<net uuid>`.
const DEVICE_ID: &str = "neutron:device_id";

/// Port_Binding's columns; `additional_chassis` (OVN 22.06) only when the server has it.
const PORT_COLUMN_NAMES: [&str; 7] = [
    "logical_port",
    "type",
    "datapath",
    "chassis",
    "up",
    "options",
    "external_ids",
];
const ADDITIONAL_CHASSIS: &str = "additional_chassis";

/// The metadata ports (`localport`s) by their datapath: one row per network of the cloud,
/// asked for with an `==` clause so that ovsdb-server matches it through its index (one
/// `includes` clause in a condition makes it test every clause against every row).
const METADATA_COLUMNS: Columns = &[("datapath", Kind::Atom)];

/// Each table's `where`, as sent to the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Conditions {
    ports: Vec<Value>,
    datapaths: Vec<Value>,
    chassis: Vec<Value>,
}

#[derive(Debug, Default)]
pub(super) struct Tables {
    ports: Table,
    datapaths: Table,
    chassis: Table,
    /// The metadata monitor's Port_Binding rows.
    metadata: Table,
}

impl Tables {
    /// Applies a `<table-updates2>` object (a reply's result or an `update2`'s).
    pub(super) fn apply(&mut self, updates: &Value) -> Result<(), UpdateError> {
        let Some(tables) = updates.as_object() else {
            return Err(UpdateError {
                table: "-",
                row: "-".into(),
                reason: "the table updates are not an object".into(),
            });
        };
        for (name, update) in tables {
            match name.as_str() {
                PORT_BINDING => self.ports.apply(PORT_BINDING, PORT_COLUMNS, update)?,
                DATAPATH_BINDING => {
                    self.datapaths
                        .apply(DATAPATH_BINDING, DATAPATH_COLUMNS, update)?
                }
                CHASSIS => self.chassis.apply(CHASSIS, CHASSIS_COLUMNS, update)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies the metadata monitor's `<table-updates2>`.
    pub(super) fn apply_metadata(&mut self, updates: &Value) -> Result<(), UpdateError> {
        match updates.get(PORT_BINDING) {
            Some(rows) => self.metadata.apply(PORT_BINDING, METADATA_COLUMNS, rows),
            None => Ok(()),
        }
    }

    /// The conditions that select exactly what `wanted` needs, given the rows held.
    pub(super) fn conditions(&self, wanted: &Wanted) -> Conditions {
        let mut c = Conditions::default();
        let (mut datapaths, mut chassis) = (BTreeSet::new(), BTreeSet::new());
        for port in &wanted.ports {
            c.ports.push(json!(["logical_port", "==", port]));
        }
        for row in self.wanted_rows(wanted) {
            datapaths.extend(row.uuid("datapath"));
            chassis.extend(row.uuids("chassis"));
            chassis.extend(row.uuids("additional_chassis"));
        }
        c.datapaths = datapaths.iter().map(by_uuid).collect();
        if let Some(name) = &wanted.system_id {
            c.chassis.push(json!(["name", "==", name]));
        }
        c.chassis.extend(chassis.iter().map(by_uuid));
        c
    }

    /// The Port_Binding rows of wanted ports (not the metadata ports fetched with them).
    fn wanted_rows<'a>(&'a self, wanted: &'a Wanted) -> impl Iterator<Item = &'a Row> {
        let rows = self.ports.rows.values();
        rows.filter(|r| {
            r.str("logical_port")
                .is_some_and(|p| wanted.ports.contains(p))
        })
    }

    /// The wanted ports joined with their datapaths and chassis.
    pub(super) fn state(&self, wanted: &Wanted) -> SbState {
        let localports: BTreeSet<Uuid> = self
            .metadata
            .rows
            .values()
            .filter_map(|r| r.uuid("datapath"))
            .collect();
        let chassis_name = |u: Uuid| match self.chassis.rows.get(&u).and_then(|c| c.str("name")) {
            Some(name) => name.to_string(),
            None => u.to_string(),
        };
        let mut ports = BTreeMap::new();
        for row in self.wanted_rows(wanted) {
            let logical_port = row.str("logical_port").unwrap_or_default().to_string();
            let ext = |key| row.map_get("external_ids", key).map(str::to_string);
            let datapath = row.uuid("datapath").and_then(|u| {
                let dp = self.datapaths.rows.get(&u)?;
                let name = |key| dp.map_get("external_ids", key).map(str::to_string);
                Some(SbDatapath {
                    name: name("name"),
                    name2: name("name2"),
                    has_localport: localports.contains(&u),
                })
            });
            let requested = row.map_get("options", "requested-chassis").unwrap_or("");
            let port = SbPort {
                logical_port: logical_port.clone(),
                kind: row.str("type").unwrap_or_default().to_string(),
                chassis: row.uuid("chassis").map(chassis_name),
                additional_chassis: row
                    .uuids("additional_chassis")
                    .into_iter()
                    .map(chassis_name)
                    .collect(),
                requested_chassis: requested
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                up: row.bool("up"),
                device_id: ext(DEVICE_ID),
                neutron_network: ext("neutron:network_name"),
                datapath,
            };
            ports.insert(logical_port, port);
        }
        let ours = wanted.system_id.as_deref();
        let chassis = self
            .chassis
            .rows
            .values()
            .find(|c| ours.is_some() && c.str("name") == ours)
            .map(|c| SbChassis {
                name: c.str("name").unwrap_or_default().to_string(),
                hostname: c.str("hostname").map(str::to_string),
            });
        SbState {
            ports,
            chassis,
            asked: wanted.ports.clone(),
        }
    }
}

impl Conditions {
    /// The `<monitor-cond-requests>` of a first `monitor_cond`; `additional` asks for
    /// `additional_chassis`, which a server before OVN 22.06 refuses.
    pub(super) fn monitor_requests(&self, additional: bool) -> Value {
        let mut columns = PORT_COLUMN_NAMES.to_vec();
        if additional {
            columns.push(ADDITIONAL_CHASSIS);
        }
        json!({
            PORT_BINDING: [{"where": where_(&self.ports), "columns": columns}],
            DATAPATH_BINDING: [{"where": where_(&self.datapaths), "columns": ["external_ids"]}],
            CHASSIS: [{"where": where_(&self.chassis), "columns": ["name", "hostname"]}],
        })
    }

    /// The `<monitor-cond-update-requests>` taking `self` to `next`: only tables that change.
    pub(super) fn change_to(&self, next: &Conditions) -> Value {
        let mut out = serde_json::Map::new();
        let pairs = [
            (PORT_BINDING, &self.ports, &next.ports),
            (DATAPATH_BINDING, &self.datapaths, &next.datapaths),
            (CHASSIS, &self.chassis, &next.chassis),
        ];
        for (table, old, new) in pairs {
            if old != new {
                out.insert(table.into(), json!([{"where": where_(new)}]));
            }
        }
        Value::Object(out)
    }
}

/// The metadata monitor's `<monitor-cond-requests>`: every `localport`'s datapath.
pub(super) fn metadata_requests() -> Value {
    json!({PORT_BINDING: [{"where": [["type", "==", "localport"]], "columns": ["datapath"]}]})
}

/// A disjunction; an empty one would match every row, so nothing is `[false]`.
fn where_(clauses: &[Value]) -> Value {
    match clauses.is_empty() {
        true => json!([false]),
        false => Value::Array(clauses.to_vec()),
    }
}

fn by_uuid(u: &Uuid) -> Value {
    json!(["_uuid", "==", ["uuid", u.to_string()]])
}
