//! `vifd list`: every virtual interface, as a table or JSON.

use std::io::Write;

use serde::Serialize;

use super::error::CmdError;
use super::output::print_json;
use super::settings;
use crate::cli::ListArgs;
use crate::collect::collect;
use crate::config::Loaded;
use crate::inventory::{Inventory, Vif};
use crate::output::{cell, table};

/// `vifd list --json`.
#[derive(Serialize)]
struct ListOutput<'a> {
    interfaces: &'a [&'a Vif],
}

pub async fn run(args: &ListArgs, loaded: &Loaded) -> Result<(), CmdError> {
    let inv = collect(&settings::host(&args.host, loaded)?).await?;
    let vifs = select(&inv, args.domain.as_deref())?;
    if args.json {
        return print_json(&ListOutput { interfaces: &vifs });
    }
    std::io::stdout()
        .lock()
        .write_all(render(&vifs).as_bytes())?;
    Ok(())
}

/// The records of one domain (by name or UUID), or all of them.
pub fn select<'a>(inv: &'a Inventory, domain: Option<&str>) -> Result<Vec<&'a Vif>, CmdError> {
    let Some(want) = domain else {
        return Ok(inv.interfaces.iter().map(|v| &**v).collect());
    };
    let dom = inv
        .find_domain(want)
        .ok_or_else(|| CmdError::NoSuchDomain(want.to_string()))?;
    Ok(inv
        .interfaces
        .iter()
        .filter(|v| v.domain_uuid == dom.uuid)
        .map(|v| &**v)
        .collect())
}

/// The columns of `vifd list`, in its order (`vifd query` adds a host column).
pub const HEADERS: [&str; 11] = [
    "DOMAIN",
    "STATE",
    "MAC",
    "TYPE",
    "DEVICE",
    "LINK",
    "SOURCE/MASTER",
    "NET ID",
    "PORT ID",
    "ADDRESSES",
    "PROBLEMS",
];

/// The aligned table an admin reads.
pub fn render(vifs: &[&Vif]) -> String {
    let rows: Vec<Vec<String>> = vifs
        .iter()
        .map(|v| {
            vec![
                v.domain_name.clone(),
                v.domain_state.as_str().to_string(),
                cell(v.mac_address),
                v.kind.to_string(),
                cell(v.device.as_deref()),
                cell(v.operstate),
                source_and_master(v),
                cell(v.net_id.as_deref()),
                cell(v.port_id.as_deref()),
                addresses(v),
                if v.problems.is_empty() {
                    "-".into()
                } else {
                    v.problems
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                },
            ]
        })
        .collect();
    table(&HEADERS, &rows)
}

/// What the XML asks for and, when it differs, where the device really is.
fn source_and_master(v: &Vif) -> String {
    let s = &v.source;
    let wanted = s
        .network
        .as_ref()
        .map(|n| format!("network:{n}"))
        .or_else(|| s.bridge.clone())
        .or_else(|| {
            s.dev
                .as_ref()
                .map(|d| format!("{d}/{}", s.mode.as_deref().unwrap_or("vepa")))
        })
        .or_else(|| s.path.clone())
        .or_else(|| s.address.clone());
    match (wanted, v.master.as_deref()) {
        (Some(w), Some(m)) if s.bridge.as_deref() != Some(m) => format!("{w} (on {m})"),
        (Some(w), _) => w,
        (None, Some(m)) => format!("(on {m})"),
        (None, None) => "-".into(),
    }
}

/// Each distinct address once, whatever saw it.
fn addresses(v: &Vif) -> String {
    let mut seen: Vec<String> = Vec::new();
    for a in &v.ip_addresses {
        let text = a.address.to_string();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    if seen.is_empty() {
        "-".into()
    } else {
        seen.join(",")
    }
}
