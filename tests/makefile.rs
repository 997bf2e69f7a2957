//! The Makefile honours `CARGO_TARGET_DIR`, as cargo does: a packager (or a CI cache) with
//! its own target directory gets the binary, the .deb and the benchmarks' binary from there,
//! and nothing is looked for or written under the tree's `target/`.
//!
//! `make deb` is run for real (dpkg-deb, dpkg-shlibdeps; under CI=true a missing one fails
//! the test). `-o build` has make take the release build as done: the binary under test is
//! copied to where the release build would be, because a release build of its own would
//! take minutes and say nothing more about paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VIFD: &str = env!("CARGO_BIN_EXE_vifd");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every target that runs the binary or writes an artifact.
const TARGETS: [&str; 15] = [
    "demo",
    "clean-demo",
    "bench",
    "bench-serve",
    "bench-watch",
    "bench-change",
    "bench-identity",
    "bench-ovn",
    "bench-actions",
    "bench-metrics",
    "bench-query",
    "bench-inflight",
    "soak",
    "deb",
    "rpm",
];

/// A fresh directory under the system's temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("vifd-make-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `make` in the tree with CARGO_TARGET_DIR=`target`; the prerequisites that install or
/// build are taken as done.
fn make(target_dir: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .current_dir(ROOT)
        .env("CARGO_TARGET_DIR", target_dir)
        .args(["-o", "build", "-o", "deps", "-o", "services"])
        .args(args)
        .output()
        .expect("run make (a prerequisite, installed by `make deps`)")
}

fn text(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_target_runs_the_binary_from_cargo_target_dir() {
    let scratch = Scratch::new("dry");
    let dir = scratch.0.join("x");
    for target in TARGETS {
        let out = make(&dir, &["-n", target]);
        assert!(out.status.success(), "make -n {target}: {}", text(&out));
        let recipe = String::from_utf8_lossy(&out.stdout);
        // Where a recipe names a binary, it is the one under CARGO_TARGET_DIR.
        assert!(
            !recipe.contains("target/release") && !recipe.contains("target/debian"),
            "make -n {target} names the tree's target/: {recipe}"
        );
    }
    let demo = make(&dir, &["-n", "demo"]);
    let want = format!("{}/release/vifd demo", dir.display());
    assert!(
        String::from_utf8_lossy(&demo.stdout).contains(&want),
        "make -n demo: {}",
        text(&demo)
    );
}

#[test]
fn make_deb_builds_into_cargo_target_dir() {
    let missing: Vec<&str> = ["make", "dpkg-deb", "dpkg-shlibdeps", "strip"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{missing:?} missing (required under CI=true; `make deps` installs them)"
        );
        eprintln!("skipped: {missing:?} missing");
        return;
    }
    let scratch = Scratch::new("deb");
    let dir = scratch.0.join("x");
    std::fs::create_dir_all(dir.join("release")).unwrap();
    std::fs::copy(VIFD, dir.join("release/vifd")).unwrap();
    let started = std::time::SystemTime::now();

    let out = make(&dir, &["deb"]);
    assert!(out.status.success(), "make deb: {}", text(&out));

    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    let arch = String::from_utf8(arch.stdout).unwrap();
    let deb = dir.join(format!("debian/vifd_{VERSION}_{}.deb", arch.trim()));
    assert!(deb.is_file(), "no {deb:?}: {}", text(&out));
    let files = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&files.stdout).contains("./usr/bin/vifd"),
        "{deb:?} has no /usr/bin/vifd: {}",
        text(&files)
    );
    let tree_debian = Path::new(ROOT).join("target/debian");
    let written: Vec<PathBuf> = std::fs::read_dir(&tree_debian)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= started)
        })
        .map(|e| e.path())
        .collect();
    assert!(
        written.is_empty(),
        "make deb wrote into the tree: {written:?}"
    );
}

/// The scripts the Makefile runs find the binary and write their output through
/// CARGO_TARGET_DIR too: no line of theirs (comments aside) names the tree's `target/`
/// directly. (`make -n` shows only `bash bench/x.sh` for them, so this is where it shows.)
#[test]
fn scripts_name_no_fixed_target_directory() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("bench"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.extend(
        ["packaging/deb/build.sh", "packaging/rpm/build.sh"].map(|s| Path::new(ROOT).join(s)),
    );
    assert!(scripts.len() > 10, "{scripts:?}");
    for script in &scripts {
        let text = std::fs::read_to_string(script).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with('#') {
                continue;
            }
            for fixed in [
                "target/release",
                "target/debian",
                "target/rpm",
                "target/debug",
            ] {
                let pinned = ['/', ' ', '=', '-', '"']
                    .iter()
                    .any(|before| code.contains(&format!("{before}{fixed}")));
                assert!(!pinned, "{}:{}: {line}", script.display(), n + 1);
            }
        }
    }
}
