//! The write side: interface hot-plug, address allocation from a libvirt network's DHCP
//! range, and volume attachment, each done through libvirt and answered with what the
//! inventory then shows. Off unless the operator enables it (see `serve`); the HTTP
//! layer decides who may call, this module what may be done.

mod addresses;
mod interfaces;
mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

pub use addresses::Allocation;
pub use interfaces::{Attached, InterfaceRequest};
pub use volumes::{PoolVolumeInfo, VolumeAttached};

use crate::inventory::{Shared, View};
use crate::libvirt::with_session;
use crate::libvirt::{Domain, Failure, LibvirtError, Session};

/// How long an action waits for the inventory to show what libvirt did.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// What actions may use, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSettings {
    pub libvirt_uri: String,
    /// Network UUID → Linux bridge (`[networks.bridges]` read the other way): a net_id
    /// found here is plugged as `<interface type='bridge'>`.
    pub bridges: BTreeMap<String, String>,
    /// The storage pool volumes are attached from (`volumes.pool`).
    pub pool: Option<String>,
    pub wait: Duration,
}

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

/// The actions of one `vifd serve`, sharing its view and a libvirt connection of their own
/// (so a slow action never holds up the refresher's reads).
pub struct Actions {
    session: Arc<Mutex<Session>>,
    shared: Arc<Shared>,
    settings: ActionSettings,
    /// Held from choosing a MAC, tap name and port to libvirt's answer: two attaches must
    /// not pick the same ones.
    plug: tokio::sync::Mutex<()>,
    /// Per network UUID: held from reading the used addresses to recording the new one.
    networks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Actions {
    pub fn new(shared: Arc<Shared>, settings: ActionSettings) -> Self {
        Actions {
            session: Arc::new(Mutex::new(Session::new(&settings.libvirt_uri))),
            shared,
            settings,
            plug: tokio::sync::Mutex::new(()),
            networks: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &ActionSettings {
        &self.settings
    }

    /// The current view, once there is an inventory to act on.
    fn view(&self) -> Result<Arc<View>, ActionError> {
        let view = self.shared.current();
        if view.generation == 0 {
            return Err(ActionError::Unavailable(
                "The inventory is not ready yet; retry in a moment.".into(),
            ));
        }
        Ok(view)
    }

    /// The domain `uuid` as libvirt has it now (not as last served): 404 when gone.
    async fn fresh_domain(&self, uuid: &str) -> Result<Domain, ActionError> {
        let u = uuid.to_string();
        with_session(self.session.clone(), move |s| s.read_domain(&u))
            .await?
            .ok_or_else(|| ActionError::NotFound(format!("Instance {uuid} could not be found.")))
    }

    async fn libvirt<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<T, LibvirtError> + Send + 'static,
    ) -> Result<T, ActionError> {
        Ok(with_session(self.session.clone(), f).await?)
    }

    fn network_lock(&self, net: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.networks.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(net.to_string()).or_default().clone()
    }

    /// Waits (at most the configured time) until a served view satisfies `found`.
    async fn wait_until<T>(&self, mut found: impl FnMut(&View) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + self.settings.wait;
        loop {
            let view = self.shared.current();
            if let Some(t) = found(&view) {
                return Some(t);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.shared
                .wait_for(view.generation + 1, deadline - now)
                .await;
        }
    }
}

/// `n` random bytes from the kernel; a clock-seeded hash when it cannot be read. Used
/// for MACs and port UUIDs, where uniqueness is checked anyway.
fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut out = [0u8; N];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if read.is_err() {
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_u128(
                std::time::UNIX_EPOCH
                    .elapsed()
                    .unwrap_or_default()
                    .as_nanos(),
            );
            let bytes = h.finish().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    out
}
