//! `vifd query`: asks many agents (`vifd serve`) for `GET /v1/interfaces` at once and
//! merges their answers, the shape of a central API's fan-out.
//!
//! At most `--concurrency` agents are asked at a time. Each gets `--timeout` seconds from
//! the moment it is asked, connecting and reading the whole answer included, so a host
//! that hangs costs its own slot for that long and delays no other. Every URL is checked
//! before anything is sent; one agent named twice is asked once.
//!
//! The table is `HOST` then `vifd list`'s columns, rows in host (URL) order and then in
//! each agent's order. On stderr follow the hosts that answered stale (`X-Vifd-Stale: 1`:
//! libvirt is unreachable there) and those that failed, `HOST: reason`.
//!
//! `--json` prints one object:
//!
//! ```json
//! {
//!   "interfaces": [{"host": "http://10.0.0.5:8789", "id": "...", ...}],
//!   "hosts": [
//!     {"host": "http://10.0.0.5:8789", "ok": true, "generation": 42,
//!      "collected_at": "2026-11-23T10:00:00Z", "stale": false, "interface_count": 12,
//!      "elapsed_ms": 4, "error": null, "error_kind": null, "http_status": null},
//!     {"host": "http://10.0.0.6:8789", "ok": false, "generation": null,
//!      "collected_at": null, "stale": null, "interface_count": null, "elapsed_ms": 0,
//!      "error": "cannot connect: Connection refused (os error 111)",
//!      "error_kind": "connect", "http_status": null}
//!   ],
//!   "failed": [{"host": "http://10.0.0.6:8789",
//!               "error": "cannot connect: Connection refused (os error 111)"}]
//! }
//! ```
//!
//! `interfaces` holds each agent's records unchanged (fields in the agent's order) behind a
//! `host` key, the agent's URL as `hosts` spells it. `hosts` lists every agent asked, in
//! URL order, each with every key. `error_kind` is one of `connect`, `timeout`,
//! `http-status` (then `http_status` is set), `not-vifd` (something answered, not a vifd
//! agent) and `protocol` (the HTTP exchange broke). `failed` repeats the failed hosts.
//!
//! `--fleet URL` asks one fleet server (`vifd fleet serve`) instead: its records are
//! shown per host, `HOST` being the name each agent publishes under.
//!
//! Exit status: 0 when every agent answered (stale ones included), 1 when some failed,
//! 2 on a usage error (no agent, a bad URL, an unreadable hosts or token file).

mod error;
mod fetch;
mod hosts;
mod record;
mod render;

use std::path::Path;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use hyper::header::HeaderValue;

use super::error::CmdError;
use super::output::print_json;
use crate::cli::QueryArgs;
use crate::cmd::http_client::{self, Endpoint};
pub use error::QueryError;
use fetch::Outcome;

pub const DEFAULT_TIMEOUT_SECS: f64 = 5.0;
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Asks every agent; `Ok(true)` when all of them answered.
pub async fn run(args: &QueryArgs, config_token: Option<&Path>) -> Result<bool, CmdError> {
    let limit = timeout(args.timeout)?;
    let concurrency = match args.concurrency.unwrap_or(DEFAULT_CONCURRENCY) {
        0 => return Err(QueryError::Concurrency.into()),
        n => n,
    };
    let urls = args.fleet.as_slice();
    let agents = match args.fleet {
        Some(_) => hosts::collect(urls, None)?,
        None => hosts::collect(&args.urls, args.hosts.as_deref())?,
    };
    // The agents' token: the daemon's own token file when this host's config names one.
    let token = args
        .token_file
        .as_deref()
        .or(config_token)
        .map(http_client::read_token)
        .transpose()
        .map_err(QueryError::from)?;
    let mut outcomes = ask_all(&agents, token.as_ref(), limit, concurrency).await;
    if args.fleet.is_some() {
        outcomes = outcomes.into_iter().flat_map(fetch::per_host).collect();
    }
    match print(&outcomes, args.json) {
        // The reader went away (`vifd query ... | head`): what it read is what it wanted.
        Err(CmdError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    render::print_notes(&outcomes);
    Ok(outcomes.iter().all(|o| o.result.is_ok()))
}

fn print(outcomes: &[Outcome], json: bool) -> Result<(), CmdError> {
    if json {
        return print_json(&render::json(outcomes));
    }
    use std::io::Write;
    let text = render::table_text(outcomes);
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// `--timeout` as a duration: positive and finite.
fn timeout(secs: Option<f64>) -> Result<Duration, QueryError> {
    let secs = secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(QueryError::Timeout(secs)),
    }
}

/// Every agent's outcome, in URL order. At most `concurrency` requests are in flight;
/// each starts its clock when it is sent, not when the query began.
async fn ask_all(
    agents: &[Endpoint],
    token: Option<&HeaderValue>,
    limit: Duration,
    concurrency: usize,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = stream::iter(agents)
        .map(|agent| fetch::ask(agent, token, limit))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.host.cmp(&b.host));
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_must_be_positive_and_finite() {
        assert_eq!(timeout(None).ok(), Some(Duration::from_secs(5)));
        assert_eq!(timeout(Some(0.25)).ok(), Some(Duration::from_millis(250)));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(timeout(Some(bad)).is_err(), "{bad}");
        }
    }
}
