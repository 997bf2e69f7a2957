//! The fuzz targets' seeds and every past finding (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`), replayed through the harnesses of `vifd::fuzzing`: no
//! fuzz engine, so a plain `cargo test` keeps each crash the fuzzer ever found fixed.

use std::path::{Path, PathBuf};

use vifd::fuzzing::{Harness, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files under `fuzz/<kind>/<target>/`, by target; a directory of no target fails.
fn inputs(kind: &str) -> Vec<(&'static str, Harness, PathBuf)> {
    let root = fuzz_dir().join(kind);
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for dir in dirs.map(Result::unwrap) {
        let name = dir.file_name().to_string_lossy().into_owned();
        let (name, harness) = *TARGETS
            .iter()
            .find(|(t, _)| *t == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target of that name", dir.path().display()));
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|f| (name, harness, f)));
    }
    out
}

/// Runs each input, catching panics so every failing file is named, not just the first.
fn replay(kind: &str) -> usize {
    let all = inputs(kind);
    let failed: Vec<String> = all
        .iter()
        .filter(|(_, harness, file)| {
            let data = std::fs::read(file).unwrap();
            std::panic::catch_unwind(|| harness(&data)).is_err()
        })
        .map(|(target, _, file)| format!("{target}: {}", file.display()))
        .collect();
    assert!(
        failed.is_empty(),
        "inputs that fail their harness:\n{}",
        failed.join("\n")
    );
    all.len()
}

#[test]
fn every_seed_passes_its_harness() {
    assert!(replay("seeds") > 0, "fuzz/seeds is empty: run fuzz/seed.sh");
}

#[test]
fn every_past_finding_stays_fixed() {
    replay("regressions");
}

#[test]
fn every_harness_has_a_fuzz_target_and_seeds() {
    let seeded = inputs("seeds");
    for (name, _) in TARGETS {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&target)
            .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        assert!(
            text.contains(&format!("vifd::fuzzing::{name}(")),
            "{}",
            target.display()
        );
        assert!(
            seeded.iter().any(|(t, _, _)| t == name),
            "{name} has no seed"
        );
    }
}

/// The round trips only run on input that decodes: the seeds must reach them.
#[test]
fn the_seeds_reach_the_round_trips() {
    let seed = |target: &str, file: &str| {
        std::fs::read(fuzz_dir().join("seeds").join(target).join(file)).unwrap()
    };
    let text = String::from_utf8(seed("config_toml", "example-set.toml")).unwrap();
    let cfg = vifd::config::parse(&text).expect("the example, every setting set, parses");
    assert!(cfg.fleet.is_some() && cfg.networks.is_some());
    let frames = String::from_utf8(seed("sse", "roundtrip")).unwrap();
    assert!(frames.contains('|'), "the SSE seed names a kind");
    let datum: serde_json::Value = serde_json::from_slice(&seed("ovsdb_datum", "datum-0")).unwrap();
    assert_eq!(datum[0], "map");
}
