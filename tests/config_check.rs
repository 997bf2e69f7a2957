//! `vifd config check`: a valid file prints the effective settings; every mistake is an
//! error naming the key and the line, with exit status 2.

use std::process::{Command, Output};

fn check(name: &str, text: &str, extra: &[&str]) -> Output {
    let path = std::env::temp_dir().join(format!("vifd-check-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vifd"))
        .args(["config", "check", "--config", path.to_str().unwrap()])
        .args(extra)
        .env_remove("VIFD_CONFIG")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    out
}

fn error_of(name: &str, text: &str) -> String {
    let out = check(name, text, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn valid_file_prints_the_effective_settings() {
    let text = "log_level = \"info\"\nrefresh = 60\nlisten = [\"127.0.0.1:9000\", \"unix:/run/vifd/vifd.sock\"]\n\
                [networks.bridges]\nbr-prov = \"0D7F7E5C-3C5A-4A51-9A8E-4F1C2B3A4D5E\"\n";
    let out = check("valid", text, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eff: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(eff["refresh"], 60);
    assert_eq!(eff["log_level"], "info");
    assert_eq!(eff["poll_interval"], 10, "defaults fill the rest");
    assert_eq!(eff["libvirt_uri"], "qemu:///system");
    assert_eq!(eff["ovn_grace"], 10, "the ovn resolver is on by default");
    assert_eq!(
        eff["ovn_sb"],
        serde_json::Value::Null,
        "read from ovn-remote"
    );
    assert_eq!(eff["resolvers"][0], "ovn");
    assert_eq!(eff["listen"][1], "unix:/run/vifd/vifd.sock");
    assert_eq!(
        eff["networks"]["bridges"]["br-prov"], "0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e",
        "normalized as the resolver uses it"
    );
    let toml = check("valid-toml", text, &[]);
    assert!(toml.status.success());
    assert!(String::from_utf8_lossy(&toml.stdout).contains("refresh = 60"));
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let err = error_of("unknown", "log_level = \"info\"\n\nrefersh = 5\n");
    assert!(
        err.contains("line 3: refersh: unknown field `refersh`"),
        "{err}"
    );
}

#[test]
fn unknown_key_in_a_table_is_named_with_its_path() {
    let err = error_of("unknown-nested", "[networks]\nbrdiges = {}\n");
    assert!(
        err.contains("line 2: networks.brdiges: unknown field"),
        "{err}"
    );
}

#[test]
fn bad_values_are_named_with_key_and_line() {
    for (name, text, want) in [
        (
            "type",
            "\n\npoll_interval = \"ten\"\n",
            "line 3: poll_interval: invalid type",
        ),
        (
            "resolver",
            "resolvers = [\"ovsdb\", \"nope\"]\n",
            "line 1: resolvers: unknown resolver \"nope\"",
        ),
        (
            "uuid",
            "[networks.bridges]\nbr0 = \"not-a-uuid\"\n",
            "line 2: networks.bridges.br0: \"not-a-uuid\" is not a UUID",
        ),
        (
            "prefix",
            "[networks.mac_prefixes]\n\"zz:16\" = \"0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e\"\n",
            "line 2: networks.mac_prefixes.zz:16: invalid MAC prefix",
        ),
        (
            "refresh",
            "log_level = \"info\"\nrefresh = 0\n",
            "line 2: refresh: --refresh must be at least 1 second",
        ),
        (
            "listen",
            "listen = [\"nowhere\"]\n",
            "line 1: listen: cannot listen on nowhere",
        ),
        (
            "open",
            "listen = [\"0.0.0.0:8789\"]\n",
            "line 1: listen: refusing to listen on 0.0.0.0:8789 without a bearer token",
        ),
        (
            "token",
            "token_file = \"/nonexistent/token\"\n",
            "line 1: token_file: cannot read token file /nonexistent/token",
        ),
        ("ovsdb", "ovsdb = \"http://x\"\n", "line 1: ovsdb:"),
        (
            "ovn_sb",
            "ovn_sb = \"tcp:10.0.0.1:6642,tcp:x:y\"\n",
            "line 1: ovn_sb: invalid OVN Southbound address \"tcp:x:y\"",
        ),
        (
            "ovn_ssl",
            "\novn_sb = \"ssl:10.0.0.1:6642\"\n",
            "line 2: ovn_sb: OVN Southbound address \"ssl:10.0.0.1:6642\": ssl: remotes are not supported yet",
        ),
        ("ovn_grace", "ovn_grace = -1\n", "line 1: ovn_grace: invalid value"),
        (
            "fleet_url",
            "refresh = 60\n[fleet]\nendpoints = [\"127.0.0.1:2379\"]\n",
            "line 3: fleet.endpoints: \"127.0.0.1:2379\" is not an http:// or https:// URL",
        ),
        (
            "fleet_host",
            "[fleet]\nendpoints = [\"http://127.0.0.1:2379\"]\nhost = \"a/b\"\n",
            "line 3: fleet.host: \"a/b\" contains '/'",
        ),
        (
            "fleet_pair",
            "[fleet]\nendpoints = [\"http://127.0.0.1:2379\"]\ncert = \"/c.pem\"\n",
            "line 3: fleet.cert: fleet.cert and fleet.key go together",
        ),
        (
            "fleet_user",
            "[fleet]\nendpoints = [\"http://127.0.0.1:2379\"]\nuser = \"vifd\"\n",
            "line 3: fleet.user: fleet.user and fleet.password_file go together",
        ),
        (
            "fleet_unknown",
            "[fleet]\nendpoint = [\"http://127.0.0.1:2379\"]\n",
            "line 2: fleet.endpoint: unknown field `endpoint`",
        ),
        (
            "level",
            "log_level = \"vifd=loud\"\n",
            "line 1: log_level: invalid log filter",
        ),
        (
            "format",
            "log_format = \"xml\"\n",
            "line 1: log_format: unknown variant `xml`",
        ),
        ("syntax", "refresh = = 3\n", "line 1"),
    ] {
        let err = error_of(name, text);
        assert!(err.contains(want), "{name}: want {want:?} in {err}");
    }
}

#[test]
fn fleet_settings_are_shown_and_absent_when_off() {
    let off = check("fleet_off", "", &["--json"]);
    let eff: serde_json::Value = serde_json::from_slice(&off.stdout).unwrap();
    assert!(eff.get("fleet").is_none(), "{eff}");
    let text = "[fleet]\nendpoints = [\"http://127.0.0.1:2379\", \"http://127.0.0.2:2379\"]\n";
    let on = check("fleet_on", text, &["--json"]);
    assert!(
        on.status.success(),
        "{}",
        String::from_utf8_lossy(&on.stderr)
    );
    let eff: serde_json::Value = serde_json::from_slice(&on.stdout).unwrap();
    assert_eq!(eff["fleet"]["endpoints"][1], "http://127.0.0.2:2379");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        eff["fleet"]["host"],
        hostname.trim(),
        "the hostname by default"
    );
}

#[test]
fn missing_explicit_file_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_vifd"))
        .args(["config", "check", "--config", "/nonexistent/vifd.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/vifd.toml"));
}

#[test]
fn actions_on_a_tcp_listener_without_a_token_are_refused_with_their_key() {
    let text = "listen = [\"127.0.0.1:9000\"]\n\n[actions]\nenabled = true\n";
    let err = error_of("actions-no-token", text);
    assert!(err.contains("line 4: actions.enabled:"), "{err}");
    assert!(err.contains("token"), "{err}");

    // Unix sockets only: accepted, and shown in the effective settings.
    let text = "listen = [\"unix:/run/vifd/vifd.sock\"]\n[actions]\nenabled = true\n\
                [volumes]\npool = \"vols\"\n";
    let out = check("actions-unix", text, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eff: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(eff["actions"]["enabled"], true);
    assert_eq!(eff["volumes"]["pool"], "vols");
}
