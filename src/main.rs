//! The `vifd` binary: parses the command line, sets up logging and the runtime, and
//! hands over to the subcommand's module.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use vifd::cli::{Cli, Command};
use vifd::{cmd, config};

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
    let file = config::load(cli.config.as_deref())?;
    let level = cli.log_level.as_deref().or(file.log_level.as_deref());
    init_tracing(level.unwrap_or("warn"));
    // The server answers on every core; the one-shot commands need only one thread.
    let rt = match cli.command {
        Command::Serve(_) | Command::Demo(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        match cli.command {
            Command::List(args) => cmd::list::run(&args, &file).await?,
            Command::Check(args) => {
                let found = cmd::check::run(&args, &file).await?;
                return Ok(ExitCode::from(u8::from(found)));
            }
            Command::Serve(args) => cmd::serve::run(&args, &file).await?,
            Command::Demo(args) => cmd::demo::run(&args).await?,
            Command::Watch(args) => cmd::watch::run(&args, &file).await?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn init_tracing(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
