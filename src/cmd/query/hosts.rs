//! The agents to ask: the URLs given as arguments and those of `--hosts FILE`, each
//! checked before anything is sent, and each agent once however it was spelled.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::error::QueryError;
use crate::cmd::http_client::Endpoint;

/// Every agent named, arguments first, duplicates dropped (by canonical URL).
pub fn collect(urls: &[String], file: Option<&Path>) -> Result<Vec<Endpoint>, QueryError> {
    let mut agents = Vec::new();
    for url in urls {
        let agent = Endpoint::parse(url).map_err(|source| QueryError::BadUrl {
            url: url.clone(),
            source,
        })?;
        agents.push(agent);
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| QueryError::HostsFile {
            path: path.to_path_buf(),
            source,
        })?;
        agents.extend(parse_file(path, &text)?);
    }
    let mut seen = HashSet::new();
    agents.retain(|a| seen.insert(a.url.clone()));
    if agents.is_empty() {
        return Err(QueryError::NoHosts {
            file: file.map(Path::to_path_buf),
        });
    }
    Ok(agents)
}

/// One URL per line; blank lines and `#` comments (whole lines or line ends) ignored.
fn parse_file(path: &Path, text: &str) -> Result<Vec<Endpoint>, QueryError> {
    let mut agents = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // An agent URL has no fragment, so a `#` always starts a comment.
        let url = line.split('#').next().unwrap_or("").trim();
        if url.is_empty() {
            continue;
        }
        let agent = Endpoint::parse(url).map_err(|source| QueryError::BadHostsLine {
            path: PathBuf::from(path),
            line: i + 1,
            url: url.to_string(),
            source,
        })?;
        agents.push(agent);
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(agents: &[Endpoint]) -> Vec<&str> {
        agents.iter().map(|a| a.url.as_str()).collect()
    }

    #[test]
    fn files_skip_comments_and_blank_lines() {
        let text = "# fleet A\n\nhttp://10.0.0.5:8789   # rack 1\n  unix:/run/vifd/vifd.sock\n";
        let agents = parse_file(Path::new("hosts"), text).expect("valid");
        assert_eq!(
            urls(&agents),
            ["http://10.0.0.5:8789", "unix:/run/vifd/vifd.sock"]
        );
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_number() {
        let e = parse_file(Path::new("/etc/vifd/hosts"), "http://a:1\n\nhttps://b:2\n")
            .expect_err("https");
        let text = e.to_string();
        assert!(
            text.starts_with("/etc/vifd/hosts line 3: https://b:2: https is not supported"),
            "{text}"
        );
    }

    #[test]
    fn one_agent_spelled_twice_is_asked_once() {
        let given = [
            "http://127.0.0.1:8789/".to_string(),
            "HTTP://127.0.0.1:8789".to_string(),
            "unix:///run/v.sock".to_string(),
            "unix:/run/v.sock".to_string(),
        ];
        let agents = collect(&given, None).expect("valid");
        assert_eq!(urls(&agents), ["http://127.0.0.1:8789", "unix:/run/v.sock"]);
    }

    #[test]
    fn no_agent_at_all_is_a_usage_error() {
        assert!(matches!(
            collect(&[], None),
            Err(QueryError::NoHosts { file: None })
        ));
        let e = collect(&["http//x".to_string()], None).expect_err("not a URL");
        assert!(e.to_string().starts_with("URL http//x: "), "{e}");
    }
}
