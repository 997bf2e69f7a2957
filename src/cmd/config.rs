//! `vifd config check`: validates a configuration file the way `vifd serve` would read
//! it, and prints the settings that would take effect (file over built-in defaults).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::settings::{Flags, FleetOut, Settings, SettingsError, DEFAULT_AGENT_TIMEOUT};
use crate::cli::{ConfigCheckArgs, ServeArgs};
use crate::config::{self, Loaded};
use crate::logging::LogFormat;

/// Exit status: 0 valid, 2 not (the mistake on stderr, with its key and line).
pub fn check(args: &ConfigCheckArgs, explicit: Option<&Path>) -> u8 {
    let path = explicit.map_or_else(|| PathBuf::from(config::DEFAULT_PATH), Path::to_path_buf);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "vifd: no config file at {}; the built-in defaults apply",
                path.display()
            );
            String::new()
        }
        Err(e) => {
            eprintln!("vifd: cannot read config file {}: {e}", path.display());
            return 2;
        }
    };
    let loaded = match config::parse(&text) {
        Ok(file) => Loaded { text, file },
        Err(invalid) => {
            eprintln!("vifd: invalid config file {}: {invalid}", path.display());
            return 2;
        }
    };
    match effective(&loaded) {
        Ok(eff) => match print(&eff, args.json) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("vifd: cannot print the settings: {e}");
                2
            }
        },
        Err(e) => {
            eprintln!("vifd: invalid config file {}: {e}", path.display());
            2
        }
    }
}

fn print(eff: &Effective, json: bool) -> Result<(), String> {
    let text = match json {
        true => serde_json::to_string_pretty(eff).map_err(|e| e.to_string())?,
        false => toml::to_string(eff).map_err(|e| e.to_string())?,
    };
    println!("{}", text.trim_end());
    Ok(())
}

/// Every setting `vifd serve` would use with this file and no options.
#[derive(Debug, Serialize)]
pub struct Effective {
    pub log_level: String,
    pub log_format: LogFormat,
    pub libvirt_uri: String,
    pub netns: Option<String>,
    pub orphan_pattern: Vec<String>,
    pub listen: Vec<String>,
    pub refresh: u64,
    pub header_timeout: u64,
    pub poll_interval: u64,
    pub token_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// ovsdb-server's address; absent when the ovsdb resolver is not used.
    pub ovsdb: Option<String>,
    /// The OVN Southbound members given; absent when the ovn resolver is off or reads the
    /// local `ovn-remote`.
    pub ovn_sb: Option<String>,
    /// Seconds a binding fault waits before it is reported; absent when the ovn resolver
    /// is off.
    pub ovn_grace: Option<u64>,
    pub resolvers: Vec<String>,
    pub guest_agent: bool,
    pub guest_agent_timeout: u64,
    pub networks: Networks,
    pub actions: ActionsOut,
    pub volumes: VolumesOut,
    /// Absent when the fleet is off (no endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetOut>,
}

#[derive(Debug, Serialize)]
pub struct ActionsOut {
    pub enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct VolumesOut {
    /// Absent when no pool is configured.
    pub pool: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Networks {
    pub bridges: std::collections::BTreeMap<String, String>,
    pub ovs_bridges: std::collections::BTreeMap<String, String>,
    pub mac_prefixes: std::collections::BTreeMap<String, String>,
}

/// Resolves the file exactly as `vifd serve` does with no options and no environment.
pub fn effective(loaded: &Loaded) -> Result<Effective, SettingsError> {
    let settings = Settings::resolve(&Flags::default(), &ServeArgs::default(), loaded)?;
    let cfg = &settings.serve;
    let source = &cfg.source;
    let secs = |d: std::time::Duration| d.as_secs();
    let map = &source.options.identity.map;
    Ok(Effective {
        log_level: settings.log.filter.clone(),
        log_format: settings.log.format,
        libvirt_uri: source.libvirt_uri.clone(),
        netns: loaded.file.netns.clone(),
        orphan_pattern: source.options.orphan_patterns.clone(),
        listen: cfg.listen.iter().map(ToString::to_string).collect(),
        refresh: secs(cfg.refresh),
        header_timeout: secs(cfg.header_timeout),
        poll_interval: secs(cfg.poll),
        token_file: cfg.token_file.clone(),
        tls_cert: cfg.tls.as_ref().map(|t| t.0.clone()),
        tls_key: cfg.tls.as_ref().map(|t| t.1.clone()),
        ovsdb: source.ovsdb.as_ref().map(|o| o.addr.to_string()),
        ovn_sb: source
            .ovn
            .as_ref()
            .and_then(|o| o.remotes.as_ref())
            .map(|r| {
                let list: Vec<String> = r.iter().map(ToString::to_string).collect();
                list.join(",")
            }),
        ovn_grace: source.ovn.as_ref().map(|o| secs(o.grace)),
        resolvers: source
            .options
            .identity
            .order
            .iter()
            .map(ToString::to_string)
            .collect(),
        guest_agent: source.guest_agent.is_some(),
        guest_agent_timeout: source
            .guest_agent
            .unwrap_or(DEFAULT_AGENT_TIMEOUT)
            .as_secs(),
        networks: Networks {
            bridges: map.bridges.clone(),
            ovs_bridges: map.ovs_bridges.clone(),
            mac_prefixes: map
                .mac_prefixes
                .iter()
                .map(|(p, u)| (p.to_string(), u.clone()))
                .collect(),
        },
        actions: ActionsOut {
            enabled: cfg.actions.enabled,
        },
        volumes: VolumesOut {
            pool: cfg.actions.pool.clone(),
        },
        fleet: cfg.fleet.as_ref().map(FleetOut::from),
    })
}
