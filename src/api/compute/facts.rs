//! What the Compute views read of a record: the agent's own records, or the fleet
//! server's records of any host, give the same answers through it.

use crate::inventory::{OperState, Vif};
use crate::mac::MacAddr;

/// The fields of one record the Compute views use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifFacts<'a> {
    pub id: &'a str,
    pub mac_address: Option<MacAddr>,
    pub net_id: Option<&'a str>,
    pub port_id: Option<&'a str>,
    pub device: Option<&'a str>,
    pub host_mac: Option<MacAddr>,
    pub master: Option<&'a str>,
    pub operstate: Option<OperState>,
    pub carrier: Option<bool>,
}

impl<'a> From<&'a Vif> for VifFacts<'a> {
    fn from(v: &'a Vif) -> Self {
        VifFacts {
            id: &v.id,
            mac_address: v.mac_address,
            net_id: v.net_id.as_deref(),
            port_id: v.port_id.as_deref(),
            device: v.device.as_deref(),
            host_mac: v.host_mac,
            master: v.master.as_deref(),
            operstate: v.operstate,
            carrier: v.carrier,
        }
    }
}
