//! What `vifd query` prints: the merged table or JSON on stdout, and on stderr the
//! hosts that failed or answered stale.

use std::io::Write;

use serde::Serialize;

use super::fetch::Outcome;
use super::record::{HostRecord, HEADERS};
use crate::output::table;

/// `--json`; the shape is documented in the module above.
#[derive(Serialize)]
pub struct Output<'a> {
    pub interfaces: Vec<HostRecord<'a>>,
    pub hosts: Vec<HostSummary<'a>>,
    pub failed: Vec<Failure<'a>>,
}

/// One agent in `hosts`. Every key is always present (null when it does not apply), as in
/// the records themselves.
#[derive(Serialize)]
pub struct HostSummary<'a> {
    pub host: &'a str,
    pub ok: bool,
    pub generation: Option<u64>,
    pub collected_at: Option<&'a str>,
    pub stale: Option<bool>,
    pub interface_count: Option<usize>,
    pub elapsed_ms: u64,
    pub error: Option<String>,
    pub error_kind: Option<&'static str>,
    pub http_status: Option<u16>,
}

/// One agent in `failed`.
#[derive(Serialize)]
pub struct Failure<'a> {
    pub host: &'a str,
    pub error: String,
}

/// The `--json` document of `outcomes` (already in host order).
pub fn json(outcomes: &[Outcome]) -> Output<'_> {
    let mut out = Output {
        interfaces: Vec::new(),
        hosts: Vec::with_capacity(outcomes.len()),
        failed: Vec::new(),
    };
    for o in outcomes {
        let elapsed_ms = u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX);
        let mut summary = HostSummary {
            host: &o.host,
            ok: o.result.is_ok(),
            generation: None,
            collected_at: None,
            stale: None,
            interface_count: None,
            elapsed_ms,
            error: None,
            error_kind: None,
            http_status: None,
        };
        match &o.result {
            Ok(a) => {
                let inv = &a.inventory;
                summary.generation = inv.generation;
                summary.collected_at = inv.collected_at.as_deref();
                summary.stale = Some(a.stale);
                summary.interface_count = Some(inv.interfaces.len());
                out.interfaces
                    .extend(inv.interfaces.iter().map(|record| HostRecord {
                        host: &o.host,
                        record,
                    }));
            }
            Err(e) => {
                summary.error = Some(e.to_string());
                summary.error_kind = Some(e.kind());
                summary.http_status = e.http_status();
                out.failed.push(Failure {
                    host: &o.host,
                    error: e.to_string(),
                });
            }
        }
        out.hosts.push(summary);
    }
    out
}

/// `HOST` and then `vifd list`'s columns, one row per record of every host that answered.
pub fn table_text(outcomes: &[Outcome]) -> String {
    let headers: Vec<&str> = std::iter::once("HOST").chain(HEADERS).collect();
    let mut rows = Vec::new();
    for o in outcomes {
        let Ok(a) = &o.result else { continue };
        for r in &a.inventory.interfaces {
            let mut row = Vec::with_capacity(headers.len());
            row.push(o.host.clone());
            row.extend(r.cells());
            rows.push(row);
        }
    }
    table(&headers, &rows)
}

/// The hosts that answered stale, then those that failed and why.
pub fn notes(outcomes: &[Outcome]) -> String {
    let mut text = String::new();
    for o in outcomes {
        if matches!(&o.result, Ok(a) if a.stale) {
            text.push_str(&format!(
                "stale: {}: libvirt is unreachable there; its guest side is the last one read\n",
                o.host
            ));
        }
    }
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if !failed.is_empty() {
        text.push_str(&format!(
            "failed: {} of {} hosts\n",
            failed.len(),
            outcomes.len()
        ));
    }
    for o in failed {
        if let Err(e) = &o.result {
            text.push_str(&format!("  {}: {e}\n", o.host));
        }
    }
    text
}

/// Writes the notes to stderr; a closed stderr is no reason to fail.
pub fn print_notes(outcomes: &[Outcome]) {
    let text = notes(outcomes);
    if !text.is_empty() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests;
