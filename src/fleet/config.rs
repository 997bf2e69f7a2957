//! What the publisher is configured with, and the checks of its settings.

use std::path::PathBuf;

/// Where and as what to publish, resolved from `--fleet-*`, `VIFD_FLEET_*` and `[fleet]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// etcd client URLs (`http://` or `https://HOST:PORT`).
    pub endpoints: Vec<String>,
    /// The host name the keys are under (default: the hostname).
    pub host: String,
    /// CA certificate (PEM) to verify etcd with; with it, TLS.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM), both or neither.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// User name and the file holding its password.
    pub user: Option<(String, PathBuf)>,
}

/// This machine's hostname (`/proc/sys/kernel/hostname`), the default host name.
pub fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Why an endpoint cannot be used: it must be `http://` or `https://` with a host and
/// port, and nothing after them.
pub fn check_endpoint(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !rest.contains('/') => port
            .parse::<u16>()
            .map(drop)
            .map_err(|_| format!("{url:?}: {port:?} is not a port")),
        _ => Err(format!("{url:?} names no HOST:PORT")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_urls_with_a_port() {
        assert!(check_endpoint("http://127.0.0.1:2379").is_ok());
        assert!(check_endpoint("https://etcd-1.example.org:2379/").is_ok());
        assert!(check_endpoint("127.0.0.1:2379").is_err());
        assert!(check_endpoint("http://127.0.0.1").is_err());
        assert!(check_endpoint("http://h:x").is_err());
        assert!(check_endpoint("http://h:1/v3").is_err());
    }
}
