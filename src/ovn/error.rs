//! What can go wrong reading the Southbound DB; every message names the member.

use crate::ovsdb::{OvsdbAddr, OvsdbError};

#[derive(Debug, thiserror::Error)]
pub enum OvnError {
    #[error("invalid OVN Southbound address {text:?} in {list:?}: {source}")]
    Remote {
        text: String,
        list: String,
        #[source]
        source: OvsdbError,
    },
    #[error(
        "OVN Southbound address {text:?}: ssl: remotes are not supported yet (use tcp: or unix:)"
    )]
    Ssl { text: String },
    #[error("no OVN Southbound address given")]
    NoRemote,
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    #[error("OVN Southbound member {addr} is not connected to its {model} cluster")]
    NotConnected { addr: OvsdbAddr, model: String },
    #[error("OVN Southbound at {addr} sent an update vifd cannot apply: {reason}")]
    Update { addr: OvsdbAddr, reason: String },
    #[error("no OVN Southbound member answered ({tried}): {last}")]
    NoMember {
        tried: String,
        #[source]
        last: Box<OvnError>,
    },
}
