//! `vifd check`: every problem, with an exit status scripts can use.

use std::sync::Arc;

use std::io::Write;

use serde::Serialize;

use super::error::CmdError;
use super::output::print_json;
use super::settings;
use crate::cli::CheckArgs;
use crate::collect::collect;
use crate::config::Loaded;
use crate::inventory::{Inventory, Problem};
use crate::output::{cell, table};

/// `vifd check --json`.
#[derive(Serialize)]
struct CheckOutput<'a> {
    problems: &'a [Arc<Problem>],
}

/// Returns whether any problem was found.
pub async fn run(args: &CheckArgs, loaded: &Loaded) -> Result<bool, CmdError> {
    let inv = collect(&settings::host(&args.host, loaded)?).await?;
    if args.json {
        print_json(&CheckOutput {
            problems: &inv.problems,
        })?;
    } else {
        std::io::stdout()
            .lock()
            .write_all(render(&inv).as_bytes())?;
    }
    Ok(!inv.problems.is_empty())
}

pub fn render(inv: &Inventory) -> String {
    let summary = format!(
        "{} problem(s) in {} interface(s) of {} domain(s)\n",
        inv.problems.len(),
        inv.interfaces.len(),
        inv.domains.len()
    );
    if inv.problems.is_empty() {
        return summary;
    }
    let rows: Vec<Vec<String>> = inv
        .problems
        .iter()
        .map(|p| {
            vec![
                p.kind.to_string(),
                cell(p.device.as_deref()),
                p.detail.clone(),
            ]
        })
        .collect();
    table(&["PROBLEM", "DEVICE", "DETAIL"], &rows) + &summary
}
