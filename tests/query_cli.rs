//! `vifd query` as a process against a fleet of real `vifd serve` agents, each reading its
//! own network namespace and test-driver node file on its own port, plus the hosts a
//! fleet also has: a dead one, a hanging one, one that wants a token, scripted servers
//! that answer stale, with a fault, or not as vifd. Needs root (namespaces, taps); a
//! missing prerequisite fails these tests, it never skips them.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use common::agents::{dead_url, hanging_host, query_command, Agent, DOMAINS, NICS};
use serde_json::Value;

fn require_root() {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user.
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid());
    assert!(
        matches!(uid, Ok(0)),
        "these tests need root (network namespaces, tap devices); run them as root"
    );
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("vifd-query-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    Scratch(dir)
}

/// Runs `vifd query ARGS` (inside `netns` when given) and requires exit status `code`.
fn query_in(netns: Option<&str>, args: &[&str], code: i32) -> Output {
    let out = query_command(netns, args).output().expect("run vifd query");
    assert_eq!(
        out.status.code(),
        Some(code),
        "vifd query {args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn query(args: &[&str], code: i32) -> Output {
    query_in(None, args, code)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("vifd query --json printed JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn three_agents() -> Vec<Agent> {
    (1..=3).map(|i| Agent::start(i, &[])).collect()
}

/// The `host` entry for `url` in a `--json` document.
fn host_entry<'a>(doc: &'a Value, url: &str) -> &'a Value {
    doc["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|e| e["host"] == url))
        .unwrap_or_else(|| panic!("no host {url} in {doc:#}"))
}

/// A record without its counters (they move on their own) and without `host`.
fn comparable(record: &Value) -> Value {
    let mut r = record.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("stats");
        o.remove("host");
    }
    r
}

/// Every agent's records are in `doc`, tagged with its URL, exactly as `vifd list` reads
/// the same host.
fn assert_merged(doc: &Value, agents: &[Agent]) {
    let all = doc["interfaces"].as_array().expect("interfaces");
    assert_eq!(all.len(), agents.len() * DOMAINS * NICS, "{doc:#}");
    for a in agents {
        let mut args = vec!["list".to_string(), "--json".to_string()];
        args.extend(a.list_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let listed = common::vifd_json(&args, 0);
        let want: Vec<Value> = listed["interfaces"]
            .as_array()
            .expect("listed")
            .iter()
            .map(comparable)
            .collect();
        let got: Vec<Value> = all
            .iter()
            .filter(|r| r["host"] == a.url.as_str())
            .map(comparable)
            .collect();
        assert_eq!(got, want, "records of {}", a.url);
        assert_eq!(host_entry(doc, &a.url)["ok"], true);
        assert_eq!(host_entry(doc, &a.url)["interface_count"], DOMAINS * NICS);
    }
}

/// Whitespace-collapsed lines, to compare tables whose columns are padded differently.
fn squeezed(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The table has `HOST` then exactly `vifd list`'s columns and rows for each agent.
fn assert_table(table: &str, agents: &[Agent]) {
    let lines = squeezed(table);
    let list = |a: &Agent| {
        let mut args = vec!["list".to_string()];
        args.extend(a.list_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::vifd(&args);
        assert!(out.status.success(), "vifd list {args:?}");
        squeezed(&String::from_utf8_lossy(&out.stdout))
    };
    let first = list(&agents[0]);
    assert_eq!(lines[0], format!("HOST {}", first[0]), "{table}");
    for a in agents {
        let rows: Vec<String> = lines[1..]
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{} ", a.url)))
            .map(str::to_string)
            .collect();
        assert_eq!(rows, list(a)[1..], "rows of {} in\n{table}", a.url);
    }
}

#[test]
fn three_agents_are_merged_and_the_dead_one_is_named() {
    require_root();
    let agents = three_agents();
    let (_held, dead) = dead_url();
    let mut args: Vec<&str> = agents.iter().map(|a| a.url.as_str()).collect();
    args.push(&dead);

    let out = query(&[&["--json"], &args[..]].concat(), 1);
    let doc = json_of(&out);
    assert_merged(&doc, &agents);
    assert_eq!(doc["hosts"].as_array().map(Vec::len), Some(4), "{doc:#}");
    let failed = doc["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{doc:#}");
    assert_eq!(failed[0]["host"], dead.as_str());
    let why = failed[0]["error"].as_str().unwrap_or("");
    assert!(why.contains("Connection refused"), "{why}");
    assert_eq!(host_entry(&doc, &dead)["error_kind"], "connect");

    let out = query(&args, 1);
    assert_table(&String::from_utf8_lossy(&out.stdout), &agents);
    let err = stderr(&out);
    assert!(err.contains("failed: 1 of 4 hosts"), "{err}");
    assert!(
        err.contains(&format!("{dead}: cannot connect: Connection refused")),
        "{err}"
    );
}

#[test]
fn every_agent_answering_exits_zero() {
    require_root();
    let agents = three_agents();
    let args: Vec<&str> = agents.iter().map(|a| a.url.as_str()).collect();
    let doc = json_of(&query(&[&["--json"], &args[..]].concat(), 0));
    assert_merged(&doc, &agents);
    assert_eq!(doc["failed"], serde_json::json!([]));
    let out = query(&args, 0);
    assert_eq!(stderr(&out), "", "nothing to report");
}

#[test]
fn a_hanging_agent_times_out_alone() {
    require_root();
    let agents = three_agents();
    let (_listener, hung) = hanging_host();
    let mut args = vec!["--json", "--timeout", "1.5", "--concurrency", "2", &hung];
    args.extend(agents.iter().map(|a| a.url.as_str()));

    let start = Instant::now();
    let out = query(&args, 1);
    let took = start.elapsed();
    // Not before its 1.5 s. How fast the rest goes (the others, queued behind it two at
    // a time, not held up; the whole run within the timeout) is a figure of
    // bench/query.sh, not a bound here.
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    let doc = json_of(&out);
    assert_merged(&doc, &agents);
    for a in &agents {
        let ms = host_entry(&doc, &a.url)["elapsed_ms"].as_u64();
        assert!(ms.is_some(), "{} has no elapsed_ms: {doc:#}", a.url);
    }
    let entry = host_entry(&doc, &hung);
    let ms = entry["elapsed_ms"].as_u64().unwrap_or(0);
    assert!(
        ms >= 1500,
        "the hanging host timed out early, after {ms} ms"
    );
    assert_eq!(entry["error_kind"], "timeout");
    let why = entry["error"].as_str().unwrap_or("");
    assert_eq!(
        why, "timed out after 1.5 s (connected, waiting for the answer)",
        "{doc:#}"
    );
}

#[test]
fn the_token_is_sent_and_a_wrong_one_is_reported() {
    require_root();
    let dir = scratch("token");
    let (good, bad) = (dir.join("good"), dir.join("bad"));
    std::fs::write(&good, "s3cret-token\n").expect("write");
    std::fs::write(&bad, "s3cret-tokem\n").expect("write");
    let agent = Agent::guarded(7, &good);
    let ns = Some(agent.ns.name.as_str());
    let (good, bad) = (good.to_str().expect("utf-8"), bad.to_str().expect("utf-8"));

    let doc = json_of(&query_in(
        ns,
        &["--json", "--token-file", good, &agent.url],
        0,
    ));
    assert_eq!(
        host_entry(&doc, &agent.url)["interface_count"],
        DOMAINS * NICS
    );

    let doc = json_of(&query_in(
        ns,
        &["--json", "--token-file", bad, &agent.url],
        1,
    ));
    let entry = host_entry(&doc, &agent.url);
    assert_eq!(entry["http_status"], 401, "{doc:#}");
    let why = entry["error"].as_str().unwrap_or("");
    assert_eq!(why, "HTTP 401 Unauthorized: The bearer token is not valid.");

    let out = query_in(ns, &[&agent.url], 1);
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 401 Unauthorized: Authentication required"),
        "{err}"
    );

    // Without --token-file, the config file's token_file is the one sent.
    let config = dir.join("vifd.toml");
    std::fs::write(&config, format!("token_file = {good:?}\n")).expect("write");
    let config = config.to_str().expect("utf-8");
    query_in(ns, &["--config", config, &agent.url], 0);
}

#[test]
fn a_hosts_file_with_comments_is_merged_with_the_arguments() {
    require_root();
    let dir = scratch("hosts");
    let sock = dir.join("agent.sock");
    let unix = format!("unix:{}", sock.display());
    let agents = [Agent::start(4, &["--listen", &unix]), Agent::start(5, &[])];
    let hosts = dir.join("hosts");
    let (_held, dead) = dead_url();
    let text = format!(
        "# the fleet\n\n{}   # rack 4\n  {unix}\n# {}\n{}/\n",
        agents[0].url, dead, agents[1].url
    );
    std::fs::write(&hosts, text).expect("write the hosts file");
    let hosts = hosts.to_str().expect("utf-8");

    // agents[1] twice (spelled two ways), once as an argument: asked once.
    let args = ["--json", "--hosts", hosts, agents[1].url.as_str()];
    let doc = json_of(&query(&args, 0));
    let asked: Vec<&str> = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    let mut want = vec![
        agents[0].url.as_str(),
        agents[1].url.as_str(),
        unix.as_str(),
    ];
    want.sort();
    assert_eq!(asked, want, "in URL order, each once");
    let over_unix = doc["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .filter(|r| r["host"] == unix.as_str())
        .count();
    assert_eq!(
        over_unix,
        DOMAINS * NICS,
        "the unix socket serves agent 4 too"
    );
}

#[test]
fn stale_refusing_and_foreign_servers_are_told_apart() {
    let stale_body = r#"{"generation":9,"collected_at":"2026-01-01T00:00:00Z","interfaces":[{"id":"x","domain_name":"old-vm"}]}"#;
    let stale = scripted(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Vifd-Stale: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{stale_body}",
        stale_body.len()
    ));
    let fault = r#"{"serviceUnavailable":{"code":503,"message":"No inventory yet."}}"#;
    let unready = scripted(format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{fault}",
        fault.len()
    ));
    let html = scripted(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\nConnection: close\r\n\r\n<html>".into(),
    );
    let out = query(&["--json", &stale, &unready, &html], 1);
    let doc = json_of(&out);
    let s = host_entry(&doc, &stale);
    assert_eq!(s["ok"], true);
    assert_eq!(s["stale"], true);
    assert_eq!(s["generation"], 9);
    assert_eq!(doc["interfaces"][0]["host"], stale.as_str());
    assert_eq!(doc["interfaces"][0]["domain_name"], "old-vm");
    let u = host_entry(&doc, &unready);
    assert_eq!(
        u["error"],
        "HTTP 503 Service Unavailable: No inventory yet."
    );
    let h = host_entry(&doc, &html);
    assert_eq!(h["error_kind"], "not-vifd", "{doc:#}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("stale: {stale}: libvirt is unreachable")),
        "{err}"
    );
    assert!(err.contains("failed: 2 of 3 hosts"), "{err}");
}

#[test]
fn bad_urls_and_empty_host_lists_are_usage_errors() {
    let dir = scratch("usage");
    let out = query(&["http://127.0.0.1:1", "ftp://node/"], 2);
    assert!(
        stderr(&out).contains("URL ftp://node/: "),
        "{}",
        stderr(&out)
    );
    let out = query(&["https://node:8789"], 2);
    assert!(
        stderr(&out).contains("https is not supported"),
        "{}",
        stderr(&out)
    );

    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "http://127.0.0.1:1\n# fine\nnode:8789\n").expect("write");
    let hosts = hosts.to_str().expect("utf-8");
    let out = query(&["--hosts", hosts], 2);
    assert!(
        stderr(&out).contains(&format!("{hosts} line 3: node:8789: ")),
        "{}",
        stderr(&out)
    );

    let empty = dir.join("empty");
    std::fs::write(&empty, "# nobody yet\n\n").expect("write");
    let empty = empty.to_str().expect("utf-8");
    let out = query(&["--hosts", empty], 2);
    assert!(stderr(&out).contains("no agent to ask"), "{}", stderr(&out));
    query(&[], 2);
    let missing = dir.join("missing");
    query(&["--hosts", missing.to_str().expect("utf-8")], 2);
    query(&["--timeout", "0", "http://127.0.0.1:1"], 2);
    query(&["--concurrency", "0", "http://127.0.0.1:1"], 2);
}

/// A server on a free loopback port that answers every request with `response`.
fn scripted(response: String) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && line != "\r\n" {
                line.clear();
            }
            let _ = (&stream).write_all(response.as_bytes());
        }
    });
    url
}
