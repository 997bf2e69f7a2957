//! The HTTP API against the tools that read its OpenAPI document, on a real `vifd serve`
//! (the demo host: test-driver domains over real taps in a namespace):
//! - openapi-spec-validator accepts `/openapi.json`;
//! - the property-based fuzzer schemathesis, every check on (but one, in one phase: see
//!   tests/fixtures/schemathesis/schemathesis.toml), a bounded budget
//!   (`API_FUZZ_EXAMPLES` per operation, default 20; a fixed `API_FUZZ_SEED`, default 1,
//!   so a CI failure replays), finds nothing: no 5xx, no undocumented status, no response
//!   off its schema, nothing valid refused and nothing invalid accepted.
//!
//! The tools come from the venv `make test` creates (`make venv`; `TEST_PY_VENV` names it).
//! Without it the test is skipped, except under CI=true, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::daemon::Daemon;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The venv's `bin/`, if its tools are there.
fn venv_bin() -> Option<PathBuf> {
    // Where `make venv` puts it: <target>/venv, <target> being CARGO_TARGET_DIR or target.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(ROOT).join("target"));
    let venv = std::env::var_os("TEST_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("venv"));
    let bin = venv.join("bin");
    let complete = ["st", "openapi-spec-validator"]
        .iter()
        .all(|t| bin.join(t).is_file());
    complete.then_some(bin)
}

fn tools() -> Option<PathBuf> {
    let bin = venv_bin();
    let ok = common::ovn::prerequisite(
        "the venv with schemathesis and openapi-spec-validator (`make venv`, TEST_PY_VENV)",
        bin.is_some(),
    );
    bin.filter(|_| ok)
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs schemathesis against `url` (with `args` added); panics with its report on any
/// failure.
fn fuzz(bin: &Path, url: &str, args: &[&str]) {
    let scratch = std::env::temp_dir().join(format!("vifd-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let examples = std::env::var("API_FUZZ_EXAMPLES").unwrap_or_else(|_| "20".into());
    let seed = std::env::var("API_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    let config = format!("{ROOT}/tests/fixtures/schemathesis/schemathesis.toml");
    let (ok, text) = run(Command::new(bin.join("st"))
        .current_dir(&scratch)
        .args(["--config-file", &config, "run", url])
        .args(["--max-examples", &examples, "--seed", &seed])
        // An endless event stream: its parameters are the api_watch tests' to check.
        .args(["--exclude-path", "/v1/watch"])
        .args(["--request-timeout", "10", "--no-color"])
        .args(args));
    let _ = std::fs::remove_dir_all(&scratch);
    let summary: String = text
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("schemathesis {args:?} (examples {examples}, seed {seed}):\n{summary}");
    assert!(ok, "schemathesis found failures:\n{text}");
    // Its exit status is the verdict; this makes sure it really ran cases
    // ("Test cases: N generated, N passed").
    let passed: u64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" generated, ").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(passed > 100, "schemathesis passed {passed} cases:\n{text}");
}

#[test]
fn the_document_validates_and_the_fuzzer_finds_nothing() {
    let Some(bin) = tools() else { return };
    let _serial = common::one_at_a_time();
    let (_ns, daemon) = Daemon::on_demo_host("fuzz");
    let url = format!("http://{}/openapi.json", daemon.addr());
    let doc = std::env::temp_dir().join(format!("vifd-openapi-{}.json", std::process::id()));
    let (ok, text) = run(Command::new("curl")
        .args(["-sSf", "-o"])
        .arg(&doc)
        .arg(&url));
    assert!(ok, "GET {url}: {text}");
    let (ok, text) = run(Command::new(bin.join("openapi-spec-validator")).arg(&doc));
    let _ = std::fs::remove_file(&doc);
    assert!(ok, "openapi-spec-validator: {text}");
    fuzz(&bin, &url, &[]);
}

/// The same with the actions on, and the token every request then needs: the request
/// bodies are fuzzed too (on the test driver, which has no networks or pools: the writes
/// are refused or find nothing, and must say so with a documented status and fault).
#[test]
fn the_fuzzer_finds_nothing_in_the_actions() {
    let Some(bin) = tools() else { return };
    let _serial = common::one_at_a_time();
    let (ns, uri) = common::demo_host("fuzzact");
    let token = "fuzz-token-0123456789abcdef";
    let token_file = std::env::temp_dir().join(format!("vifd-fuzz-token-{}", std::process::id()));
    std::fs::write(&token_file, token).unwrap();
    let name = ns.name.clone();
    let args = [
        "--libvirt-uri",
        &uri,
        "--netns",
        &name,
        "--refresh",
        "3600",
        "--enable-actions",
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    let daemon = Daemon::on_loopback(&args);
    let url = format!("http://{}/openapi.json", daemon.addr());
    let header = format!("Authorization: Bearer {token}");
    fuzz(&bin, &url, &["-H", &header]);
    let _ = std::fs::remove_file(&token_file);
}
