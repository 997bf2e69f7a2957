//! `vifd fleet serve` (the fleet API until SIGTERM or SIGINT) and `vifd fleet forget`.

use super::error::CmdError;
use super::settings;
use crate::cli::{FleetForgetArgs, FleetServeArgs};
use crate::config::Loaded;
use crate::fleet::{self, keys};
use crate::serve::{self, FleetServeConfig, FleetServer};

pub async fn serve(args: &FleetServeArgs, cfg: FleetServeConfig) -> Result<(), CmdError> {
    let server = FleetServer::bind(cfg).await?;
    server
        .run(serve::termination(), args.ready_file.clone())
        .await;
    Ok(())
}

/// Removes the host's keys; prints how many were removed.
pub async fn forget(args: &FleetForgetArgs, loaded: &Loaded) -> Result<(), CmdError> {
    let cfg = settings::fleet(&args.fleet, loaded)?.ok_or_else(|| {
        CmdError::Usage("vifd fleet forget needs etcd: --fleet-etcd URL[,URL...]".into())
    })?;
    keys::check_host(&args.host)
        .map_err(|why| CmdError::Usage(format!("host {:?} {why}", args.host)))?;
    let deleted = fleet::forget(&cfg, &args.host).await?;
    match deleted {
        0 => println!("{}: not in etcd", args.host),
        n => println!("{}: {n} keys removed", args.host),
    }
    Ok(())
}
