//! Socket activation: listening sockets systemd opened for us (`vifd.socket`), passed
//! as file descriptors 3.. with `LISTEN_FDS`/`LISTEN_PID` (sd_listen_fds(3)).

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{
    getsockname, getsockopt, sockopt, AddressFamily, SockType, SockaddrLike, SockaddrStorage,
};

use super::listen::ListenAddr;

/// The first passed descriptor.
const FIRST_FD: RawFd = 3;

/// One socket handed over by systemd.
pub enum Inherited {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Inherited {
    /// The address it listens on, for the token rule and the logs.
    pub fn addr(&self) -> std::io::Result<ListenAddr> {
        match self {
            Inherited::Tcp(l) => l.local_addr().map(ListenAddr::Tcp),
            Inherited::Unix(_, p) => Ok(ListenAddr::Unix(p.clone())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("LISTEN_FDS={0:?} is not a number")]
    Count(String),
    #[error("inherited descriptor {fd} is not a listening stream socket: {why}")]
    NotListening { fd: RawFd, why: String },
}

/// The sockets passed to this process; empty when not socket-activated. Consumes the
/// variables' meaning: each descriptor is owned by the returned value.
pub fn take() -> Result<Vec<Inherited>, ActivationError> {
    let pid = std::env::var("LISTEN_PID").ok();
    if pid.and_then(|p| p.trim().parse::<u32>().ok()) != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let count = std::env::var("LISTEN_FDS").unwrap_or_default();
    let n: RawFd = count
        .trim()
        .parse()
        .map_err(|_| ActivationError::Count(count.clone()))?;
    (FIRST_FD..FIRST_FD + n).map(inherit).collect()
}

fn inherit(fd: RawFd) -> Result<Inherited, ActivationError> {
    let bad = |why: String| ActivationError::NotListening { fd, why };
    // SAFETY: systemd passes descriptors FIRST_FD..FIRST_FD+LISTEN_FDS to this process
    // (LISTEN_PID checked by the caller); nothing else in vifd opens or owns them, and
    // each is taken exactly once here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // systemd passes them inheritable; nothing vifd starts should get them.
    fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|e| bad(e.to_string()))?;
    let kind = getsockopt(&owned, sockopt::SockType).map_err(|e| bad(e.to_string()))?;
    let listening = getsockopt(&owned, sockopt::AcceptConn).map_err(|e| bad(e.to_string()))?;
    if kind != SockType::Stream || !listening {
        return Err(bad("expected ListenStream=".into()));
    }
    let addr: SockaddrStorage = getsockname(fd).map_err(|e| bad(e.to_string()))?;
    match addr.family() {
        Some(AddressFamily::Inet | AddressFamily::Inet6) => {
            let l = TcpListener::from(owned);
            l.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            Ok(Inherited::Tcp(l))
        }
        Some(AddressFamily::Unix) => {
            let path = addr
                .as_unix_addr()
                .and_then(|u| u.path())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(format!("fd:{fd}")));
            let l = UnixListener::from(owned);
            l.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            Ok(Inherited::Unix(l, path))
        }
        other => Err(bad(format!("unsupported address family {other:?}"))),
    }
}
