//! The daemon's own settings: listeners, intervals, token, TLS and actions.

use std::time::Duration;

use super::error::{invalid, Reason, SettingsError};
use super::fleet::fleet;
use super::host::host;
use crate::cli::ServeArgs;
use crate::config::Loaded;
use crate::serve::{self, check_config, ActionsConfig, ListenAddr, ServeConfig, ServeError};

/// The serve settings, resolved and checked as `vifd serve` would before binding.
pub fn serve(args: &ServeArgs, loaded: &Loaded) -> Result<ServeConfig, SettingsError> {
    let file = &loaded.file;
    let listen_from_file = args.listen.is_empty();
    let listen_text: Vec<String> = if listen_from_file {
        file.listen
            .clone()
            .unwrap_or_else(|| vec![serve::DEFAULT_LISTEN.to_string()])
    } else {
        args.listen.clone()
    };
    let listen = listen_text
        .iter()
        .map(|a| ListenAddr::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                loaded,
                "listen",
                listen_from_file,
                Reason::Serve(Box::new(e)),
            )
        })?;
    let cert = args
        .access
        .tls_cert
        .clone()
        .or_else(|| file.tls_cert.clone());
    let key = args.access.tls_key.clone().or_else(|| file.tls_key.clone());
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (c, _) => {
            let (name, from_file) = match c {
                Some(_) => ("tls_cert", args.access.tls_cert.is_none()),
                None => ("tls_key", args.access.tls_key.is_none()),
            };
            return Err(invalid(loaded, name, from_file, Reason::TlsPair));
        }
    };
    let secs = |flag: Option<u64>, key: Option<u64>, default| {
        flag.or(key).map_or(default, Duration::from_secs)
    };
    let cfg = ServeConfig {
        source: host(&args.host, loaded)?,
        listen,
        refresh: secs(args.refresh, file.refresh, serve::DEFAULT_REFRESH),
        poll: secs(args.poll_interval, file.poll_interval, serve::DEFAULT_POLL),
        token_file: args
            .access
            .token_file
            .clone()
            .or_else(|| file.token_file.clone()),
        tls,
        header_timeout: secs(
            args.header_timeout,
            file.header_timeout,
            serve::DEFAULT_HEADER_TIMEOUT,
        ),
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
        fleet: fleet(&args.fleet, loaded)?,
    };
    check_config(&cfg).map_err(|e| {
        let (key, from_file) = key_of(&e, args, &cfg);
        invalid(loaded, key, from_file, Reason::Serve(Box::new(e)))
    })?;
    Ok(cfg)
}

/// The setting a failed check is about, and whether the file (not a flag) set it.
fn key_of(e: &ServeError, args: &ServeArgs, cfg: &ServeConfig) -> (&'static str, bool) {
    match e {
        ServeError::Refresh => ("refresh", args.refresh.is_none()),
        ServeError::Poll => ("poll_interval", args.poll_interval.is_none()),
        ServeError::HeaderTimeout => ("header_timeout", args.header_timeout.is_none()),
        ServeError::ActionsNeedToken { .. } => ("actions.enabled", !args.enable_actions),
        ServeError::Token { .. } | ServeError::EmptyToken { .. } => {
            ("token_file", args.access.token_file.is_none())
        }
        ServeError::Tls { path, .. } if cfg.tls.as_ref().is_some_and(|(_, k)| k == path) => {
            ("tls_key", args.access.tls_key.is_none())
        }
        ServeError::Tls { .. } => ("tls_cert", args.access.tls_cert.is_none()),
        ServeError::NeedsToken { .. } | ServeError::Listen { .. } | ServeError::Activation(_) => {
            ("listen", args.listen.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::serve::TlsError;

    #[test]
    fn a_tls_failure_names_the_file_it_is_about() {
        let cli = Cli::try_parse_from(["vifd", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            unreachable!()
        };
        let loaded = Loaded {
            text: "tls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n".into(),
            ..Loaded::default()
        };
        let mut cfg = serve(&args, &Loaded::default()).unwrap();
        cfg.tls = Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")));
        let failed = |path: &str| ServeError::Tls {
            path: path.into(),
            reason: TlsError::NoCertificate,
        };
        assert_eq!(key_of(&failed("/k.pem"), &args, &cfg), ("tls_key", true));
        assert_eq!(key_of(&failed("/c.pem"), &args, &cfg), ("tls_cert", true));
        let e = invalid(&loaded, "tls_key", true, Reason::TlsPair);
        assert!(e.to_string().starts_with("line 2: tls_key:"), "{e}");
    }
}
