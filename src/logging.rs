//! Log output: `RUST_LOG`-style filters, a journald-friendly text form when stderr is
//! the journal (`JOURNAL_STREAM`), JSON lines for shippers, and a filter that SIGHUP can
//! change without a restart.

use std::fmt;
use std::os::fd::AsFd;
use std::sync::OnceLock;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The log target of the action audit lines: on unless the filter names it.
pub const AUDIT_TARGET: &str = "vifd::audit";

/// How log lines are written.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The filter used when none is configured.
pub const DEFAULT_FILTER: &str = "warn";

type FilterHandle = reload::Handle<EnvFilter, Registry>;

static FILTER: OnceLock<FilterHandle> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        filter: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("cannot replace the log filter: {0}")]
    Reload(#[source] tracing_subscriber::reload::Error),
    #[error("logging is not set up")]
    NotInitialized,
}

/// Parses a level or a `RUST_LOG`-style directive list (`info,vifd::serve=debug`).
pub fn parse_filter(filter: &str) -> Result<EnvFilter, LogError> {
    // The audit log of actions stays on whatever the level, unless the filter names it.
    let with_audit = if filter.contains(AUDIT_TARGET) {
        filter.to_string()
    } else {
        format!("{filter},{}=info", AUDIT_TARGET)
    };
    EnvFilter::try_new(&with_audit).map_err(|source| LogError::Filter {
        filter: filter.to_string(),
        source,
    })
}

/// Sets up the global subscriber on stderr. Call once, before anything logs.
pub fn init(format: LogFormat, filter: EnvFilter) {
    let (filter, handle) = reload::Layer::new(filter);
    let _ = FILTER.set(handle);
    let registry = tracing_subscriber::registry().with(filter);
    let base = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let result = match (format, on_journal()) {
        (LogFormat::Json, _) => registry
            .with(base.json().flatten_event(true).with_current_span(false))
            .try_init(),
        (LogFormat::Text, true) => registry
            .with(base.with_ansi(false).event_format(Journal::default()))
            .try_init(),
        (LogFormat::Text, false) => registry
            .with(base.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
            .try_init(),
    };
    // Only a second init can fail (tests); the first subscriber stays.
    let _ = result;
}

/// Replaces the running filter (SIGHUP).
pub fn set_filter(filter: &str) -> Result<(), LogError> {
    let new = parse_filter(filter)?;
    let handle = FILTER.get().ok_or(LogError::NotInitialized)?;
    handle.reload(new).map_err(LogError::Reload)
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM=DEV:INODE` to the stream
/// it connected, and a child whose stderr was redirected must not take it for the journal.
pub fn on_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr().as_fd()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// The syslog priority journald reads from a `<N>` line prefix.
pub fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// `<N>target: message key=value`: the journal adds the time and keeps the priority.
struct Journal {
    inner: format::Format<format::Full, ()>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            inner: format::format().without_time().with_level(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Journal
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(event.metadata().level()))?;
        self.inner.format_event(ctx, writer, event)
    }
}
