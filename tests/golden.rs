//! Golden files: every output contract of vifd, captured from the code as it is, on the
//! demo host and the identity fixtures, so that a re-layering of the source tree can show
//! that it changed no byte of them.
//!
//! For each fixture, `vifd list` and `vifd check` (table and `--json`) and, from one
//! `vifd serve` on the same host, `/v1/interfaces`, `/v1/problems`, `/v1/domains`,
//! `/metrics`, `/v2.1/extensions` and `/v2/extensions`, and per server
//! `os-virtual-interfaces` (v2.1 at 2.1, at 2.12 by either version header, and v2 with
//! `OS-EXT-VIF-NET`), `os-interface` and `os-volume_attachments`. `status.txt` holds the
//! exit status of each command and the status line and headers of each response. The
//! files are in tests/fixtures/golden/<fixture>/.
//!
//! Comparison is of text, byte for byte, after normalising only what moves on its own:
//! - `collected_at` (a timestamp) and `generation`: every body, header and metric must
//!   carry the generation `/readyz` reports once the host has settled (one snapshot, no
//!   change during the capture), which then reads `<generation>`: its number depends on
//!   whether OVSDB's first state arrives before or after the first inventory;
//! - the counters of a host device (`stats`, `vifd_interface_*_total`): IPv6 chatter on
//!   the demo's veth and macvtap moves them;
//! - `ifindex`: the kernel numbers devices per namespace, and a new namespace may already
//!   hold devices (tunl0, sit0, ... when those modules are loaded); each value is first
//!   checked against the kernel's index of the record's `device`;
//! - in `/metrics`, the inventory duration and the build version; in headers, the
//!   `Server-Timing` render time;
//! - the headers `Date` and `Content-Length` (checked against the body first) are left
//!   out, and the others are sorted by name (their order is not a contract in HTTP).
//!
//! Nothing is reordered otherwise: the order of records, problems, keys and metric
//! families is vifd's own and is compared as it is.
//!
//! The API answers compact JSON. To keep the files readable it is laid out as
//! `serde_json`'s pretty printer would, by inserting whitespace between tokens only (the
//! body must contain none outside strings, else the test fails): dropping that whitespace
//! again gives the served bytes, so comparing the laid-out text compares the bytes.
//!
//! `VIFD_BLESS=1 cargo test --test golden` rewrites the files (and removes files no
//! longer produced); otherwise a missing, changed or unexpected file fails the test with a
//! diff. Needs root (network namespaces) and Open vSwitch's tools (a private
//! ovsdb-server), not libvirtd: the guests are libvirt test:/// node files. A missing
//! prerequisite fails the test; it never skips. Each test builds its own namespaces and
//! ovsdb-server, so they may run in parallel.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::daemon::Daemon;
use common::http::{get, Resp};
use common::identity::{tap_of, NET_A, P1, P2, P3, VM1, VM2};
use common::ovsdb::OvsdbServer;
use common::{fixture_path, record_by_mac, LinkEvents, TestNs};

/// Placeholders of the normalised values.
const GENERATION: &str = "<generation>";
const COLLECTED_AT: &str = "<collected_at>";
const COUNTER: &str = "<counter>";
const IFINDEX: &str = "<ifindex>";

/// The keys of a record's `stats`.
const STATS_KEYS: [&str; 8] = [
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
];

/// The resolvers vifd uses by default, without `ovsdb`: the demo and counters fixtures have
/// no OVSDB, and this machine's own (if any) must not leak into them.
const NO_OVSDB: &str = "libvirt-network,nova-metadata,linuxbridge,config";

#[test]
fn demo_outputs_match_golden_files() {
    prerequisites();
    let (ns, uri) = common::demo_host("gdemo");
    let args = host_args(&uri, &ns, &["--resolvers", NO_OVSDB]);
    capture("demo", &ns, &args, |_| {});
}

/// The Interface and Port rows os-vif and the Neutron agent write for one port.
fn plug(ovs: &OvsdbServer, port: &str, mac: &str, vm: &str, net: Option<&str>, tag: u16) {
    let name = tap_of(port);
    let tap = name.as_str();
    let (iface_id, mac, vm) = (
        format!("external_ids:iface-id={port}"),
        format!("external_ids:attached-mac={mac}"),
        format!("external_ids:vm-uuid={vm}"),
    );
    let tag = format!("tag={tag}");
    let net = net.map(|n| format!("other_config:net_uuid={n}"));
    let mut args = vec!["--may-exist", "add-port", "br-int", tap, "--", "set"];
    args.extend(["Interface", tap, &iface_id, &mac, &vm]);
    args.extend(["--", "set", "Port", tap, &tag]);
    args.extend(net.as_deref());
    ovs.vsctl(&args);
}

/// tests/fixtures/identity/node.xml with the rows tests/identity_ovsdb.rs writes, in the
/// state its check test makes: vm-1's port bound right, vm-2's first port with a wrong
/// attached-mac and no net_uuid, vm-2's second in no row.
#[test]
fn identity_outputs_match_golden_files() {
    prerequisites();
    let ns = TestNs::new("gid");
    // A new tap has a random MAC: each gets the one libvirt would give it (the guest MAC
    // with fe as its first byte).
    let taps: String = [P1, P2, P3]
        .iter()
        .zip(1..)
        .map(|(p, i)| {
            let tap = tap_of(p);
            format!("tuntap add dev {tap} mode tap\nlink set {tap} address fe:16:3e:20:00:0{i}\n")
        })
        .collect();
    ns.batch(&taps);
    let ovs = OvsdbServer::new();
    // A userspace bridge, as on a host without the kernel module: its taps rightly have
    // no kernel master (on a kernel-datapath bridge they would be wrong-master).
    ovs.add_bridge("br-int", "netdev");
    plug(&ovs, P1, "fa:16:3e:20:00:01", VM1, Some(NET_A), 3);
    plug(&ovs, P2, "fa:16:3e:99:99:99", VM2, None, 4);
    let uri = format!("test://{}", fixture_path("identity/node.xml"));
    let addr = ovs.addr();
    let args = host_args(&uri, &ns, &["--ovsdb", &addr]);
    capture("identity", &ns, &args, |d| {
        // The monitor's first state may come after the first inventory.
        d.until("the OVSDB rows served", Duration::from_secs(10), || {
            let body = get(d.addr(), "/v1/interfaces", &[]).json();
            record_by_mac(&body, "fa:16:3e:20:00:01")["port_id_source"] == "ovsdb"
        });
    });
}

#[test]
fn identity_counters_outputs_match_golden_files() {
    prerequisites();
    // tests/fixtures/identity/counters.xml: one NIC on a pre-created veth (`managed='no'`).
    let (host, _far) = common::traffic::veth("gcnt");
    let uri = format!("test://{}", fixture_path("identity/counters.xml"));
    let args = host_args(&uri, &host, &["--resolvers", NO_OVSDB]);
    capture("identity-counters", &host, &args, |_| {});
}

/// Fails (never skips) when the test cannot run here, saying why.
fn prerequisites() {
    // The effective uid, second of the `Uid:` line.
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("a Uid line");
    assert!(
        euid == "0",
        "the golden test builds network namespaces: run it as root (it never skips)"
    );
    // Every other VIFD_* variable is an option default and would change what is captured.
    let harmless = ["VIFD_BLESS", "VIFD_LOG_LEVEL", "VIFD_LOG_FORMAT"];
    let set: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("VIFD_") && !harmless.contains(&k.as_str()))
        .collect();
    assert!(
        set.is_empty(),
        "unset {set:?}: the golden outputs are taken with vifd's defaults"
    );
}

/// The options that point vifd at a fixture host: its node file, its namespace, no
/// configuration file (not even /etc/vifd/vifd.toml), and `extra`.
fn host_args(uri: &str, ns: &TestNs, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--libvirt-uri",
        uri,
        "--netns",
        &ns.name,
        "--config",
        "/dev/null",
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

/// Waits until the kernel has settled every link of `ns`: a device with carrier is
/// operationally up only once the link watch has run, and a change after vifd has read it
/// would be a change during the capture.
fn settle(ns: &TestNs) {
    LinkEvents::open(&ns.name).until(
        &format!("the links of {} settled", ns.name),
        Duration::from_secs(10),
        || {
            ns.ip_links().iter().all(|l| {
                let carrier = l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == "LOWER_UP"));
                let up = matches!(l["operstate"].as_str(), Some("UP" | "UNKNOWN"));
                carrier == up
            })
        },
    );
}

/// Runs `vifd ARGS` with no VIFD_* variable: (exit status, stdout).
fn vifd(args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vifd"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VIFD_")) {
        cmd.env_remove(k);
    }
    let out = cmd.args(args).output().expect("run vifd");
    let stdout = String::from_utf8(out.stdout).expect("vifd prints UTF-8");
    (out.status.code().expect("vifd exited"), stdout)
}

/// Captures every output of one fixture host and compares it with
/// tests/fixtures/golden/`fixture`/. `settled` waits, on the started daemon, for what
/// arrives after readiness.
fn capture(fixture: &str, ns: &TestNs, host: &[String], settled: impl FnOnce(&Daemon)) {
    settle(ns);
    let host: Vec<&str> = host.iter().map(String::as_str).collect();
    let norm = Normaliser::new(ns);
    let mut golden = Golden::new(fixture);
    let mut status = String::new();

    for (cmd, json) in [
        ("list", true),
        ("list", false),
        ("check", true),
        ("check", false),
    ] {
        let mut args = vec![cmd];
        if json {
            args.push("--json");
        }
        let shown = args.join(" ");
        args.extend_from_slice(&host);
        let (code, stdout) = vifd(&args);
        status.push_str(&format!("$ vifd {shown}\nexit {code}\n\n"));
        if json {
            golden.check(&format!("{cmd}.json"), &norm.json(&stdout, None));
        } else {
            golden.check(&format!("{cmd}.txt"), &stdout);
        }
    }

    let mut serve_args = host.clone();
    // Nothing but the host changes the view while it is captured.
    serve_args.extend(["--refresh", "3600", "--poll-interval", "3600"]);
    let d = Daemon::on_loopback(&serve_args);
    settled(&d);
    let generation = get(d.addr(), "/readyz", &[]).json()["generation"]
        .as_u64()
        .expect("/readyz names the generation");

    let mut requests = vec![
        Request::json("v1-interfaces", "/v1/interfaces", None),
        Request::json("v1-problems", "/v1/problems", None),
        Request::json("v1-domains", "/v1/domains", None),
        // The text format 0.0.4 by default, OpenMetrics when asked for.
        Request {
            file: "metrics.txt".into(),
            path: "/metrics".into(),
            header: None,
            json: false,
        },
        Request {
            file: "metrics.openmetrics.txt".into(),
            path: "/metrics".into(),
            header: Some(("Accept", "application/openmetrics-text")),
            json: false,
        },
        Request::json("extensions.v2.1", "/v2.1/extensions", None),
        Request::json("extensions.v2", "/v2/extensions", None),
    ];
    let domains = get(d.addr(), "/v1/domains", &[]).json();
    for dom in domains["domains"].as_array().expect("a domain list") {
        let (name, uuid) = (dom["name"].as_str().unwrap(), dom["uuid"].as_str().unwrap());
        let server = |api: &str, what: &str| format!("/{api}/servers/{uuid}/{what}");
        let vifs = "os-virtual-interfaces";
        requests.extend([
            Request::json(&format!("{name}.{vifs}.2.1"), &server("v2.1", vifs), None),
            Request::json(
                &format!("{name}.{vifs}.2.12"),
                &server("v2.1", vifs),
                Some(("OpenStack-API-Version", "compute 2.12")),
            ),
            Request::json(
                &format!("{name}.{vifs}.2.12-x-openstack-nova"),
                &server("v2.1", vifs),
                Some(("X-OpenStack-Nova-API-Version", "2.12")),
            ),
            Request::json(&format!("{name}.{vifs}.v2"), &server("v2", vifs), None),
            Request::json(
                &format!("{name}.os-interface"),
                &server("v2.1", "os-interface"),
                None,
            ),
            Request::json(
                &format!("{name}.os-volume_attachments"),
                &server("v2.1", "os-volume_attachments"),
                None,
            ),
        ]);
    }

    for r in &requests {
        let headers: Vec<(&str, &str)> = r.header.iter().copied().collect();
        let resp = get(d.addr(), &r.path, &headers);
        let sent = r
            .header
            .map(|(k, v)| format!(" ({k}: {v})"))
            .unwrap_or_default();
        // Served paths name server UUIDs, which the fixtures fix: shown as they are.
        status.push_str(&format!(
            "GET {}{sent}\n{}",
            r.path,
            norm.head(&resp, generation)
        ));
        let body = if r.json {
            norm.json(&expand_compact(&resp.body, &r.path), Some(generation))
        } else {
            norm.metrics(&resp.body, generation)
        };
        golden.check(&r.file, &body);
    }
    golden.check("status.txt", &status);
    golden.finish();
}

/// One GET of the capture and the golden file of its body.
struct Request {
    file: String,
    path: String,
    header: Option<(&'static str, &'static str)>,
    json: bool,
}

impl Request {
    fn json(name: &str, path: &str, header: Option<(&'static str, &'static str)>) -> Self {
        Request {
            file: format!("{name}.json"),
            path: path.into(),
            header,
            json: true,
        }
    }
}

/// Replaces what moves on its own (see the module documentation) with placeholders.
struct Normaliser {
    /// Device name → the kernel's ifindex, in the fixture's namespace.
    ifindex: HashMap<String, u64>,
}

impl Normaliser {
    fn new(ns: &TestNs) -> Self {
        let ifindex = ns
            .ip_links()
            .iter()
            .map(|l| {
                let name = l["ifname"].as_str().expect("ifname").to_string();
                (name, l["ifindex"].as_u64().expect("ifindex"))
            })
            .collect();
        Normaliser { ifindex }
    }

    /// JSON laid out one member per line (`serde_json`'s pretty layout). `generation`:
    /// the one every `generation` member must carry (`None`: the CLI prints none).
    fn json(&self, text: &str, generation: Option<u64>) -> String {
        let mut device: Option<String> = None;
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let Some((head, key, value, tail)) = member(line) else {
                out.push_str(line);
                continue;
            };
            let quoted = |v: &str| v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
            let number = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
            let replacement = match key {
                "device" => {
                    device = quoted(value).then(|| value[1..value.len() - 1].to_string());
                    None
                }
                "collected_at" if is_rfc3339_seconds(value) => Some(COLLECTED_AT),
                "generation" if generation.is_some_and(|g| value == g.to_string()) => {
                    Some(GENERATION)
                }
                k if STATS_KEYS.contains(&k) && number(value) => Some(COUNTER),
                // Left as it is (and so failing) unless it is the kernel's for the device.
                "ifindex" if number(value) => {
                    let kernel = device.as_ref().and_then(|d| self.ifindex.get(d));
                    kernel
                        .is_some_and(|&i| value == i.to_string())
                        .then_some(IFINDEX)
                }
                _ => None,
            };
            match replacement {
                Some(r) => out.push_str(&format!("{head}\"{r}\"{tail}")),
                None => out.push_str(line),
            }
        }
        out
    }

    /// Metrics text (either format) with counters, the inventory duration, the heap's
    /// bytes, the generation and the build version replaced.
    fn metrics(&self, text: &str, generation: u64) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let body = line.trim_end_matches('\n');
            let (series, value) = body.rsplit_once(' ').unwrap_or((body, ""));
            let counter = (series.starts_with("vifd_interface_receive_")
                || series.starts_with("vifd_interface_transmit_"))
                && series.contains("_total{")
                && value.bytes().all(|b| b.is_ascii_digit());
            let build = format!(
                "vifd_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            );
            let normalised = if body.starts_with('#') {
                None
            } else if counter {
                Some(format!("{series} {COUNTER}"))
            } else if series == "vifd_inventory_duration_seconds" && value.parse::<f64>().is_ok() {
                Some(format!("{series} <duration>"))
            } else if series.starts_with("vifd_heap_") && value.parse::<u64>().is_ok() {
                Some(format!("{series} <bytes>"))
            } else if series == "vifd_generation" && value == generation.to_string() {
                Some(format!("{series} {GENERATION}"))
            } else if series == build {
                Some(format!("vifd_build_info{{version=\"<version>\"}} {value}"))
            } else {
                None
            };
            match normalised {
                Some(n) => out.push_str(&format!("{n}{}", &line[body.len()..])),
                None => out.push_str(line),
            }
        }
        out
    }

    /// The status and headers of a response, sorted by name, without `Date` and
    /// `Content-Length` (which must be the body's length).
    fn head(&self, resp: &Resp, generation: u64) -> String {
        let mut lines = Vec::new();
        for (name, value) in &resp.headers {
            let name = name.to_ascii_lowercase();
            let value = match name.as_str() {
                "date" => continue,
                "content-length" => {
                    assert_eq!(
                        value.parse::<usize>().ok(),
                        Some(resp.body.len()),
                        "Content-Length is the body's length"
                    );
                    continue;
                }
                "x-vifd-generation" | "x-vifd-host-generation"
                    if *value == generation.to_string() =>
                {
                    GENERATION.to_string()
                }
                "server-timing" => match value.split_once(";dur=") {
                    Some((what, ms)) if ms.parse::<f64>().is_ok() => format!("{what};dur=<ms>"),
                    _ => value.clone(),
                },
                _ => value.clone(),
            };
            lines.push(format!("{name}: {value}\n"));
        }
        lines.sort();
        format!("{}\n{}\n", resp.status, lines.concat())
    }
}

/// A line `<indent>"key": value[,]` as (`<indent>"key": `, key, value, `[,]\n`).
fn member(line: &str) -> Option<(&str, &str, &str, &str)> {
    let body = line.trim_end_matches('\n');
    let body = body.strip_suffix(',').unwrap_or(body);
    let tail = &line[body.len()..];
    let indent = body.len() - body.trim_start().len();
    let rest = body[indent..].strip_prefix('"')?;
    let (key, value) = rest.split_once("\": ")?;
    if key.contains('"') || key.contains('\\') {
        return None;
    }
    let head = &body[..body.len() - value.len()];
    Some((head, key, value, tail))
}

/// `"YYYY-MM-DDTHH:MM:SSZ"`, quotes included: the shape of `collected_at`.
fn is_rfc3339_seconds(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 22
        && b[0] == b'"'
        && b[21] == b'"'
        && digits(1..5)
        && b[5] == b'-'
        && digits(6..8)
        && b[8] == b'-'
        && digits(9..11)
        && b[11] == b'T'
        && digits(12..14)
        && b[14] == b':'
        && digits(15..17)
        && b[17] == b':'
        && digits(18..20)
        && b[20] == b'Z'
}

/// Lays compact JSON out as `serde_json::to_string_pretty` does (two-space indent, one
/// member or element per line, `{}` and `[]` when empty), adding whitespace between tokens
/// only. Panics if `text` has whitespace outside strings: then the layout could hide a
/// change.
fn expand_compact(text: &str, what: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(chars.next().unwrap());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.checked_sub(1).expect("balanced JSON");
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => panic!("{what}: the body is not compact JSON: {text}"),
            c => out.push(c),
        }
    }
    assert!(!in_string && depth == 0, "{what}: truncated JSON: {text}");
    out
}

/// The golden files of one fixture: compared, or rewritten under `VIFD_BLESS=1`.
struct Golden {
    dir: PathBuf,
    bless: bool,
    written: Vec<String>,
    failures: Vec<String>,
}

impl Golden {
    fn new(fixture: &str) -> Self {
        let dir = PathBuf::from(fixture_path("golden")).join(fixture);
        let bless = std::env::var("VIFD_BLESS").as_deref() == Ok("1");
        if bless {
            std::fs::create_dir_all(&dir).expect("create the golden directory");
        }
        Golden {
            dir,
            bless,
            written: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn check(&mut self, name: &str, actual: &str) {
        assert!(
            !self.written.iter().any(|n| n == name),
            "{name} captured twice"
        );
        self.written.push(name.to_string());
        let path = self.dir.join(name);
        let expected = std::fs::read_to_string(&path);
        if self.bless {
            if expected.as_deref().ok() != Some(actual) {
                std::fs::write(&path, actual).expect("write a golden file");
                eprintln!("blessed {}", path.display());
            }
            return;
        }
        match expected {
            Err(e) => self.failures.push(format!(
                "{}: {e}: a missing golden file is a failure; \
                 `VIFD_BLESS=1 cargo test --test golden` writes it",
                path.display()
            )),
            Ok(expected) if expected != actual => self.failures.push(format!(
                "{} differs (- golden, + now):\n{}",
                path.display(),
                diff(&expected, actual)
            )),
            Ok(_) => {}
        }
    }

    /// Fails with every difference; a file in the directory that was not produced is one.
    fn finish(mut self) {
        let listing = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default();
        for name in listing {
            let name = name.to_string_lossy().into_owned();
            if self.written.contains(&name) {
                continue;
            }
            let path = self.dir.join(&name);
            if self.bless {
                std::fs::remove_file(&path).expect("remove a stale golden file");
                eprintln!("removed {}", path.display());
            } else {
                self.failures.push(format!(
                    "{}: no output produces this golden file any more \
                     (`VIFD_BLESS=1` removes it)",
                    path.display()
                ));
            }
        }
        assert!(
            self.failures.is_empty(),
            "{} golden file(s) do not match:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// The first differing lines of two texts, as a unified diff with 3 lines of context
/// around each change, at most 60 lines.
fn diff(expected: &str, actual: &str) -> String {
    const CONTEXT: usize = 3;
    const MAX_LINES: usize = 60;
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    // Longest common subsequence of the differing middles (small: both ends are trimmed).
    let mut lcs = vec![vec![0u32; mid_b.len() + 1]; mid_a.len() + 1];
    for i in (0..mid_a.len()).rev() {
        for j in (0..mid_b.len()).rev() {
            lcs[i][j] = if mid_a[i] == mid_b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Every line as (mark, text, golden line number, current line number).
    let mut ops: Vec<(char, &str, usize, usize)> =
        (0..prefix).map(|k| (' ', a[k], k + 1, k + 1)).collect();
    let (mut i, mut j) = (0, 0);
    while i < mid_a.len() || j < mid_b.len() {
        let (gi, gj) = (prefix + i + 1, prefix + j + 1);
        if i < mid_a.len() && j < mid_b.len() && mid_a[i] == mid_b[j] {
            ops.push((' ', mid_a[i], gi, gj));
            (i, j) = (i + 1, j + 1);
        } else if i < mid_a.len() && (j == mid_b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', mid_a[i], gi, gj));
            i += 1;
        } else {
            ops.push(('+', mid_b[j], gi, gj));
            j += 1;
        }
    }
    let (ea, eb) = (a.len() - suffix, b.len() - suffix);
    ops.extend((0..suffix).map(|k| (' ', a[ea + k], ea + k + 1, eb + k + 1)));
    // Lines within CONTEXT of a change are shown; a gap starts a new hunk.
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let near = |k: usize| changed.iter().any(|&c| k.abs_diff(c) <= CONTEXT);
    let mut out = vec![format!(
        "first difference at line {} (golden {} lines, now {})\n",
        prefix + 1,
        a.len(),
        b.len()
    )];
    let mut last: Option<usize> = None;
    for (k, &(mark, line, ga, gb)) in ops.iter().enumerate().filter(|&(k, _)| near(k)) {
        if last.is_none_or(|l| l + 1 != k) {
            out.push(format!("@@ golden line {ga}, now line {gb}\n"));
        }
        last = Some(k);
        out.push(format!("{mark} {}\n", line.trim_end_matches('\n')));
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push("(one text ends with a newline, the other does not)\n".into());
    }
    let total = out.len();
    if total > MAX_LINES {
        out.truncate(MAX_LINES);
        out.push(format!("... {} more diff lines\n", total - MAX_LINES));
    }
    out.concat()
}

#[test]
fn compact_json_is_laid_out_as_serde_json_pretty_prints_it() {
    let value = serde_json::json!({
        "a": [1, {"b": "x, y: {z}", "c": [], "d": {}}],
        "e": "quote \" and \\ backslash",
        "f": null
    });
    let compact = serde_json::to_string(&value).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert_eq!(expand_compact(&compact, "test"), pretty);
}

#[test]
fn diff_shows_the_first_differing_lines() {
    let golden: String = ('a'..='p').map(|c| format!("{c}\n")).collect();
    let d = diff(&golden, &golden.replace('c', "C").replace('n', "N"));
    assert!(d.starts_with("first difference at line 3 "), "{d}");
    assert!(
        d.contains("@@ golden line 1, now line 1\n  a\n  b\n- c\n+ C\n"),
        "{d}"
    );
    assert!(d.contains("@@ golden line 11, now line 11\n  k\n"), "{d}");
    assert!(!d.contains("  g\n"), "no long runs of context: {d}");
    let d = diff("a\n", "a");
    assert!(d.contains("ends with a newline"), "{d}");
}
