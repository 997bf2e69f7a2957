//! Log output: `RUST_LOG`-style filters, journald's form when stderr is the journal
//! stream systemd announced in JOURNAL_STREAM, and JSON lines for shippers.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

/// `vifd ARGS list` on the test driver's default node, stderr into a file; returns the
/// log's lines. `journal`: announce that file as the journal stream.
fn log_of(args: &[&str], env: &[(&str, &str)], journal: Option<bool>) -> Vec<String> {
    let path = std::env::temp_dir().join(format!(
        "vifd-log-{}-{}",
        std::process::id(),
        args.join("_").replace('/', "")
    ));
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vifd"));
    cmd.args(args)
        .args([
            "list",
            "--libvirt-uri",
            "test:///default",
            "--ovsdb",
            "unix:/nonexistent.sock",
        ])
        .env_remove("RUST_LOG")
        .env_remove("VIFD_LOG_LEVEL")
        .env_remove("VIFD_LOG_FORMAT")
        .env_remove("JOURNAL_STREAM")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(file);
    match journal {
        Some(true) => cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino())),
        Some(false) => cmd.env(
            "JOURNAL_STREAM",
            format!("{}:{}", meta.dev(), meta.ino() + 1),
        ),
        None => &mut cmd,
    };
    assert!(cmd.status().unwrap().success());
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    text.lines().map(str::to_string).collect()
}

fn starts_with_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T'
}

#[test]
fn journal_stream_gets_syslog_priorities_and_no_timestamps() {
    let lines = log_of(&["--log-level", "debug"], &[], Some(true));
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            !starts_with_timestamp(l),
            "the journal adds the time: {l:?}"
        );
    }
    let warn = lines
        .iter()
        .find(|l| l.contains("ovsdb resolver skipped"))
        .unwrap();
    assert!(warn.starts_with("<4>vifd::collect: "), "{warn:?}");
    let debug = lines
        .iter()
        .find(|l| l.contains("netlink snapshot read"))
        .unwrap();
    assert!(debug.starts_with("<7>"), "{debug:?}");
}

#[test]
fn a_journal_stream_that_is_not_stderr_is_ignored() {
    // Set for a parent whose stderr went to the journal, inherited by a redirected child.
    let lines = log_of(&["--log-level", "warn"], &[], Some(false));
    let warn = lines
        .iter()
        .find(|l| l.contains("ovsdb resolver skipped"))
        .unwrap();
    assert!(starts_with_timestamp(warn), "{warn:?}");
    assert!(warn.contains(" WARN "), "{warn:?}");
}

#[test]
fn json_format_writes_one_object_per_line() {
    let lines = log_of(&["--log-format", "json", "--log-level", "debug"], &[], None);
    assert!(lines.len() >= 2);
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
        assert!(v["target"].as_str().unwrap().starts_with("vifd"), "{v}");
    }
    let warn: serde_json::Value = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["message"] == "ovsdb resolver skipped")
        .expect("the warning as JSON");
    assert_eq!(warn["level"], "WARN");
    assert!(warn["error"]
        .as_str()
        .unwrap()
        .contains("/nonexistent.sock"));
}

#[test]
fn rust_log_filters_apply_and_the_option_wins_over_them() {
    let lines = log_of(&[], &[("RUST_LOG", "warn,vifd::collect=debug")], None);
    assert!(lines.iter().any(|l| l.contains("DEBUG vifd::collect")));
    assert!(!lines.iter().any(|l| l.contains("DEBUG vifd::libvirt")));
    let lines = log_of(&["--log-level", "error"], &[("RUST_LOG", "debug")], None);
    assert!(lines.is_empty(), "{lines:?}");
    let lines = log_of(&[], &[("VIFD_LOG_FORMAT", "json")], None);
    assert!(lines.iter().all(|l| l.starts_with('{')), "{lines:?}");
}
