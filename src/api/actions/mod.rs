//! The write endpoints: who may call them ([`Authorized`]), how their bodies are read
//! ([`body`]), and one audit line per action. What is done lives in `crate::actions`.

pub mod body;
pub mod compute;
pub mod native;
pub mod volumes;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::{self, Peer, Token};
use super::fault::Fault;
use crate::actions::Actions;

pub use crate::logging::AUDIT_TARGET;

/// What a listener allows: set per listener by `serve`.
#[derive(Debug, Clone)]
pub struct ActionAccess {
    pub actions: Arc<Actions>,
    /// `--enable-actions` / `actions.enabled`.
    pub enabled: bool,
    /// Unix-socket listeners accept actions from whoever may open the socket (mode 0660).
    pub unix: bool,
    /// TCP listeners accept actions only with this token (`serve` refuses to start an
    /// enabled TCP listener without one).
    pub token: Option<Arc<Token>>,
}

/// A caller allowed to act, and the actions to call.
pub struct Authorized {
    /// The peer, and whether it presented the token: what the audit line names.
    pub caller: String,
    pub actions: Arc<Actions>,
}

impl<S: Send + Sync> FromRequestParts<S> for Authorized {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let access = parts
            .extensions
            .get::<ActionAccess>()
            .cloned()
            .ok_or_else(|| disabled().into_response())?;
        if !access.enabled {
            return Err(disabled().into_response());
        }
        let peer = parts
            .extensions
            .get::<Peer>()
            .map_or_else(|| "unknown peer".to_string(), Peer::to_string);
        if access.unix {
            return Ok(Authorized {
                caller: peer,
                actions: access.actions,
            });
        }
        let Some(token) = access.token else {
            return Err(Fault::new(
                StatusCode::FORBIDDEN,
                "Actions are accepted on this TCP listener only with a bearer token, and none \
                 is configured (--token-file); use the unix socket.",
            )
            .into_response());
        };
        let given = auth::presented(&parts.headers);
        if !given.is_some_and(|t| token.matches(t)) {
            return Err(auth::unauthorized(given.is_some()));
        }
        Ok(Authorized {
            caller: format!("{peer} (bearer token)"),
            actions: access.actions,
        })
    }
}

fn disabled() -> Fault {
    Fault::new(
        StatusCode::FORBIDDEN,
        "Actions are disabled on this host: vifd serve runs without --enable-actions \
         (actions.enabled in the config file).",
    )
}

/// The actions of this server, for the read endpoints that ask libvirt (os-volumes).
pub struct ActionsRef(pub Arc<Actions>);

impl<S: Send + Sync> FromRequestParts<S> for ActionsRef {
    type Rejection = Fault;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Fault> {
        parts
            .extensions
            .get::<ActionAccess>()
            .map(|a| ActionsRef(a.actions.clone()))
            .ok_or_else(|| Fault::not_found("Volumes are not served on this listener."))
    }
}

/// One line per action, whatever its outcome: who, what, on what, and the answer.
pub fn audit<T>(caller: &str, action: &str, target: &str, res: &Result<T, Fault>, ok: StatusCode) {
    match res {
        Ok(_) => tracing::info!(
            target: AUDIT_TARGET,
            caller,
            action,
            object = target,
            status = ok.as_u16(),
            "action done"
        ),
        Err(f) => tracing::info!(
            target: AUDIT_TARGET,
            caller,
            action,
            object = target,
            status = f.status.as_u16(),
            error = %f.message,
            "action refused"
        ),
    }
}
