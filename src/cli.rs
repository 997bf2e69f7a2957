//! Command-line definitions (clap derive). Parsing happens in `main.rs`; each
//! subcommand's behaviour lives in its own module under `cmd`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

use crate::mac::MacAddr;

mod access;
mod fleet;

pub use access::AccessArgs;
pub use fleet::{FleetArgs, FleetCommand, FleetForgetArgs, FleetServeArgs};

/// Where `vifd watch` finds the daemon: `vifd serve`'s default listener.
pub const DEFAULT_WATCH_URL: &str = "http://127.0.0.1:8789";
/// Where the action commands find the daemon: the packaged unit's unix socket, which
/// only root and the socket's group can open.
pub const DEFAULT_ACTIONS_URL: &str = "unix:/run/vifd/vifd.sock";

#[derive(Debug, Parser)]
#[command(
    name = "vifd",
    version,
    about = "Which virtual interfaces exist on this hypervisor, who owns them, and what does not add up",
    after_help = "Examples:\n  vifd list\n  vifd check --json\n  vifd list --libvirt-uri qemu:///system --netns /proc/1/ns/net"
)]
pub struct Cli {
    /// Log level or filter (error, warn, info, debug, trace, or RUST_LOG syntax) [default: warn].
    #[arg(long, global = true, env = "VIFD_LOG_LEVEL")]
    pub log_level: Option<String>,

    /// TOML configuration file; every option has a key of the same name in snake_case
    /// [default: /etc/vifd/vifd.toml, if it exists].
    #[arg(long, global = true, env = "VIFD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log line format: text (journald-friendly when JOURNAL_STREAM is set) or json, one
    /// object per line for log shippers [default: text].
    #[arg(long, global = true, env = "VIFD_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

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
    /// Serve the inventory over HTTP: vifd's JSON API and the OpenStack Compute shapes.
    #[command(
        after_help = "Examples:\n  vifd serve\n  vifd serve --listen 127.0.0.1:8789 --listen unix:/run/vifd/vifd.sock\n  vifd serve --listen 0.0.0.0:8789 --token-file /etc/vifd/token --tls-cert cert.pem --tls-key key.pem"
    )]
    Serve(ServeArgs),
    /// Build a demo host (a network namespace and a libvirt test-driver node file), show it
    /// and serve it on 127.0.0.1:8789.
    #[command(after_help = "Examples:\n  vifd demo\n  vifd demo --no-serve\n  vifd demo --clean")]
    Demo(DemoArgs),
    /// Follow a running daemon's inventory changes live (its /v1/watch event stream):
    /// a snapshot, then one line per change; reconnects and resumes on its own.
    #[command(
        after_help = "Examples:\n  vifd watch\n  vifd watch --json | jq -c 'select(.event == \"problem\")'\n  vifd watch --url unix:/run/vifd/vifd.sock\n  vifd watch --url http://10.0.0.5:8789 --token-file /etc/vifd/token\n\nExit status: 0 on Ctrl-C or SIGTERM, 2 when the daemon refuses the watch (bad token,\nwrong URL); a dropped connection or a daemon not ready yet is retried."
    )]
    Watch(WatchArgs),
    /// Ask many vifd agents at once and merge their interfaces into one table, with a
    /// host column; hosts that failed are listed with why.
    #[command(
        after_help = "Examples:\n  vifd query http://10.0.0.5:8789 http://10.0.0.6:8789\n  vifd query --hosts /etc/vifd/hosts --token-file /etc/vifd/token --json\n\nExit status: 0 when every host answered, 1 when some failed, 2 on a usage error."
    )]
    Query(QueryArgs),
    /// Ask the daemon to attach a new interface on a network to a domain.
    #[command(
        after_help = "Examples:\n  vifd attach-interface web-1 --net-id 3b4c8a52-6f7e-4d21-9c0a-1f2e3d4c5b6a\n  vifd attach-interface web-1 --net-id 3b4c8a52-6f7e-4d21-9c0a-1f2e3d4c5b6a --mac 52:54:00:12:34:56 --allocate-ip\n  vifd attach-interface 6f1d0c3e-8a2b-4c5d-9e7f-0a1b2c3d4e5f --net-id 3b4c8a52-6f7e-4d21-9c0a-1f2e3d4c5b6a --json\n\nExit status: 0 when the interface is attached, 2 when the daemon refuses (the\nreason is printed) or cannot be reached."
    )]
    AttachInterface(AttachInterfaceArgs),
    /// Ask the daemon to detach a domain's interface, named by its port; the guest completes
    /// the detach on its own.
    #[command(
        after_help = "Examples:\n  vifd detach-interface web-1 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\n  vifd detach-interface web-1 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d --url http://127.0.0.1:8789\n\nExit status: 0 when the detach is requested, 2 when the daemon refuses (the reason\nis printed) or cannot be reached."
    )]
    DetachInterface(DetachInterfaceArgs),
    /// Ask the daemon to attach a volume to a domain.
    #[command(
        after_help = "Examples:\n  vifd attach-volume web-1 0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f\n  vifd attach-volume web-1 0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f --device /dev/vdc --json\n\nExit status: 0 when the volume is attached, 2 when the daemon refuses (the reason is\nprinted) or cannot be reached."
    )]
    AttachVolume(AttachVolumeArgs),
    /// Ask the daemon to detach a volume from a domain.
    #[command(
        after_help = "Examples:\n  vifd detach-volume web-1 0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f\n\nExit status: 0 when the detach is requested, 2 when the daemon refuses (the reason\nis printed) or cannot be reached."
    )]
    DetachVolume(DetachVolumeArgs),
    /// The fleet: every agent's inventory from etcd, served in one place
    /// (`vifd fleet serve`), and hosts removed from it (`vifd fleet forget`).
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  vifd completions bash > /usr/share/bash-completion/completions/vifd"
    )]
    Completions(CompletionsArgs),
    /// Write the man pages (vifd.1 and one per subcommand) into a directory.
    #[command(hide = true)]
    Manpages(ManpagesArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and print the effective settings; exit 0 when it
    /// is valid, 2 with the key and line of the first mistake otherwise.
    #[command(
        after_help = "Examples:\n  vifd config check\n  vifd config check --config /tmp/vifd.toml"
    )]
    Check(ConfigCheckArgs),
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// Print the effective settings as JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// Directory to write the pages into (created if missing).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Agent URLs: http://HOST:PORT[/PREFIX] or unix:/PATH.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// File with one agent URL per line (blank lines and # comments ignored).
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Ask a fleet server (`vifd fleet serve`) for every host's records instead of the
    /// agents themselves.
    #[arg(long, value_name = "URL", conflicts_with_all = ["urls", "hosts"])]
    pub fleet: Option<String>,
    /// Print `{"interfaces": [...], "hosts": [...], "failed": [...]}` instead of a table;
    /// each record carries a "host" key.
    #[arg(long)]
    pub json: bool,
    /// File holding the bearer token sent to every agent
    /// [default: the config file's token_file, if any].
    #[arg(long, env = "VIFD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Seconds one host may take to answer, connecting and reading included; fractions
    /// allowed [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Hosts asked at once [default: 32].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
}

/// Where to look: the options of every command that reads the host.
#[derive(Debug, Clone, Default, Args)]
pub struct HostArgs {
    /// libvirt connection URI [default: qemu:///system].
    #[arg(long, env = "VIFD_LIBVIRT_URI")]
    pub libvirt_uri: Option<String>,

    /// Network namespace of the host devices: a name under /run/netns or a path such as
    /// /proc/PID/ns/net. Default: the current one.
    #[arg(long, env = "VIFD_NETNS", value_name = "NAME|PATH")]
    pub netns: Option<String>,

    /// Unclaimed tap/macvtap devices matching this glob are reported as orphans
    /// (repeatable; default: tap*, vnet*, macvtap*).
    #[arg(long = "orphan-pattern", value_name = "GLOB")]
    pub orphan_patterns: Vec<String>,

    /// ovsdb-server to read ports and networks from: unix:PATH or tcp:HOST:PORT
    /// [default: unix:/var/run/openvswitch/db.sock, skipped when that socket does not exist].
    #[arg(long, env = "VIFD_OVSDB", value_name = "ADDR")]
    pub ovsdb: Option<String>,

    /// OVN Southbound DB to read port bindings from: a comma-separated list of
    /// tcp:HOST:PORT or unix:PATH (one per cluster member) [default: the local Open vSwitch's
    /// external_ids:ovn-remote; without one the host is not an OVN chassis].
    #[arg(long, env = "VIFD_OVN_SB", value_name = "ADDRS")]
    pub ovn_sb: Option<String>,

    /// Seconds a port may stay unbound, not installed or down before it is a problem
    /// (`vifd serve`; a one-shot read reports at once) [default: 10].
    #[arg(long, env = "VIFD_OVN_GRACE", value_name = "SECONDS")]
    pub ovn_grace: Option<u64>,

    /// Identity resolvers to use, in order (comma-separated) [default:
    /// ovn,ovsdb,libvirt-network,nova-metadata,linuxbridge,config].
    #[arg(
        long,
        env = "VIFD_RESOLVERS",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub resolvers: Vec<String>,

    /// Ask each running guest's QEMU agent for its addresses (off by default).
    #[arg(long)]
    pub guest_agent: bool,

    /// Seconds to wait for one guest agent's answer [default: 2].
    #[arg(long, value_name = "SECONDS")]
    pub guest_agent_timeout: Option<u64>,
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

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Address to serve on: IP:PORT, or unix:PATH for a unix socket (mode 0660); repeatable
    /// [default: 127.0.0.1:8789]. A non-loopback address needs --token-file.
    #[arg(long, env = "VIFD_LISTEN", value_name = "ADDR", value_delimiter = ',')]
    pub listen: Vec<String>,
    /// Seconds between full re-reads of libvirt, a safety net under the events
    /// [default: 300].
    #[arg(long, env = "VIFD_REFRESH", value_name = "SECONDS")]
    pub refresh: Option<u64>,
    /// Seconds a client has to send a request's head before its connection is closed
    /// [default: 10].
    #[arg(long, env = "VIFD_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub header_timeout: Option<u64>,
    /// Seconds between reads of the counters and the DHCP leases, which send no
    /// notifications [default: 10].
    #[arg(long, env = "VIFD_POLL_INTERVAL", value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
    /// Receive buffer of the link-notification socket, in bytes (a test knob).
    #[arg(long, env = "VIFD_NETLINK_RCVBUF", value_name = "BYTES", hide = true)]
    pub netlink_rcvbuf: Option<usize>,
    /// The bearer token and TLS of the listeners.
    #[command(flatten)]
    pub access: AccessArgs,
    /// Accept actions: interface attach/detach, address allocation, volume attach/detach.
    /// Only on unix sockets, and on TCP listeners with the bearer token (which then
    /// every TCP listener needs) [default: off].
    #[arg(long, env = "VIFD_ENABLE_ACTIONS")]
    pub enable_actions: bool,
    /// The libvirt storage pool whose volumes os-volume_attachments attaches.
    #[arg(long, env = "VIFD_VOLUME_POOL", value_name = "POOL")]
    pub volume_pool: Option<String>,
    /// Publishing to etcd (`--fleet-*`), boxed: rarely set, and large.
    #[command(flatten)]
    pub fleet: Box<FleetArgs>,
    /// Once the first inventory is served (when READY=1 goes to systemd), write
    /// {"pid", "listen", "generation"} here, atomically: "listen" holds the addresses
    /// actually bound (port 0 shows the port it got). Removed at a clean shutdown.
    #[arg(long, env = "VIFD_READY_FILE", value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Remove the demo namespace and files instead of creating them.
    #[arg(long)]
    pub clean: bool,
    /// Build and show the demo host, then exit instead of serving it.
    #[arg(long)]
    pub no_serve: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Print one JSON object per line and event: the event's data with "event" first.
    #[arg(long)]
    pub json: bool,
    /// The daemon: http://HOST:PORT[/PREFIX] or unix:/PATH (https is not supported).
    #[arg(long, env = "VIFD_URL", value_name = "URL", default_value = DEFAULT_WATCH_URL)]
    pub url: String,
    /// File holding the bearer token to send (Authorization: Bearer <token>)
    /// [default: the config file's token_file, if any].
    #[arg(long, env = "VIFD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The daemon an action is sent to, and the token it wants.
#[derive(Debug, Clone, Args)]
pub struct ActionTarget {
    /// The daemon: unix:/PATH or http://HOST:PORT[/PREFIX] (https is not supported).
    #[arg(long, env = "VIFD_ACTIONS_URL", value_name = "URL", default_value = DEFAULT_ACTIONS_URL)]
    pub url: String,
    /// File holding the bearer token to send (Authorization: Bearer <token>)
    /// [default: the config file's token_file, if any].
    #[arg(long, env = "VIFD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AttachInterfaceArgs {
    /// The domain: its name or UUID.
    #[arg(value_name = "SERVER")]
    pub server: String,
    /// The network to attach the interface to.
    #[arg(long, value_name = "UUID")]
    pub net_id: uuid::Uuid,
    /// The port's UUID [default: one the daemon generates].
    #[arg(long, value_name = "UUID")]
    pub port_id: Option<uuid::Uuid>,
    /// The guest MAC address, aa:bb:cc:dd:ee:ff [default: one the daemon generates].
    #[arg(long, value_name = "MAC")]
    pub mac: Option<MacAddr>,
    /// Also allocate an IP address on the network, and print it.
    #[arg(long)]
    pub allocate_ip: bool,
    /// Print the daemon's answer, `{"interface": {...}, "ip_address": {...}}`, instead of
    /// a line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: ActionTarget,
}

#[derive(Debug, Args)]
pub struct DetachInterfaceArgs {
    /// The domain: its name or UUID.
    #[arg(value_name = "SERVER")]
    pub server: String,
    /// The port of the interface to detach.
    #[arg(value_name = "PORT_ID")]
    pub port_id: String,
    #[command(flatten)]
    pub target: ActionTarget,
}

#[derive(Debug, Args)]
pub struct AttachVolumeArgs {
    /// The domain: its name or UUID.
    #[arg(value_name = "SERVER")]
    pub server: String,
    /// The volume to attach.
    #[arg(value_name = "VOLUME_ID")]
    pub volume_id: String,
    /// The guest device to attach it as, such as /dev/vdc [default: the next free one].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Print the daemon's answer, `{"volumeAttachment": {...}}`, instead of a line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: ActionTarget,
}

#[derive(Debug, Args)]
pub struct DetachVolumeArgs {
    /// The domain: its name or UUID.
    #[arg(value_name = "SERVER")]
    pub server: String,
    /// The volume to detach.
    #[arg(value_name = "VOLUME_ID")]
    pub volume_id: String,
    #[command(flatten)]
    pub target: ActionTarget,
}
