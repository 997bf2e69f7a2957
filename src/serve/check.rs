//! The checks a configuration passes before anything is bound or reloaded.

use std::sync::Arc;
use std::time::Duration;

use super::addr::ListenAddr;
use super::config::ServeConfig;
use super::error::ServeError;
use super::tls;
use crate::api::auth::Token;

/// What checking a configuration read: the token and the TLS acceptor.
pub struct Checked {
    pub token: Option<Arc<Token>>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Every check `bind` makes before binding: intervals, token, TLS files.
pub fn check_config(cfg: &ServeConfig) -> Result<Checked, ServeError> {
    if cfg.refresh < Duration::from_secs(1) {
        return Err(ServeError::Refresh);
    }
    if cfg.poll < Duration::from_secs(1) {
        return Err(ServeError::Poll);
    }
    if cfg.header_timeout < Duration::from_secs(1) {
        return Err(ServeError::HeaderTimeout);
    }
    let checked = check_access(&cfg.listen, cfg.token_file.as_deref(), cfg.tls.as_ref())?;
    if checked.token.is_none() && cfg.actions.enabled {
        if let Some(tcp) = cfg.listen.iter().find(|a| matches!(a, ListenAddr::Tcp(_))) {
            return Err(ServeError::ActionsNeedToken {
                addr: tcp.to_string(),
            });
        }
    }
    Ok(checked)
}

/// The token and TLS checks of any server (`vifd serve`, `vifd fleet serve`): the token
/// file read (and required by a listener other hosts can reach), the TLS files loaded.
pub fn check_access(
    listen: &[ListenAddr],
    token_file: Option<&std::path::Path>,
    tls: Option<&(std::path::PathBuf, std::path::PathBuf)>,
) -> Result<Checked, ServeError> {
    let token = match token_file {
        Some(path) => Some(Arc::new(read_token(path)?)),
        None => None,
    };
    if token.is_none() {
        if let Some(open) = listen.iter().find(|a| !a.is_local()) {
            return Err(ServeError::NeedsToken {
                addr: open.to_string(),
            });
        }
    }
    let tls = match tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    Ok(Checked { token, tls })
}

fn read_token(path: &std::path::Path) -> Result<Token, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::Token {
        path: path.to_path_buf(),
        source,
    })?;
    Token::new(&text).ok_or_else(|| ServeError::EmptyToken {
        path: path.to_path_buf(),
    })
}
