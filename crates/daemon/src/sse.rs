//! `GET /v1/events` (server-sent events, with history from the journal) and
//! `GET /v1/journal`.
//!
//! A stream subscribes to the live feed first and only then asks the journal for history,
//! so every event is in one or the other; ids it has already sent are skipped. A
//! subscriber that falls behind the live feed reads what it missed from the journal.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use steward_proto::{ErrorBody, Event, JournalStatus};
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa::IntoParams;

use crate::api::Ctx;
use crate::journal::{self, Filter, Shared};
use crate::supervisor::ApiError;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Events after this id (as `Last-Event-ID`, which wins when both are given).
    after: Option<u64>,
    /// Events since a time: RFC 3339, or a duration back from now ("10m").
    since: Option<String>,
    service: Option<String>,
    instance: Option<u32>,
    /// The newest this many events first (of those `since`/`service` select).
    tail: Option<usize>,
    /// Keep the stream open for new events (the default); `false` ends it after history.
    follow: Option<bool>,
}

/// Events as server-sent events: history from the journal first (when `after`, `since`,
/// `tail` or a `Last-Event-ID` header asks for it), then live ones as they happen. Each
/// SSE message has `id:` (the event's id), `event:` (its kind) and `data:` (the `Event`
/// as JSON). A `gap` message (no id) says that events could not be read.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this id (wins over `after`)"),
    ),
    responses(
        (status = 200, description = "A stream of `Event`s", content_type = "text/event-stream", body = Event),
        (status = 400, description = "A bad query string or Last-Event-ID", body = ErrorBody),
    ))]
pub(crate) async fn events(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return crate::api::bad_query(e);
        }
    };
    let after = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => q.after,
        Some(Ok(v)) => match v.trim().parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                let why = format!("Last-Event-ID must be an event id (a number), not {v:?}");
                return ApiError::new(400, why).into_response();
            }
        },
        Some(Err(_)) => {
            return ApiError::new(400, "Last-Event-ID must be an event id (a number)")
                .into_response();
        }
    };
    let since_ms = match q.since.as_deref() {
        None => None,
        Some(s) => match crate::api::parse_since(s, jiff::Timestamp::now()) {
            Some(t) => Some(t.as_millisecond()),
            None => {
                let why = format!(
                    "`since` must be an RFC 3339 time (2026-11-21T09:00:00Z) or a duration back \
                     from now (10m), found {s:?}"
                );
                return ApiError::new(400, why).into_response();
            }
        },
    };
    let history = after.is_some() || since_ms.is_some() || q.tail.is_some();
    let filter = Filter {
        after,
        since_ms,
        service: q.service,
        instance: q.instance,
        tail: None,
    };
    // Subscribe before reading history, so nothing falls between the two.
    let live = ctx.feed.live.subscribe();
    let state = Streaming {
        journal: ctx.feed.journal.clone(),
        live,
        filter,
        tail: q.tail,
        follow: q.follow.unwrap_or(true),
        pending: VecDeque::new(),
        cursor: after.unwrap_or(0),
        // With nothing asked of the past, only what happens from now on.
        catch_up: history,
    };
    Sse::new(stream(state))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Where events are kept, how many, and whether writing them works.
#[utoipa::path(get, path = "/v1/journal", tag = "events",
    responses(
        (status = 200, body = JournalStatus),
        (status = 503, description = "The journal thread is not running", body = ErrorBody),
    ))]
pub(crate) async fn journal(State(ctx): State<Ctx>) -> Response {
    match ctx.feed.journal.status().await {
        Some(s) => Json(s).into_response(),
        None => ApiError::new(503, "the journal is not running").into_response(),
    }
}

/// One subscriber's position.
struct Streaming {
    journal: journal::Journal,
    live: broadcast::Receiver<Shared>,
    filter: Filter,
    /// The newest this many first; applies to the first read of history only.
    tail: Option<usize>,
    follow: bool,
    pending: VecDeque<Item>,
    /// The newest id queued: nothing at or below it is queued again.
    cursor: u64,
    /// Read the journal before the live feed (history, or what a lag skipped).
    catch_up: bool,
}

enum Item {
    Event(Shared),
    /// Events that cannot be read: said as an SSE `gap` event, without an id.
    Gap(String),
}

fn stream(state: Streaming) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.pending.pop_front() {
                let event = match item {
                    Item::Event(r) => SseEvent::default()
                        .id(r.id.to_string())
                        .event(r.kind)
                        .data(&*r.json),
                    Item::Gap(why) => SseEvent::default().event("gap").data(
                        serde_json::json!({ "before": s.cursor, "message": why }).to_string(),
                    ),
                };
                return Some((Ok(event), s));
            }
            if s.catch_up {
                s.read_journal().await;
                continue;
            }
            if !s.follow {
                return None;
            }
            match s.live.recv().await {
                Ok(r) => s.queue(r),
                // Fell behind the live feed: the journal has what was skipped.
                Err(RecvError::Lagged(_)) => s.catch_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

impl Streaming {
    fn queue(&mut self, r: Shared) {
        if r.id > self.cursor && self.filter.matches(&r) {
            self.cursor = r.id;
            self.pending.push_back(Item::Event(r));
        }
    }

    /// One page of history after `cursor`; `catch_up` stays set while pages come full.
    async fn read_journal(&mut self) {
        let mut filter = self.filter.clone();
        if self.cursor > 0 {
            filter.after = Some(self.cursor);
        }
        filter.tail = self.tail.take();
        let tailed = filter.tail.is_some();
        let found = self.journal.query(filter).await;
        if let Some(gap) = found.gap {
            self.pending.push_back(Item::Gap(gap));
        }
        self.catch_up = !tailed && found.events.len() >= journal::PAGE;
        for r in found.events {
            self.queue(r);
        }
    }
}
