//! `GET /metrics` expositions read by the Prometheus Python client's own parsers
//! (tests/metrics_parse.py, run with /usr/bin/python3: Debian's python3-prometheus-client;
//! a missing parser fails the test), and the samples found in them.
#![allow(dead_code)]

use std::process::Command;

use serde_json::Value;

use super::process::output_with_stdin;

/// The content types of the two formats, as `/metrics` names them.
pub const OPEN_METRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";
/// An `Accept` header that asks for OpenMetrics.
pub const ACCEPT_OPEN_METRICS: (&str, &str) = ("accept", "application/openmetrics-text");

/// The families of an OpenMetrics `body`; panics with the parser's reason when it is not
/// valid.
pub fn parse(body: &str) -> Vec<Value> {
    run_parser(body, &[])
}

/// The families of a text format 0.0.4 `body`, as [`parse`].
pub fn parse_classic(body: &str) -> Vec<Value> {
    run_parser(body, &["--classic"])
}

fn run_parser(body: &str, args: &[&str]) -> Vec<Value> {
    let script = format!("{}/tests/metrics_parse.py", env!("CARGO_MANIFEST_DIR"));
    // /usr/bin/python3: Debian's, which has python3-prometheus-client.
    let out = output_with_stdin(
        Command::new("/usr/bin/python3").arg(&script).args(args),
        body,
    );
    assert!(
        out.status.success(),
        "{}\n--- exposition:\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the parse script prints JSON")
}

/// The samples named `name` (`vifd_interface_info`, `..._total`) whose labels include
/// all of `labels`.
pub fn samples<'a>(families: &'a [Value], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Value> {
    families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect()
}

/// The value of the one sample of `name` with these labels.
pub fn value(families: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(families, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]["value"].as_f64().unwrap()
}

/// Every sample as `name{labels} value`, sorted: what two formats must agree on.
pub fn sample_lines(families: &[Value]) -> Vec<String> {
    let mut lines: Vec<String> = families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .map(|s| {
            // The heap's bytes move between any two scrapes: their names are compared.
            let heap = s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("vifd_heap_"));
            let value = s["value"].as_f64().filter(|_| !heap);
            format!("{}{} {value:?}", s["name"], s["labels"])
        })
        .collect();
    lines.sort();
    lines
}
