//! `vifd demo`: a small, real demo host. A network namespace holds a bridge and real
//! tap and macvtap devices; a libvirt test-driver node file describes the guests that
//! should own them. Then `vifd list` and `vifd check` run against both.

use std::io::Write;
use std::process::{Command, Stdio};

use super::error::{CmdError, DemoError};
use crate::cli::DemoArgs;
use crate::collect::{collect, Source};
use crate::correlate::CorrelateOptions;
use crate::netlink::NetnsTarget;
use crate::serve::{self, ListenAddr, ServeConfig, Server};

/// The namespace the demo devices live in.
pub const NETNS: &str = "vifd-demo";
/// Where the node file is written; libvirt's test driver wants a path.
pub const STATE_DIR: &str = "/run/vifd-demo";
const NODE_XML: &str = include_str!("../../tests/fixtures/demo/node.xml");
const DEVICES: &str = include_str!("../../tests/fixtures/demo/devices.ip");

/// The libvirt URI of the demo host.
pub fn uri() -> String {
    format!("test://{STATE_DIR}/node.xml")
}

pub async fn run(args: &DemoArgs) -> Result<(), CmdError> {
    remove()?;
    if args.clean {
        println!("removed network namespace {NETNS} and {STATE_DIR}");
        return Ok(());
    }
    create()?;
    let src = Source {
        libvirt_uri: uri(),
        netns: NetnsTarget::Named(NETNS.into()),
        options: CorrelateOptions::default(),
        // The demo host is self-contained: this machine's own OVS must not leak into it.
        ovsdb: None,
        ovn: None,
        guest_agent: None,
    };
    let inv = collect(&src).await?;
    let flags = format!("--libvirt-uri {} --netns {NETNS}", uri());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Demo host: network namespace {NETNS}, libvirt {}\n",
        uri()
    )?;
    writeln!(out, "$ vifd list {flags}")?;
    let vifs: Vec<_> = inv.interfaces.iter().map(|v| &**v).collect();
    write!(out, "{}", super::list::render(&vifs))?;
    writeln!(out, "\n$ vifd check {flags}")?;
    write!(out, "{}", super::check::render(&inv))?;
    writeln!(
        out,
        "\nTry also: vifd list --json {flags}\n          ip -n {NETNS} -d link show\nRemove it: vifd demo --clean"
    )?;
    if args.no_serve {
        return Ok(());
    }
    let server = Server::bind(ServeConfig {
        source: src,
        listen: vec![ListenAddr::parse(serve::DEFAULT_LISTEN)?],
        refresh: serve::DEFAULT_REFRESH,
        poll: serve::DEFAULT_POLL,
        token_file: None,
        tls: None,
        header_timeout: serve::DEFAULT_HEADER_TIMEOUT,
        netlink_rcvbuf: None,
        actions: serve::ActionsConfig::default(),
        fleet: None,
    })
    .await?;
    let some_uuid = inv.domains.first().map_or("<uuid>", |d| d.uuid.as_str());
    let base = format!("http://{}", serve::DEFAULT_LISTEN);
    writeln!(
        out,
        "\nServing the demo host on {base} (Ctrl-C to stop). Try:\n  \
         curl -s {base}/v1/interfaces\n  \
         curl -s {base}/v1/problems\n  \
         curl -s {base}/v2.1/servers/{some_uuid}/os-virtual-interfaces \\\n       \
         -H 'OpenStack-API-Version: compute 2.12'\n  \
         curl -s {base}/v2/servers/{some_uuid}/os-virtual-interfaces\n  \
         curl -s -H 'Accept: application/xml' {base}/v2.1/extensions\n  \
         curl -s {base}/openapi.json"
    )?;
    out.flush()?;
    drop(out);
    server.run(serve::termination()).await;
    Ok(())
}

fn create() -> Result<(), DemoError> {
    ip(&["netns", "add", NETNS], None)?;
    ip(&["-n", NETNS, "-batch", "-"], Some(DEVICES))?;
    let write_err = |path: &str| {
        let path = path.to_string();
        move |source| DemoError::Write { path, source }
    };
    std::fs::create_dir_all(STATE_DIR).map_err(write_err(STATE_DIR))?;
    let node = format!("{STATE_DIR}/node.xml");
    std::fs::write(&node, NODE_XML).map_err(write_err(&node))?;
    Ok(())
}

/// Removes what `create` made; absent parts are fine.
fn remove() -> Result<(), DemoError> {
    if NetnsTarget::Named(NETNS.into()).exists() {
        ip(&["netns", "delete", NETNS], None)?;
    }
    match std::fs::remove_dir_all(STATE_DIR) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DemoError::Write {
            path: STATE_DIR.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn ip(args: &[&str], stdin: Option<&str>) -> Result<(), DemoError> {
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(DemoError::Spawn)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(DemoError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(DemoError::Spawn)?;
    if out.status.success() {
        return Ok(());
    }
    Err(DemoError::Ip {
        cmd: format!("ip {}", args.join(" ")),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}
