//! Why `vifd query` could not start asking.

use std::path::PathBuf;

use crate::cmd::error::CmdError;
use crate::cmd::http_client::{TokenError, UrlError};

/// Why `vifd query` could not start asking.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("URL {url}: {source}")]
    BadUrl { url: String, source: UrlError },
    #[error("{} line {line}: {url}: {source}", path.display())]
    BadHostsLine {
        path: PathBuf,
        line: usize,
        url: String,
        source: UrlError,
    },
    #[error("cannot read the hosts file {}: {source}", path.display())]
    HostsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no agent to ask: {}", no_agent(.file.as_deref()))]
    NoHosts { file: Option<PathBuf> },
    #[error("--timeout must be a number of seconds above 0, not {0}")]
    Timeout(f64),
    #[error("--concurrency must be at least 1")]
    Concurrency,
    #[error(transparent)]
    Token(#[from] TokenError),
}

fn no_agent(file: Option<&std::path::Path>) -> String {
    match file {
        Some(f) => format!("{} lists none and no URL was given", f.display()),
        None => "give their URLs or --hosts FILE".into(),
    }
}

impl From<QueryError> for CmdError {
    fn from(e: QueryError) -> Self {
        CmdError::Usage(e.to_string())
    }
}
