//! Command-line definitions (clap derive). Parsing happens in `main.rs`; each
//! subcommand's behaviour lives in its own module under `cmd`.

use clap::{Args, Parser, Subcommand};

use crate::correlate::CorrelateOptions;
use crate::netlink::NetnsTarget;

#[derive(Debug, Parser)]
#[command(
    name = "vifd",
    version,
    about = "Which virtual interfaces exist on this hypervisor, who owns them, and what does not add up",
    after_help = "Examples:\n  vifd list\n  vifd check --json\n  vifd list --libvirt-uri qemu:///system --netns /proc/1/ns/net"
)]
pub struct Cli {
    /// Log level or filter (error, warn, info, debug, trace, or RUST_LOG syntax).
    #[arg(long, global = true, env = "VIFD_LOG_LEVEL", default_value = "warn")]
    pub log_level: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every virtual interface of every domain, matched to its host device.
    #[command(after_help = "Examples:\n  vifd list\n  vifd list --domain web-1 --json")]
    List(ListArgs),
    /// Report every problem; exit 0 when there are none, 1 when there are some, 2 when it could not look.
    #[command(after_help = "Examples:\n  vifd check\n  vifd check --json --netns compute-ns")]
    Check(CheckArgs),
    /// Build a demo host (a network namespace and a libvirt test-driver node file) and show it.
    #[command(after_help = "Examples:\n  vifd demo\n  vifd demo --clean")]
    Demo(DemoArgs),
}

/// Where to look: the options of every command that reads the host.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// libvirt connection URI.
    #[arg(long, env = "VIFD_LIBVIRT_URI", default_value = "qemu:///system")]
    pub libvirt_uri: String,

    /// Network namespace of the host devices: a name under /run/netns or a path such as
    /// /proc/PID/ns/net. Default: the current one.
    #[arg(long, env = "VIFD_NETNS", value_name = "NAME|PATH")]
    pub netns: Option<String>,

    /// Unclaimed tap/macvtap devices matching this glob are reported as orphans
    /// (repeatable; default: tap*, vnet*, macvtap*).
    #[arg(long = "orphan-pattern", value_name = "GLOB")]
    pub orphan_patterns: Vec<String>,
}

impl HostArgs {
    pub fn netns_target(&self) -> NetnsTarget {
        NetnsTarget::from_arg(self.netns.as_deref())
    }

    pub fn correlate_options(&self) -> CorrelateOptions {
        if self.orphan_patterns.is_empty() {
            CorrelateOptions::default()
        } else {
            CorrelateOptions {
                orphan_patterns: self.orphan_patterns.clone(),
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Print `{"interfaces": [...]}` instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only the interfaces of this domain (name or UUID).
    #[arg(long, value_name = "NAME|UUID")]
    pub domain: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Print `{"problems": [...]}` instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Remove the demo namespace and files instead of creating them.
    #[arg(long)]
    pub clean: bool,
}
