//! The monitor's conditions: which rows of each table this host needs. Kept as sets and
//! written out as JSON only when sent; every clause is an `==`, which ovsdb-server
//! matches through a hash of the values rather than testing each clause on each row.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

/// The Southbound tables vifd reads.
pub(super) const PORT_BINDING: &str = "Port_Binding";
pub(super) const DATAPATH_BINDING: &str = "Datapath_Binding";
pub(super) const CHASSIS: &str = "Chassis";

/// Port_Binding's columns; `additional_chassis` (OVN 22.06) only when the server has it.
const PORT_COLUMNS: [&str; 7] = [
    "logical_port",
    "type",
    "datapath",
    "chassis",
    "up",
    "options",
    "external_ids",
];
const ADDITIONAL_CHASSIS: &str = "additional_chassis";

/// What each table's `where` selects.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Conditions {
    /// Port_Binding by `logical_port`: the local iface-ids.
    pub ports: Arc<BTreeSet<String>>,
    /// Datapath_Binding by uuid: the wanted ports' datapaths.
    pub datapaths: BTreeSet<Uuid>,
    /// Chassis by uuid (the wanted ports' chassis and additional chassis) and by name
    /// (this one).
    pub chassis: BTreeSet<Uuid>,
    pub system_id: Option<String>,
}

impl Conditions {
    /// The `<monitor-cond-requests>` of a first `monitor_cond`; `additional` asks for
    /// `additional_chassis`, which a server before OVN 22.06 refuses.
    pub(super) fn monitor_requests(&self, additional: bool) -> Value {
        let mut columns = PORT_COLUMNS.to_vec();
        if additional {
            columns.push(ADDITIONAL_CHASSIS);
        }
        json!({
            PORT_BINDING: [{"where": self.ports_where(), "columns": columns}],
            DATAPATH_BINDING: [{"where": self.datapaths_where(), "columns": ["external_ids"]}],
            CHASSIS: [{"where": self.chassis_where(), "columns": ["name", "hostname"]}],
        })
    }

    /// The `<monitor-cond-update-requests>` taking `self` to `next`: only tables that change.
    pub(super) fn change_to(&self, next: &Conditions) -> Value {
        let mut out = serde_json::Map::new();
        if self.ports != next.ports {
            out.insert(PORT_BINDING.into(), json!([{"where": next.ports_where()}]));
        }
        if self.datapaths != next.datapaths {
            out.insert(
                DATAPATH_BINDING.into(),
                json!([{"where": next.datapaths_where()}]),
            );
        }
        if (&self.chassis, &self.system_id) != (&next.chassis, &next.system_id) {
            out.insert(CHASSIS.into(), json!([{"where": next.chassis_where()}]));
        }
        Value::Object(out)
    }

    fn ports_where(&self) -> Value {
        disjunction(self.ports.iter().map(|p| json!(["logical_port", "==", p])))
    }

    fn datapaths_where(&self) -> Value {
        disjunction(self.datapaths.iter().map(by_uuid))
    }

    fn chassis_where(&self) -> Value {
        let by_name = self.system_id.iter().map(|n| json!(["name", "==", n]));
        disjunction(by_name.chain(self.chassis.iter().map(by_uuid)))
    }
}

/// The metadata monitor's `<monitor-cond-requests>`: every `localport`'s datapath.
pub(super) fn metadata_requests() -> Value {
    json!({PORT_BINDING: [{"where": [["type", "==", "localport"]], "columns": ["datapath"]}]})
}

/// A disjunction of clauses; an empty one would match every row, so nothing is `[false]`.
fn disjunction(clauses: impl Iterator<Item = Value>) -> Value {
    let clauses: Vec<Value> = clauses.collect();
    match clauses.is_empty() {
        true => json!([false]),
        false => Value::Array(clauses),
    }
}

fn by_uuid(u: &Uuid) -> Value {
    json!(["_uuid", "==", ["uuid", u.to_string()]])
}
