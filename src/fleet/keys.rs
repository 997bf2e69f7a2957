//! The key layout in etcd, a contract with the fleet server (README, "Fleet"):
//!
//! ```text
//! /vifd/v1/hosts/<host>/meta            the agent's meta (instance, generation, ...)
//! /vifd/v1/hosts/<host>/vifs/<id>       one record, as /v1/interfaces serves it, without counters
//! /vifd/v1/hosts/<host>/problems        the host-level problems
//! /vifd/v1/hosts/<host>/domains         the domains with their volumes
//! /vifd/v1/alive/<host>                 under a lease of the agent's (TTL 30 s)
//! ```

/// Every key vifd writes starts with this.
pub const ROOT: &str = "/vifd/v1/";

/// The keys of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeys {
    host: String,
    /// `/vifd/v1/hosts/<host>/`.
    prefix: String,
}

/// What a key under a host's prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Meta,
    Problems,
    Domains,
    /// A record, by id.
    Vif(&'a str),
    /// Nothing vifd writes: a repair removes it (the prefix is the agent's).
    Other,
}

impl HostKeys {
    pub fn new(host: &str) -> Self {
        HostKeys {
            host: host.to_string(),
            prefix: format!("{ROOT}hosts/{host}/"),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Everything of the host but its `alive` key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn meta(&self) -> String {
        format!("{}meta", self.prefix)
    }

    pub fn problems(&self) -> String {
        format!("{}problems", self.prefix)
    }

    pub fn domains(&self) -> String {
        format!("{}domains", self.prefix)
    }

    pub fn vif(&self, id: &str) -> String {
        format!("{}vifs/{id}", self.prefix)
    }

    /// `/vifd/v1/alive/<host>`: present while the agent's lease lives.
    pub fn alive(&self) -> String {
        format!("{ROOT}alive/{}", self.host)
    }

    /// What `key` is; `None` when it is not under this host's prefix.
    pub fn entry<'a>(&self, key: &'a str) -> Option<Entry<'a>> {
        key.strip_prefix(&self.prefix).map(entry_of)
    }
}

/// What a key under [`ROOT`] is, for the fleet server reading every host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    /// A key under `hosts/<host>/`.
    Host(&'a str, Entry<'a>),
    /// `alive/<host>`.
    Alive(&'a str),
}

/// Parses a key vifd writes; `None` for anything else under (or outside) [`ROOT`].
pub fn parse(key: &str) -> Option<Key<'_>> {
    let rest = key.strip_prefix(ROOT)?;
    if let Some(host) = rest.strip_prefix("alive/") {
        return check_host(host).ok().map(|()| Key::Alive(host));
    }
    let (host, entry) = rest.strip_prefix("hosts/")?.split_once('/')?;
    check_host(host).ok()?;
    Some(Key::Host(host, entry_of(entry)))
}

/// What the part of a key after `hosts/<host>/` names.
fn entry_of(rest: &str) -> Entry<'_> {
    match rest {
        "meta" => Entry::Meta,
        "problems" => Entry::Problems,
        "domains" => Entry::Domains,
        _ => match rest.strip_prefix("vifs/") {
            Some(id) if !id.is_empty() => Entry::Vif(id),
            _ => Entry::Other,
        },
    }
}

/// Why a host name cannot name keys.
pub fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("is empty");
    }
    if host.contains('/') {
        return Err("contains '/'");
    }
    if host.chars().any(char::is_control) || host.contains(' ') {
        return Err("contains a space or a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let k = HostKeys::new("hv-1");
        assert_eq!(k.meta(), "/vifd/v1/hosts/hv-1/meta");
        assert_eq!(k.problems(), "/vifd/v1/hosts/hv-1/problems");
        assert_eq!(k.vif("abc"), "/vifd/v1/hosts/hv-1/vifs/abc");
        assert_eq!(k.alive(), "/vifd/v1/alive/hv-1");
        assert_eq!(k.entry(&k.vif("abc")), Some(Entry::Vif("abc")));
        assert_eq!(k.entry(&k.meta()), Some(Entry::Meta));
        assert_eq!(k.entry("/vifd/v1/hosts/hv-1/x"), Some(Entry::Other));
        assert_eq!(k.entry("/vifd/v1/hosts/hv-10/meta"), None);
    }

    #[test]
    fn any_hosts_keys_parse() {
        let k = HostKeys::new("hv-1");
        assert_eq!(parse(&k.meta()), Some(Key::Host("hv-1", Entry::Meta)));
        assert_eq!(parse(&k.vif("a")), Some(Key::Host("hv-1", Entry::Vif("a"))));
        assert_eq!(parse(&k.alive()), Some(Key::Alive("hv-1")));
        assert_eq!(parse("/vifd/v1/hosts/hv-1"), None);
        assert_eq!(parse("/other/hosts/hv-1/meta"), None);
    }

    #[test]
    fn a_host_name_with_a_slash_is_refused() {
        assert!(check_host("a/b").is_err());
        assert!(check_host("").is_err());
        assert!(check_host("hv-1.example.org").is_ok());
    }
}
