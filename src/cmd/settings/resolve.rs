//! [`Settings`]: everything the daemon runs with, resolved by one function.

use super::error::SettingsError;
use super::log::{log, Flags, LogSettings};
use super::serve::serve;
use crate::cli::ServeArgs;
use crate::config::Loaded;
use crate::serve::ServeConfig;

/// Everything `vifd serve` runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub log: LogSettings,
    pub serve: ServeConfig,
}

impl Settings {
    /// Resolves and checks every setting of the daemon (intervals, listeners, token and
    /// TLS files, the token rule), as `vifd serve` would at start or on reload.
    pub fn resolve(
        flags: &Flags,
        args: &ServeArgs,
        loaded: &Loaded,
    ) -> Result<Self, SettingsError> {
        Ok(Settings {
            log: log(flags, loaded)?,
            serve: serve(args, loaded)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::cmd::settings::error::Reason;
    use crate::logging::{self, LogFormat};
    use crate::serve::ServeError;

    fn loaded(text: &str) -> Loaded {
        Loaded {
            text: text.to_string(),
            file: crate::config::parse(text).expect("valid TOML"),
        }
    }

    fn serve_args(argv: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from([&["vifd", "serve"], argv].concat()).unwrap();
        match cli.command {
            Command::Serve(args) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_bad_file_value_is_a_typed_error_with_key_and_line() {
        let err = Settings::resolve(
            &Flags::default(),
            &serve_args(&[]),
            &loaded("log_level = \"info\"\nrefresh = 0\n"),
        )
        .unwrap_err();
        match err {
            SettingsError::Invalid {
                key,
                line: Some(2),
                reason: Reason::Serve(e),
            } if matches!(*e, ServeError::Refresh) => assert_eq!(key, "refresh"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_flag_value_names_the_key_without_a_line() {
        let file = loaded("\n\nrefresh = 30\n");
        let err = Settings::resolve(&Flags::default(), &serve_args(&["--refresh", "0"]), &file)
            .unwrap_err();
        assert!(matches!(
            &err,
            SettingsError::Invalid {
                line: None,
                reason: Reason::Serve(e),
                ..
            } if matches!(**e, ServeError::Refresh)
        ));
        assert_eq!(err.key(), Some("refresh"));
    }

    #[test]
    fn one_tls_file_without_the_other_names_the_one_given() {
        let err = Settings::resolve(
            &Flags::default(),
            &serve_args(&[]),
            &loaded("tls_cert = \"/etc/vifd/cert.pem\"\n"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: tls_cert: --tls-cert and --tls-key go together"
        );
    }

    #[test]
    fn flags_win_over_rust_log_over_the_file_over_defaults() {
        let file = loaded("log_level = \"warn\"\nlog_format = \"json\"\nrefresh = 30\n");
        let none = Flags::default();
        assert_eq!(log(&none, &file).unwrap().filter, "warn");
        assert_eq!(log(&none, &file).unwrap().format, LogFormat::Json);
        let env = Flags {
            rust_log: Some("debug".into()),
            ..Flags::default()
        };
        assert_eq!(log(&env, &file).unwrap().filter, "debug");
        let flag = Flags {
            log_level: Some("error".into()),
            log_format: Some(LogFormat::Text),
            rust_log: Some("debug".into()),
        };
        let got = log(&flag, &file).unwrap();
        assert_eq!(
            (got.filter.as_str(), got.format),
            ("error", LogFormat::Text)
        );
        let args = serve_args(&["--refresh", "5"]);
        let s = Settings::resolve(&none, &args, &file).unwrap();
        assert_eq!(s.serve.refresh.as_secs(), 5);
        let s = Settings::resolve(&none, &serve_args(&[]), &file).unwrap();
        assert_eq!(s.serve.refresh.as_secs(), 30);
        let s = Settings::resolve(&none, &serve_args(&[]), &Loaded::default()).unwrap();
        assert_eq!(s.serve.refresh, crate::serve::DEFAULT_REFRESH);
        assert_eq!(s.log.filter, logging::DEFAULT_FILTER);
    }
}
