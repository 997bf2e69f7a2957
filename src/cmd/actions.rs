//! `vifd attach-interface`, `detach-interface`, `attach-volume` and `detach-volume`: each
//! asks a running daemon (`--url`, by default its unix socket) to change a domain, the way
//! Nova's API would, and prints what the daemon answered. The daemon does the work; these
//! only name the domain (a name is looked up in `GET /v1/domains`), send one request, and
//! turn a refusal's Nova fault into one line on stderr with exit status 2.

mod answer;
mod client;
pub(super) mod error;

use std::io::Write;
use std::path::Path;

use hyper::Method;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::CmdError;
use super::output::print_json;
use crate::cli::{
    ActionTarget, AttachInterfaceArgs, AttachVolumeArgs, DetachInterfaceArgs, DetachVolumeArgs,
};
use answer::{Attached, VolumeAttached};
use client::{segment, Agent};
pub use error::{ActionError, Failure};

/// `POST /v1/domains/{uuid}/interfaces`.
pub async fn attach_interface(
    args: &AttachInterfaceArgs,
    config_token: Option<&Path>,
) -> Result<(), CmdError> {
    let act = Action::new("attach-interface", &args.server, &args.target, config_token)?;
    let uuid = act.domain().await?;
    let path = format!("/v1/domains/{uuid}/interfaces");
    let body = act
        .call(Method::POST, &path, Some(interface_request(args)))
        .await?;
    if args.json {
        return print_json(&act.decode::<Value>("the attach", &body)?);
    }
    let answer: Attached = act.decode("the attach", &body)?;
    say(&answer.text())
}

/// `DELETE /v2.1/servers/{uuid}/os-interface/{port_id}`.
pub async fn detach_interface(
    args: &DetachInterfaceArgs,
    config_token: Option<&Path>,
) -> Result<(), CmdError> {
    let act = Action::new("detach-interface", &args.server, &args.target, config_token)?;
    let uuid = act.domain().await?;
    let path = format!(
        "/v2.1/servers/{uuid}/os-interface/{}",
        segment(&args.port_id)
    );
    act.call(Method::DELETE, &path, None).await?;
    say(&format!(
        "detach of {} requested (the guest completes it)\n",
        args.port_id
    ))
}

/// `POST /v2.1/servers/{uuid}/os-volume_attachments`.
pub async fn attach_volume(
    args: &AttachVolumeArgs,
    config_token: Option<&Path>,
) -> Result<(), CmdError> {
    let act = Action::new("attach-volume", &args.server, &args.target, config_token)?;
    let uuid = act.domain().await?;
    let mut attachment = Map::new();
    attachment.insert("volumeId".into(), args.volume_id.clone().into());
    if let Some(d) = &args.device {
        attachment.insert("device".into(), d.clone().into());
    }
    let request = serde_json::json!({ "volumeAttachment": attachment });
    let path = format!("/v2.1/servers/{uuid}/os-volume_attachments");
    let body = act.call(Method::POST, &path, Some(request)).await?;
    if args.json {
        return print_json(&act.decode::<Value>("the attach", &body)?);
    }
    let answer: VolumeAttached = act.decode("the attach", &body)?;
    say(&answer.text(&args.volume_id))
}

/// `DELETE /v2.1/servers/{uuid}/os-volume_attachments/{volume_id}`.
pub async fn detach_volume(
    args: &DetachVolumeArgs,
    config_token: Option<&Path>,
) -> Result<(), CmdError> {
    let act = Action::new("detach-volume", &args.server, &args.target, config_token)?;
    let uuid = act.domain().await?;
    let path = format!(
        "/v2.1/servers/{uuid}/os-volume_attachments/{}",
        segment(&args.volume_id)
    );
    act.call(Method::DELETE, &path, None).await?;
    say(&format!("detach of volume {} requested\n", args.volume_id))
}

/// The attach-interface body: only the keys the user gave, so that the daemon's defaults
/// apply to the rest.
fn interface_request(args: &AttachInterfaceArgs) -> Value {
    let mut body = Map::new();
    body.insert("net_id".into(), args.net_id.to_string().into());
    if let Some(p) = args.port_id {
        body.insert("port_id".into(), p.to_string().into());
    }
    if let Some(m) = args.mac {
        body.insert("mac_address".into(), m.to_string().into());
    }
    if args.allocate_ip {
        body.insert("allocate_ip".into(), true.into());
    }
    Value::Object(body)
}

/// One action on one domain, which every failure names.
struct Action<'a> {
    name: &'static str,
    server: &'a str,
    agent: Agent,
}

impl<'a> Action<'a> {
    fn new(
        name: &'static str,
        server: &'a str,
        target: &ActionTarget,
        config_token: Option<&Path>,
    ) -> Result<Self, ActionError> {
        let agent = Agent::new(target, config_token)?;
        Ok(Action {
            name,
            server,
            agent,
        })
    }

    async fn domain(&self) -> Result<Uuid, ActionError> {
        self.agent
            .domain_uuid(self.server)
            .await
            .map_err(|w| self.failed(w))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<bytes::Bytes, ActionError> {
        let sent = self.agent.call(method, path, body.as_ref()).await;
        sent.map_err(|w| self.failed(w))
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        body: &[u8],
    ) -> Result<T, ActionError> {
        self.agent.decode(what, body).map_err(|w| self.failed(w))
    }

    fn failed(&self, why: Failure) -> ActionError {
        ActionError::Failed {
            action: self.name,
            server: self.server.to_string(),
            why,
        }
    }
}

fn say(text: &str) -> Result<(), CmdError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
