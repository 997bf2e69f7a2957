//! Interface hot-plug and removal.

use std::net::IpAddr;

use tracing::warn;

use super::addresses::{Allocation, Want};
use super::error::ActionError;
use super::random::random_bytes;
use super::service::Actions;
use crate::inventory::View;
use crate::inventory::Vif;
use crate::libvirt::device::{interface_detach_xml, interface_xml, NewInterface, Plug};
use crate::libvirt::{Applied, Failure, NetworkDhcp};
use crate::mac::MacAddr;

/// Nova's tap names: `tap` + this many characters of the port UUID.
const TAP_PREFIX_LEN: usize = 11;
/// How many random MACs are tried before giving up (the 52:54:00 space holds 16M).
const MAC_TRIES: usize = 16;

/// An interface to add, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceRequest {
    /// A libvirt network's UUID, or a UUID mapped to a bridge in `[networks.bridges]`.
    pub net_id: String,
    /// The port's identity; generated when absent.
    pub port_id: Option<String>,
    pub mac: Option<MacAddr>,
    /// One address to bind to the MAC on the libvirt network.
    pub fixed_ip: Option<IpAddr>,
    /// Bind a free address of the network's DHCP range.
    pub allocate_ip: bool,
}

/// What an attach did.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The record the inventory shows for it.
    pub vif: Vif,
    pub applied: Applied,
    pub address: Option<Allocation>,
}

/// Where a net_id plugs in; `dhcp` is the libvirt network's, when it is one.
struct Target {
    plug: Plug,
    dhcp: Option<NetworkDhcp>,
}

impl Actions {
    /// Adds an interface to domain `uuid` and returns its record once the inventory
    /// shows it.
    pub async fn attach_interface(
        &self,
        uuid: &str,
        req: InterfaceRequest,
    ) -> Result<Attached, ActionError> {
        let view = self.view()?;
        if view.domain_by_uuid(uuid).is_none() {
            return Err(ActionError::NotFound(format!(
                "Instance {uuid} could not be found."
            )));
        }
        let target = self.target_of(&req.net_id).await?;
        let wants_address = req.allocate_ip || req.fixed_ip.is_some();
        if wants_address && target.dhcp.is_none() {
            return Err(ActionError::Conflict(format!(
                "Network {} is a bridge vifd has no address block for: addresses are \
                 allocated on libvirt networks with a DHCP range only.",
                req.net_id
            )));
        }
        let _plug = self.plug.lock().await;
        let view = self.shared.current();
        let port = self.choose_port(&view, req.port_id.as_deref())?;
        let mac = choose_mac(&view, req.mac)?;
        let new = NewInterface {
            plug: target.plug.clone(),
            mac,
            target: format!("tap{}", &port[..TAP_PREFIX_LEN]),
            alias: format!("ua-{port}"),
        };
        if in_use_as_device(&view, &new.target) {
            return Err(ActionError::Conflict(format!(
                "Device name {} is already in use on this host.",
                new.target
            )));
        }
        let net_lock = self.network_lock(&req.net_id);
        let _net = match wants_address {
            true => Some(net_lock.lock().await),
            false => None,
        };
        let address = match (&target.dhcp, req.fixed_ip, req.allocate_ip) {
            (Some(_), Some(ip), _) => Some(
                self.choose_address(&req.net_id, mac, Want::Exactly(ip))
                    .await?,
            ),
            (Some(_), None, true) => Some(self.choose_address(&req.net_id, mac, Want::Any).await?),
            _ => None,
        };
        let xml = interface_xml(&new);
        let u = uuid.to_string();
        let applied = self.libvirt(move |s| s.attach_device(&u, &xml)).await?;
        let address = match address {
            Some(ip) => Some(
                self.record_or_undo(uuid, &new, &req.net_id, ip, &port)
                    .await?,
            ),
            None => None,
        };
        drop(_net);
        drop(_plug);
        let vif = self
            .wait_until(|v| vif_with_mac(v, uuid, mac).cloned())
            .await
            .ok_or_else(|| {
                ActionError::NotSeen(format!(
                    "libvirt attached the interface (MAC {mac}) to instance {uuid}, but the \
                     inventory did not show it within {:?}.",
                    self.settings.wait
                ))
            })?;
        Ok(Attached {
            vif,
            applied,
            address,
        })
    }

    /// Binds the chosen address; when libvirt refuses, takes the interface off again so
    /// a failed request leaves the guest as it was.
    async fn record_or_undo(
        &self,
        uuid: &str,
        new: &NewInterface,
        net: &str,
        ip: IpAddr,
        port: &str,
    ) -> Result<Allocation, ActionError> {
        match self.record_address(net, new.mac, ip, port).await {
            Ok(a) => Ok(a),
            Err(e) => {
                let (u, mac) = (uuid.to_string(), new.mac);
                let iface = crate::libvirt::DomainInterface {
                    kind: match new.plug {
                        Plug::Network(_) => "network".into(),
                        Plug::Bridge(_) => "bridge".into(),
                    },
                    mac: Some(mac),
                    source: match &new.plug {
                        Plug::Network(n) => source(Some(n.clone()), None),
                        Plug::Bridge(b) => source(None, Some(b.clone())),
                    },
                    ..Default::default()
                };
                if let Some(xml) = interface_detach_xml(&iface) {
                    if let Err(undo) = self.libvirt(move |s| s.detach_device(&u, &xml)).await {
                        warn!(domain = %uuid, %mac, error = %undo, "cannot take back the interface whose address failed");
                    }
                }
                Err(e)
            }
        }
    }

    /// Removes the interface with this port (or record id) from domain `uuid`.
    pub async fn detach_interface(&self, uuid: &str, port: &str) -> Result<Applied, ActionError> {
        let view = self.view()?;
        let domain = view
            .domain_by_uuid(uuid)
            .ok_or_else(|| ActionError::NotFound(format!("Instance {uuid} could not be found.")))?;
        let mac = domain
            .interfaces
            .iter()
            .find(|v| is_port(v, port))
            .and_then(|v| v.mac_address)
            .ok_or_else(|| ActionError::NotFound(format!("Port {port} could not be found.")))?;
        let dom = self.fresh_domain(uuid).await?;
        let iface = dom
            .interfaces
            .iter()
            .find(|i| i.mac == Some(mac))
            .ok_or_else(|| ActionError::NotFound(format!("Port {port} could not be found.")))?;
        let xml = interface_detach_xml(iface).ok_or_else(|| {
            ActionError::Conflict(format!(
                "Port {port} is a {} interface vifd cannot describe for removal.",
                iface.kind
            ))
        })?;
        let u = uuid.to_string();
        self.libvirt(move |s| s.detach_device(&u, &xml)).await
    }

    /// A bridge from the config map, else a libvirt network with this UUID.
    async fn target_of(&self, net_id: &str) -> Result<Target, ActionError> {
        if let Some(br) = self.settings.bridges.get(net_id) {
            return Ok(Target {
                plug: Plug::Bridge(br.clone()),
                dhcp: None,
            });
        }
        let net = net_id.to_string();
        match self.libvirt(move |s| s.network_dhcp(&net, false)).await {
            Ok(dhcp) => Ok(Target {
                plug: Plug::Network(dhcp.name.clone()),
                dhcp: Some(dhcp),
            }),
            Err(ActionError::Libvirt(e)) if e.failure() == Failure::NotFound => {
                Err(ActionError::NotFound(format!(
                    "Network {net_id} could not be found: it is neither a libvirt network nor a \
                     bridge mapped in [networks.bridges]."
                )))
            }
            Err(e) => Err(e),
        }
    }

    fn choose_port(&self, view: &View, given: Option<&str>) -> Result<String, ActionError> {
        let port = match given {
            Some(p) => p.to_string(),
            None => uuid::Builder::from_random_bytes(random_bytes())
                .into_uuid()
                .hyphenated()
                .to_string(),
        };
        if let Some(v) = view.interfaces().find(|v| is_port(v, &port)) {
            return Err(ActionError::Conflict(format!(
                "Port {port} is already attached to instance {}.",
                v.domain_uuid
            )));
        }
        Ok(port)
    }
}

fn source(network: Option<String>, bridge: Option<String>) -> crate::libvirt::InterfaceSource {
    crate::libvirt::InterfaceSource {
        network,
        bridge,
        ..Default::default()
    }
}

fn is_port(v: &Vif, port: &str) -> bool {
    v.port_id
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(port))
        || v.id.eq_ignore_ascii_case(port)
}

fn mac_in_use(view: &View, mac: MacAddr) -> bool {
    view.interfaces()
        .any(|v| v.mac_address == Some(mac) || v.host_mac == Some(mac))
}

fn in_use_as_device(view: &View, name: &str) -> bool {
    view.interfaces().any(|v| v.device.as_deref() == Some(name))
        || view.problems().any(|p| p.device.as_deref() == Some(name))
}

/// The given MAC when no interface on the host has it, else a free one in 52:54:00.
fn choose_mac(view: &View, given: Option<MacAddr>) -> Result<MacAddr, ActionError> {
    if let Some(mac) = given {
        if mac_in_use(view, mac) {
            return Err(ActionError::Conflict(format!(
                "MAC address {mac} is already in use on this host."
            )));
        }
        return Ok(mac);
    }
    for _ in 0..MAC_TRIES {
        let [a, b, c] = random_bytes::<3>();
        let mac = MacAddr([0x52, 0x54, 0x00, a, b, c]);
        if !mac_in_use(view, mac) {
            return Ok(mac);
        }
    }
    Err(ActionError::Conflict(
        "No free MAC address found in 52:54:00:xx:xx:xx; give one.".into(),
    ))
}

fn vif_with_mac<'a>(view: &'a View, uuid: &str, mac: MacAddr) -> Option<&'a Vif> {
    let domain = view.domain_by_uuid(uuid)?;
    domain
        .interfaces
        .iter()
        .map(|v| &**v)
        .find(|v| v.mac_address == Some(mac))
}
