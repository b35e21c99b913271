//! The control API: JSON over HTTP on the Unix socket.
//!
//! Handlers do no work of their own: each turns the HTTP request into a [`Request`] for the
//! supervisor loop and waits for its ticket. Who may connect is decided from the peer's
//! kernel credentials (`SO_PEERCRED`): by default root and the user steward runs as.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, Request as HttpRequest, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use steward_proto::{ErrorBody, ReloadReport};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::reloader::Trigger;
use crate::supervisor::{Action, ApiError, Request};

/// The caller's credentials, from the kernel.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

impl Connected<axum::serve::IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, UnixListener>) -> Self {
        match stream.io().peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            // No credentials means no identity: u32::MAX matches no allowed user.
            Err(_) => Peer {
                uid: u32::MAX,
                gid: u32::MAX,
                pid: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) loop_tx: mpsc::Sender<Request>,
    /// `None` when there is no config file to reload (the built-in demo).
    reload_tx: Option<mpsc::Sender<Trigger>>,
    owner_uid: u32,
}

/// Binds the control socket: mode 0600 from the first instant (the umask is set around
/// `bind`), refusing to take over a socket another steward still answers on.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another steward is already listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the API on `listener` until the loop's channel closes.
pub async fn serve(
    listener: UnixListener,
    loop_tx: mpsc::Sender<Request>,
    reload_tx: Option<mpsc::Sender<Trigger>>,
    socket: PathBuf,
) {
    let ctx = Ctx {
        loop_tx,
        reload_tx,
        owner_uid: nix::unistd::geteuid().as_raw(),
    };
    let app = router(ctx.clone()).layer(middleware::from_fn_with_state(ctx, check_peer));
    let service = app.into_make_service_with_connect_info::<Peer>();
    if let Err(e) = axum::serve(listener, service).await {
        warn!("API server on {} stopped: {e}", socket.display());
    }
}

fn router(ctx: Ctx) -> Router {
    Router::new()
        .route("/v1/services", get(list))
        .route("/v1/services/{name}", get(show))
        .route("/v1/tasks", get(tasks))
        .route("/v1/config", get(config))
        .route("/v1/reload", post(reload))
        .route("/v1/services/{name}/{action}", post(control))
        .route("/v1/services/{name}/logs", get(crate::logs::api::logs))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
}

/// Only root and steward's own user may use the socket (the default ACL).
async fn check_peer(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    req: HttpRequest,
    next: Next,
) -> Response {
    if peer.uid == 0 || peer.uid == ctx.owner_uid {
        return next.run(req).await;
    }
    warn!(
        "refused {} {} from uid {} (pid {:?}): only root and uid {} may use this socket",
        req.method(),
        req.uri().path(),
        peer.uid,
        peer.pid,
        ctx.owner_uid
    );
    ApiError::new(403, format!("uid {} may not use this socket", peer.uid)).into_response()
}

async fn list(State(ctx): State<Ctx>) -> Response {
    ask(&ctx, |reply| Request::Status {
        service: None,
        reply,
    })
    .await
    .map(Json)
    .into_response()
}

async fn tasks(State(ctx): State<Ctx>) -> Response {
    ask(&ctx, |reply| Request::Tasks { reply })
        .await
        .map(Json)
        .into_response()
}

async fn show(State(ctx): State<Ctx>, UrlPath(name): UrlPath<String>) -> Response {
    let result = ask(&ctx, |reply| Request::Status {
        service: Some(name),
        reply,
    })
    .await;
    result.map(|mut list| Json(list.remove(0))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlQuery {
    instance: Option<u32>,
    wait: Option<bool>,
}

async fn control(
    State(ctx): State<Ctx>,
    UrlPath((name, action)): UrlPath<(String, String)>,
    query: Result<Query<ControlQuery>, QueryRejection>,
) -> Response {
    let Some(action) = Action::parse(&action) else {
        let msg = format!("no action {action:?}; use start, stop, restart, pause or continue");
        return ApiError::new(404, msg).into_response();
    };
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return ApiError::new(400, format!("bad query string: {}", e.body_text()))
                .into_response();
        }
    };
    let wait = q.wait.unwrap_or(true);
    let result = ask(&ctx, |reply| Request::Control {
        service: name,
        instance: q.instance,
        action,
        wait,
        reply,
    })
    .await;
    result.map(Json).into_response()
}

async fn config(State(ctx): State<Ctx>) -> Response {
    ask(&ctx, |reply| Request::Config { reply })
        .await
        .map(Json)
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadQuery {
    dry_run: Option<bool>,
    wait: Option<bool>,
}

/// Reads the config file again and applies what changed: 200 with the report, or 422
/// with the problems when the file is not valid (the running config is kept).
async fn reload(
    State(ctx): State<Ctx>,
    query: Result<Query<ReloadQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return ApiError::new(400, format!("bad query string: {}", e.body_text()))
                .into_response();
        }
    };
    let Some(tx) = &ctx.reload_tx else {
        let why = "steward runs the built-in demo: there is no config file to reload";
        return ApiError::new(409, why).into_response();
    };
    let (reply, answer) = oneshot::channel();
    let trigger = Trigger::Api {
        dry_run: q.dry_run.unwrap_or(false),
        wait: q.wait.unwrap_or(true),
        reply,
    };
    let gone = || ApiError::new(503, "steward is shutting down").into_response();
    if tx.send(trigger).await.is_err() {
        return gone();
    }
    match answer.await {
        Ok(Ok(report)) => (reload_status(&report), Json(report)).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(_) => gone(),
    }
}

fn reload_status(report: &ReloadReport) -> StatusCode {
    match report.outcome.as_str() {
        "invalid" | "unreadable" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::new(405, format!("{method} is not allowed on {}", uri.path())).into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    ApiError::new(404, format!("no such endpoint: {method} {}", uri.path())).into_response()
}

/// Sends a request to the loop and waits for its ticket.
async fn ask<T>(
    ctx: &Ctx,
    make: impl FnOnce(oneshot::Sender<Result<T, ApiError>>) -> Request,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    let gone = || ApiError::new(503, "steward is shutting down");
    ctx.loop_tx.send(make(tx)).await.map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}
