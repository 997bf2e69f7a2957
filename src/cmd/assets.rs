//! Shell completions and man pages, generated from the command-line definitions, so
//! they never disagree with `--help`. The packages run both at build time.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;

use super::error::CmdError;
use crate::cli::{Cli, CompletionsArgs, ManpagesArgs};

/// The binary's name, as completions and man pages call it.
const BIN: &str = "vifd";

/// `vifd completions SHELL`: the completion script on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<(), CmdError> {
    let mut out = std::io::stdout().lock();
    out.write_all(&completion_script(args.shell))?;
    out.flush()?;
    Ok(())
}

/// The completion script for `shell`, without the hidden subcommands and options.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    // clap_complete offers hidden subcommands and options too: complete a copy without
    // them. clap wants `'static` names (without its `string` feature), hence one command
    // that lives as long as the process, which is about to print this and exit.
    let full: &'static clap::Command = Box::leak(Box::new(Cli::command()));
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut visible_only(full), BIN, &mut script);
    script
}

/// `cmd` with its visible options and subcommands only, recursively.
fn visible_only(cmd: &'static clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name())
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(visible_only),
        );
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version);
    }
    out
}

/// `vifd manpages DIR`: `vifd.1` and one page per visible subcommand (`vifd-list.1`,
/// `vifd-config-check.1`, ...), written into DIR, which is created if missing.
pub fn manpages(args: &ManpagesArgs) -> Result<(), CmdError> {
    write_manpages(&args.dir)
        .map(|_| ())
        .map_err(|(path, e)| CmdError::Usage(format!("cannot write {}: {e}", path.display())))
}

/// Writes every page; returns their paths, or the path that failed and why.
pub fn write_manpages(dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut pages = Vec::new();
    pages.push(write_page(dir, &root, true)?);
    let mut stack: Vec<clap::Command> = visible_subcommands(&root);
    while let Some(cmd) = stack.pop() {
        pages.push(write_page(dir, &cmd, false)?);
        stack.extend(visible_subcommands(&cmd));
    }
    pages.sort();
    Ok(pages)
}

fn visible_subcommands(cmd: &clap::Command) -> Vec<clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect()
}

fn write_page(
    dir: &Path,
    cmd: &clap::Command,
    root: bool,
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let man = Man::new(cmd.clone())
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .manual("vifd manual");
    let path = dir.join(man.get_filename());
    let mut text = Vec::new();
    render(&man, cmd, root, &mut text).map_err(|e| (path.clone(), e))?;
    std::fs::write(&path, text).map_err(|e| (path.clone(), e))?;
    Ok(path)
}

/// clap_mangen's sections, with `after_help` split into EXAMPLES (kept as written,
/// unfilled) and EXIT STATUS, and the root page's FILES, ENVIRONMENT, EXIT STATUS and
/// SEE ALSO added.
fn render(man: &Man, cmd: &clap::Command, root: bool, w: &mut dyn Write) -> std::io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    if root {
        let mut roff = Roff::new();
        roff.control("SH", ["DESCRIPTION"]);
        for paragraph in DESCRIPTION {
            roff.control("PP", []);
            roff.text([roman(*paragraph)]);
        }
        roff.to_writer(w)?;
    } else {
        man.render_description_section(w)?;
    }
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let mut roff = Roff::new();
    let mut exit_status = None;
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    for paragraph in after.split("\n\n").filter(|p| !p.trim().is_empty()) {
        if let Some(examples) = paragraph.strip_prefix("Examples:") {
            roff.control("SH", ["EXAMPLES"]);
            roff.control("nf", []);
            roff.control("RS", []);
            for line in examples.lines().map(str::trim).filter(|l| !l.is_empty()) {
                roff.text([roman(line)]);
            }
            roff.control("RE", []);
            roff.control("fi", []);
        } else if let Some(status) = paragraph.strip_prefix("Exit status:") {
            exit_status = Some(status.split_whitespace().collect::<Vec<_>>().join(" "));
        } else {
            roff.control("SH", ["NOTES"]);
            roff.text([roman(
                paragraph.split_whitespace().collect::<Vec<_>>().join(" "),
            )]);
        }
    }
    if root {
        root_sections(&mut roff, cmd);
    } else {
        if let Some(status) = exit_status {
            roff.control("SH", ["EXIT STATUS"]);
            roff.text([roman(status)]);
        }
        roff.control("SH", ["SEE ALSO"]);
        roff.text([bold(BIN), roman("(1)")]);
    }
    roff.to_writer(w)?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// vifd.1's DESCRIPTION, one paragraph an entry.
const DESCRIPTION: &[&str] = &[
    "vifd tells which virtual interfaces exist on a libvirt/KVM hypervisor, which guest owns \
     each one, which host device carries it, and which network and port it belongs to. It \
     also lists whatever does not add up: orphan taps, missing devices, taps on the wrong \
     bridge, wrong MACs.",
    "The guest side comes from libvirt (each domain's live XML, Nova's metadata included), \
     the host side from rtnetlink (taps, macvtaps, veths, bridges); vifd matches the two.",
    "vifd list and vifd check answer once; vifd serve keeps the inventory current from \
     libvirt and netlink events and serves it over HTTP; vifd watch follows a serving \
     daemon's changes; vifd query merges the answers of many hosts.",
];

fn root_sections(roff: &mut Roff, cmd: &clap::Command) {
    roff.control("SH", ["FILES"]);
    let files: [(&str, &str); 4] = [
        (
            crate::config::DEFAULT_PATH,
            "The configuration file, read when --config is not given and the file exists. \
             Every option has a key of the same name in snake_case; unknown keys are an error. \
             \"vifd config check\" validates it and prints the settings in effect.",
        ),
        (
            "/usr/share/doc/vifd/vifd.toml.example",
            "Every key of the configuration file, documented, with its default.",
        ),
        (
            "/run/vifd/vifd.sock",
            "The unix socket of vifd.socket (socket activation); also a listener of \
             \"vifd serve\" when --listen (or the listen key) names it.",
        ),
        (
            "/var/run/openvswitch/db.sock",
            "ovsdb-server's default address; when it does not exist the ovsdb resolver is off.",
        ),
    ];
    for (path, what) in files {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(what)]);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman(
        "The command line wins over the environment, which wins over the configuration \
         file, which wins over the built-in defaults.",
    )]);
    for (name, help) in environment(cmd) {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(help)]);
    }
    for (name, help) in [
        (
            "RUST_LOG",
            "Log filter, used when neither --log-level nor VIFD_LOG_LEVEL is set.",
        ),
        (
            "JOURNAL_STREAM",
            "Set by systemd: log lines then carry journald priorities.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(help)]);
    }

    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in [
        ("0", "Success; for \"vifd check\", no problem was found."),
        (
            "1",
            "\"vifd check\" found problems; \"vifd query\" could not reach some hosts.",
        ),
        (
            "2",
            "vifd could not look (libvirt unreachable, namespace missing, ...), a usage \
             error, or an invalid configuration file. The reason is one line on stderr.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(what)]);
    }

    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<String> = visible_subcommands(cmd)
        .iter()
        .map(|s| format!("{BIN}-{}", s.get_name()))
        .collect();
    refs.extend(["virsh", "ip-link"].map(String::from));
    let mut line = Vec::new();
    for (i, name) in refs.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        let section = if name == "ip-link" { "(8)" } else { "(1)" };
        line.push(bold(name.as_str()));
        line.push(roman(section));
    }
    roff.text(line);
}

/// Every environment variable of a visible option, in the order first met (root options
/// first, then each subcommand's), with that option's help.
fn environment(cmd: &clap::Command) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut stack = vec![cmd.clone()];
    while let Some(c) = stack.pop() {
        for arg in c.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(env) = arg.get_env() else { continue };
            let name = env.to_string_lossy().into_owned();
            if found.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let long = arg
                .get_long()
                .map(|l| format!("--{l}: "))
                .unwrap_or_default();
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            found.push((name, format!("{long}{help}")));
        }
        let mut subs = visible_subcommands(&c);
        subs.reverse();
        stack.extend(subs);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_leave_hidden_things_out() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let script = String::from_utf8(completion_script(shell)).unwrap();
            for visible in [
                "list",
                "check",
                "serve",
                "watch",
                "query",
                "config",
                "libvirt-uri",
            ] {
                assert!(script.contains(visible), "{shell}: {visible}");
            }
            for hidden in ["manpages", "netlink-rcvbuf"] {
                assert!(!script.contains(hidden), "{shell}: {hidden}");
            }
        }
    }

    #[test]
    fn pages_for_visible_subcommands_only() {
        let dir = std::env::temp_dir().join(format!("vifd-man-unit-{}", std::process::id()));
        let pages = write_manpages(&dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "vifd.1",
            "vifd-list.1",
            "vifd-serve.1",
            "vifd-config-check.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("manpages")), "{names:?}");
        let root = std::fs::read_to_string(dir.join("vifd.1")).unwrap();
        // roff quotes the headings that have a space.
        for section in [
            "FILES",
            "ENVIRONMENT",
            "\"EXIT STATUS\"",
            "\"SEE ALSO\"",
            "EXAMPLES",
        ] {
            assert!(root.contains(&format!(".SH {section}")), "{section}");
        }
        assert!(root.contains("VIFD_LIBVIRT_URI"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
