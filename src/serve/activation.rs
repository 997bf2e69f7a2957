//! Socket activation: listening sockets systemd opened for us (`vifd.socket`), passed
//! as file descriptors 3.. with `LISTEN_FDS`/`LISTEN_PID` (sd_listen_fds(3)).
//!
//! The descriptors are adopted at most once per process: the first [`take`] owns them, a
//! second one fails (two owners would close each descriptor twice, the second time
//! whatever reused its number).
#![allow(unsafe_code)] // Adopts raw descriptors: one of the few allowed `unsafe` (Cargo.toml [lints]).

use std::net::TcpListener;
use std::num::IntErrorKind;
use std::ops::Range;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{
    getsockname, getsockopt, sockopt, AddressFamily, SockType, SockaddrLike, SockaddrStorage,
};

use super::addr::ListenAddr;
use super::error::ActivationError;

/// The first passed descriptor.
const FIRST_FD: RawFd = 3;

/// Claimed by the first `take` that finds sockets passed to this process.
static TAKEN: Once = Once::new();

/// One socket handed over by systemd.
#[derive(Debug)]
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

/// The sockets passed to this process; empty when not socket-activated. Consumes the
/// variables' meaning: each descriptor is owned by the returned value, and any later call
/// in a socket-activated process fails with [`ActivationError::Taken`].
pub fn take() -> Result<Vec<Inherited>, ActivationError> {
    let vars = Listen {
        pid: std::env::var("LISTEN_PID").ok(),
        fds: std::env::var("LISTEN_FDS").ok(),
        me: std::process::id(),
    };
    // SAFETY: when LISTEN_PID names this process, systemd (sd_listen_fds(3)) passed it
    // LISTEN_FDS open descriptors from FIRST_FD on, across exec. vifd never closes or wraps
    // a descriptor it did not open itself, except here, and `TAKEN` lets only the first
    // call get that far: nothing else owns them.
    unsafe { take_from(&vars, FIRST_FD, &TAKEN) }
}

/// The variables systemd sets, and this process's id.
struct Listen {
    pid: Option<String>,
    fds: Option<String>,
    me: u32,
}

/// A once-per-process flag: the first `claim` succeeds, every later one fails.
struct Once(AtomicBool);

impl Once {
    const fn new() -> Self {
        Once(AtomicBool::new(false))
    }

    fn claim(&self) -> Result<(), ActivationError> {
        match self.0.swap(true, Ordering::AcqRel) {
            false => Ok(()),
            true => Err(ActivationError::Taken),
        }
    }
}

/// `take` with its inputs spelled out: the descriptors `vars` names, numbered from `first`,
/// adopted once `once` is claimed.
///
/// # Safety
/// Unless `once` has been claimed already, the descriptors `passed(vars, first)` returns
/// are open and owned by nothing else. Ownership passes to the result; on error, the ones
/// adopted so far are closed and the rest left alone (never adopted twice either way).
unsafe fn take_from(
    vars: &Listen,
    first: RawFd,
    once: &Once,
) -> Result<Vec<Inherited>, ActivationError> {
    let Some(fds) = passed(vars, first)? else {
        return Ok(Vec::new());
    };
    once.claim()?;
    fds.map(|fd| {
        // SAFETY: `once` was not claimed before: the caller vouches for `fd`, and this is
        // the only time it is adopted.
        unsafe { inherit(fd) }
    })
    .collect()
}

/// The descriptors passed to this process, numbered from `first`: `None` when LISTEN_PID
/// names another process (or is missing), an error when LISTEN_FDS is not a count of
/// descriptors that fits the descriptor numbers.
fn passed(vars: &Listen, first: RawFd) -> Result<Option<Range<RawFd>>, ActivationError> {
    let pid = vars
        .pid
        .as_deref()
        .and_then(|p| p.trim().parse::<u32>().ok());
    if pid != Some(vars.me) {
        return Ok(None);
    }
    let count = vars.fds.clone().unwrap_or_default();
    let n: RawFd = count
        .trim()
        .parse()
        .map_err(|e: std::num::ParseIntError| match e.kind() {
            IntErrorKind::PosOverflow => ActivationError::TooMany(count.clone()),
            IntErrorKind::NegOverflow => ActivationError::Negative(count.clone()),
            _ => ActivationError::Count(count.clone()),
        })?;
    if n < 0 {
        return Err(ActivationError::Negative(count));
    }
    let end = first
        .checked_add(n)
        .ok_or(ActivationError::TooMany(count))?;
    Ok(Some(first..end))
}

/// Adopts one passed descriptor as a non-blocking, close-on-exec listener.
///
/// # Safety
/// `fd` is open and owned by nothing else; ownership passes to the result (on error, the
/// descriptor is closed).
unsafe fn inherit(fd: RawFd) -> Result<Inherited, ActivationError> {
    let bad = |why: String| ActivationError::NotListening { fd, why };
    // SAFETY: an open descriptor nothing else owns (the caller's contract).
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

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::IntoRawFd;

    use super::*;

    /// The variables as systemd would set them for this process.
    fn ours(fds: Option<&str>) -> Listen {
        let me = std::process::id();
        Listen {
            pid: Some(me.to_string()),
            fds: fds.map(String::from),
            me,
        }
    }

    fn count(fds: &str) -> Result<Option<Range<RawFd>>, ActivationError> {
        passed(&ours(Some(fds)), FIRST_FD)
    }

    #[test]
    fn descriptors_are_counted_from_the_first() {
        assert_eq!(count("2").unwrap(), Some(3..5));
        assert_eq!(count(" 1\n").unwrap(), Some(3..4));
        assert_eq!(count("0").unwrap(), Some(3..3));
        // The last count whose descriptors all have numbers.
        let most = (RawFd::MAX - FIRST_FD).to_string();
        assert_eq!(count(&most).unwrap(), Some(FIRST_FD..RawFd::MAX));
    }

    #[test]
    fn variables_for_another_process_are_ignored() {
        let mut vars = ours(Some("2"));
        vars.me += 1;
        assert_eq!(passed(&vars, FIRST_FD).unwrap(), None);
        for pid in [None, Some(""), Some("systemd"), Some("-1")] {
            let vars = Listen {
                pid: pid.map(String::from),
                ..ours(Some("2"))
            };
            assert_eq!(passed(&vars, FIRST_FD).unwrap(), None, "{pid:?}");
        }
    }

    #[test]
    fn a_count_that_is_not_a_number_is_refused() {
        for bad in ["", "two", "1.5", "0x2", "3 4"] {
            let err = count(bad).unwrap_err();
            assert!(
                matches!(err, ActivationError::Count(ref c) if c == bad),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("is not a number"), "{err}");
        }
        let missing = passed(&ours(None), FIRST_FD).unwrap_err();
        assert!(matches!(missing, ActivationError::Count(_)), "{missing}");
    }

    #[test]
    fn a_negative_count_is_refused() {
        for bad in ["-1", "-2147483648", "-99999999999"] {
            let err = count(bad).unwrap_err();
            assert!(matches!(err, ActivationError::Negative(_)), "{bad}: {err}");
            assert_eq!(err.to_string(), format!("LISTEN_FDS={bad:?} is negative"));
        }
    }

    #[test]
    fn a_count_past_the_last_descriptor_number_is_refused() {
        let just_over = (RawFd::MAX - FIRST_FD + 1).to_string();
        for bad in [just_over.as_str(), "2147483647", "99999999999"] {
            let err = count(bad).unwrap_err();
            assert!(matches!(err, ActivationError::TooMany(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn the_sockets_are_taken_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fd = listener.into_raw_fd();
        let once = Once::new();
        // SAFETY: `fd` was just given up by its listener: open, and owned by nothing else.
        let got = unsafe { take_from(&ours(Some("1")), fd, &once) }.unwrap();
        assert_eq!(got.len(), 1);
        assert!(matches!(got[0].addr().unwrap(), ListenAddr::Tcp(a) if a == addr));
        // A second take must not adopt `fd` again (it is `got`'s now).
        // SAFETY: `once` is claimed, so nothing is adopted.
        let again = unsafe { take_from(&ours(Some("1")), fd, &once) };
        assert!(matches!(again, Err(ActivationError::Taken)));
        // Without activation there is nothing to own: empty, however often.
        let mut theirs = ours(Some("1"));
        theirs.me += 1;
        for _ in 0..2 {
            // SAFETY: LISTEN_PID names another process, so nothing is adopted.
            let none = unsafe { take_from(&theirs, fd, &once) }.unwrap();
            assert!(none.is_empty());
        }
        drop(got);
    }

    #[test]
    fn a_socket_that_is_not_listening_is_refused() {
        let fd = UdpSocket::bind("127.0.0.1:0").unwrap().into_raw_fd();
        // SAFETY: `fd` was just given up by its socket: open, and owned by nothing else.
        let err = unsafe { take_from(&ours(Some("1")), fd, &Once::new()) }.unwrap_err();
        assert!(
            matches!(err, ActivationError::NotListening { fd: f, .. } if f == fd),
            "{err}"
        );
    }
}
