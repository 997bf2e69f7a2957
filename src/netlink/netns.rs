//! Naming and entering network namespaces.

use std::fs::File;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};

use super::error::NetlinkError;

/// Where `ip netns add NAME` puts its namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";

/// Which network namespace to read: the caller's own, or one named like `ip netns` does
/// (`NAME` under /run/netns, or a path such as /proc/PID/ns/net).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetnsTarget {
    #[default]
    Current,
    Named(String),
}

impl NetnsTarget {
    /// `None` or an empty string → the current namespace.
    pub fn from_arg(arg: Option<&str>) -> Self {
        match arg {
            None | Some("") => Self::Current,
            Some(s) => Self::Named(s.to_string()),
        }
    }

    /// For messages: `the current network namespace` or `network namespace "x"`.
    pub fn describe(&self) -> String {
        match self {
            Self::Current => "the current network namespace".to_string(),
            Self::Named(n) => format!("network namespace {n:?}"),
        }
    }

    /// Whether the named namespace exists (the current one always does).
    pub fn exists(&self) -> bool {
        match self {
            Self::Current => true,
            Self::Named(name) => Self::path(name).exists(),
        }
    }

    fn path(name: &str) -> PathBuf {
        if name.contains('/') {
            PathBuf::from(name)
        } else {
            PathBuf::from(NETNS_RUN_DIR).join(name)
        }
    }

    /// Opens the namespace file now, so a missing namespace is reported before any thread
    /// is started. `None` for the current namespace.
    pub(super) fn open(&self) -> Result<Option<File>, NetlinkError> {
        let Self::Named(name) = self else {
            return Ok(None);
        };
        let path = Self::path(name);
        File::open(&path)
            .map(Some)
            .map_err(|source| NetlinkError::NetnsMissing {
                name: name.clone(),
                path: path.display().to_string(),
                source,
            })
    }
}

/// Moves the calling thread into the namespace of `file`. Only ever call this on a
/// thread that is dedicated to that namespace and dies with it.
pub(super) fn enter(target: &NetnsTarget, file: &File) -> Result<(), NetlinkError> {
    setns(file, CloneFlags::CLONE_NEWNET).map_err(|source| NetlinkError::NetnsEnter {
        name: match target {
            NetnsTarget::Named(n) => n.clone(),
            NetnsTarget::Current => String::new(),
        },
        source,
    })
}

/// The named namespaces (`ip netns list`): the entries of /run/netns. None when the
/// directory does not exist (no namespace was ever named).
pub fn named_namespaces() -> std::collections::BTreeSet<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_RUN_DIR) else {
        return Default::default();
    };
    dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}
