//! The classic Prometheus text format (0.0.4) made from the crate's OpenMetrics text.
//!
//! Why a rewrite rather than a second encoder: prometheus-client writes only OpenMetrics,
//! and the two formats differ in metadata lines alone for what vifd exposes (no
//! timestamps, exemplars or `_created` samples): an info family `x` is the gauge
//! `x_info`, a counter family `x` is the counter `x_total`, `unknown` is `untyped`, and
//! there is no `# UNIT` and no `# EOF`. Sample lines are the same bytes (label escaping
//! is the same), so they are copied in blocks, and only the few metadata lines are read.
//! HELP texts are re-escaped: OpenMetrics escapes `"` there, the classic format must not.

/// `openmetrics` in the classic text format.
pub(super) fn from_openmetrics(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<Help> = None;
    let mut rest = openmetrics;
    while !rest.is_empty() {
        // The samples up to the next metadata line, as one block.
        let samples = if rest.starts_with('#') {
            0
        } else {
            rest.find("\n#").map_or(rest.len(), |i| i + 1)
        };
        out.push_str(&rest[..samples]);
        rest = &rest[samples..];
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        metadata(&mut out, line.trim_end_matches('\n'), &mut help);
    }
    out
}

/// A `# HELP` line held until its `# TYPE` (the crate writes HELP first) says the
/// family's classic name.
struct Help<'a> {
    name: &'a str,
    text: &'a str,
}

/// Writes one metadata line (without its newline) as the classic format has it.
fn metadata<'a>(out: &mut String, line: &'a str, help: &mut Option<Help<'a>>) {
    let mut words = line.splitn(4, ' ');
    let (hash, keyword, name) = (words.next(), words.next(), words.next());
    let value = words.next().unwrap_or("");
    let (Some("#"), Some(keyword), Some(name)) = (hash, keyword, name) else {
        // `# EOF`, or a line that is no metadata of a family.
        if line != "# EOF" && !line.is_empty() {
            push_line(out, &[line]);
        }
        return;
    };
    match keyword {
        "HELP" => *help = Some(Help { name, text: value }),
        "TYPE" => {
            let (suffix, kind) = match value {
                "info" => ("_info", "gauge"),
                "counter" => ("_total", "counter"),
                "unknown" => ("", "untyped"),
                other => ("", other),
            };
            if let Some(h) = help.take().filter(|h| h.name == name) {
                push_line(out, &["# HELP ", name, suffix, " ", &classic_help(h.text)]);
            }
            push_line(out, &["# TYPE ", name, suffix, " ", kind]);
        }
        "UNIT" => {}
        _ => push_line(out, &[line]),
    }
}

/// An OpenMetrics HELP text (`\\`, `\n` and `\"` escaped) as the classic format escapes
/// it (`\\` and `\n` only).
fn classic_help(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\\\"") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out.into()
}

fn push_line(out: &mut String, parts: &[&str]) {
    for part in parts {
        out.push_str(part);
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::{classic_help, from_openmetrics};

    #[test]
    fn help_quotes_lose_their_openmetrics_escape() {
        assert_eq!(classic_help(r#"a \"b\" c\\d\ne"#), r#"a "b" c\\d\ne"#);
        assert_eq!(classic_help("plain"), "plain");
    }

    #[test]
    fn metadata_is_rewritten_and_samples_are_kept() {
        let openmetrics = "\
# HELP vifd_interface One series per VIF.
# TYPE vifd_interface info
vifd_interface_info{mac=\"52:54:00:00:00:01\"} 1
vifd_interface_info{mac=\"52:54:00:00:00:02\"} 1
# HELP vifd_interface_receive_bytes Bytes received.
# TYPE vifd_interface_receive_bytes counter
# UNIT vifd_interface_receive_bytes bytes
vifd_interface_receive_bytes_total{device=\"tap0\"} 5
# HELP vifd_problems Problems.
# TYPE vifd_problems gauge
vifd_problems{kind=\"no-carrier\"} 0
# HELP vifd_other Other.
# TYPE vifd_other unknown
vifd_other 1
# EOF
";
        let classic = "\
# HELP vifd_interface_info One series per VIF.
# TYPE vifd_interface_info gauge
vifd_interface_info{mac=\"52:54:00:00:00:01\"} 1
vifd_interface_info{mac=\"52:54:00:00:00:02\"} 1
# HELP vifd_interface_receive_bytes_total Bytes received.
# TYPE vifd_interface_receive_bytes_total counter
vifd_interface_receive_bytes_total{device=\"tap0\"} 5
# HELP vifd_problems Problems.
# TYPE vifd_problems gauge
vifd_problems{kind=\"no-carrier\"} 0
# HELP vifd_other Other.
# TYPE vifd_other untyped
vifd_other 1
";
        assert_eq!(from_openmetrics(openmetrics), classic);
    }

    #[test]
    fn an_empty_exposition_stays_empty() {
        assert_eq!(from_openmetrics(""), "");
        assert_eq!(from_openmetrics("# EOF\n"), "");
    }
}
