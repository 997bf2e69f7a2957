//! The `vifd` binary: parses the command line, sets up logging and the runtime, and
//! hands over to the subcommand's module.

use std::process::ExitCode;

use clap::Parser;
use vifd::cli::{Cli, Command, ConfigCommand, FleetCommand};
use vifd::cmd::settings::{self, Flags, Settings};
use vifd::{cmd, config, logging};

/// Exit status when vifd could not look (libvirt unreachable, namespace missing, ...).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Our error messages already carry their cause: print the outermost only.
            eprintln!("vifd: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `config check` reports a broken file itself, with the key and line.
    let command = match cli.command {
        Command::Config(ConfigCommand::Check(args)) => {
            return Ok(ExitCode::from(cmd::config::check(
                &args,
                cli.config.as_deref(),
            )));
        }
        command => command,
    };
    let loaded = config::load(cli.config.as_deref())?;
    let flags = Flags::with_env(cli.log_level.clone(), cli.log_format);
    // Everything `serve` runs with is resolved (and checked) before logging starts.
    let serve = match &command {
        Command::Serve(args) => Some(Settings::resolve(&flags, args, &loaded)?),
        _ => None,
    };
    let fleet_serve = match &command {
        Command::Fleet(FleetCommand::Serve(args)) => Some(settings::fleet_serve(args, &loaded)?),
        _ => None,
    };
    let log = match &serve {
        Some(s) => s.log.clone(),
        None => settings::log(&flags, &loaded)?,
    };
    logging::init(log.format, logging::parse_filter(&log.filter)?);
    let token = loaded.file.token_file.as_deref();
    // The server answers on every core; the one-shot commands need only one thread.
    let rt = match command {
        Command::Serve(_) | Command::Demo(_) | Command::Fleet(FleetCommand::Serve(_)) => {
            vifd::heap::tune_for_daemon();
            tokio::runtime::Builder::new_multi_thread()
        }
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        match command {
            Command::List(args) => cmd::list::run(&args, &loaded).await?,
            Command::Check(args) => {
                let found = cmd::check::run(&args, &loaded).await?;
                return Ok(ExitCode::from(u8::from(found)));
            }
            Command::Serve(args) => {
                let origin = cmd::serve::Origin {
                    config: cli.config.clone(),
                    flags,
                };
                if let Some(settings) = serve {
                    cmd::serve::run(&args, settings.serve, origin).await?
                }
            }
            Command::Fleet(FleetCommand::Serve(args)) => {
                if let Some(cfg) = fleet_serve {
                    cmd::fleet::serve(&args, cfg).await?
                }
            }
            Command::Fleet(FleetCommand::Forget(args)) => {
                cmd::fleet::forget(&args, &loaded).await?
            }
            Command::Demo(args) => cmd::demo::run(&args).await?,
            Command::Watch(args) => cmd::watch::run(&args, token).await?,
            Command::Query(args) => {
                let all_answered = cmd::query::run(&args, token).await?;
                return Ok(ExitCode::from(u8::from(!all_answered)));
            }
            Command::AttachInterface(args) => cmd::actions::attach_interface(&args, token).await?,
            Command::DetachInterface(args) => cmd::actions::detach_interface(&args, token).await?,
            Command::AttachVolume(args) => cmd::actions::attach_volume(&args, token).await?,
            Command::DetachVolume(args) => cmd::actions::detach_volume(&args, token).await?,
            Command::Completions(args) => cmd::assets::completions(&args)?,
            Command::Manpages(args) => cmd::assets::manpages(&args)?,
            Command::Config(ConfigCommand::Check(_)) => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
