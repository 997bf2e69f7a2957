//! `vifd watch`: a live tail of a daemon's inventory changes, read from its
//! `GET /v1/watch` Server-Sent Events. A dropped connection is retried with backoff and
//! resumed after the last generation seen; only an answer that retrying cannot change
//! (a bad token, a wrong URL) ends it, with exit status 2.

mod client;
pub(super) mod error;
mod render;
pub(crate) mod sse;

use std::convert::Infallible;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hyper::header::HeaderValue;
use serde_json::{Map, Value};
use tracing::{info, warn};

use super::error::CmdError;
use super::http_client;
use crate::cli::WatchArgs;
use client::{Endpoint, Stream};
pub use error::WatchError;
use sse::{SseEvent, SseParser};

/// The first wait before reconnecting, doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Follows the daemon until SIGINT/SIGTERM (exit 0) or a final error.
pub async fn run(args: &WatchArgs, config_token: Option<&Path>) -> Result<(), CmdError> {
    let endpoint = Endpoint::parse(&args.url)?;
    // The daemon's own token file, when this host's config names one, is the one to send.
    let token = args
        .token_file
        .as_deref()
        .or(config_token)
        .map(client::read_token)
        .transpose()?;
    let mut watch = Watch {
        endpoint,
        token,
        json: args.json,
        resume: Resume::default(),
    };
    let outcome = tokio::select! {
        r = watch.follow() => r,
        () = crate::serve::termination() => return Ok(()),
    };
    match outcome {
        // The reader went away (`vifd watch | head`): not an error.
        Err(WatchError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Where to resume: after the last generation seen, if the daemon is the same instance.
#[derive(Debug, Default)]
struct Resume {
    generation: Option<u64>,
    instance: Option<String>,
}

impl Resume {
    /// `?since=GEN&instance=ID`, or nothing before the first snapshot.
    fn query(&self) -> String {
        match (self.generation, &self.instance) {
            (Some(g), Some(i)) => format!("?since={g}&instance={}", http_client::percent_encode(i)),
            _ => String::new(),
        }
    }
}

/// 250 ms, doubling up to 5 s; back to 250 ms after a connection that was accepted.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(FIRST_BACKOFF)
    }

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }
}

struct Watch {
    endpoint: Endpoint,
    token: Option<HeaderValue>,
    json: bool,
    resume: Resume,
}

impl Watch {
    /// Connects, reads, and reconnects, until an error that retrying cannot fix.
    async fn follow(&mut self) -> Result<Infallible, WatchError> {
        let mut backoff = Backoff::new();
        loop {
            let query = self.resume.query();
            let why = match self.endpoint.open(&query, self.token.as_ref()).await {
                Ok(stream) => {
                    info!(url = %self.endpoint.url, query, "watching");
                    backoff = Backoff::new();
                    self.read(stream).await
                }
                Err(e) => e,
            };
            if why.is_final() {
                return Err(why);
            }
            let wait = backoff.next();
            warn!("{why}; reconnecting in {} ms", wait.as_millis());
            tokio::time::sleep(wait).await;
        }
    }

    /// Prints the stream's events until it ends or fails; returns why it stopped.
    async fn read(&mut self, mut stream: Stream) -> WatchError {
        let mut parser = SseParser::default();
        loop {
            let chunk = match stream.next().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    return WatchError::Ended {
                        url: self.endpoint.url.clone(),
                    }
                }
                Err(e) => return e,
            };
            let events = match parser.push(&chunk) {
                Ok(events) => events,
                Err(source) => {
                    return WatchError::Sse {
                        url: self.endpoint.url.clone(),
                        source,
                    }
                }
            };
            for ev in events {
                if let Err(e) = self.event(ev) {
                    return e.into();
                }
            }
        }
    }

    /// Notes where the event leaves the watcher, then prints it.
    fn event(&mut self, ev: SseEvent) -> std::io::Result<()> {
        let data: Map<String, Value> = match serde_json::from_str(&ev.data) {
            Ok(data) => data,
            Err(e) => {
                warn!(
                    event = ev.kind,
                    "skipping an event whose data is not a JSON object: {e}"
                );
                return Ok(());
            }
        };
        let generation = ev
            .id
            .as_deref()
            .and_then(|id| id.trim().parse().ok())
            .or_else(|| data.get("generation").and_then(Value::as_u64));
        if ev.kind == "snapshot" {
            let instance = data.get("instance").and_then(Value::as_str);
            self.resume.instance = instance.map(str::to_string);
        }
        if generation.is_some() {
            self.resume.generation = generation;
        }
        let line = if self.json {
            render::json_line(&ev.kind, &data)?
        } else {
            render::human_line(&ev.kind, generation, &data)
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_seconds() {
        let mut b = Backoff::new();
        let waits: Vec<u128> = (0..7).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn resume_query_needs_both_generation_and_instance() {
        let mut r = Resume::default();
        assert_eq!(r.query(), "");
        r.generation = Some(42);
        assert_eq!(r.query(), "", "no instance: a fresh snapshot is safer");
        r.instance = Some("00ff a&b".into());
        assert_eq!(r.query(), "?since=42&instance=00ff%20a%26b");
    }
}
