//! `--fleet-*`, `VIFD_FLEET_*` and `[fleet]`: where `vifd serve` publishes its inventory.

use std::path::PathBuf;

use std::time::Duration;

use super::error::{invalid, Reason, SettingsError};
use crate::cli::{FleetArgs, FleetServeArgs};
use crate::config::Loaded;
use crate::fleet::{self, keys, FleetConfig};
use crate::serve::{self, FleetServeConfig, ListenAddr};

/// `vifd fleet serve`'s settings: etcd as the agent's `--fleet-*` / `[fleet]` (required),
/// the listeners, token and TLS from their flags or `VIFD_FLEET_LISTEN`, `VIFD_TOKEN_FILE`,
/// `VIFD_TLS_*` (the file's `listen`, `token_file` and `tls_*` are the agent's).
pub fn fleet_serve(
    args: &FleetServeArgs,
    loaded: &Loaded,
) -> Result<FleetServeConfig, SettingsError> {
    let etcd = fleet(&args.fleet, loaded)?.ok_or_else(|| {
        let message = "vifd fleet serve needs etcd: --fleet-etcd URL[,URL...]".to_string();
        invalid(loaded, "fleet.endpoints", false, Reason::Fleet(message))
    })?;
    let listen_text = match args.listen.is_empty() {
        true => vec![serve::DEFAULT_FLEET_LISTEN.to_string()],
        false => args.listen.clone(),
    };
    let listen = (listen_text.iter())
        .map(|a| ListenAddr::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(loaded, "listen", false, Reason::Serve(Box::new(e))))?;
    let header_timeout = args
        .header_timeout
        .map_or(serve::DEFAULT_HEADER_TIMEOUT, Duration::from_secs);
    Ok(FleetServeConfig {
        listen,
        token_file: args.access.token_file.clone(),
        tls: args
            .access
            .tls_cert
            .clone()
            .zip(args.access.tls_key.clone()),
        header_timeout,
        etcd,
    })
}

/// The fleet settings, or `None` when no endpoint is given (the fleet is off).
pub fn fleet(args: &FleetArgs, loaded: &Loaded) -> Result<Option<FleetConfig>, SettingsError> {
    let table = loaded.file.fleet.clone().unwrap_or_default();
    let bad = |key: &str, from_file: bool, message: String| {
        invalid(loaded, key, from_file, Reason::Fleet(message))
    };
    let from_file = args.etcd.is_empty();
    let given = match from_file {
        true => table.endpoints.clone().unwrap_or_default(),
        false => args.etcd.clone(),
    };
    let endpoints: Vec<String> = given
        .iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    if endpoints.is_empty() {
        return Ok(None);
    }
    for e in &endpoints {
        fleet::check_endpoint(e).map_err(|m| bad("fleet.endpoints", from_file, m))?;
    }
    let host_from_file = args.host.is_none();
    let host = match args.host.clone().or_else(|| table.host.clone()) {
        Some(h) => h,
        None => fleet::hostname().ok_or_else(|| {
            bad(
                "fleet.host",
                false,
                "the hostname cannot be read: set it".into(),
            )
        })?,
    };
    keys::check_host(&host)
        .map_err(|why| bad("fleet.host", host_from_file, format!("{host:?} {why}")))?;
    let identity = pair(
        (args.cert.clone(), table.cert.clone()),
        (args.key.clone(), table.key.clone()),
    )
    .map_err(|flag| {
        bad(
            "fleet.cert",
            flag,
            "fleet.cert and fleet.key go together".into(),
        )
    })?;
    let user = pair(
        (args.user.clone(), table.user.clone()),
        (args.password_file.clone(), table.password_file.clone()),
    )
    .map_err(|flag| {
        let message = "fleet.user and fleet.password_file go together".into();
        bad("fleet.user", flag, message)
    })?;
    Ok(Some(FleetConfig {
        endpoints,
        host,
        ca: args.ca.clone().or_else(|| table.ca.clone()),
        identity,
        user,
    }))
}

/// Two settings that go together, each from its flag or else the file: both or neither.
/// The error says whether the file (not a flag) set the lone one.
fn pair<A, B>(
    a: (Option<A>, Option<A>),
    b: (Option<B>, Option<B>),
) -> Result<Option<(A, B)>, bool> {
    let flags = a.0.is_some() || b.0.is_some();
    match (a.0.or(a.1), b.0.or(b.1)) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err(!flags),
    }
}

/// What `vifd config check` shows of `[fleet]`: the keys as the file spells them.
#[derive(Debug, serde::Serialize)]
pub struct FleetOut {
    pub endpoints: Vec<String>,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl From<&FleetConfig> for FleetOut {
    fn from(f: &FleetConfig) -> Self {
        FleetOut {
            endpoints: f.endpoints.clone(),
            host: f.host.clone(),
            ca: f.ca.clone(),
            cert: f.identity.as_ref().map(|i| i.0.clone()),
            key: f.identity.as_ref().map(|i| i.1.clone()),
            user: f.user.as_ref().map(|u| u.0.clone()),
            password_file: f.user.as_ref().map(|u| u.1.clone()),
        }
    }
}
