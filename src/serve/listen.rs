//! The accept loops: HTTP/1.1 over TCP (optionally TLS) or a unix
//! socket, with bounds on what a client can hold: header size, header read time,
//! handshake time and the number of open connections.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::activation::Inherited;
use super::addr::ListenAddr;
use super::error::ServeError;
use crate::api::auth::Peer;

/// Most connections open at once, over all listeners; beyond, accepting waits.
pub const MAX_CONNECTIONS: usize = 1024;
/// By default a client must send a complete request head within this time.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes a request head may take; beyond, hyper answers 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// In-flight requests get this long to finish at shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener with what its connections are served with.
pub struct Bound {
    pub addr: ListenAddr,
    listener: Listener,
    app: Router,
    tls: Option<TlsAcceptor>,
    /// Time allowed for a request head (and a TLS handshake); then the connection closes.
    header_timeout: Duration,
    /// The unix socket's file is ours to remove at stop (not one systemd created).
    owns_path: bool,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Binds `addr`. A unix socket's stale file is replaced, a live one is an error.
pub async fn bind(
    addr: ListenAddr,
    app: Router,
    tls: Option<TlsAcceptor>,
    header_timeout: Duration,
) -> Result<Bound, ServeError> {
    let err = |message: String| ServeError::Listen {
        addr: addr.to_string(),
        message,
    };
    let listener = match &addr {
        ListenAddr::Tcp(a) => {
            Listener::Tcp(TcpListener::bind(a).await.map_err(|e| err(e.to_string()))?)
        }
        ListenAddr::Unix(path) => Listener::Unix(bind_unix(path).await.map_err(err)?),
    };
    let tls = match addr {
        ListenAddr::Tcp(_) => tls,
        ListenAddr::Unix(_) => None,
    };
    Ok(Bound {
        addr,
        listener,
        app,
        tls,
        header_timeout,
        owns_path: true,
    })
}

/// Serves a socket systemd opened (socket activation); its file stays systemd's.
pub fn adopt(
    inherited: Inherited,
    app: Router,
    tls: Option<TlsAcceptor>,
    header_timeout: Duration,
) -> Result<Bound, ServeError> {
    let addr = inherited.addr().map_err(|e| ServeError::Listen {
        addr: "an inherited socket".into(),
        message: e.to_string(),
    })?;
    let err = |e: std::io::Error| ServeError::Listen {
        addr: addr.to_string(),
        message: e.to_string(),
    };
    let (listener, tls) = match inherited {
        Inherited::Tcp(l) => (Listener::Tcp(TcpListener::from_std(l).map_err(err)?), tls),
        Inherited::Unix(l, _) => (
            Listener::Unix(UnixListener::from_std(l).map_err(err)?),
            None,
        ),
    };
    Ok(Bound {
        addr,
        listener,
        app,
        tls,
        header_timeout,
        owns_path: false,
    })
}

async fn bind_unix(path: &Path) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err("another server is answering on this socket".into());
        }
        std::fs::remove_file(path).map_err(|e| format!("cannot remove the stale socket: {e}"))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("cannot set mode 0660: {e}"))?;
    Ok(listener)
}

impl Bound {
    /// The bound TCP address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.listener {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }

    /// Where it actually listens: a TCP listener bound to port 0 shows the port it got.
    pub fn bound_addr(&self) -> ListenAddr {
        match self.local_addr() {
            Some(a) => ListenAddr::Tcp(a),
            None => self.addr.clone(),
        }
    }

    /// Accepts until `stop` turns true, then lets open connections finish (up to
    /// [`DRAIN_TIMEOUT`]) and removes a unix socket's file.
    pub async fn serve(self, limit: Arc<Semaphore>, mut stop: watch::Receiver<bool>) {
        info!(addr = %self.bound_addr(), tls = self.tls.is_some(), "listening");
        let graceful = GracefulShutdown::new();
        loop {
            let permit = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                p = limit.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                a = self.accept() => a,
            };
            match accepted {
                Ok(Stream::Tcp(s, addr)) => {
                    let _ = s.set_nodelay(true);
                    self.spawn(&graceful, s, permit, Peer::Tcp(addr));
                }
                Ok(Stream::Unix(s)) => {
                    let peer = match s.peer_cred() {
                        Ok(c) => Peer::Unix {
                            uid: Some(c.uid()),
                            pid: c.pid(),
                        },
                        Err(_) => Peer::Unix {
                            uid: None,
                            pid: None,
                        },
                    };
                    self.spawn(&graceful, s, permit, peer)
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(addr = %self.addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            warn!(addr = %self.addr, "connections still open after the drain timeout; closing them");
        }
        if let (ListenAddr::Unix(path), true) = (&self.addr, self.owns_path) {
            let _ = std::fs::remove_file(path);
        }
        info!(addr = %self.addr, "stopped");
    }

    async fn accept(&self) -> std::io::Result<Stream> {
        match &self.listener {
            Listener::Tcp(l) => l.accept().await.map(|(s, a)| Stream::Tcp(s, a)),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Stream::Unix(s)),
        }
    }

    fn spawn<S>(
        &self,
        graceful: &GracefulShutdown,
        stream: S,
        permit: tokio::sync::OwnedSemaphorePermit,
        peer: Peer,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = WithPeer {
            app: self.app.clone(),
            peer,
        };
        let watcher = graceful.watcher();
        let timeout = self.header_timeout;
        match self.tls.clone() {
            None => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let conn = watcher.watch(connection(stream, app, timeout));
                    if let Err(e) = conn.await {
                        debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return debug!(error = %e, "TLS handshake failed"),
                        Err(_) => return debug!("TLS handshake timed out"),
                    };
                    let conn = watcher.watch(connection(tls, app, timeout));
                    if let Err(e) = conn.await {
                        debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
}

enum Stream {
    Tcp(tokio::net::TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream),
}

/// One HTTP/1.1 connection with vifd's limits.
fn connection<S>(
    stream: S,
    app: WithPeer,
    header_timeout: Duration,
) -> http1::Connection<TokioIo<S>, TowerToHyperService<WithPeer>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
}

/// The router, handing every request of one connection who is on the other end (the
/// action audit log names it).
#[derive(Clone)]
struct WithPeer {
    app: Router,
    peer: Peer,
}

impl tower::Service<Request<Incoming>> for WithPeer {
    type Response = <Router as tower::Service<Request<Incoming>>>::Response;
    type Error = <Router as tower::Service<Request<Incoming>>>::Error;
    type Future = <Router as tower::Service<Request<Incoming>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::<Request<Incoming>>::poll_ready(&mut self.app, cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.peer.clone());
        self.app.call(req)
    }
}
