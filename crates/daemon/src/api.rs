//! The control API: JSON over HTTP on the Unix socket.
//!
//! Handlers do no work of their own: each turns the HTTP request into a [`Request`] for the
//! supervisor loop and waits for its ticket. Every request first passes
//! [`crate::auth::authorize`], which decides from the caller's identity and the config's
//! ACL; handlers journal the caller it found ([`Who`]).

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use steward_proto::{ConfigStatus, ErrorBody, Message, ReloadReport, ServiceStatus, TaskStatus};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Access, Gate, Transport, Who};
use crate::events::Feed;
use crate::reloader::Trigger;
use crate::supervisor::{Action, ApiError, Request};
use crate::usage::{Sampler, Snapshot};

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
    /// Reads usage on request (`?usage=true`, metrics); never on its own.
    sampler: Arc<Sampler>,
}

/// Binds the control socket with its group and mode from the first instant: the socket is
/// made in a private directory beside `path`, given its group and mode there, then
/// renamed into place, so there is no moment where it is looser than configured. Refuses
/// to take over a socket another steward still answers on.
pub fn bind(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<UnixListener> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another steward is already listening on {}", path.display()),
        ));
    }
    // Short: a Unix socket's path has at most 107 bytes, and this one is bound at.
    let private = dir.join(format!(".stw{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", private.display())))?;
    let made = private.join("s");
    let bound = UnixListener::bind(&made).and_then(|listener| {
        set_owner_and_mode(&made, mode, gid)?;
        std::fs::rename(&made, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_file(&made);
    let _ = std::fs::remove_dir(&private);
    bound
}

/// Gives the socket file its group (if one is configured) and mode.
pub fn set_owner_and_mode(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<()> {
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot give {} to gid {gid}: {e}", path.display()),
            )
        })?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Serves the API on `listener` (and `tcp`) until the loop's channel closes. `access` is
/// the policy of the moment; when a reload changes the socket's group or mode, they are
/// applied to the socket file at once.
pub async fn serve(
    listener: UnixListener,
    tcp: Option<crate::http::Front>,
    loop_tx: mpsc::Sender<Request>,
    reload_tx: Option<mpsc::Sender<Trigger>>,
    feed: Feed,
    access: watch::Receiver<Arc<Access>>,
    socket: PathBuf,
) {
    let ctx = Ctx {
        loop_tx: loop_tx.clone(),
        feed,
        reload_tx,
        sampler: Arc::new(Sampler::default()),
    };
    tokio::spawn(follow_socket_settings(access.clone(), socket.clone()));
    let gate = Arc::new(Gate::new(access.clone(), loop_tx));
    let app = router(ctx).layer(middleware::from_fn_with_state(gate, crate::auth::authorize));
    tokio::spawn(crate::http::follow(tcp, access, app.clone()));
    let service = app.into_make_service_with_connect_info::<Transport>();
    if let Err(e) = axum::serve(listener, service).await {
        warn!("API server on {} stopped: {e}", socket.display());
    }
}

/// Applies a reload's `socket_group` and `socket_mode` to the socket file.
async fn follow_socket_settings(mut access: watch::Receiver<Arc<Access>>, socket: PathBuf) {
    let mut applied = {
        let a = access.borrow_and_update();
        (a.socket_gid, a.socket_mode)
    };
    while access.changed().await.is_ok() {
        let wanted = {
            let a = access.borrow_and_update();
            (a.socket_gid, a.socket_mode)
        };
        if wanted == applied {
            continue;
        }
        match set_owner_and_mode(&socket, wanted.1, wanted.0) {
            Ok(()) => {
                tracing::info!(
                    "control socket {} now has mode {:04o}{}",
                    socket.display(),
                    wanted.1,
                    wanted.0.map_or(String::new(), |g| format!(" and gid {g}"))
                );
                applied = wanted;
            }
            Err(e) => warn!("cannot apply the new socket settings: {e}"),
        }
    }
}

/// The API's description, completed by the routes below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "steward",
        description = "steward's control API: JSON over HTTP on the Unix control socket, and \
            over TCP when `[http] listen` is set. Every error answer is an `ErrorBody`. On the \
            socket the caller is who the kernel says; over TCP, who its bearer token says, or \
            anonymous without one. A request the ACL refuses is answered 401 when the caller \
            has no identity (or a bad token) and 403 when its identity lacks the right: \
            `read` for GET, `control` for a service's actions, `admin` for reload and config.",
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
        .routes(routes!(scale))
        .routes(routes!(tasks))
        .routes(routes!(metrics))
        .routes(routes!(config))
        .routes(routes!(reload))
        .routes(routes!(shutdown))
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
    let mut doc = routes().split_for_parts().1;
    describe_access(&mut doc);
    doc
}

/// Every route can be refused (401, 403), and a TCP caller may present a bearer token:
/// said once here rather than on each route.
fn describe_access(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    use utoipa::openapi::{Content, Ref, ResponseBuilder};
    let refusal = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post].into_iter().flatten() {
            let r = &mut op.responses.responses;
            r.insert(
                "401".into(),
                refusal("No identity (a TCP caller without a token, or a bad token), and the ACL grants anonymous callers nothing of the kind").into(),
            );
            r.insert(
                "403".into(),
                refusal("The caller's identity lacks the right this request needs").into(),
            );
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    // Either no token (the Unix socket, or anonymous) or a bearer token.
    doc.security = Some(vec![
        SecurityRequirement::default(),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
    ]);
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
    Extension(who): Extension<Who>,
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
    let result = ask(&ctx, |reply| Request::Control {
        service: name,
        instance: q.instance,
        action,
        who: who.text,
        wait,
        reply,
    })
    .await;
    result.map(Json).into_response()
}

/// The body of `POST /v1/services/{name}/scale`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    /// How many instances the service runs from now on (0 to 10000).
    #[schema(maximum = 10000)]
    instances: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ScaleQuery {
    /// Answer once added instances have settled and removed ones are gone (the default),
    /// or as soon as the change is planned.
    wait: Option<bool>,
}

/// Changes a service's instance count at runtime: only the instances added or removed
/// start or stop (removed ones drain first behind a proxy endpoint). The config file is
/// not changed; a later reload keeps the count unless the file's `instances` for the
/// service changes.
#[utoipa::path(post, path = "/v1/services/{name}/scale", tag = "services",
    params(("name" = String, Path, description = "The service's name"), ScaleQuery),
    request_body = ScaleBody,
    responses(
        (status = 200, description = "What changed, once applied", body = ReloadReport),
        (status = 400, description = "A bad body or query string", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 503, description = "steward is shutting down", body = ErrorBody),
    ))]
async fn scale(
    State(ctx): State<Ctx>,
    Extension(who): Extension<Who>,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<ScaleQuery>, QueryRejection>,
    body: Result<Json<ScaleBody>, JsonRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => {
            let why = format!("the body must be {{\"instances\": N}}: {}", e.body_text());
            return ApiError::new(400, why).into_response();
        }
    };
    ask(&ctx, |reply| Request::Scale {
        service: name,
        instances: body.instances,
        who: who.text,
        wait: q.wait.unwrap_or(true),
        reply,
    })
    .await
    .map(Json)
    .into_response()
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
    Extension(who): Extension<Who>,
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
        who: who.text,
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

/// Stops every service, dependents first, then steward itself, as SIGTERM does. Answers
/// 202 once the stopping has begun; the connection ends when steward exits.
#[utoipa::path(post, path = "/v1/shutdown", tag = "config",
    responses(
        (status = 202, description = "Stopping has begun", body = Message),
        (status = 503, description = "steward is shutting down", body = ErrorBody),
    ))]
async fn shutdown(State(ctx): State<Ctx>, Extension(who): Extension<Who>) -> Response {
    match ask(&ctx, |reply| Request::Shutdown {
        who: who.text,
        reply,
    })
    .await
    {
        Ok(message) => (StatusCode::ACCEPTED, Json(Message { message })).into_response(),
        Err(e) => e.into_response(),
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
