//! What the operator sets about correlation: the identity resolvers, and which unclaimed
//! devices count as orphans.

use crate::identity::IdentityOptions;

/// Settings that change what counts as a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelateOptions {
    /// Unclaimed tap/macvtap devices whose names match one of these globs are orphans.
    pub orphan_patterns: Vec<String>,
    /// Which resolvers name networks and ports, in which order.
    pub identity: IdentityOptions,
}

impl Default for CorrelateOptions {
    fn default() -> Self {
        Self {
            orphan_patterns: ["tap*", "vnet*", "macvtap*"].map(String::from).to_vec(),
            identity: IdentityOptions::default(),
        }
    }
}

pub(crate) fn is_watched(name: &str, opts: &CorrelateOptions) -> bool {
    opts.orphan_patterns.iter().any(|p| glob_match(p, name))
}

/// Shell-style matching of `*` and `?`, enough for device-name patterns.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
