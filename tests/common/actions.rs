//! The write side against a real libvirtd: libvirt networks with small DHCP ranges, a
//! dir storage pool with two volumes, a persistent paused q35 guest with spare PCIe root
//! ports, and `vifd serve --enable-actions` on a unix socket and a loopback port with a
//! token. Everything is removed on drop, even when an assertion failed; a missing
//! prerequisite (libvirtd, KVM/QEMU, virsh) fails, it never skips.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::daemon::Daemon;
use super::fixture;
use super::http::{self, Resp, Target};
use super::qemu::{emulator_type, virsh, URI};

/// The token the fixture's daemon requires on its TCP listener.
pub const TOKEN: &str = "vact-test-token-3f9d2c81";
/// How long a single request may take (a live detach on a paused guest takes ~5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// `virsh ARGS` without asserting success.
pub fn virsh_out(args: &[&str]) -> Output {
    Command::new("virsh")
        .arg("-c")
        .arg(URI)
        .args(args)
        .output()
        .expect("run virsh")
}

/// A libvirt network the fixture made.
#[derive(Debug, Clone)]
pub struct Net {
    pub name: String,
    pub uuid: String,
    pub bridge: String,
    /// First three octets.
    pub prefix: String,
    /// Last octets of the DHCP range, inclusive.
    pub first: u8,
    pub last: u8,
}

impl Net {
    /// The addresses of its DHCP range.
    pub fn range(&self) -> Vec<String> {
        (self.first..=self.last)
            .map(|i| format!("{}.{i}", self.prefix))
            .collect()
    }

    /// `(mac, ip)` of every `<host>` of its DHCP setup, live or (`inactive`) persistent.
    pub fn hosts(&self, inactive: bool) -> Vec<(String, String)> {
        let mut args = vec!["net-dumpxml", self.name.as_str()];
        if inactive {
            args.push("--inactive");
        }
        let xml = virsh(&args);
        let doc = roxmltree::Document::parse(&xml).expect("net-dumpxml is XML");
        doc.descendants()
            .filter(|n| {
                n.has_tag_name("host") && n.parent().is_some_and(|p| p.has_tag_name("dhcp"))
            })
            .map(|n| {
                (
                    n.attribute("mac").unwrap_or("").to_lowercase(),
                    n.attribute("ip").unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// What the test made in libvirt and on disk: removed on drop, domains first.
#[derive(Default)]
pub struct Made {
    pub domains: Vec<String>,
    pub networks: Vec<String>,
    pub pools: Vec<String>,
    pub dir: Option<PathBuf>,
}

impl Drop for Made {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = virsh_out(args);
        };
        for d in &self.domains {
            quiet(&["destroy", d]);
            quiet(&["undefine", d]);
        }
        for n in &self.networks {
            quiet(&["net-destroy", n]);
            quiet(&["net-undefine", n]);
        }
        for p in &self.pools {
            let vols = virsh_out(&["vol-list", p, "--name"]);
            for v in String::from_utf8_lossy(&vols.stdout).lines() {
                let v = v.trim();
                if !v.is_empty() {
                    quiet(&["vol-delete", v, "--pool", p]);
                }
            }
            quiet(&["pool-destroy", p]);
            quiet(&["pool-undefine", p]);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The whole fixture. Fields drop in order: the daemon stops before libvirt is cleaned.
pub struct Fixture {
    pub tag: String,
    pub daemon: Daemon,
    /// The daemon's unix socket (actions allowed without a token).
    pub sock: PathBuf,
    /// The daemon's loopback TCP listener (actions only with [`TOKEN`]).
    pub tcp: SocketAddr,
    pub log: PathBuf,
    /// DHCP range of exactly 2 addresses (.10-.11).
    pub small: Net,
    /// DHCP range of 40 addresses (.10-.49).
    pub big: Net,
    pub pool: String,
    /// Two 8 MiB raw volumes of the pool, named by UUIDs.
    pub volumes: [String; 2],
    /// The persistent, paused q35 guest: no NICs, no disks, 10 spare root ports.
    pub guest: String,
    pub guest_uuid: String,
    pub made: Made,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- last lines of the daemon log {} ---\n{}",
                self.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// A process-unique tag for one fixture: `vact` names carry it.
fn next_tag() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    assert!(n < 10, "at most 9 fixtures per test process");
    format!("{}{n}", std::process::id() % 100_000)
}

/// A random version-4 UUID (volume names, port ids).
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("read /dev/urandom");
    uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A 10.213.X /24 no route or address of this host uses yet.
fn free_prefix() -> String {
    let out = |args: &[&str]| {
        let o = Command::new("ip").args(args).output().expect("run ip");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let used = out(&["-4", "route", "show", "table", "all"]) + &out(&["-4", "-o", "addr"]);
    let start = std::process::id() % 240;
    (start..250)
        .chain(0..start)
        .map(|x| format!("10.213.{x}"))
        .find(|p| !used.contains(&format!("{p}.")))
        .expect("a free 10.213.X.0/24")
}

impl Made {
    fn scratch(&mut self, tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vact-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        self.dir = Some(dir.clone());
        dir
    }

    /// Defines and starts a persistent network with DHCP range `.first`-`.last`.
    pub fn network(&mut self, dir: &Path, name: &str, bridge: &str, first: u8, last: u8) -> Net {
        let prefix = free_prefix();
        let xml = fixture("actions/network.xml")
            .replace("@NETNAME@", name)
            .replace("@NETBRIDGE@", bridge)
            .replace("@NETPREFIX@", &prefix)
            .replace("@FIRST@", &first.to_string())
            .replace("@LAST@", &last.to_string());
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        virsh(&["net-define", path.to_str().unwrap()]);
        self.networks.push(name.to_string());
        virsh(&["net-start", name]);
        Net {
            name: name.to_string(),
            uuid: virsh(&["net-uuid", name]).trim().to_string(),
            bridge: bridge.to_string(),
            prefix,
            first,
            last,
        }
    }

    /// Defines a persistent q35 domain with `ports` root ports and `interfaces` (XML).
    pub fn define_domain(
        &mut self,
        dir: &Path,
        name: &str,
        ports: usize,
        interfaces: &str,
    ) -> String {
        let xml = fixture("actions/domain.xml")
            .replace("@NAME@", name)
            .replace("@EMULATOR_TYPE@", emulator_type())
            .replace(
                "@ROOT_PORTS@",
                &"<controller type='pci' model='pcie-root-port'/>\n    ".repeat(ports),
            )
            .replace("@INTERFACES@", interfaces);
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        virsh(&["define", path.to_str().unwrap()]);
        self.domains.push(name.to_string());
        virsh(&["domuuid", name]).trim().to_string()
    }
}

/// `<interface type='network'>` XML for each MAC, on `network`.
pub fn network_interfaces(network: &str, macs: &[String]) -> String {
    let one = fixture("actions/interface.xml");
    macs.iter()
        .map(|m| one.replace("@MAC@", m).replace("@NETWORK@", network))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Fixture {
    /// Builds everything and starts the daemon; returns once it is ready.
    pub fn new() -> Self {
        virsh(&["version"]);
        let tag = next_tag();
        let mut made = Made::default();
        let dir = made.scratch(&tag);

        let small = made.network(
            &dir,
            &format!("vact{tag}s"),
            &format!("vactbr{tag}s"),
            10,
            11,
        );
        let big = made.network(
            &dir,
            &format!("vact{tag}b"),
            &format!("vactbr{tag}b"),
            10,
            49,
        );

        let pool = format!("vact-{tag}-pool");
        let pool_dir = dir.join("pool");
        virsh(&[
            "pool-define-as",
            &pool,
            "dir",
            "--target",
            pool_dir.to_str().unwrap(),
        ]);
        made.pools.push(pool.clone());
        virsh(&["pool-build", &pool]);
        virsh(&["pool-start", &pool]);
        let volumes = [random_uuid(), random_uuid()];
        for v in &volumes {
            virsh(&["vol-create-as", &pool, v, "8M", "--format", "raw"]);
        }

        let guest = format!("vact-{tag}-guest");
        let guest_uuid = made.define_domain(&dir, &guest, 10, "");
        virsh(&["start", &guest, "--paused"]);

        let sock = dir.join("vifd.sock");
        let token_file = dir.join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let config = dir.join("vifd.toml");
        std::fs::write(&config, "").unwrap();
        let log = dir.join("daemon.log");
        let unix = format!("unix:{}", sock.display());
        let mut daemon = Daemon::start_logged(
            None,
            &[
                "--config",
                config.to_str().unwrap(),
                "--libvirt-uri",
                URI,
                "--enable-actions",
                "--volume-pool",
                &pool,
                "--listen",
                &unix,
                "--listen",
                "127.0.0.1:0",
                "--token-file",
                token_file.to_str().unwrap(),
                "--log-level",
                "info",
                // Host entries send no event: they show in the records at each poll.
                "--poll-interval",
                "1",
            ],
            Some(&log),
        );
        daemon.wait_ready();
        let tcp = daemon.addr();
        let fx = Fixture {
            tag,
            daemon,
            sock,
            tcp,
            log,
            small,
            big,
            pool,
            volumes,
            guest,
            guest_uuid,
            made,
        };
        // The guest (started before the daemon) must be in what it serves.
        fx.wait_for(&format!("the daemon to list {}", fx.guest), |f| {
            let (s, b) = f.call(
                "GET",
                &format!("/v1/domains/{}/interfaces", f.guest_uuid),
                None,
            );
            s == 200 && b["interfaces"].is_array()
        });
        fx
    }

    /// `METHOD path` on the unix socket with a JSON body: status and parsed body
    /// (`Null` when empty).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        let headers: &[(&str, &str)] = match body {
            Some(_) => &[("Content-Type", "application/json")],
            None => &[],
        };
        let r = unix_request(&self.sock, method, path, headers, bytes.as_deref());
        (r.status, body_json(&r))
    }

    /// The daemon, through its unix socket.
    pub fn target(&self) -> Target {
        Target::Unix(self.sock.clone())
    }

    /// Waits until `ok` holds (checked again at each new generation the daemon serves,
    /// at most 30 s), panicking naming `what`.
    pub fn wait_for(&self, what: &str, mut ok: impl FnMut(&Self) -> bool) {
        self.target()
            .until(what, Duration::from_secs(30), || ok(self));
    }

    /// Waits (at most `limit`) until `ok` holds, checked again at each new generation.
    pub fn until(&self, what: &str, limit: Duration, ok: impl FnMut() -> bool) {
        self.target().until(what, limit, ok);
    }

    /// The daemon's records of domain `uuid`.
    pub fn records_of(&self, uuid: &str) -> Vec<Value> {
        let (s, b) = self.call("GET", &format!("/v1/domains/{uuid}/interfaces"), None);
        assert_eq!(s, 200, "GET interfaces of {uuid}: {b}");
        b["interfaces"].as_array().cloned().unwrap_or_default()
    }

    /// GET /healthz on the unix socket answers 200 and the process still runs.
    pub fn assert_alive(&mut self, after: &str) {
        if let Some(status) = self.daemon.child.status() {
            panic!("vifd serve exited ({status}) after {after}");
        }
        let r = unix_request(&self.sock, "GET", "/healthz", &[], None);
        assert_eq!(r.status, 200, "GET /healthz after {after}: {}", r.body);
    }

    /// Waits until the daemon lists `n` records for domain `uuid`.
    pub fn wait_records(&self, uuid: &str, n: usize) -> Vec<Value> {
        let mut last = vec![];
        let listed = self.target().try_until(Duration::from_secs(30), || {
            last = self.records_of(uuid);
            last.len() == n
        });
        assert!(
            listed,
            "the daemon lists {} records for {uuid}, not {n}: {last:#?}",
            last.len()
        );
        last
    }
}

/// The body as JSON; `Null` when empty, a panic showing it when not JSON.
pub fn body_json(r: &Resp) -> Value {
    if r.body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("HTTP {}: body is not JSON ({e}): {:?}", r.status, r.body))
    }
}

/// One HTTP/1.1 request (with `Connection: close`) as bytes, with its body.
pub fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let length = body.map(|b| b.len().to_string());
    let mut all = headers.to_vec();
    if let Some(n) = &length {
        all.push(("Content-Length", n));
    }
    let mut bytes = http::request(method, path, &all);
    bytes.extend_from_slice(body.unwrap_or_default());
    bytes
}

/// Sends the request (a failed write is not fatal: the server may answer a refused
/// body before reading it) and reads the response until the server closes.
fn exchange<S: Read + Write>(mut s: S, req: &[u8], what: &str) -> Resp {
    let _ = s.write_all(req);
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    http::parse(&buf).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&buf);
        panic!("{what}: no HTTP response (read: {read:?}, got {text:?})")
    })
}

pub fn unix_request(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let s =
        UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect to {}: {e}", sock.display()));
    s.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    exchange(
        s,
        &request_bytes(method, path, headers, body),
        &format!("{method} {path}"),
    )
}

pub fn tcp_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let s = http::connect(addr);
    s.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    exchange(
        s,
        &request_bytes(method, path, headers, body),
        &format!("{method} {path}"),
    )
}

/// `virsh domiflist` rows: interface, type, source, model, MAC.
pub fn domiflist(domain: &str) -> Vec<Vec<String>> {
    virsh(&["domiflist", domain])
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// `virsh domblklist --details` rows: type, device, target, source.
pub fn domblklist(domain: &str, inactive: bool) -> Vec<Vec<String>> {
    let mut args = vec!["domblklist", domain, "--details"];
    if inactive {
        args.push("--inactive");
    }
    virsh(&args)
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// The Nova fault of an error body: `(key, code, message)`.
pub fn fault(body: &Value) -> (String, u64, String) {
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("a fault body is an object: {body}"));
    assert_eq!(obj.len(), 1, "a fault body has one key: {body}");
    let (k, v) = obj.iter().next().unwrap();
    (
        k.clone(),
        v["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("fault without code: {body}")),
        v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("fault without message: {body}"))
            .to_string(),
    )
}
