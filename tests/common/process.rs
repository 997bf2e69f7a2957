//! A child process whose exit is an event: a thread of its own waits for it, so a test
//! blocks on that (with a deadline) instead of polling `try_wait`.
#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// What a reaper sends to a notification socket when its child exits, so that a test
/// waiting on that socket hears of the exit too.
pub const EXITED: &str = "X-VIFD-TEST-EXITED=";

pub struct Reaped {
    pid: u32,
    exit: Receiver<ExitStatus>,
    status: Option<ExitStatus>,
}

impl Reaped {
    /// Hands `child` (its pipes already taken) to a thread that waits for it.
    pub fn new(child: Child) -> Self {
        Self::with_notice(child, None)
    }

    /// As [`new`](Self::new), also sending `EXITED<status>` to the datagram socket at
    /// `notify` when the child exits.
    pub fn with_notice(mut child: Child, notify: Option<PathBuf>) -> Self {
        let pid = child.id();
        let (tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            let status = child.wait().expect("wait for the child");
            let _ = tx.send(status);
            // Never blocking: a test that stopped reading the socket (whose queue the
            // child's STATUS= messages filled) must still hear of the exit through `tx`.
            if let Some(path) = notify {
                if let Ok(s) = UnixDatagram::unbound() {
                    let _ = s.set_nonblocking(true);
                    let _ = s.send_to(format!("{EXITED}{status}").as_bytes(), path);
                }
            }
        });
        Reaped {
            pid,
            exit,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if it has exited, without waiting.
    pub fn status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.exit.try_recv() {
                Ok(s) => self.status = Some(s),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => panic!("the reaper thread died"),
            }
        }
        self.status
    }

    /// Waits at most `limit` for the exit; `None` if it is still running.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.exit.recv_timeout(limit) {
                Ok(s) => self.status = Some(s),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => panic!("the reaper thread died"),
            }
        }
        self.status
    }

    /// Sends `sig` unless it has exited already (its pid may then be another process's).
    pub fn signal(&mut self, sig: Signal) {
        if self.status().is_none() {
            let _ = nix::sys::signal::kill(Pid::from_raw(self.pid as i32), sig);
        }
    }

    /// SIGKILL, and the exit status (within 15 s).
    pub fn kill(&mut self) -> ExitStatus {
        self.signal(Signal::SIGKILL);
        self.wait(Duration::from_secs(15))
            .expect("a SIGKILLed child exits")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.status().is_none() {
            let _ = nix::sys::signal::kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
            let _ = self.exit.recv_timeout(Duration::from_secs(15));
        }
    }
}

/// Runs `cmd` to its end and returns what it printed; kills it and panics naming `what`
/// when it has not exited within `limit`.
pub fn output_within(
    cmd: &mut std::process::Command,
    limit: Duration,
    what: &str,
) -> std::process::Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("read its output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            let out = rx.recv_timeout(Duration::from_secs(15));
            let err = out
                .ok()
                .and_then(Result::ok)
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
            panic!("{what}: still running after {limit:?}; stderr: {err:?}")
        }
    }
}

/// Runs `cmd` with `stdin` written to it and returns what it printed (whatever its exit).
pub fn output_with_stdin(cmd: &mut std::process::Command, stdin: &str) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let mut pipe = child.stdin.take().expect("piped stdin");
    std::io::Write::write_all(&mut pipe, stdin.as_bytes()).expect("write its stdin");
    drop(pipe);
    child.wait_with_output().expect("read its output")
}
