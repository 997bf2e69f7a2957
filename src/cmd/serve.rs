//! `vifd serve`: resolves the options (command line > environment > file > defaults)
//! and runs the server until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use super::error::CmdError;
use crate::cli::ServeArgs;
use crate::config::FileConfig;
use crate::logging;
use crate::serve::{self, ActionsConfig, Control, ListenAddr, Notifier, ServeConfig, Server};

pub fn config(args: &ServeArgs, file: &FileConfig) -> Result<ServeConfig, CmdError> {
    let listen_text: Vec<String> = if !args.listen.is_empty() {
        args.listen.clone()
    } else {
        file.listen
            .clone()
            .unwrap_or_else(|| vec![serve::DEFAULT_LISTEN.to_string()])
    };
    let listen = listen_text
        .iter()
        .map(|a| ListenAddr::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let refresh = args
        .refresh
        .or(file.refresh)
        .map_or(serve::DEFAULT_REFRESH, Duration::from_secs);
    let cert = args.tls_cert.clone().or_else(|| file.tls_cert.clone());
    let key = args.tls_key.clone().or_else(|| file.tls_key.clone());
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            return Err(CmdError::Usage(
                "--tls-cert and --tls-key go together".into(),
            ))
        }
    };
    Ok(ServeConfig {
        source: args.host.source(file).map_err(CmdError::Usage)?,
        listen,
        refresh,
        poll: args
            .poll_interval
            .or(file.poll_interval)
            .map_or(serve::DEFAULT_POLL, Duration::from_secs),
        token_file: args.token_file.clone().or_else(|| file.token_file.clone()),
        tls,
        header_timeout: args
            .header_timeout
            .or(file.header_timeout)
            .map_or(serve::DEFAULT_HEADER_TIMEOUT, Duration::from_secs),
        netlink_rcvbuf: args.netlink_rcvbuf,
        actions: ActionsConfig {
            enabled: args.enable_actions
                || file
                    .actions
                    .as_ref()
                    .and_then(|a| a.enabled)
                    .unwrap_or(false),
            pool: args
                .volume_pool
                .clone()
                .or_else(|| file.volumes.as_ref().and_then(|v| v.pool.clone())),
        },
    })
}

/// Where the configuration came from, to read it again on SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `--config`, or the default path.
    pub config: Option<PathBuf>,
    /// `--log-level`: it keeps winning over the file's after a reload.
    pub log_level: Option<String>,
}

pub async fn run(args: &ServeArgs, file: &FileConfig, origin: Origin) -> Result<(), CmdError> {
    let server = Server::bind(config(args, file)?).await?;
    let ready_file = args.ready_file.clone();
    let args = args.clone();
    let reload: serve::control::Reload = Box::new(move || reload(&args, &origin));
    let control = Control {
        notifier: Some(Notifier::from_env()),
        reload: Some(reload),
        ready_file,
    };
    server.run_with(serve::termination(), control).await;
    Ok(())
}

/// The file read again, the command line applied over it, the log filter replaced.
fn reload(args: &ServeArgs, origin: &Origin) -> Result<ServeConfig, String> {
    let file = crate::config::load(origin.config.as_deref()).map_err(|e| e.to_string())?;
    let cfg = config(args, &file).map_err(|e| e.to_string())?;
    serve::check_config(&cfg).map_err(|e| e.to_string())?;
    let filter = super::log_level::log_filter(origin.log_level.as_deref(), &file);
    logging::set_filter(&filter).map_err(|e| e.to_string())?;
    Ok(cfg)
}
