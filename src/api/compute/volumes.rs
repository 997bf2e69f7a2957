//! `os-volumes`: the configured storage pool's volumes in the shape of Nova's Volumes
//! extension, as far as its response schema can hold them (the rule is in
//! [`super::fields`]). That schema requires every field, and lets only a few be null:
//! - a volume is listed only when its name is a UUID (Nova's volume ids are, and an attach
//!   takes only those), its capacity is known, and its creation time is: `createdAt` may
//!   not be null, and only a birth time is a creation time (libvirt's `<btime>`, else the
//!   file's on this host; a change or modification time is not one). `GET
//!   os-volumes/{id}` finds only the volumes listed;
//! - `availabilityZone`, `displayDescription`, `volumeType` and `snapshotId` are Cinder's
//!   and null; `metadata` is `{}`: a pool volume has none of them;
//! - `attachments` is an entry per server using the volume, or, for a volume attached
//!   nowhere, `[{}]` as Nova writes it (its schema's two branches both take `[]`, and
//!   `oneOf` then takes neither).
//!
//! vifd has no native `/v1` endpoint for pool volumes: a volume left out here is listed by
//! `virsh vol-list --details <pool>`.

use std::time::SystemTime;

use serde::Serialize;
use utoipa::ToSchema;

use super::fields;

const GIB: u64 = 1 << 30;

/// A pool volume as the view sees it: what libvirt and the inventory know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolVolumeFacts<'a> {
    pub name: &'a str,
    /// Bytes.
    pub capacity: Option<u64>,
    pub created: Option<SystemTime>,
    /// (server UUID, `/dev/...`) of every disk using it.
    pub attachments: &'a [(String, Option<String>)],
}

/// A volume of the pool, when vifd knows every value Nova's schema requires of it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeDoc {
    /// The volume's name in the pool, a UUID.
    #[schema(format = "uuid")]
    pub id: String,
    /// The volume's name in the pool, as libvirt spells it.
    pub display_name: String,
    /// Cinder's; a pool volume has none.
    pub display_description: Option<String>,
    /// GiB, rounded up.
    pub size: u64,
    /// `in-use` when a domain's disk has it as serial, else `available`.
    #[schema(pattern = "^(available|in-use)$")]
    pub status: &'static str,
    /// The volume's birth time.
    #[schema(format = "date-time")]
    pub created_at: String,
    /// Cinder's; a pool volume is in none.
    pub availability_zone: Option<String>,
    /// Cinder's; a pool volume has none.
    pub volume_type: Option<String>,
    /// Cinder's; a pool volume comes from none.
    #[schema(format = "uuid")]
    pub snapshot_id: Option<String>,
    /// Cinder's; always empty.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub attachments: Vec<VolumeUse>,
}

/// An entry of `attachments`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum VolumeUse {
    Server(VolumeServer),
    /// The only entry of a volume attached nowhere, as Nova writes it.
    Nowhere(Nowhere),
}

/// A server using the volume.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeServer {
    /// The volume UUID (as Nova, the attachment id is the volume id).
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub server_id: String,
    #[schema(format = "uuid")]
    pub volume_id: String,
    /// `/dev/` + the disk's target; left out when unknown (this schema takes any string,
    /// and no null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// `{}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Nowhere {}

#[derive(Serialize, ToSchema)]
pub struct VolumeList {
    pub volumes: Vec<VolumeDoc>,
}

#[derive(Serialize, ToSchema)]
pub struct VolumeBody {
    pub volume: VolumeDoc,
}

/// The volume as os-volumes shows it, when its name is a UUID and its size and birth time
/// are known.
pub fn volume_doc(v: &PoolVolumeFacts<'_>) -> Option<VolumeDoc> {
    let id = fields::uuid(v.name)?;
    let size = v.capacity?.div_ceil(GIB);
    let created_at = fields::date_time(v.created?)?;
    let mut attachments: Vec<VolumeUse> = v
        .attachments
        .iter()
        .filter_map(|(server, device)| {
            Some(VolumeUse::Server(VolumeServer {
                id: id.clone(),
                server_id: fields::uuid(server)?,
                volume_id: id.clone(),
                device: device.clone(),
            }))
        })
        .collect();
    if attachments.is_empty() {
        attachments.push(VolumeUse::Nowhere(Nowhere {}));
    }
    Some(VolumeDoc {
        display_name: v.name.to_string(),
        display_description: None,
        size,
        status: if v.attachments.is_empty() {
            "available"
        } else {
            "in-use"
        },
        created_at,
        availability_zone: None,
        volume_type: None,
        snapshot_id: None,
        metadata: Default::default(),
        attachments,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f";
    const SERVER: &str = "3f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    fn facts(attachments: &[(String, Option<String>)]) -> PoolVolumeFacts<'_> {
        PoolVolumeFacts {
            name: ID,
            capacity: Some(8 << 20),
            created: Some(SystemTime::UNIX_EPOCH),
            attachments,
        }
    }

    #[test]
    fn a_volume_without_uuid_size_or_birth_time_is_not_shown() {
        assert!(volume_doc(&facts(&[])).is_some());
        let no_uuid = PoolVolumeFacts {
            name: "scratch",
            ..facts(&[])
        };
        let no_size = PoolVolumeFacts {
            capacity: None,
            ..facts(&[])
        };
        let no_birth = PoolVolumeFacts {
            created: None,
            ..facts(&[])
        };
        for f in [no_uuid, no_size, no_birth] {
            assert!(volume_doc(&f).is_none(), "{f:?}");
        }
    }

    #[test]
    fn a_volume_attached_nowhere_has_novas_empty_entry() {
        let doc = volume_doc(&facts(&[])).unwrap();
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["attachments"], serde_json::json!([{}]));
        assert_eq!(json["status"], "available");
        assert_eq!(json["size"], 1);
        assert_eq!(json["createdAt"], "1970-01-01T00:00:00Z");

        let used = [(SERVER.to_string(), None)];
        let json = serde_json::to_value(volume_doc(&facts(&used)).unwrap()).unwrap();
        assert_eq!(
            json["attachments"],
            serde_json::json!([{"id": ID, "serverId": SERVER, "volumeId": ID}])
        );
        assert_eq!(json["status"], "in-use");
    }
}
