//! What is read from the Southbound DB: the local ports' bindings, joined with their
//! datapaths and chassis, and what the monitor is asked for.

use std::collections::BTreeSet;
use std::sync::Arc;

/// What to monitor: the logical ports the local Open vSwitch names (`iface-id`s) and this
/// chassis's name (`system-id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Shared: every state answering for these ports holds it, at no copy.
    pub ports: Arc<BTreeSet<String>>,
    pub system_id: Option<String>,
}

/// The Southbound DB as far as this host's ports are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbState {
    /// `Port_Binding` rows of the wanted ports, by `logical_port`. A wanted port missing
    /// here has no binding.
    /// A persistent map: a state after a change shares all but the changed ports with the
    /// one before, and comparing the two costs in proportion to the change.
    pub ports: imbl::OrdMap<String, SbPort>,
    /// The `Chassis` row named by the wanted system-id, when there is one.
    pub chassis: Option<SbChassis>,
    /// The ports this state answers for: a port asked for and not in `ports` has no
    /// binding; one not asked for yet is unknown.
    pub asked: Arc<BTreeSet<String>>,
}

/// One `Chassis` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbChassis {
    pub name: String,
    pub hostname: Option<String>,
}

/// One `Port_Binding` row, its chassis by name and its datapath.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbPort {
    pub logical_port: String,
    /// `type`: "" for a VIF, `localport`, `patch`, ...
    pub kind: String,
    /// The chassis it is bound to: its name, or its row uuid while the row is not read.
    pub chassis: Option<String>,
    /// `additional_chassis` (a live migration's destination), by name.
    pub additional_chassis: Vec<String>,
    /// `options:requested-chassis`, split at commas: chassis names or hostnames.
    pub requested_chassis: Vec<String>,
    /// `up`: unset until a controller has reported on it.
    pub up: Option<bool>,
    /// `external_ids:neutron:device_id`.
    pub device_id: Option<String>,
    /// `external_ids:neutron:network_name` (`neutron-<net uuid>`).
    pub neutron_network: Option<String>,
    /// The `Datapath_Binding`, once read.
    pub datapath: Option<SbDatapath>,
}

/// One `Datapath_Binding` row (a logical switch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbDatapath {
    /// `external_ids:name` (`neutron-<net uuid>` for a Neutron network).
    pub name: Option<String>,
    /// `external_ids:name2`: the network's own name.
    pub name2: Option<String>,
    /// A `localport` (Neutron's metadata port) is on this datapath.
    pub has_localport: bool,
}

impl SbDatapath {
    /// The Neutron network UUID its name carries (`neutron-<uuid>`), lower-cased.
    pub fn network_id(&self) -> Option<String> {
        neutron_network_id(self.name.as_deref()?)
    }
}

impl SbPort {
    /// The Neutron network UUID of `external_ids:neutron:network_name`, lower-cased.
    pub fn neutron_network_id(&self) -> Option<String> {
        neutron_network_id(self.neutron_network.as_deref()?)
    }
}

/// `neutron-<uuid>` → the UUID (hyphenated, lower case); anything else is no network id.
pub fn neutron_network_id(name: &str) -> Option<String> {
    let id = name.strip_prefix("neutron-")?;
    uuid::Uuid::try_parse(id)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::neutron_network_id;

    #[test]
    fn only_neutron_names_with_a_uuid_are_networks() {
        assert_eq!(
            neutron_network_id("neutron-0D7F7E5C-3C5A-4A51-9A8E-4F1C2B3A4D5E").as_deref(),
            Some("0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e")
        );
        for other in [
            "ls0",
            "neutron-",
            "neutron-web",
            "0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e",
        ] {
            assert_eq!(neutron_network_id(other), None, "{other}");
        }
    }
}
