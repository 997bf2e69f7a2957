//! A small fleet for `vifd query`: agents (`vifd serve`), each reading its own network
//! namespace and libvirt test-driver node file, each on its own port; and the hosts a
//! fleet also has, one that hangs and one where nothing listens.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::daemon::Daemon;
use super::http::{refusing_addr, Refusing};
use super::TestNs;

/// Domains per agent, and bridged interfaces per domain.
pub const DOMAINS: usize = 2;
pub const NICS: usize = 2;

/// One agent and what it serves.
pub struct Agent {
    /// The agent's index: its domains are `q{index}-vm{d}`.
    pub index: u8,
    pub url: String,
    pub ns: TestNs,
    pub uri: String,
    pub daemon: Daemon,
    /// The `serve` arguments of the daemon, to start it again ([`restart`](Self::restart)).
    args: Vec<String>,
    dir: PathBuf,
}

impl Agent {
    /// Agent `index` on a free 127.0.0.1 port in the root namespace, reading its own
    /// namespace through `--netns`; extra `serve` arguments after those.
    pub fn start(index: u8, extra: &[&str]) -> Self {
        let (ns, dir, uri) = host(index);
        let mut args = vec![
            "--libvirt-uri",
            &uri,
            "--netns",
            &ns.name,
            "--refresh",
            "3600",
        ];
        args.extend_from_slice(extra);
        let daemon = Daemon::on_loopback(&args);
        let url = format!("http://{}", daemon.addr());
        let args = args.iter().map(|a| a.to_string()).collect();
        Agent {
            index,
            url,
            ns,
            uri,
            daemon,
            args,
            dir,
        }
    }

    /// A new daemon with the same arguments on the same host (namespace and node file),
    /// once it is ready; the one before is killed (SIGKILL) if it still runs. It listens
    /// on a port of its own: `url` follows.
    pub fn restart(&mut self) {
        self.daemon.child.kill();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.daemon = Daemon::on_loopback(&args);
        self.url = format!("http://{}", self.daemon.addr());
    }

    /// Agent `index` running inside its namespace on 10.254.0.1 (a port of its own), an
    /// address that is not loopback, so the daemon requires the token of `token_file`.
    /// Only reachable from inside the namespace (run `vifd query` there: [`query_command`]).
    pub fn guarded(index: u8, token_file: &Path) -> Self {
        let (ns, dir, uri) = host(index);
        ns.batch("addr add 10.254.0.1/32 dev lo\n");
        let token = token_file.to_str().expect("a UTF-8 path");
        let args = [
            "--listen",
            "10.254.0.1:0",
            "--token-file",
            token,
            "--libvirt-uri",
            &uri,
        ];
        let mut daemon = Daemon::start(Some(&ns.name), &args);
        daemon.wait_ready();
        Agent {
            index,
            url: format!("http://{}", daemon.addr()),
            ns,
            uri,
            daemon,
            args: Vec::new(),
            dir,
        }
    }

    /// `vifd list --json` of the same host, read directly.
    pub fn list_args(&self) -> Vec<String> {
        ["--libvirt-uri", &self.uri, "--netns", &self.ns.name]
            .map(String::from)
            .to_vec()
    }

    /// The domain names this agent serves.
    pub fn domains(&self) -> Vec<String> {
        (0..DOMAINS).map(|d| domain_name(self.index, d)).collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh namespace holding host `index`'s taps, and the test-driver node file that
/// describes its guests.
fn host(index: u8) -> (TestNs, PathBuf, String) {
    let ns = TestNs::new(&format!("q{index}"));
    ns.batch(&devices_ip(index));
    let dir = std::env::temp_dir().join(format!("vifd-{}", ns.name));
    std::fs::create_dir_all(&dir).expect("create the node directory");
    let node = dir.join("node.xml");
    std::fs::write(&node, node_xml(index)).expect("write the node file");
    let uri = format!("test://{}", node.display());
    (ns, dir, uri)
}

fn domain_name(index: u8, d: usize) -> String {
    format!("q{index}-vm{d}")
}

/// Tap names: not `vnet*`, which the test driver renames.
fn tap_name(index: u8, d: usize, n: usize) -> String {
    format!("tq{index}d{d}n{n}")
}

fn mac(first: &str, index: u8, d: usize, n: usize) -> String {
    format!("{first}:54:00:{index:02x}:{d:02x}:{n:02x}")
}

/// `ip -batch` commands: bridge `brq` and one tap per interface, on it.
pub fn devices_ip(index: u8) -> String {
    let mut ip = String::from("link add brq type bridge\nlink set brq up\n");
    for d in 0..DOMAINS {
        for n in 0..NICS {
            let tap = tap_name(index, d, n);
            ip.push_str(&format!(
                "tuntap add dev {tap} mode tap\nlink set {tap} address {} master brq up\n",
                mac("fe", index, d, n)
            ));
        }
    }
    ip
}

/// `DOMAINS` running domains of `NICS` bridged interfaces each.
pub fn node_xml(index: u8) -> String {
    let mut xml = String::from("<node>\n");
    for d in 0..DOMAINS {
        xml.push_str(&format!(
            r#"  <domain type="test">
    <name>{}</name>
    <uuid>00000000-0000-4000-8000-{index:06x}{d:06x}</uuid>
    <memory>65536</memory>
    <vcpu>1</vcpu>
    <os><type arch="x86_64">hvm</type></os>
    <devices>
"#,
            domain_name(index, d)
        ));
        for n in 0..NICS {
            xml.push_str(&format!(
                r#"      <interface type="bridge">
        <mac address="{}"/>
        <source bridge="brq"/>
        <target dev="{}"/>
        <model type="virtio"/>
      </interface>
"#,
                mac("52", index, d, n),
                tap_name(index, d, n)
            ));
        }
        xml.push_str("    </devices>\n  </domain>\n");
    }
    xml.push_str("</node>\n");
    xml
}

/// A host that accepts connections and never answers: the kernel completes the
/// handshake into the backlog and nobody ever reads. Keep the listener alive.
pub fn hanging_host() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let url = format!("http://{}", l.local_addr().expect("its address"));
    (l, url)
}

/// A URL where nothing listens, and what keeps it so (see [`refusing_addr`]).
pub fn dead_url() -> (Refusing, String) {
    let (held, addr) = refusing_addr();
    (held, format!("http://{addr}"))
}

/// `vifd query ARGS`, inside `netns` when given, without the caller's VIFD_* settings.
pub fn query_command(netns: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_vifd")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_vifd")),
    };
    cmd.arg("query").args(args);
    for var in [
        "VIFD_TOKEN_FILE",
        "VIFD_CONFIG",
        "VIFD_LOG_LEVEL",
        "VIFD_LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
