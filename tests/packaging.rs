//! The packages and what goes into them: `vifd completions`, `vifd manpages`, the example
//! configuration (packaging/vifd.toml.example), the .deb (built, installed with dpkg, used,
//! purged) and the RPM (built where rpmbuild exists).
//!
//! The .deb test needs root, dpkg-deb, dpkg-shlibdeps, man and systemd-analyze; without them
//! it is skipped, except under CI=true, where a missing prerequisite fails it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VIFD: &str = env!("CARGO_BIN_EXE_vifd");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env_remove("VIFD_CONFIG")
        .env_remove("VIFD_LIBVIRT_URI")
        .env_remove("VIFD_LOG_LEVEL")
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Runs it and requires exit status 0; returns stdout.
fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// True when `ok`; otherwise says what is missing and returns false, or fails under CI.
fn prerequisite(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{what} (required under CI=true; `make deps` installs it)"
        );
        eprintln!("skipped: {what}");
    }
    ok
}

fn is_root() -> bool {
    ok("id", &["-u"]).trim() == "0"
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("vifd-pkg-{tag}-{}", std::process::id()));
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

// ---------------------------------------------------------------------------------------
// Completions and man pages
// ---------------------------------------------------------------------------------------

const SUBCOMMANDS: [&str; 7] = ["list", "check", "serve", "watch", "query", "config", "demo"];

#[test]
fn completions_for_bash_zsh_and_fish_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(VIFD, &["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        for word in SUBCOMMANDS.iter().chain(&["libvirt-uri", "orphan-pattern"]) {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        assert!(!script.contains("manpages"), "{shell}: a hidden subcommand");
    }
    let bash = Scratch::new("bash");
    let file = bash.0.join("vifd");
    std::fs::write(&file, ok(VIFD, &["completions", "bash"])).unwrap();
    ok("bash", &["-n", file.to_str().unwrap()]);
    assert!(!run(VIFD, &["completions", "tcsh"]).status.success());
}

#[test]
fn manpages_one_page_per_visible_subcommand() {
    let scratch = Scratch::new("man");
    let dir = scratch.0.join("created/man1");
    ok(VIFD, &["manpages", dir.to_str().unwrap()]);
    let pages: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut want: BTreeSet<String> = SUBCOMMANDS.iter().map(|s| format!("vifd-{s}.1")).collect();
    want.extend(["vifd.1", "vifd-config-check.1", "vifd-completions.1"].map(String::from));
    assert!(pages.is_superset(&want), "{pages:?} lacks some of {want:?}");
    assert!(pages
        .iter()
        .all(|p| p.starts_with("vifd") && p.ends_with(".1")));
    assert!(!pages.iter().any(|p| p.contains("manpages")), "{pages:?}");
    assert!(!pages.iter().any(|p| p.contains("help")), "{pages:?}");

    let root = std::fs::read_to_string(dir.join("vifd.1")).unwrap();
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "EXAMPLES",
        "FILES",
    ] {
        assert!(
            root.contains(&format!(".SH {section}")),
            "vifd.1: {section}"
        );
    }
    for section in ["ENVIRONMENT", "\"EXIT STATUS\"", "\"SEE ALSO\""] {
        assert!(
            root.contains(&format!(".SH {section}")),
            "vifd.1: {section}"
        );
    }
    for text in [
        "/etc/vifd/vifd.toml",
        "VIFD_LIBVIRT_URI",
        "VIFD_LISTEN",
        "vifd\\-list",
    ] {
        assert!(root.contains(text), "vifd.1 lacks {text}");
    }
    let list = std::fs::read_to_string(dir.join("vifd-list.1")).unwrap();
    assert!(list.contains("\\-\\-libvirt\\-uri") && list.contains(".SH EXAMPLES"));

    // Every page formats without a warning.
    if prerequisite("man (package man-db)", have("man")) {
        for page in &pages {
            let path = dir.join(page);
            let out = Command::new("man")
                .args(["--warnings", "-l"])
                .arg(&path)
                .env("MANWIDTH", "80")
                .env("MAN_KEEP_FORMATTING", "0")
                .output()
                .unwrap();
            assert!(out.status.success(), "man -l {page}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.trim().is_empty(), "man -l {page}: {stderr}");
            assert!(String::from_utf8_lossy(&out.stdout).contains("vifd"));
        }
    }

    // An unwritable directory is an error that names it.
    let out = run(VIFD, &["manpages", "/proc/vifd-no-such-dir/man1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/proc/vifd-no-such-dir"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// The example configuration
// ---------------------------------------------------------------------------------------

fn example_path() -> String {
    format!("{ROOT}/packaging/vifd.toml.example")
}

/// The keys `vifd config check` accepts in `table` ("" for the top level), from its own
/// error message for an unknown key: "... expected one of `a`, `b`, ...".
fn accepted_keys(scratch: &Scratch, table: &str) -> Vec<String> {
    let file = scratch.0.join("unknown.toml");
    let header = match table {
        "" => String::new(),
        t => format!("[{t}]\n"),
    };
    std::fs::write(&file, format!("{header}vifd_no_such_key = 1\n")).unwrap();
    let out = run(
        VIFD,
        &["config", "check", "--config", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let (_, expected) = stderr
        .split_once("expected one of")
        .unwrap_or_else(|| panic!("no key list in {stderr:?}"));
    let keys: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(keys.len() >= 2, "{stderr}");
    keys
}

/// `vifd config check --config FILE --json`, required to succeed.
fn effective(file: &Path) -> serde_json::Value {
    let text = ok(
        VIFD,
        &[
            "config",
            "check",
            "--json",
            "--config",
            file.to_str().unwrap(),
        ],
    );
    serde_json::from_str(&text).unwrap()
}

/// The example with every commented setting (`#key = ...`, `#[table]`) uncommented.
fn uncommented(example: &str) -> String {
    example
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c != ' ' && c != '#') => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_config_documents_every_key() {
    let scratch = Scratch::new("keys");
    let example = std::fs::read_to_string(example_path()).unwrap();
    let top = accepted_keys(&scratch, "");
    assert!(top.contains(&"libvirt_uri".to_string()), "{top:?}");
    let tables = ["networks", "actions", "volumes", "fleet"];
    for key in top.iter().filter(|k| !tables.contains(&k.as_str())) {
        // A paragraph opens with "# key: what it does" (or "# key_a, key_b: ...").
        let documented = example.lines().any(|l| {
            l.strip_prefix("# ")
                .and_then(|l| l.split_once(':'))
                .is_some_and(|(names, _)| names.split(", ").any(|n| n == key))
        });
        assert!(
            documented,
            "the example does not document {key} (a '# {key}: ...' paragraph)"
        );
        assert!(
            example
                .lines()
                .any(|l| l.starts_with(&format!("#{key} = "))),
            "the example has no commented setting '#{key} = ...'"
        );
        let paragraph: String = example
            .split("\n\n")
            .find(|p| p.contains(&format!("\n#{key} = ")) || p.starts_with(&format!("#{key} = ")))
            .unwrap()
            .to_string();
        assert!(paragraph.contains("Default"), "{key}: no default given");
    }
    for table in accepted_keys(&scratch, "networks") {
        assert!(
            example.contains(&format!("\n#[networks.{table}]\n")),
            "the example has no commented [networks.{table}]"
        );
        assert!(example.contains(&format!("# networks.{table}:")), "{table}");
    }
    for (table, key) in [("actions", "enabled"), ("volumes", "pool")] {
        assert!(top.contains(&table.to_string()), "{top:?}");
        assert!(
            example.contains(&format!("\n#[{table}]\n#{key} = ")),
            "the example has no commented [{table}] {key}"
        );
        assert!(
            example.contains(&format!("# {table}.{key}:")),
            "{table}.{key}"
        );
    }
    assert!(top.contains(&"fleet".to_string()), "{top:?}");
    let fleet = example
        .split("\n#[fleet]\n")
        .nth(1)
        .expect("a commented [fleet]");
    for key in accepted_keys(&scratch, "fleet") {
        assert!(
            example.lines().any(|l| l.starts_with("# fleet.")
                && l.split_once(':').is_some_and(|(names, _)| names[2..]
                    .split(", ")
                    .any(|n| n == format!("fleet.{key}")))),
            "the example does not document fleet.{key}"
        );
        assert!(
            fleet.lines().any(|l| l.starts_with(&format!("#{key} = "))),
            "the example has no commented [fleet] {key}"
        );
    }
    // Shipped as is, nothing but comments.
    assert!(example
        .lines()
        .all(|l| l.trim().is_empty() || l.starts_with('#')));
}

#[test]
fn example_config_passes_check_as_shipped_and_uncommented() {
    let scratch = Scratch::new("example");
    let shipped = effective(Path::new(&example_path()));
    let empty = scratch.0.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(
        shipped,
        effective(&empty),
        "installed as /etc/vifd/vifd.toml, the example must change no default"
    );

    // Every value uncommented: the files it names exist here, under the scratch directory.
    let tls = scratch.0.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(scratch.0.join("token"), "s3cret-token\n").unwrap();
    let gen = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(tls.join("key.pem"))
        .arg("-out")
        .arg(tls.join("cert.pem"))
        .output()
        .expect("run openssl (a prerequisite, installed by `make deps`)");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let example = std::fs::read_to_string(example_path()).unwrap();
    let text =
        uncommented(&example).replace("\"/etc/vifd/", &format!("\"{}/", scratch.0.display()));
    let file = scratch.0.join("uncommented.toml");
    std::fs::write(&file, &text).unwrap();
    let eff = effective(&file);

    // Each value set is the value in effect.
    let set: toml::Table = toml::from_str(&text).unwrap();
    assert!(set.len() >= 15, "{set:?}");
    for (key, value) in &set {
        let value = serde_json::to_value(value).unwrap();
        if key == "networks" {
            for (table, entries) in value.as_object().unwrap() {
                assert_eq!(eff["networks"][table], *entries, "networks.{table}");
                assert!(!entries.as_object().unwrap().is_empty(), "networks.{table}");
            }
        } else {
            assert_eq!(eff[key], value, "{key}");
        }
    }
}

#[test]
fn rpm_spec_version_is_cargo_version() {
    let spec = std::fs::read_to_string(format!("{ROOT}/packaging/rpm/vifd.spec")).unwrap();
    let version = spec
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(str::trim);
    assert_eq!(version, Some(VERSION));
    assert!(
        spec.contains(&format!("- {VERSION}-1")),
        "no changelog entry for {VERSION}"
    );
}

// ---------------------------------------------------------------------------------------
// The .deb: built, installed, used, purged
// ---------------------------------------------------------------------------------------

/// `dpkg -s vifd` says it is installed (or its configuration is left).
fn dpkg_knows_vifd() -> bool {
    run("dpkg-query", &["-W", "-f=${Status}", "vifd"])
        .status
        .success()
}

/// Purges vifd on drop, so that a failing test leaves no package behind.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if dpkg_knows_vifd() {
            let _ = run("dpkg", &["--purge", "vifd"]);
        }
    }
}

/// Builds the .deb from the binary under test (stripped, as `make deb` does with the
/// release build) into `out`; returns its path.
fn build_deb(out: &Path) -> PathBuf {
    let built = Command::new("bash")
        .arg(format!("{ROOT}/packaging/deb/build.sh"))
        .env("VIFD_BIN", VIFD)
        .env("OUT_DIR", out)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "packaging/deb/build.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let path = PathBuf::from(String::from_utf8(built.stdout).unwrap().trim());
    assert!(path.is_file(), "{path:?}");
    let arch = ok("dpkg", &["--print-architecture"]);
    let name = format!("vifd_{VERSION}_{}.deb", arch.trim());
    assert_eq!(path.file_name().unwrap().to_str(), Some(name.as_str()));
    path
}

#[test]
fn deb_installs_runs_and_purges_without_a_trace() {
    let tools = ["dpkg-deb", "dpkg-shlibdeps", "man", "systemd-analyze"];
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if !prerequisite(&format!("{missing:?} missing"), missing.is_empty())
        || !prerequisite("dpkg -i needs root", is_root())
    {
        return;
    }
    let scratch = Scratch::new("deb");
    let deb = build_deb(&scratch.0);
    let deb = deb.to_str().unwrap();

    // Control fields: Depends from dpkg-shlibdeps, with versions.
    let depends = ok("dpkg-deb", &["-f", deb, "Depends"]);
    assert!(depends.contains("libvirt0 (>= "), "{depends}");
    assert!(depends.contains("libc6 (>= "), "{depends}");
    let conffiles = ok(
        "sh",
        &[
            "-c",
            &format!("dpkg-deb --ctrl-tarfile {deb} | tar -xO ./conffiles"),
        ],
    );
    assert_eq!(conffiles.trim(), "/etc/vifd/vifd.toml");

    // A previous failed run may have left it installed.
    if dpkg_knows_vifd() {
        ok("dpkg", &["--purge", "vifd"]);
    }
    let _installed = Installed;
    ok("dpkg", &["-i", deb]);
    let status = ok("dpkg", &["-s", "vifd"]);
    assert!(status.contains("Status: install ok installed"), "{status}");
    let listed: Vec<String> = ok("dpkg", &["-L", "vifd"])
        .lines()
        .map(str::to_string)
        .collect();
    let has = |p: &str| listed.iter().any(|l| l == p);
    for path in [
        "/usr/bin/vifd",
        "/etc/vifd/vifd.toml",
        "/usr/share/doc/vifd/copyright",
        "/usr/share/doc/vifd/vifd.toml.example",
        "/usr/share/man/man1/vifd.1.gz",
        "/usr/share/man/man1/vifd-list.1.gz",
        "/usr/share/bash-completion/completions/vifd",
        "/usr/share/zsh/vendor-completions/_vifd",
        "/usr/share/fish/vendor_completions.d/vifd.fish",
        "/usr/share/vifd/prometheus/vifd.rules.yml",
        "/usr/share/vifd/grafana/vifd.json",
    ] {
        assert!(has(path), "the package lacks {path}");
        assert!(
            std::fs::metadata(path).unwrap().len() > 0,
            "{path} is empty"
        );
    }
    let unit = |name: &str| {
        listed
            .iter()
            .find(|l| l.ends_with(&format!("/systemd/system/{name}")))
            .unwrap_or_else(|| panic!("the package lacks {name}"))
            .clone()
    };
    let (service, socket) = (unit("vifd.service"), unit("vifd.socket"));

    // The installed program.
    assert_eq!(
        ok("/usr/bin/vifd", &["--version"]).trim(),
        format!("vifd {VERSION}")
    );
    let listing = ok(
        "/usr/bin/vifd",
        &["list", "--json", "--libvirt-uri", "test:///default"],
    );
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    assert!(listing["interfaces"].is_array(), "{listing}");
    if Path::new("/run/libvirt/libvirt-sock").exists() {
        ok(
            "/usr/bin/vifd",
            &["list", "--libvirt-uri", "qemu:///system"],
        );
    }
    // The conffile as installed is valid and changes no default.
    let installed: serde_json::Value =
        serde_json::from_str(&ok("/usr/bin/vifd", &["config", "check", "--json"])).unwrap();
    let empty = scratch.0.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(installed, effective(&empty));

    // Man pages where man finds them.
    for page in ["vifd", "vifd-list", "vifd-serve"] {
        let found = ok("man", &["-w", page]);
        assert_eq!(found.trim(), format!("/usr/share/man/man1/{page}.1.gz"));
    }

    // The units are valid as installed: systemd-analyze verify needs no running systemd,
    // only the ExecStart binaries and the man: pages of Documentation= to exist.
    let verify = run("systemd-analyze", &["verify", &service, &socket]);
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Enabled by the postinst (deb-systemd-helper works without systemd running).
    let wants = Path::new("/etc/systemd/system/multi-user.target.wants/vifd.service");
    assert!(wants.is_symlink(), "vifd.service not enabled");

    // Purged: nothing left.
    ok("dpkg", &["--purge", "vifd"]);
    let gone = run("dpkg", &["-s", "vifd"]);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("not installed"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    for path in listed.iter().filter(|p| *p != "/.") {
        let p = Path::new(path);
        if p.symlink_metadata().is_err() {
            continue;
        }
        // Only directories other packages own, or that hold other files, may stay.
        assert!(p.is_dir(), "{path} is left after purge");
        let shared = run("dpkg-query", &["-S", path]).status.success()
            || std::fs::read_dir(p).unwrap().next().is_some();
        assert!(shared, "the empty directory {path} is left after purge");
    }
    for path in [
        "/etc/vifd",
        "/run/vifd",
        "/etc/systemd/system/vifd.service",
        "/etc/systemd/system/vifd.socket",
        "/etc/systemd/system/multi-user.target.wants/vifd.service",
        "/etc/systemd/system/sockets.target.wants/vifd.socket",
        "/var/lib/systemd/deb-systemd-helper-enabled/vifd.service.dsh-also",
        "/var/lib/systemd/deb-systemd-helper-enabled/vifd.socket.dsh-also",
        "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/vifd.service",
        "/var/lib/systemd/deb-systemd-helper-masked/vifd.service",
        "/var/lib/systemd/deb-systemd-helper-masked/vifd.socket",
    ] {
        assert!(
            Path::new(path).symlink_metadata().is_err(),
            "{path} is left after purge"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The RPM
// ---------------------------------------------------------------------------------------

#[test]
fn rpm_builds_with_the_same_files() {
    if !prerequisite("rpmbuild missing (package rpm)", have("rpmbuild")) {
        return;
    }
    let scratch = Scratch::new("rpm");
    let built = Command::new("bash")
        .arg(format!("{ROOT}/packaging/rpm/build.sh"))
        .env("VIFD_BIN", VIFD)
        .env("OUT_DIR", &scratch.0)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "packaging/rpm/build.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let stdout = String::from_utf8(built.stdout).unwrap();
    let rpm = stdout.lines().last().unwrap().trim().to_string();
    assert!(
        rpm.ends_with(".rpm") && Path::new(&rpm).is_file(),
        "{stdout}"
    );
    let files = ok("rpm", &["-qpl", &rpm]);
    for path in [
        "/usr/bin/vifd",
        "/etc/vifd/vifd.toml",
        "/usr/lib/systemd/system/vifd.service",
        "/usr/lib/systemd/system/vifd.socket",
        "/usr/share/bash-completion/completions/vifd",
        "/usr/share/zsh/site-functions/_vifd",
        "/usr/share/fish/vendor_completions.d/vifd.fish",
        "/usr/share/vifd/prometheus/vifd.rules.yml",
        "/usr/share/vifd/grafana/vifd.json",
    ] {
        assert!(
            files.lines().any(|l| l == path),
            "the RPM lacks {path}: {files}"
        );
    }
    assert!(files
        .lines()
        .any(|l| l.starts_with("/usr/share/man/man1/vifd-list.1")));
    assert!(ok("rpm", &["-qpc", &rpm])
        .lines()
        .any(|l| l == "/etc/vifd/vifd.toml"));
    let requires = ok("rpm", &["-qpR", &rpm]);
    assert!(
        requires.lines().any(|l| l.trim() == "libvirt-libs"),
        "{requires}"
    );
    assert!(requires.contains("libvirt.so.0"), "{requires}");
    let scripts = ok("rpm", &["-qp", "--scripts", &rpm]);
    assert!(
        scripts.contains("preset vifd.service vifd.socket"),
        "{scripts}"
    );
    assert!(
        scripts.contains("disable --now vifd.service vifd.socket"),
        "{scripts}"
    );
    assert_eq!(
        ok("rpm", &["-qp", "--qf", "%{VERSION}", &rpm]),
        VERSION,
        "the RPM's version"
    );
}
