//! `GET /v1/services/{name}/logs`: a stream's history as plain text and, with
//! `follow=true`, what it writes next, streamed until the client goes away or the
//! instance is removed.
//!
//! The loop only says where the files are (and hands over the stream's watch); every file
//! read runs on the blocking pool, never on the runtime the loop shares.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hyper::body::{Body, Bytes, Frame};
use serde::Deserialize;
use steward_proto::ErrorBody;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;
use utoipa::IntoParams;

use super::read::{self, CHUNK, Select};
use super::{Output, Source};
use crate::api::Ctx;
use crate::supervisor::{ApiError, Request};

/// Lines shown when neither `lines` nor `since` is given.
pub const DEFAULT_LINES: usize = 100;

/// Read as strings, so each bad value is refused with a message naming its field.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// The instance (0-based); may be left out when the service has one.
    #[param(value_type = Option<u32>)]
    instance: Option<String>,
    /// `out` (stdout, with stderr when merged; the default) or `err` (stderr kept apart).
    stream: Option<String>,
    /// How many of the last lines, or `all` (default 100, or all with `since`).
    lines: Option<String>,
    /// Lines since a time: RFC 3339, or a duration back from now (`10m`); needs
    /// `timestamps = true`.
    since: Option<String>,
    /// Keep the answer open and stream what the instance writes next.
    #[param(value_type = Option<bool>)]
    follow: Option<String>,
}

/// What the query asks for, checked.
#[derive(Debug)]
struct Asked {
    instance: Option<u32>,
    output: Output,
    select: Select,
    follow: bool,
}

/// An instance's captured output as plain text: the last lines, or those since a time,
/// and with `follow=true` what it writes next, across rotations.
#[utoipa::path(get, path = "/v1/services/{name}/logs", tag = "services",
    params(("name" = String, Path, description = "The service's name"), LogsQuery),
    responses(
        (status = 200, description = "The output, as the service wrote it", content_type = "text/plain", body = String),
        (status = 400, description = "A bad query parameter (named in the message)", body = ErrorBody),
        (status = 404, description = "No such service or instance", body = ErrorBody),
        (status = 409, description = "The service's output is not captured", body = ErrorBody),
        (status = 503, description = "steward is shutting down", body = ErrorBody),
    ))]
pub(crate) async fn logs(
    State(ctx): State<Ctx>,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Response {
    match serve(ctx, name, query).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve(
    ctx: Ctx,
    service: String,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(crate::api::query_error)?;
    let asked = parse(q, jiff::Timestamp::now())?;
    let (reply, answer) = oneshot::channel();
    let gone = |_| ApiError::new(503, "steward is shutting down");
    let request = Request::Logs {
        service: service.clone(),
        instance: asked.instance,
        output: asked.output,
        follow: asked.follow,
        reply,
    };
    ctx.loop_tx.send(request).await.map_err(|_| gone(()))?;
    let source = answer.await.map_err(|_| gone(()))??;
    if asked.select.since.is_some() && !source.timestamps {
        return Err(ApiError::new(
            400,
            format!(
                "`since` needs timestamped lines, and service {service} has \
                 `log.timestamps = false`; use `lines` instead"
            ),
        ));
    }
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(produce(source, asked.select, asked.follow, tx));
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        axum::body::Body::new(ChannelBody(rx)),
    )
        .into_response())
}

fn parse(q: LogsQuery, now: jiff::Timestamp) -> Result<Asked, ApiError> {
    let bad = |field: &str, want: &str, found: &str| {
        ApiError::new(400, format!("`{field}` must be {want}, found {found:?}"))
    };
    let instance = match q.instance.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| bad("instance", "an instance number", s))?,
        ),
    };
    let output = match q.stream.as_deref() {
        None | Some("out") => Output::Out,
        Some("err") => Output::Err,
        Some(s) => return Err(bad("stream", "\"out\" or \"err\"", s)),
    };
    let since = match q.since.as_deref() {
        None => None,
        Some(s) => Some(crate::api::parse_since(s, now).ok_or_else(|| {
            bad(
                "since",
                "an RFC 3339 time (2026-05-20T10:00:00Z) or a duration back from now (10m)",
                s,
            )
        })?),
    };
    let lines = match q.lines.as_deref() {
        None if since.is_some() => None,
        None => Some(DEFAULT_LINES),
        Some("all") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| bad("lines", "a number or \"all\"", s))?,
        ),
    };
    let follow = match q.follow.as_deref() {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(s) => return Err(bad("follow", "true or false", s)),
    };
    Ok(Asked {
        instance,
        output,
        select: Select { lines, since },
        follow,
    })
}

/// Sends the history, then (when following) each new piece as the stream's watch says
/// there is one.
async fn produce(
    source: Source,
    select: Select,
    follow: bool,
    tx: mpsc::Sender<io::Result<Bytes>>,
) {
    let Source {
        dir,
        name,
        keep,
        progress,
        ..
    } = source;
    // Subscribed before reading: anything written from now on wakes the follower.
    let progress = match (follow, progress) {
        (true, Some(s)) => s.watch().await,
        _ => None,
    };
    let history_tx = tx.clone();
    let what = dir.join(&name).display().to_string();
    let history = tokio::task::spawn_blocking(move || {
        read::history(dir, name, keep, select, &mut |chunk| {
            history_tx.blocking_send(Ok(Bytes::from(chunk))).is_ok()
        })
    })
    .await;
    let mut follower = match history {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return fail(&tx, &what, e).await,
        Err(_) => return,
    };
    let (true, Some(mut progress)) = (follow, progress) else {
        return;
    };
    let mut ended = false;
    loop {
        progress.borrow_and_update();
        let polled = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let more = follower.poll(&mut out, CHUNK);
            (follower, out, more)
        })
        .await;
        let Ok((f, chunk, more)) = polled else {
            return;
        };
        follower = f;
        let more = match more {
            Ok(m) => m,
            Err(e) => return fail(&tx, &what, e).await,
        };
        if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            return;
        }
        if more {
            continue;
        }
        if ended {
            return;
        }
        tokio::select! {
            // The stream is gone (instance removed, steward exiting): one last read.
            changed = progress.changed() => ended = changed.is_err(),
            _ = tx.closed() => return,
        }
    }
}

async fn fail(tx: &mpsc::Sender<io::Result<Bytes>>, what: &str, e: io::Error) {
    warn!("cannot read the logs in {what}: {e}");
    // An error in the body ends the response abruptly, so the client knows it is cut short.
    let _ = tx.send(Err(e)).await;
}

/// A response body fed by a channel.
struct ChannelBody(mpsc::Receiver<io::Result<Bytes>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> LogsQuery {
        let get = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string());
        LogsQuery {
            instance: get("instance"),
            stream: get("stream"),
            lines: get("lines"),
            since: get("since"),
            follow: get("follow"),
        }
    }

    #[test]
    fn queries_are_checked_field_by_field() {
        let now: jiff::Timestamp = "2026-05-20T10:00:00Z".parse().unwrap();
        let a = parse(q(&[]), now).unwrap();
        assert_eq!((a.instance, a.output, a.follow), (None, Output::Out, false));
        assert_eq!(a.select.lines, Some(DEFAULT_LINES));
        let a = parse(
            q(&[("since", "10m"), ("stream", "err"), ("follow", "true")]),
            now,
        )
        .unwrap();
        assert_eq!(
            a.select.since,
            Some("2026-05-20T09:50:00Z".parse().unwrap())
        );
        assert_eq!(
            (a.select.lines, a.output, a.follow),
            (None, Output::Err, true)
        );
        let a = parse(
            q(&[("since", "2026-05-20T09:00:00+02:00"), ("lines", "5")]),
            now,
        )
        .unwrap();
        assert_eq!(
            a.select.since,
            Some("2026-05-20T07:00:00Z".parse().unwrap())
        );
        assert_eq!(a.select.lines, Some(5));
        assert_eq!(
            parse(q(&[("lines", "all")]), now).unwrap().select.lines,
            None
        );
        for (field, value) in [
            ("lines", "many"),
            ("since", "yesterday"),
            ("stream", "both"),
            ("follow", "yes"),
            ("instance", "-1"),
        ] {
            let e = parse(q(&[(field, value)]), now).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(
                e.message.starts_with(&format!("`{field}` must be")),
                "{e:?}"
            );
        }
    }
}
