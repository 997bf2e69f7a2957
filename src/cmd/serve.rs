//! `vifd serve`: runs the server on the resolved settings until SIGTERM or SIGINT, and
//! resolves them again on SIGHUP.

use std::path::PathBuf;

use super::error::CmdError;
use super::settings::{Flags, Settings};
use crate::cli::ServeArgs;
use crate::logging;
use crate::serve::control::ReloadError;
use crate::serve::{self, Control, Notifier, ServeConfig, Server};

/// Where the configuration came from, to read it again on SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `--config`, or the default path.
    pub config: Option<PathBuf>,
    /// `--log-level` and `--log-format`: they keep winning over the file's after a reload.
    pub flags: Flags,
}

pub async fn run(args: &ServeArgs, cfg: ServeConfig, origin: Origin) -> Result<(), CmdError> {
    let server = Server::bind(cfg).await?;
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
fn reload(args: &ServeArgs, origin: &Origin) -> Result<ServeConfig, ReloadError> {
    let loaded = crate::config::load(origin.config.as_deref())?;
    let settings = Settings::resolve(&origin.flags, args, &loaded)?;
    logging::set_filter(&settings.log.filter)?;
    Ok(settings.serve)
}
