//! vifd as Prometheus sees it, with Prometheus's own tools (Debian's `prometheus`:
//! /usr/bin/promtool and /usr/bin/prometheus; missing, they fail the test under CI=true
//! and skip it otherwise, saying so), against a real `vifd serve` on the demo host (seven
//! VIFs with counters, an orphan tap and a missing device: problems and traffic series).
//!
//! - `/metrics` negotiates its format as client_golang does, and `promtool check metrics`
//!   finds nothing to say about the classic one.
//! - The shipped rules pass `promtool check rules` and their unit tests (`promtool test
//!   rules packaging/prometheus/vifd.rules.test.yml`).
//! - A real Prometheus scrapes the daemon (OpenMetrics, as it asks for) and loads the
//!   shipped rules; then every rule and every query of the shipped Grafana dashboard is
//!   evaluated through `/api/v1/query` and must return data.
//!
//! Evaluating alert rules: an alert's expression is empty while nothing is wrong, so
//! "returns data" cannot be asked of it. The rules file keeps every alert in the shape
//! `<vector expression> <comparison> <number>` (asserted here); the test evaluates the
//! whole expression (it must succeed) and the vector expression alone (it must return
//! data: the series the alert watches exist, so a misspelt metric or label that would
//! make the alert never fire fails the test). On top of that, the demo host's problems
//! must put `VifdProblems` in the pending state in Prometheus's own rule evaluation.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

use common::daemon::Daemon;
use common::http::get;
use common::metrics::{CLASSIC, OPEN_METRICS};
use common::ovn::prerequisite;
use common::process::output_with_stdin;
use common::prometheus::{Prometheus, JOB, PROMETHEUS, PROMTOOL};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RULES: &str = "packaging/prometheus/vifd.rules.yml";
const RULE_TESTS: &str = "packaging/prometheus/vifd.rules.test.yml";
const DASHBOARD: &str = "packaging/grafana/vifd.json";
/// What Prometheus 2.42 sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn tools_present() -> bool {
    let missing: Vec<&str> = [PROMTOOL, PROMETHEUS]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).is_file())
        .collect();
    prerequisite(
        &format!("{missing:?} (package prometheus)"),
        missing.is_empty(),
    )
}

fn path(rel: &str) -> String {
    format!("{ROOT}/{rel}")
}

/// `promtool ARGS` with `stdin`; panics unless it exits 0.
fn promtool(args: &[&str], stdin: &str) -> Output {
    let out = output_with_stdin(Command::new(PROMTOOL).args(args), stdin);
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn metrics_negotiate_their_format_and_the_classic_one_passes_promtool() {
    if !tools_present() {
        return;
    }
    let (_ns, d) = Daemon::on_demo_host("promfmt");
    let scrape = |accept: Option<&str>| {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let r = get(d.addr(), "/metrics", &headers);
        assert_eq!(r.status, 200, "{}", r.body);
        r
    };
    for (accept, want) in [
        (None, CLASSIC),
        (Some("*/*"), CLASSIC),
        (Some("text/plain"), CLASSIC),
        (Some("application/openmetrics-text"), OPEN_METRICS),
        (Some(PROMETHEUS_ACCEPT), OPEN_METRICS),
        (Some("application/openmetrics-text;q=0, */*;q=0.1"), CLASSIC),
    ] {
        assert_eq!(
            scrape(accept).header("content-type"),
            Some(want),
            "{accept:?}"
        );
    }
    let classic = scrape(None).body;
    assert!(classic.contains("\nvifd_problems{kind=\"orphan-device\"} 1\n"));
    // Clean: no error and no lint (promtool prints lints and still exits 0).
    let out = promtool(&["check", "metrics"], &classic);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.trim().is_empty(), "promtool check metrics: {said}");
}

#[test]
fn shipped_rules_pass_promtool_and_their_unit_tests() {
    if !tools_present() {
        return;
    }
    let out = promtool(&["check", "rules", &path(RULES)], "");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("SUCCESS: 8 rules found"), "{said}");
    // Run from the directory: the test file names the rules file relatively.
    let out = Command::new(PROMTOOL)
        .args(["test", "rules", "vifd.rules.test.yml"])
        .current_dir(path("packaging/prometheus"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules {RULE_TESTS}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_real_prometheus_has_data_for_every_rule_and_dashboard_query() {
    if !tools_present() {
        return;
    }
    let (_ns, d) = Daemon::on_demo_host("promreal");
    let prometheus = Prometheus::start(d.addr(), &[&path(RULES)]);
    let instance = d.addr().to_string();
    // Three scrapes at least: a rate over the dashboard's interval needs two samples.
    let scraped = format!("count_over_time(up{{job=\"{JOB}\"}}[1m]) >= 3");
    prometheus.until("three scrapes of vifd", || {
        !prometheus.query(&scraped).is_empty()
    });
    let up = prometheus.query(&format!("up{{job=\"{JOB}\"}}"));
    assert_eq!(value(&up[0]), 1.0, "{up:?}\n{}", prometheus.log());

    let records = get(d.addr(), "/v1/interfaces", &[]).json()["interfaces"]
        .as_array()
        .unwrap()
        .len();
    let count = prometheus.query("count(vifd_interface_info)");
    assert_eq!(value(&count[0]), records as f64, "{count:?}");
    assert_eq!(records, 7);

    check_rules(&prometheus);
    check_dashboard(&prometheus, &instance);
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

/// Every rule Prometheus loaded from the shipped file, evaluated (see the module doc).
fn check_rules(prometheus: &Prometheus) {
    let rules = || -> Vec<Value> {
        let groups = prometheus.api("/api/v1/rules")["groups"].clone();
        let groups = groups.as_array().unwrap().clone();
        groups
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect()
    };
    // The demo host's orphan tap is a problem now: Prometheus's own evaluation sees it.
    prometheus.until("VifdProblems pending for orphan-device", || {
        rules().iter().any(|r| {
            r["name"] == "VifdProblems"
                && r["alerts"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| a["labels"]["kind"] == "orphan-device" && a["state"] == "pending")
                })
        })
    });
    let rules = rules();
    assert_eq!(rules.len(), 8, "{rules:?}");
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{rule}");
        let expr = rule["query"].as_str().unwrap();
        let selector = match rule["type"].as_str() {
            Some("alerting") => {
                prometheus.query(expr);
                vector_side(expr)
            }
            _ => expr,
        };
        let result = prometheus.query(selector);
        assert!(
            !result.is_empty(),
            "{}: {selector} has no data",
            rule["name"]
        );
    }
}

/// The vector expression of `<vector> <comparison> <number>`; panics on another shape.
fn vector_side(expr: &str) -> &str {
    let shape = || panic!("{expr}: not `<vector expression> <comparison> <number>`");
    let (left, number) = expr.trim().rsplit_once(' ').unwrap_or_else(shape);
    let (vector, op) = left.trim_end().rsplit_once(' ').unwrap_or_else(shape);
    let comparison = ["==", "!=", ">", "<", ">=", "<="].contains(&op);
    if !comparison || number.parse::<f64>().is_err() {
        shape();
    }
    vector
}

/// The concrete values of the dashboard's variables, as Grafana would substitute them.
fn substitute(expr: &str, instance: &str) -> String {
    let out = expr
        .replace("$__rate_interval", "1m")
        .replace("$instance", instance);
    assert!(!out.contains('$'), "an unknown variable in {expr}");
    out
}

/// Every panel query of the dashboard, and the metric of every `label_values` variable,
/// must return data.
fn check_dashboard(prometheus: &Prometheus, instance: &str) {
    let text = std::fs::read_to_string(path(DASHBOARD)).unwrap();
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dash["schemaVersion"].as_u64() >= Some(39));
    let variables = dash["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = variables
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["DS_PROMETHEUS", "instance"]);
    let mut queries: Vec<String> = variables
        .iter()
        .filter_map(|v| v["query"]["query"].as_str())
        .map(|q| {
            let inner = q
                .strip_prefix("label_values(")
                .unwrap_or_else(|| panic!("{q}"));
            inner.split_once(',').unwrap().0.to_string()
        })
        .collect();
    let panels = dash["panels"].as_array().unwrap();
    let mut targets = 0;
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{panel}");
        for target in panel["targets"].as_array().unwrap() {
            queries.push(substitute(target["expr"].as_str().unwrap(), instance));
            targets += 1;
        }
    }
    assert!(targets >= 10, "{targets} panel queries");
    for query in &queries {
        let result = prometheus.query(query);
        assert!(!result.is_empty(), "{query} has no data");
    }
}
