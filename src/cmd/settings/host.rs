//! What to read and how to correlate it: the host options of `list`, `check` and `serve`.

use std::time::Duration;

use super::error::{invalid, Reason, SettingsError};
use crate::cli::HostArgs;
use crate::collect::{OvnSource, OvsdbSource, Source};
use crate::config::Loaded;
use crate::correlate::CorrelateOptions;
use crate::identity::{IdentityOptions, Resolver};
use crate::netlink::NetnsTarget;
use crate::{ovn, ovsdb};

/// libvirt's URI unless configured.
pub const DEFAULT_LIBVIRT_URI: &str = "qemu:///system";
/// How long a port may stay unbound, not installed or down before it is flagged.
pub const DEFAULT_OVN_GRACE: Duration = Duration::from_secs(10);
/// How long one guest agent may take to answer, unless configured.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(2);

/// What to read: the options given, else the file's, else the defaults.
pub fn host(args: &HostArgs, loaded: &Loaded) -> Result<Source, SettingsError> {
    let file = &loaded.file;
    let patterns = if args.orphan_patterns.is_empty() {
        file.orphan_pattern.clone().unwrap_or_default()
    } else {
        args.orphan_patterns.clone()
    };
    let mut options = CorrelateOptions::default();
    if !patterns.is_empty() {
        options.orphan_patterns = patterns;
    }
    options.identity = identity(args, loaded)?;
    // The ovn resolver reads the local Open vSwitch too: iface-ids, system-id, ovn-remote.
    let uses_ovn = options.identity.uses(Resolver::Ovn);
    let ovsdb = match options.identity.uses(Resolver::Ovsdb) || uses_ovn {
        true => Some(ovsdb_source(args, loaded)?),
        false => None,
    };
    let ovn = match uses_ovn {
        true => Some(ovn_source(args, loaded)?),
        false => None,
    };
    let agent = args.guest_agent || file.guest_agent.unwrap_or(false);
    let agent_timeout = args
        .guest_agent_timeout
        .or(file.guest_agent_timeout)
        .map_or(DEFAULT_AGENT_TIMEOUT, Duration::from_secs);
    Ok(Source {
        ovsdb,
        ovn,
        guest_agent: agent.then_some(agent_timeout),
        libvirt_uri: args
            .libvirt_uri
            .clone()
            .or_else(|| file.libvirt_uri.clone())
            .unwrap_or_else(|| DEFAULT_LIBVIRT_URI.to_string()),
        netns: NetnsTarget::from_arg(args.netns.as_deref().or(file.netns.as_deref())),
        options,
    })
}

/// The resolvers in order (each once) and the `[networks]` map.
fn identity(args: &HostArgs, loaded: &Loaded) -> Result<IdentityOptions, SettingsError> {
    let from_file = args.resolvers.is_empty();
    let names = match (&args.resolvers, &loaded.file.resolvers) {
        (cli, _) if !cli.is_empty() => Some(cli.clone()),
        (_, Some(f)) => Some(f.clone()),
        _ => None,
    };
    let mut opts = IdentityOptions::default();
    if let Some(names) = names {
        let bad = |reason| invalid(loaded, "resolvers", from_file, reason);
        opts.order.clear();
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            let r: Resolver = name.parse().map_err(|e| bad(Reason::Resolver(e)))?;
            if opts.order.contains(&r) {
                return Err(bad(Reason::DuplicateResolver(r)));
            }
            opts.order.push(r);
        }
    }
    if let Some(t) = &loaded.file.networks {
        opts.map = t
            .to_map()
            .map_err(|e| invalid(loaded, &e.key, true, Reason::Network(e.reason)))?;
    }
    Ok(opts)
}

/// ovsdb-server's address: given, configured, or the default socket.
fn ovsdb_source(args: &HostArgs, loaded: &Loaded) -> Result<OvsdbSource, SettingsError> {
    let given = args.ovsdb.clone().or_else(|| loaded.file.ovsdb.clone());
    let text = given
        .clone()
        .unwrap_or_else(|| ovsdb::DEFAULT_ADDR.to_string());
    let addr = text
        .parse()
        .map_err(|e| invalid(loaded, "ovsdb", args.ovsdb.is_none(), Reason::Ovsdb(e)))?;
    Ok(OvsdbSource {
        addr,
        explicit: given.is_some(),
    })
}

/// The Southbound's members when given (else `ovn-remote`, read at run time) and the
/// grace period.
fn ovn_source(args: &HostArgs, loaded: &Loaded) -> Result<OvnSource, SettingsError> {
    let given = args.ovn_sb.as_ref().or(loaded.file.ovn_sb.as_ref());
    let remotes = given
        .map(|list| ovn::parse_remotes(list))
        .transpose()
        .map_err(|e| {
            invalid(
                loaded,
                "ovn_sb",
                args.ovn_sb.is_none(),
                Reason::Ovn(Box::new(e)),
            )
        })?;
    let grace = args
        .ovn_grace
        .or(loaded.file.ovn_grace)
        .map_or(DEFAULT_OVN_GRACE, Duration::from_secs);
    Ok(OvnSource { remotes, grace })
}
