//! Why an action was not done.

use crate::libvirt::{Failure, LibvirtError};

/// Why an action was not done; the API maps each to a Nova fault.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The request names something invalid (400).
    #[error("Invalid input for field/attribute {field}: {message}")]
    Invalid { field: String, message: String },
    /// A server, network, port, volume or address that does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The host's state forbids it: a MAC or device in use, no free address (409).
    #[error("{0}")]
    Conflict(String),
    /// The inventory is not ready yet (503).
    #[error("{0}")]
    Unavailable(String),
    /// libvirt refused or failed (404, 409 or 500 by its error).
    #[error(transparent)]
    Libvirt(#[from] LibvirtError),
    /// libvirt did it, but the inventory did not show it in time (500).
    #[error("{0}")]
    NotSeen(String),
}

impl ActionError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ActionError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The failure class of a libvirt error (by libvirt's error code), for the status it
    /// maps to.
    pub fn libvirt_failure(&self) -> Option<Failure> {
        match self {
            ActionError::Libvirt(e) => Some(e.failure()),
            _ => None,
        }
    }
}
