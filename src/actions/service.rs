//! The actions' shared state: the served view, a libvirt connection of their own and the
//! locks that keep two actions from choosing the same names; the actions themselves are
//! `impl Actions` blocks in the sibling files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::error::ActionError;
use super::settings::ActionSettings;
use crate::inventory::{Shared, View};
use crate::libvirt::with_session;
use crate::libvirt::{Domain, LibvirtError, Session};

/// The actions of one `vifd serve`, sharing its view and a libvirt connection of their own
/// (so a slow action never holds up the refresher's reads).
pub struct Actions {
    session: Arc<Mutex<Session>>,
    pub(super) shared: Arc<Shared>,
    pub(super) settings: ActionSettings,
    /// Held from choosing a MAC, tap name and port to libvirt's answer: two attaches must
    /// not pick the same ones.
    pub(super) plug: tokio::sync::Mutex<()>,
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
    pub(super) fn view(&self) -> Result<Arc<View>, ActionError> {
        let view = self.shared.current();
        if view.generation == 0 {
            return Err(ActionError::Unavailable(
                "The inventory is not ready yet; retry in a moment.".into(),
            ));
        }
        Ok(view)
    }

    /// The domain `uuid` as libvirt has it now (not as last served): 404 when gone.
    pub(super) async fn fresh_domain(&self, uuid: &str) -> Result<Domain, ActionError> {
        let u = uuid.to_string();
        with_session(self.session.clone(), move |s| s.read_domain(&u))
            .await?
            .ok_or_else(|| ActionError::NotFound(format!("Instance {uuid} could not be found.")))
    }

    pub(super) async fn libvirt<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<T, LibvirtError> + Send + 'static,
    ) -> Result<T, ActionError> {
        Ok(with_session(self.session.clone(), f).await?)
    }

    pub(super) fn network_lock(&self, net: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.networks.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(net.to_string()).or_default().clone()
    }

    /// Waits (at most the configured time) until a served view satisfies `found`.
    pub(super) async fn wait_until<T>(
        &self,
        mut found: impl FnMut(&View) -> Option<T>,
    ) -> Option<T> {
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
