//! The `vifd` binary: parses the command line, sets up logging and the runtime, and
//! hands over to the subcommand's module.

use std::process::ExitCode;

use clap::Parser;
use vifd::cli::{Cli, Command, ConfigCommand};
use vifd::logging::LogFormat;
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
    let file = config::load(cli.config.as_deref())?;
    let filter = cmd::config::log_filter(cli.log_level.as_deref(), &file);
    let format = cli
        .log_format
        .or(file.log_format)
        .unwrap_or(LogFormat::Text);
    logging::init(format, logging::parse_filter(&filter)?);
    // The server answers on every core; the one-shot commands need only one thread.
    let rt = match command {
        Command::Serve(_) | Command::Demo(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        match command {
            Command::List(args) => cmd::list::run(&args, &file).await?,
            Command::Check(args) => {
                let found = cmd::check::run(&args, &file).await?;
                return Ok(ExitCode::from(u8::from(found)));
            }
            Command::Serve(args) => {
                let origin = cmd::serve::Origin {
                    config: cli.config.clone(),
                    log_level: cli.log_level.clone(),
                };
                cmd::serve::run(&args, &file, origin).await?
            }
            Command::Demo(args) => cmd::demo::run(&args).await?,
            Command::Watch(args) => cmd::watch::run(&args, &file).await?,
            Command::Query(args) => {
                let all_answered = cmd::query::run(&args, &file).await?;
                return Ok(ExitCode::from(u8::from(!all_answered)));
            }
            Command::AttachInterface(args) => cmd::actions::attach_interface(&args, &file).await?,
            Command::DetachInterface(args) => cmd::actions::detach_interface(&args, &file).await?,
            Command::AttachVolume(args) => cmd::actions::attach_volume(&args, &file).await?,
            Command::DetachVolume(args) => cmd::actions::detach_volume(&args, &file).await?,
            Command::Completions(args) => cmd::assets::completions(&args)?,
            Command::Manpages(args) => cmd::assets::manpages(&args)?,
            Command::Config(ConfigCommand::Check(_)) => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
