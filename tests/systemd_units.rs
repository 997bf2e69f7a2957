//! The unit files: `systemd-analyze verify` accepts them, they carry the hardening the
//! service is meant to run with, and the capability set is what vifd really needs —
//! shown by running vifd with exactly that bounding set (setpriv) against the real
//! libvirtd (`make test` starts it) and a real namespace.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn unit(name: &str) -> String {
    std::fs::read_to_string(format!("{}/systemd/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Copies of the units in a fresh directory, `/usr/bin/vifd` replaced by the binary
/// under test (verify checks that ExecStart= exists), with `edit` applied to the service.
fn staged(tag: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vifd-units-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_vifd");
    let service = edit(unit("vifd.service").replace("/usr/bin/vifd", bin));
    std::fs::write(dir.join("vifd.service"), service).unwrap();
    std::fs::write(dir.join("vifd.socket"), unit("vifd.socket")).unwrap();
    dir
}

fn verify(dir: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.join("vifd.service"))
        .arg(dir.join("vifd.socket"))
        .output()
        .expect("systemd-analyze (package systemd) is a prerequisite")
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let dir = staged("ok", |s| s);
    let out = verify(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {stderr}");
    assert!(
        !stderr.contains("vifd."),
        "verify complained about the units: {stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn verify_rejects_a_broken_unit() {
    // The check above must be able to fail.
    let dir = staged("broken", |s| s.replace("Type=notify", "Type=notfy"));
    let out = verify(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("notfy"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn service_is_notify_reloadable_and_hardened() {
    let text = unit("vifd.service");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for want in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6",
        "CapabilityBoundingSet=",
        "SupplementaryGroups=libvirt",
        "RuntimeDirectory=vifd",
        "SystemCallFilter=@system-service",
    ] {
        assert!(lines.contains(&want), "vifd.service lacks {want:?}");
    }
    assert!(lines.iter().any(|l| l.starts_with("WatchdogSec=")));
    let socket = unit("vifd.socket");
    assert!(socket.contains("ListenStream=/run/vifd/vifd.sock"));
}

/// `vifd ARGS` with only `caps` in the bounding set (none inheritable or ambient), as
/// root: what CapabilityBoundingSet= gives the service.
fn with_caps(caps: &str, args: &[&str]) -> Output {
    let bounding = if caps.is_empty() {
        "-all".to_string()
    } else {
        format!("-all,{caps}")
    };
    Command::new("setpriv")
        .args(["--bounding-set", &bounding])
        .args(["--inh-caps", "-all", "--ambient-caps", "-all", "--"])
        .arg(env!("CARGO_BIN_EXE_vifd"))
        .args(args)
        .env_remove("VIFD_CONFIG")
        .output()
        .expect("setpriv (util-linux) is a prerequisite")
}

#[test]
fn no_capability_is_needed_to_read_libvirt_and_this_namespace() {
    let out = with_caps("", &["list", "--libvirt-uri", "qemu:///system", "--json"]);
    assert!(
        out.status.success(),
        "vifd list without capabilities: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(body["interfaces"].is_array());
}

#[test]
fn entering_another_namespace_needs_cap_sys_admin_and_only_that() {
    let (ns, uri) = common::demo_host("caps");
    let args = ["list", "--libvirt-uri", &uri, "--netns", &ns.name, "--json"];
    let denied = with_caps("", &args);
    assert_eq!(denied.status.code(), Some(2));
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains(&ns.name) && err.contains("EPERM"),
        "the error names the namespace and the refusal: {err}"
    );
    let allowed = with_caps("+sys_admin", &args);
    assert!(
        allowed.status.success(),
        "with CAP_SYS_ADMIN: {}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&allowed.stdout).unwrap();
    let n = body["interfaces"].as_array().unwrap().len();
    assert!(n > 0, "the demo host's interfaces are read");
}
