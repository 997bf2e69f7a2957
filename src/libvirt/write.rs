//! Changing the host through libvirt: device hot-plug and unplug, DHCP host entries of a
//! network, and a storage pool's volumes. Every call blocks; the caller runs it on a
//! blocking thread. What libvirt refuses comes back as [`LibvirtError::Action`] with
//! libvirt's error as its cause, whose code sorts it into a [`super::Failure`] so the API
//! can tell the client's mistake from the host's.

use std::net::IpAddr;
use std::time::SystemTime;

use virt::connect::Connect;
use virt::domain::Domain as VirtDomain;
use virt::network::Network as VirtNetwork;
use virt_sys as sys;

use super::error::LibvirtError;
use super::fetch::Session;
use super::leases::dhcp_leases;
use super::network::NetworkDhcp;
use super::netxml::{parse_network_dhcp, parse_volume, VolumeXml};
use crate::mac::MacAddr;

/// Where a device change went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// The running domain was changed.
    pub live: bool,
    /// The persistent definition was changed.
    pub config: bool,
}

/// A volume of a storage pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolVolume {
    pub name: String,
    /// Bytes; `None` when libvirt could not say.
    pub capacity: Option<u64>,
    pub path: Option<String>,
    /// `raw`, `qcow2`, ... as the pool reports it.
    pub format: Option<String>,
    /// When it was made, where that is known (see `birth` below).
    pub created: Option<SystemTime>,
}

/// libvirt's error, kept as the cause of the action it refused.
fn refused(action: &'static str, target: &str, e: virt::error::Error) -> LibvirtError {
    LibvirtError::Action {
        action,
        target: target.to_string(),
        cause: e.into(),
    }
}

fn domain(conn: &Connect, uuid: &str, action: &'static str) -> Result<VirtDomain, LibvirtError> {
    conn.lookup_domain_by_uuid_string(uuid)
        .map_err(|e| refused(action, &format!("domain {uuid}"), e))
}

/// Live when running, config when persistent: a transient domain has no config, a
/// shut-off one no live state.
fn impact(dom: &VirtDomain, uuid: &str, action: &'static str) -> Result<Applied, LibvirtError> {
    let target = format!("domain {uuid}");
    let live = dom.is_active().map_err(|e| refused(action, &target, e))?;
    let config = dom
        .is_persistent()
        .map_err(|e| refused(action, &target, e))?;
    Ok(Applied { live, config })
}

fn domain_flags(a: Applied) -> u32 {
    let mut flags = 0;
    if a.live {
        flags |= sys::VIR_DOMAIN_AFFECT_LIVE;
    }
    if a.config {
        flags |= sys::VIR_DOMAIN_AFFECT_CONFIG;
    }
    flags
}

impl Session {
    /// Adds the device `xml` describes to domain `uuid`: live when it runs, and to its
    /// persistent definition when it has one.
    pub fn attach_device(&mut self, uuid: &str, xml: &str) -> Result<Applied, LibvirtError> {
        const ACTION: &str = "attach a device";
        self.with_connection(|conn, _| {
            let dom = domain(conn, uuid, ACTION)?;
            let applied = impact(&dom, uuid, ACTION)?;
            dom.attach_device_flags(xml, domain_flags(applied))
                .map_err(|e| refused(ACTION, &format!("domain {uuid}"), e))?;
            Ok(applied)
        })
    }

    /// Removes the device `xml` names from domain `uuid`, live and config as for attach.
    /// A live removal the guest has not completed when libvirt stops waiting (about 5 s)
    /// is still pending: the device stays in the live XML until the guest lets go.
    pub fn detach_device(&mut self, uuid: &str, xml: &str) -> Result<Applied, LibvirtError> {
        const ACTION: &str = "detach a device";
        self.with_connection(|conn, _| {
            let dom = domain(conn, uuid, ACTION)?;
            let applied = impact(&dom, uuid, ACTION)?;
            dom.detach_device_flags(xml, domain_flags(applied))
                .map_err(|e| refused(ACTION, &format!("domain {uuid}"), e))?;
            Ok(applied)
        })
    }

    /// The network's DHCP setup as it runs now: ranges, host entries and, with `leases`,
    /// its leases (some drivers cannot report them: only ask when they matter).
    pub fn network_dhcp(&mut self, uuid: &str, leases: bool) -> Result<NetworkDhcp, LibvirtError> {
        const ACTION: &str = "read the DHCP setup";
        self.with_connection(|conn, _| {
            let target = format!("network {uuid}");
            let net = conn
                .lookup_network_by_uuid_string(uuid)
                .map_err(|e| refused(ACTION, &target, e))?;
            let xml = net.xml_desc(0).map_err(|e| refused(ACTION, &target, e))?;
            let mut dhcp = parse_network_dhcp(&xml).map_err(|source| LibvirtError::NetworkXml {
                action: ACTION,
                target: target.clone(),
                source,
            })?;
            dhcp.active = net.is_active().map_err(|e| refused(ACTION, &target, e))?;
            dhcp.persistent = net
                .is_persistent()
                .map_err(|e| refused(ACTION, &target, e))?;
            if leases && dhcp.active {
                dhcp.leases = dhcp_leases(&net, &dhcp.name)?;
            }
            Ok(dhcp)
        })
    }

    /// Records `mac` → `ip` as a DHCP host entry of network `uuid`, in the running network
    /// (dnsmasq is told at once) and in its definition (so it survives restarts).
    pub fn add_dhcp_host(
        &mut self,
        uuid: &str,
        mac: MacAddr,
        ip: IpAddr,
    ) -> Result<(), LibvirtError> {
        let command = sys::VIR_NETWORK_UPDATE_COMMAND_ADD_LAST;
        self.update_network(uuid, command, &host_xml(mac, ip), "add a DHCP host entry")
    }

    /// Removes the DHCP host entry of `ip` from network `uuid`, live and config.
    pub fn remove_dhcp_host(
        &mut self,
        uuid: &str,
        mac: MacAddr,
        ip: IpAddr,
    ) -> Result<(), LibvirtError> {
        let command = sys::VIR_NETWORK_UPDATE_COMMAND_DELETE;
        self.update_network(
            uuid,
            command,
            &host_xml(mac, ip),
            "remove a DHCP host entry",
        )
    }

    fn update_network(
        &mut self,
        uuid: &str,
        command: sys::virNetworkUpdateCommand,
        xml: &str,
        action: &'static str,
    ) -> Result<(), LibvirtError> {
        self.with_connection(|conn, _| {
            let target = format!("network {uuid}");
            let net = conn
                .lookup_network_by_uuid_string(uuid)
                .map_err(|e| refused(action, &target, e))?;
            let flags = network_flags(&net).map_err(|e| refused(action, &target, e))?;
            net.update(
                command,
                sys::VIR_NETWORK_SECTION_IP_DHCP_HOST,
                -1,
                xml,
                flags,
            )
            .map_err(|e| refused(action, &target, e))
        })
    }

    /// Every volume of pool `pool`, after asking the pool to look again (volumes created
    /// behind libvirt's back, `qemu-img` for one, show up only then).
    pub fn pool_volumes(&mut self, pool: &str) -> Result<Vec<PoolVolume>, LibvirtError> {
        const ACTION: &str = "list the volumes";
        self.with_connection(|conn, uri| {
            let target = format!("storage pool {pool}");
            let p = conn
                .lookup_storage_pool_by_name(pool)
                .map_err(|e| refused(ACTION, &target, e))?;
            // A refresh fails on an inactive pool; the listing then says why.
            let _ = p.refresh(0);
            let vols = p
                .list_all_volumes(0)
                .map_err(|e| refused(ACTION, &target, e))?;
            let mut out: Vec<PoolVolume> = vols
                .iter()
                .filter_map(|v| {
                    let name = v.name().ok()?;
                    let xml = v.xml_desc(0).ok().and_then(|x| parse_volume(&x));
                    let xml = xml.unwrap_or_default();
                    let path = v.path().ok();
                    Some(PoolVolume {
                        name,
                        capacity: v.info().ok().map(|i| i.capacity),
                        created: birth(&xml, path.as_deref(), uri),
                        path,
                        format: xml.format,
                    })
                })
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }
}

/// When a volume was made: libvirt's birth time, else, for a file volume on this host,
/// the one its filesystem keeps. libvirt reads stat(2), which has no birth time on Linux
/// (its `<btime>` is 0 there), while statx(2) has it on ext4, xfs, btrfs and tmpfs; std's
/// `created()` asks statx. The file is asked only over a local connection: a remote
/// host's path names no file here. A change or modification time is no creation time,
/// so none stands in for it.
fn birth(xml: &VolumeXml, path: Option<&str>, uri: &str) -> Option<SystemTime> {
    if xml.btime.is_some() {
        return xml.btime;
    }
    let local = uri
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('/'));
    if !(xml.file && local) {
        return None;
    }
    std::fs::metadata(path?).and_then(|m| m.created()).ok()
}

fn host_xml(mac: MacAddr, ip: IpAddr) -> String {
    format!("<host mac='{mac}' ip='{ip}'/>")
}

fn network_flags(net: &VirtNetwork) -> Result<u32, virt::error::Error> {
    let mut flags = 0;
    if net.is_active()? {
        flags |= sys::VIR_NETWORK_UPDATE_AFFECT_LIVE;
    }
    if net.is_persistent()? {
        flags |= sys::VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    }
    Ok(flags)
}
