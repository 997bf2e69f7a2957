//! A real Prometheus (Debian's `prometheus`, /usr/bin/prometheus) scraping one vifd, for
//! tests/prometheus.rs: its own config, TSDB and log in a temp dir, a loopback port, a
//! 1 s scrape and rule evaluation interval. Killed (and its dir removed) on drop.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{raw, Resp};
use super::process::Reaped;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";
/// The scrape job's name: the shipped rules match jobs with "vifd" in theirs.
pub const JOB: &str = "vifd";

pub struct Prometheus {
    pub addr: SocketAddr,
    dir: PathBuf,
    child: Reaped,
}

impl Prometheus {
    /// Starts it scraping `target` with the rule files `rules` (absolute paths).
    pub fn start(target: SocketAddr, rules: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("vifd-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text(target, rules)).unwrap();
        let addr = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start /usr/bin/prometheus");
        let prometheus = Prometheus {
            addr,
            dir,
            child: Reaped::new(child),
        };
        prometheus.until("Prometheus ready", || {
            prometheus.get("/-/ready").is_some_and(|r| r.status == 200)
        });
        prometheus
    }

    /// `GET path` over HTTP/1.0 (so that the answer is never chunked); `None` when
    /// nothing answers (yet).
    pub fn get(&self, path: &str) -> Option<Resp> {
        let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let request = format!("GET {path} HTTP/1.0\r\nHost: prometheus\r\n\r\n");
        raw(stream, request.as_bytes())
    }

    /// The `data` of an API answer; panics with Prometheus's error otherwise.
    pub fn api(&self, path: &str) -> Value {
        let r = self
            .get(path)
            .unwrap_or_else(|| panic!("GET {path}: no answer"));
        let body = r.json();
        assert!(
            r.status == 200 && body["status"] == "success",
            "GET {path}: {} {body}",
            r.status
        );
        body["data"].clone()
    }

    /// The instant vector `expr` evaluates to now; panics when the query fails.
    pub fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(expr)));
        assert_eq!(data["resultType"], "vector", "{expr}: {data}");
        data["result"].as_array().unwrap().clone()
    }

    /// Checks `ok` now and every 100 ms (an API's answer has no event to wait on) until
    /// it holds; panics naming `what`, with the server's log, after a minute.
    pub fn until(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ok() {
            assert!(
                Instant::now() < deadline,
                "{what}: not within 60 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.child.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config_text(target: SocketAddr, rules: &[&str]) -> String {
    let rule_files: String = rules.iter().map(|r| format!("  - {r}\n")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n{rule_files}\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// A loopback address nothing listens on now (Prometheus cannot bind port 0 and say
/// which port it got).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().unwrap()
}

/// `s` percent-encoded for a query string.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
