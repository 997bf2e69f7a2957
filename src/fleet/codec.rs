//! The values vifd writes to etcd: a record as `/v1/interfaces` serves it without its
//! moving counters, the host-level problems, and the agent's meta. Field names are a
//! contract with the fleet server (README, "Fleet").

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::FleetError;
use crate::inventory::{Problem, StaleSource, View, Vif};

/// A value as written: shared between the last published state and the next one.
pub type Value = Arc<[u8]>;

/// The record's JSON as `/v1/interfaces` gives it, minus `stats` (the counters move on
/// their own; a change of them alone is no change of the record).
pub fn record(vif: &Vif) -> Result<Value, FleetError> {
    let mut json = serde_json::to_value(vif).map_err(FleetError::Encode)?;
    if let Some(o) = json.as_object_mut() {
        o.remove("stats");
    }
    Ok(serde_json::to_vec(&json)
        .map_err(FleetError::Encode)?
        .into())
}

/// The host-level problems as a JSON array, as `/v1/problems` lists them.
pub fn problems<'a>(list: impl Iterator<Item = &'a Arc<Problem>>) -> Result<Value, FleetError> {
    let list: Vec<&Problem> = list.map(|p| &**p).collect();
    Ok(serde_json::to_vec(&list)
        .map_err(FleetError::Encode)?
        .into())
}

/// A domain of `hosts/<host>/domains`: the fleet server finds a server by it (with or
/// without interfaces) and answers its os-volume_attachments from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEntry {
    /// The domain's UUID.
    pub uuid: String,
    pub name: String,
    /// Its disks whose `<serial>` names a volume, as `{"volume_id", "device"}`.
    pub volumes: Vec<VolumeEntry>,
}

/// A volume of a [`DomainEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEntry {
    /// The disk's `<serial>`.
    pub volume_id: String,
    /// `/dev/` + the disk's target.
    pub device: Option<String>,
}

/// Every domain of a view, in the view's order.
pub fn domains(view: &View) -> Result<Value, FleetError> {
    let list: Vec<DomainEntry> = view
        .domains()
        .map(|d| DomainEntry {
            uuid: d.summary.uuid.clone(),
            name: d.summary.name.clone(),
            volumes: (d.volumes.iter())
                .map(|v| VolumeEntry {
                    volume_id: v.volume_id.clone(),
                    device: v.device.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(serde_json::to_vec(&list)
        .map_err(FleetError::Encode)?
        .into())
}

/// `hosts/<host>/meta`: who publishes the host and how current it is. Rewritten by every
/// transaction (its mod revision is the guard, see README "Fleet").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The publishing daemon's instance id (as in `/v1/watch` snapshots); another value
    /// after a restart, or from a second agent using the same host name.
    pub instance: String,
    /// The daemon's generation whose content the host's keys hold entirely (a large
    /// change spans several transactions: keys may already be newer).
    pub generation: u64,
    /// When the host booted (RFC 3339, UTC; from `/proc/stat`), `null` when unknown.
    pub boot_time: Option<String>,
    /// When the daemon started (RFC 3339, UTC).
    pub started_at: String,
    /// The daemon's version.
    pub version: String,
    /// Which sources the records show last known values of, as `vifd_inventory_stale`.
    pub stale: Stale,
    /// When this value was written (RFC 3339, UTC, milliseconds).
    pub published_at: String,
    /// Another agent writing under this host name, as this one last saw it; null when
    /// none was seen for [`CONFLICT_SHOWN`]. Absent in a meta of an older agent.
    #[serde(default)]
    pub conflict: Option<Conflict>,
}

/// How long a conflict is shown after it was last seen: three repairs, so a second agent
/// that writes nothing is still seen by the next repair before it is forgotten.
pub const CONFLICT_SHOWN: std::time::Duration = std::time::Duration::from_secs(900);

/// Another agent instance found writing this host's keys (two agents given one host
/// name): the meta's mod revision moved under the publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The other writer's instance id (from its meta), `unknown` when its meta did not
    /// read as one.
    pub instance: String,
    /// When this agent last found it (RFC 3339, UTC, milliseconds).
    pub seen_at: String,
}

impl Conflict {
    /// Still to be shown at `now`: seen within [`CONFLICT_SHOWN`].
    pub fn current(&self, now: std::time::SystemTime) -> bool {
        humantime::parse_rfc3339(&self.seen_at)
            .is_ok_and(|at| now.duration_since(at).unwrap_or_default() < CONFLICT_SHOWN)
    }
}

/// The stale flags of the meta: `true` while what is published shows last known values
/// of that source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stale {
    /// libvirt cannot be reached: the guest side is the last one read.
    pub libvirt: bool,
    /// Some record shows the OVN Southbound's last known bindings.
    pub ovn: bool,
    /// Some record shows OVSDB's last known rows.
    pub ovsdb: bool,
    /// Some record shows a libvirt network's last known identity.
    #[serde(rename = "libvirt-network")]
    pub libvirt_network: bool,
}

impl Stale {
    /// The flags of a view.
    pub fn of(view: &View) -> Self {
        let shows = |s: StaleSource| view.interfaces().any(|r| r.stale_sources.contains(&s));
        Stale {
            libvirt: view.stale,
            ovn: shows(StaleSource::Ovn),
            ovsdb: shows(StaleSource::Ovsdb),
            libvirt_network: shows(StaleSource::LibvirtNetwork),
        }
    }
}

impl Meta {
    pub fn encode(&self) -> Result<Value, FleetError> {
        Ok(serde_json::to_vec(self).map_err(FleetError::Encode)?.into())
    }

    /// The meta another writer left, if it reads as one.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// The host's boot time from `/proc/stat`'s `btime`, RFC 3339.
pub fn boot_time() -> Option<String> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Some(humantime::format_rfc3339_seconds(at).to_string())
}

/// Now, RFC 3339 with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_keeps_its_documented_names() {
        let m = Meta {
            instance: "i".into(),
            generation: 3,
            boot_time: None,
            started_at: "s".into(),
            version: "v".into(),
            stale: Stale {
                libvirt_network: true,
                ..Stale::default()
            },
            published_at: "p".into(),
            conflict: None,
        };
        let json: serde_json::Value = serde_json::from_slice(&m.encode().unwrap()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "boot_time",
                "conflict",
                "generation",
                "instance",
                "published_at",
                "stale",
                "started_at",
                "version"
            ]
        );
        assert_eq!(json["stale"]["libvirt-network"], true);
        assert_eq!(Meta::decode(&m.encode().unwrap()), Some(m));
    }

    #[test]
    fn a_meta_without_conflict_reads_and_old_conflicts_are_not_current() {
        let old = br#"{"instance":"i","generation":1,"boot_time":null,"started_at":"s","version":"v","stale":{"libvirt":false,"ovn":false,"ovsdb":false,"libvirt-network":false},"published_at":"p"}"#;
        assert_eq!(Meta::decode(old).map(|m| m.conflict), Some(None));
        let at = |secs_ago: u64| Conflict {
            instance: "other".into(),
            seen_at: humantime::format_rfc3339_millis(
                std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago),
            )
            .to_string(),
        };
        let now = std::time::SystemTime::now();
        assert!(at(60).current(now));
        assert!(!at(CONFLICT_SHOWN.as_secs() + 1).current(now));
        let unreadable = Conflict {
            seen_at: "yesterday".into(),
            ..at(0)
        };
        assert!(!unreadable.current(now));
    }

    #[test]
    fn the_boot_time_is_read() {
        assert!(boot_time().is_some_and(|t| t.ends_with('Z')));
    }
}
