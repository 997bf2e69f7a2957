//! Volumes of the configured storage pool, attached as virtio disks whose serial is the
//! volume id (as Nova does), so the inventory and the guest both know which is which.

use super::error::ActionError;
use super::service::Actions;
use crate::inventory::View;
use crate::libvirt::device::{disk_detach_xml, disk_xml, NewDisk};
use crate::libvirt::{Applied, PoolVolume};

/// The most disk targets tried when none is given: vda..vdz, then vdaa..vdzz.
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// A pool volume and where it is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolVolumeInfo {
    pub volume: PoolVolume,
    /// (server UUID, `/dev/vdX`) of every domain whose disk has the volume's serial.
    pub attachments: Vec<(String, Option<String>)>,
}

/// What an attach did.
#[derive(Debug, Clone)]
pub struct VolumeAttached {
    pub volume_id: String,
    pub server_id: String,
    /// `/dev/vdX`.
    pub device: Option<String>,
    pub applied: Applied,
}

impl Actions {
    /// Whether volumes are served at all: `os-volumes` without a pool is not there (404),
    /// as Nova answers for an extension it does not load.
    pub fn has_volume_pool(&self) -> bool {
        self.settings.pool.is_some()
    }

    fn pool(&self) -> Result<String, ActionError> {
        self.settings.pool.clone().ok_or_else(|| {
            ActionError::Conflict(
                "No storage pool is configured for volumes: set volumes.pool (--volume-pool)."
                    .into(),
            )
        })
    }

    /// Every volume of the pool, with its attachments as the inventory shows them.
    pub async fn list_volumes(&self) -> Result<Vec<PoolVolumeInfo>, ActionError> {
        let pool = self.pool()?;
        let view = self.view()?;
        let vols = self.libvirt(move |s| s.pool_volumes(&pool)).await?;
        Ok(vols
            .into_iter()
            .map(|volume| PoolVolumeInfo {
                attachments: attachments_of(&view, &volume.name),
                volume,
            })
            .collect())
    }

    /// Attaches pool volume `volume_id` to domain `uuid` as `device` (`vdX`, the first
    /// free one when absent) and returns once the inventory shows it.
    pub async fn attach_volume(
        &self,
        uuid: &str,
        volume_id: &str,
        device: Option<&str>,
    ) -> Result<VolumeAttached, ActionError> {
        let pool = self.pool()?;
        let view = self.view()?;
        if view.domain_by_uuid(uuid).is_none() {
            return Err(ActionError::NotFound(format!(
                "Instance {uuid} could not be found."
            )));
        }
        let p = pool.clone();
        let volume = self
            .libvirt(move |s| s.pool_volumes(&p))
            .await?
            .into_iter()
            .find(|v| v.name.eq_ignore_ascii_case(volume_id))
            .ok_or_else(|| {
                ActionError::NotFound(format!(
                    "Volume {volume_id} could not be found in storage pool {pool}."
                ))
            })?;
        if let Some((server, _)) = attachments_of(&view, &volume.name).first() {
            return Err(ActionError::Conflict(format!(
                "Volume {volume_id} is in use by instance {server}."
            )));
        }
        let dom = self.fresh_domain(uuid).await?;
        let used: Vec<&str> = dom
            .disks
            .iter()
            .filter_map(|d| d.target.as_deref())
            .collect();
        let target = match device {
            Some(dev) if used.contains(&dev) => {
                return Err(ActionError::Conflict(format!(
                    "Device /dev/{dev} is already in use on instance {uuid}."
                )))
            }
            Some(dev) => dev.to_string(),
            None => free_target(&used).ok_or_else(|| {
                ActionError::Conflict(format!(
                    "Instance {uuid} has no free virtio disk name left."
                ))
            })?,
        };
        let xml = disk_xml(&NewDisk {
            pool,
            volume: volume.name.clone(),
            format: volume.format.clone(),
            target: target.clone(),
            serial: volume.name.clone(),
        });
        let u = uuid.to_string();
        let applied = self.libvirt(move |s| s.attach_device(&u, &xml)).await?;
        let name = volume.name.clone();
        let device = self
            .wait_until(|v| {
                let domain = v.domain_by_uuid(uuid)?;
                let found = domain.volumes.iter().find(|x| x.volume_id == name)?;
                Some(found.device.clone())
            })
            .await
            .ok_or_else(|| {
                ActionError::NotSeen(format!(
                    "libvirt attached volume {volume_id} to instance {uuid} as {target}, but the \
                     inventory did not show it within {:?}.",
                    self.settings.wait
                ))
            })?;
        Ok(VolumeAttached {
            volume_id: volume.name,
            server_id: uuid.to_string(),
            device,
            applied,
        })
    }

    /// Detaches the disk whose serial is `volume_id` from domain `uuid`.
    pub async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<Applied, ActionError> {
        let view = self.view()?;
        if view.domain_by_uuid(uuid).is_none() {
            return Err(ActionError::NotFound(format!(
                "Instance {uuid} could not be found."
            )));
        }
        let dom = self.fresh_domain(uuid).await?;
        let target = dom
            .disks
            .iter()
            .find(|d| {
                d.serial
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(volume_id))
            })
            .and_then(|d| d.target.clone())
            .ok_or_else(|| {
                ActionError::NotFound(format!(
                    "Volume {volume_id} is not attached to instance {uuid}."
                ))
            })?;
        let xml = disk_detach_xml(&target);
        let u = uuid.to_string();
        self.libvirt(move |s| s.detach_device(&u, &xml)).await
    }
}

fn attachments_of(view: &View, volume: &str) -> Vec<(String, Option<String>)> {
    view.domains()
        .flat_map(|d| {
            d.volumes
                .iter()
                .filter(|v| v.volume_id.eq_ignore_ascii_case(volume))
                .map(move |v| (d.summary.uuid.clone(), v.device.clone()))
        })
        .collect()
}

/// The first of vda..vdz, vdaa..vdzz no disk uses.
fn free_target(used: &[&str]) -> Option<String> {
    let one = LETTERS.iter().map(|&c| format!("vd{}", c as char));
    let two = LETTERS.iter().flat_map(|&a| {
        LETTERS
            .iter()
            .map(move |&b| format!("vd{}{}", a as char, b as char))
    });
    one.chain(two).find(|t| !used.contains(&t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_free_virtio_name_is_taken() {
        assert_eq!(free_target(&[]).as_deref(), Some("vda"));
        assert_eq!(free_target(&["vda", "vdc"]).as_deref(), Some("vdb"));
        let all: Vec<String> = LETTERS
            .iter()
            .map(|&c| format!("vd{}", c as char))
            .collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(free_target(&refs).as_deref(), Some("vdaa"));
    }
}
