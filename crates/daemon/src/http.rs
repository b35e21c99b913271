//! The API over TCP (`[http] listen`): the same router as the Unix socket, behind TLS when
//! the config gives a certificate. Who the caller is comes from its bearer token (see
//! [`crate::auth`]); this module only accepts, shakes hands and serves.
//!
//! Each connection gets a task of its own, so a slow handshake holds up nobody else. A
//! handshake or a request's headers that take longer than [`HANDSHAKE`] end the
//! connection, and at most [`MAX_CONNECTIONS`] are served at once: a client that opens
//! connections and sends nothing cannot use up steward's file descriptors.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use steward_core::config::{HttpSpec, TlsSpec};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tracing::{debug, error, info, warn};

use crate::auth::{Access, Transport};
use crate::tls::Tls;

/// How long a TLS handshake, or a request's headers, may take.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 512;

/// What `[http]` asks for, as far as the listener is concerned (the tokens are followed
/// by [`follow_tokens`]).
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    listen: SocketAddr,
    tls: Option<TlsSpec>,
}

impl Wanted {
    fn of(spec: &HttpSpec) -> Wanted {
        Wanted {
            listen: spec.listen,
            tls: spec.tls.clone(),
        }
    }
}

/// A bound listener and its TLS, ready to serve.
pub struct Front {
    wanted: Wanted,
    listener: Arc<TcpListener>,
    tls: Option<Arc<Tls>>,
    /// Reads the certificate again when it is renewed; dropped with the front.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Front {
    /// Binds `spec.listen` (unless `reuse` is bound there already) and loads its TLS
    /// certificate, watched for renewals. Blocking: it reads files.
    pub fn open(spec: &HttpSpec, reuse: Option<Arc<TcpListener>>) -> io::Result<Front> {
        let listener = match reuse {
            Some(l) => l,
            None => {
                let listener = std::net::TcpListener::bind(spec.listen).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot listen on {} ([http] listen): {e}", spec.listen),
                    )
                })?;
                listener.set_nonblocking(true)?;
                Arc::new(TcpListener::from_std(listener)?)
            }
        };
        let (tls, watcher) = match &spec.tls {
            Some(files) => {
                let tls = Tls::load(files.clone())
                    .map(Arc::new)
                    .map_err(io::Error::other)?;
                let watcher = crate::tls::watch(tls.clone(), |result| match result {
                    Ok(()) => info!("TLS certificate read again"),
                    Err(e) => warn!("TLS certificate not replaced: {e}"),
                })
                .map_err(|e| warn!("cannot watch the TLS certificate for renewals: {e}"))
                .ok();
                (Some(tls), watcher)
            }
            None => (None, None),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!("API listening on {scheme}://{}", listener.local_addr()?);
        Ok(Front {
            wanted: Wanted::of(spec),
            listener,
            tls,
            _watcher: watcher,
        })
    }
}

/// Serves `app` over TCP as the config of the moment says: `first` from the start, then
/// whatever a reload asks (a new address, TLS added, changed or removed, `[http]` added
/// or removed). A change that cannot be made (the address is taken, a certificate is
/// unreadable) leaves the listener as it was, and says why. Connections already open
/// finish on the listener they came in on.
pub async fn follow(first: Option<Front>, mut access: watch::Receiver<Arc<Access>>, app: Router) {
    let start = |front: Front| {
        let task = tokio::spawn(serve(
            front.listener.clone(),
            app.clone(),
            front.tls.clone(),
        ));
        (front, AbortOnDrop(task))
    };
    let mut running = first.map(start);
    while access.changed().await.is_ok() {
        let spec = access.borrow_and_update().http.clone();
        let wanted = spec.as_ref().map(Wanted::of);
        if wanted.as_ref() == running.as_ref().map(|(f, _)| &f.wanted) {
            continue;
        }
        let Some(spec) = spec else {
            running = None;
            info!("the API no longer listens on TCP");
            continue;
        };
        // The same address (as written, or as bound for a port 0) keeps its socket:
        // binding it again would collide with itself.
        let reuse = running
            .as_ref()
            .filter(|(f, _)| {
                f.wanted.listen == spec.listen || f.listener.local_addr().ok() == Some(spec.listen)
            })
            .map(|(f, _)| f.listener.clone());
        match tokio::task::spawn_blocking(move || Front::open(&spec, reuse)).await {
            Ok(Ok(front)) => running = Some(start(front)),
            Ok(Err(e)) => error!("[http] was not changed: {e}"),
            Err(e) => error!("[http] was not changed: {e}"),
        }
    }
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `app` on `listener` for ever (until the task is aborted).
async fn serve(listener: Arc<TcpListener>, app: Router, tls: Option<Arc<Tls>>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and the like: wait a little rather than spin.
                warn!("TCP API: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            connection(stream, remote, app, tls).await;
            drop(permit);
        });
    }
}

async fn connection(stream: TcpStream, remote: SocketAddr, app: Router, tls: Option<Arc<Tls>>) {
    let _ = stream.set_nodelay(true);
    // Every request of the connection carries where it came from, as ConnectInfo.
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(ConnectInfo(Transport::Tcp { remote }));
            app.clone().oneshot(req)
        });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HANDSHAKE);
    let served = match tls {
        Some(tls) => {
            let stream = match tokio::time::timeout(HANDSHAKE, tls.acceptor().accept(stream)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return debug!("TCP API: TLS handshake with {remote} failed: {e}"),
                Err(_) => return debug!("TCP API: TLS handshake with {remote} timed out"),
            };
            http.serve_connection(TokioIo::new(stream), service).await
        }
        None => http.serve_connection(TokioIo::new(stream), service).await,
    };
    if let Err(e) = served {
        debug!("TCP API: connection from {remote}: {e}");
    }
}

/// Keeps the tokens of the moment: reads the tokens file again when it changes (and, after
/// a reload names another file, watches that one). A file that becomes invalid leaves the
/// tokens read before in use.
pub async fn follow_tokens(access: watch::Sender<Arc<Access>>) {
    let mut changes = access.subscribe();
    let (tick_tx, mut ticks) = tokio::sync::mpsc::unbounded_channel();
    let mut watching: Option<(std::path::PathBuf, notify::RecommendedWatcher)> = None;
    loop {
        let path = changes
            .borrow_and_update()
            .tokens_file()
            .map(Path::to_path_buf);
        if watching.as_ref().map(|(p, _)| p) != path.as_ref() {
            watching = path.and_then(|p| {
                let tick = tick_tx.clone();
                match crate::filewatch::watch(std::slice::from_ref(&p), "tokens file", move || {
                    let _ = tick.send(());
                }) {
                    Ok(w) => Some((p, w)),
                    Err(e) => {
                        warn!(
                            "cannot watch {} ({e}); reload to read it again",
                            p.display()
                        );
                        None
                    }
                }
            });
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            Some(()) = ticks.recv() => {
                let Some((path, _)) = &watching else { continue };
                let path = path.clone();
                let read = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || crate::tokens::load(&path)
                })
                .await;
                match read {
                    Ok(Ok(tokens)) => {
                        info!("read the tokens file {} again: {} tokens", path.display(), tokens.len());
                        let tokens = Arc::new(tokens);
                        access.send_modify(|a| {
                            let mut next = Access::clone(a);
                            next.tokens = Some(tokens);
                            *a = Arc::new(next);
                        });
                    }
                    Ok(Err(e)) => warn!("the tokens file changed but cannot be used; the tokens read before stay valid: {e}"),
                    Err(e) => warn!("reading the tokens file failed: {e}"),
                }
            }
        }
    }
}
