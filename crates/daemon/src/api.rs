//! The control API: JSON over HTTP on the Unix socket.
//!
//! Handlers do no work of their own: each turns the HTTP request into a [`Request`] for the
//! supervisor loop and waits for its ticket. Who may connect is decided from the peer's
//! kernel credentials (`SO_PEERCRED`): by default root and the user steward runs as.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, Request as HttpRequest, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use steward_proto::{ConfigStatus, ErrorBody, ReloadReport, ServiceStatus, TaskStatus};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::events::Feed;
use crate::reloader::Trigger;
use crate::supervisor::{Action, ApiError, Request};
use crate::usage::{Sampler, Snapshot};

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

impl Peer {
    /// Who the caller is, for the journal: "uid 1000 (alice), pid 4242". The user's name
    /// comes from the name service, which may be remote (LDAP): looked up on a blocking
    /// thread, never on the one the supervisor loop shares.
    pub async fn describe(&self) -> String {
        let uid = self.uid;
        let name = tokio::task::spawn_blocking(move || {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
        })
        .await
        .ok()
        .flatten()
        .map_or(String::new(), |u| format!(" ({})", u.name));
        match self.pid {
            Some(pid) => format!("uid {}{name}, pid {pid}", self.uid),
            None => format!("uid {}{name}", self.uid),
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
    pub(crate) feed: Feed,
    /// `None` when there is no config file to reload (the built-in demo).
    reload_tx: Option<mpsc::Sender<Trigger>>,
    owner_uid: u32,
    /// Reads usage on request (`?usage=true`, metrics); never on its own.
    sampler: Arc<Sampler>,
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
    feed: Feed,
    socket: PathBuf,
) {
    let ctx = Ctx {
        loop_tx,
        feed,
        reload_tx,
        owner_uid: nix::unistd::geteuid().as_raw(),
        sampler: Arc::new(Sampler::default()),
    };
    let app = router(ctx.clone()).layer(middleware::from_fn_with_state(ctx, check_peer));
    let service = app.into_make_service_with_connect_info::<Peer>();
    if let Err(e) = axum::serve(listener, service).await {
        warn!("API server on {} stopped: {e}", socket.display());
    }
}

/// The API's description, completed by the routes below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "steward",
        description = "steward's control API: JSON over HTTP on the Unix control socket. \
            Every error answer is an `ErrorBody`. A caller the socket's ACL refuses gets 403.",
        license(name = "MIT OR Apache-2.0")
    ),
    tags(
        (name = "services", description = "Status and control of services"),
        (name = "config", description = "The running config and reloads"),
        (name = "events", description = "The event stream and the journal"),
        (name = "meta", description = "This description")
    ),
    components(schemas(ActionWord))
)]
struct ApiDoc;

/// Every route, each with its OpenAPI description: the router and the document are made
/// from the same list, so they cannot disagree.
fn routes() -> OpenApiRouter<Ctx> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(control))
        .routes(routes!(tasks))
        .routes(routes!(metrics))
        .routes(routes!(config))
        .routes(routes!(reload))
        .routes(routes!(crate::sse::events))
        .routes(routes!(crate::sse::journal))
        .routes(routes!(crate::logs::api::logs))
        .routes(routes!(openapi_json))
}

/// A `since` parameter: an RFC 3339 time, or a duration (`10m`, `1h30m`) back from `now`.
pub(crate) fn parse_since(s: &str, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    let d = steward_core::duration::parse_duration(s).ok()?;
    let d = jiff::SignedDuration::try_from(d).ok()?;
    now.checked_sub(d).ok()
}

/// The OpenAPI 3 document of this API (`GET /v1/openapi.json`, `docs/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

fn router(ctx: Ctx) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json", body = Object)))]
async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| openapi().to_pretty_json().unwrap_or_default());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.clone(),
    )
        .into_response()
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatusQuery {
    /// Add each instance's resource usage (CPU, memory, threads, fds, processes), read
    /// from /proc for this request.
    usage: Option<bool>,
}

/// Every service and its instances.
#[utoipa::path(get, path = "/v1/services", tag = "services",
    params(StatusQuery),
    responses(
        (status = 200, body = Vec<ServiceStatus>),
        (status = 400, description = "A bad query string", body = ErrorBody),
    ))]
async fn list(
    State(ctx): State<Ctx>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Response {
    let usage = match query {
        Ok(Query(q)) => q.usage.unwrap_or(false),
        Err(e) => return bad_query(e),
    };
    statuses(&ctx, None, usage).await.map(Json).into_response()
}

/// The startup tasks, in order.
#[utoipa::path(get, path = "/v1/tasks", tag = "services",
    responses((status = 200, body = Vec<TaskStatus>)))]
async fn tasks(State(ctx): State<Ctx>) -> Response {
    ask(&ctx, |reply| Request::Tasks { reply })
        .await
        .map(Json)
        .into_response()
}

/// One service and its instances.
#[utoipa::path(get, path = "/v1/services/{name}", tag = "services",
    params(("name" = String, Path, description = "The service's name"), StatusQuery),
    responses(
        (status = 200, body = ServiceStatus),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
    ))]
async fn show(
    State(ctx): State<Ctx>,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Response {
    let usage = match query {
        Ok(Query(q)) => q.usage.unwrap_or(false),
        Err(e) => return bad_query(e),
    };
    let result = statuses(&ctx, Some(name), usage).await;
    result.map(|mut list| Json(list.remove(0))).into_response()
}

/// Status documents; with `usage`, filled from /proc on a blocking thread, so the loop
/// only hands over what it owns.
async fn statuses(
    ctx: &Ctx,
    service: Option<String>,
    usage: bool,
) -> Result<Vec<ServiceStatus>, ApiError> {
    if !usage {
        return ask(ctx, |reply| Request::Status { service, reply }).await;
    }
    let snapshot = ask(ctx, |reply| Request::Usage { service, reply }).await?;
    let sampler = ctx.sampler.clone();
    sample(move || sampler.fill(snapshot)).await
}

/// Prometheus text format (0.0.4), generated for each scrape: every instance's state,
/// restarts, failures, uptime, CPU and memory, and steward's own.
#[utoipa::path(get, path = "/v1/metrics", tag = "services",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(State(ctx): State<Ctx>) -> Response {
    let snapshot: Snapshot = match ask(&ctx, |reply| Request::Usage {
        service: None,
        reply,
    })
    .await
    {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let sampler = ctx.sampler.clone();
    let text = sample(move || {
        let services = sampler.fill(snapshot);
        let own = crate::usage::own();
        crate::metrics::render(&services, own.as_ref(), env!("CARGO_PKG_VERSION"))
    })
    .await;
    match text {
        Ok(text) => ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Runs a /proc reader on tokio's blocking threads.
async fn sample<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(500, format!("reading usage failed: {e}")))
}

/// A query string the route's parameters refuse: 400, with what was wrong.
pub(crate) fn query_error(e: QueryRejection) -> ApiError {
    ApiError::new(400, format!("bad query string: {}", e.body_text()))
}

pub(crate) fn bad_query(e: QueryRejection) -> Response {
    query_error(e).into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ControlQuery {
    /// Only this instance (0-based); all of them when absent.
    instance: Option<u32>,
    /// Answer once the action took effect (the default), or as soon as it is accepted.
    wait: Option<bool>,
}

/// What an operator may do to a service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Only described: the handler parses the word itself, to name it in errors.
enum ActionWord {
    Start,
    Stop,
    Restart,
    Pause,
    Continue,
}

/// Starts, stops, restarts, pauses or continues a service (or one instance). Refused as a
/// whole (409) when one targeted instance cannot take the action.
#[utoipa::path(post, path = "/v1/services/{name}/{action}", tag = "services",
    params(
        ("name" = String, Path, description = "The service's name"),
        ("action" = ActionWord, Path, description = "What to do"),
        ControlQuery,
    ),
    responses(
        (status = 200, description = "The service's status once the action took effect", body = ServiceStatus),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 404, description = "No such service, instance or action", body = ErrorBody),
        (status = 409, description = "An instance cannot take the action now", body = ErrorBody),
        (status = 503, description = "steward is shutting down", body = ErrorBody),
    ))]
async fn control(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<Peer>,
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
            return bad_query(e);
        }
    };
    let wait = q.wait.unwrap_or(true);
    let who = peer.describe().await;
    let result = ask(&ctx, |reply| Request::Control {
        service: name,
        instance: q.instance,
        action,
        who,
        wait,
        reply,
    })
    .await;
    result.map(Json).into_response()
}

/// The config steward runs, and how the last reload went.
#[utoipa::path(get, path = "/v1/config", tag = "config",
    responses((status = 200, body = ConfigStatus)))]
async fn config(State(ctx): State<Ctx>) -> Response {
    ask(&ctx, |reply| Request::Config { reply })
        .await
        .map(Json)
        .into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReloadQuery {
    /// Only plan: say what would change, change nothing.
    dry_run: Option<bool>,
    /// Answer once restarted instances have settled (the default), or once planned.
    wait: Option<bool>,
}

/// Reads the config file again and applies what changed: 200 with the report, or 422
/// with the problems when the file is not valid (the running config is kept).
#[utoipa::path(post, path = "/v1/reload", tag = "config",
    params(ReloadQuery),
    responses(
        (status = 200, description = "Applied, unchanged or planned (dry run)", body = ReloadReport),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 409, description = "No config file to reload (the built-in demo)", body = ErrorBody),
        (status = 422, description = "The file is not valid; nothing changed", body = ReloadReport),
        (status = 503, description = "steward is shutting down", body = ErrorBody),
    ))]
async fn reload(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    query: Result<Query<ReloadQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return bad_query(e);
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
        who: peer.describe().await,
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

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is this API's document; `STEWARD_UPDATE_DOCS=1` rewrites it.
    #[test]
    fn the_committed_openapi_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let current = format!("{}\n", super::openapi().to_pretty_json().unwrap());
        if std::env::var_os("STEWARD_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &current).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == current,
            "docs/openapi.json is not the API's document; regenerate it with \
             `STEWARD_UPDATE_DOCS=1 cargo test -p steward-daemon openapi` (or `steward openapi`)"
        );
    }
}
