//! Events: what `GET /v1/events` streams and the journal keeps.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ReloadReport, State};

/// One thing that happened. Ids grow by one per event and are never reused, across
/// restarts of steward too (they continue from the journal), so `Last-Event-ID` resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: u64,
    /// When it happened (RFC 3339, UTC, to the millisecond).
    pub at: String,
    /// The service it concerns; `null` for steward's own events and tasks.
    pub service: Option<String>,
    /// The instance it concerns, when one.
    pub instance: Option<u32>,
    /// What happened, in one line of words.
    pub message: String,
    /// What happened, as data; `kind` names the variant.
    #[serde(flatten)]
    pub body: EventBody,
}

/// The kinds of event. The SSE `event:` field is the `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventBody {
    /// An instance changed state.
    State {
        from: State,
        to: State,
        /// Why, in words (the instance's `reason`).
        reason: String,
        /// The process after the change, while one runs.
        pid: Option<u32>,
    },
    /// An instance's process ended, and what steward made of it.
    Exited {
        pid: Option<u32>,
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Signal name, when a signal ended it.
        signal: Option<String>,
        counted_as_failure: bool,
        /// How it ended and what it counted as, e.g. "exit code 3: failure".
        counted_as: String,
    },
    /// A health probe started passing or failing.
    Probe {
        /// `readiness` or `liveness`.
        probe: String,
        passing: bool,
        detail: Option<String>,
    },
    /// A recovery or give-up command was run for a service.
    Recovery {
        /// `recovery` or `give-up`.
        purpose: String,
        command: Vec<String>,
        /// The process, when it started.
        pid: Option<u32>,
        /// Why it could not start.
        error: Option<String>,
    },
    /// An operator's action through the API.
    Control {
        /// `start`, `stop`, `restart`, `pause` or `continue`.
        action: String,
        /// Who asked, as the kernel says (e.g. "uid 1000 (alice), pid 4242").
        who: String,
        /// `accepted`, or the refusal in words.
        outcome: String,
    },
    /// A request the API refused: who, what, and the right it lacked.
    Access {
        /// The caller, as the kernel or its token says; `anonymous from ADDRESS` without one.
        who: String,
        /// Method and path, e.g. `POST /v1/services/web/stop`.
        request: String,
        /// The right the request needs: `read`, `control` or `admin`.
        right: String,
        /// The answer's status: 401 (no or bad identity) or 403 (lacks the right).
        status: u16,
        /// Why, in words (names the matching deny entry for an authenticated caller).
        reason: String,
    },
    /// A reload attempt and its plan (dry runs are not events).
    Reload {
        /// Who asked, for `POST /v1/reload`.
        who: Option<String>,
        report: Box<ReloadReport>,
    },
    /// A startup task ended (or was skipped as already done).
    Task {
        name: String,
        /// `succeeded`, `failed`, `timed-out` or `skipped`.
        state: String,
        outcome: String,
    },
    /// steward itself: `started`, `stopping`, `stopped`.
    Supervisor { what: String },
    /// The journal could not keep events, or can again.
    Journal { ok: bool, problem: Option<String> },
}

impl EventBody {
    /// Every `kind`, as [`EventBody::kind`] spells them.
    pub const KINDS: [&'static str; 10] = [
        "state",
        "exited",
        "probe",
        "recovery",
        "control",
        "reload",
        "task",
        "supervisor",
        "journal",
        "access",
    ];

    /// The `kind` tag, also the SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[match self {
            EventBody::State { .. } => 0,
            EventBody::Exited { .. } => 1,
            EventBody::Probe { .. } => 2,
            EventBody::Recovery { .. } => 3,
            EventBody::Control { .. } => 4,
            EventBody::Reload { .. } => 5,
            EventBody::Task { .. } => 6,
            EventBody::Supervisor { .. } => 7,
            EventBody::Journal { .. } => 8,
            EventBody::Access { .. } => 9,
        }]
    }
}

/// `GET /v1/journal`: where events are kept and whether that works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JournalStatus {
    /// The SQLite file.
    pub path: String,
    /// Whether the last write succeeded.
    pub ok: bool,
    /// The last problem, while there is one.
    pub problem: Option<String>,
    /// Events in the file.
    pub events: u64,
    pub oldest_id: Option<u64>,
    pub newest_id: Option<u64>,
    /// Events that could not be written (they were still streamed), since steward started.
    pub lost: u64,
    /// Retention: events older than this many seconds are removed.
    pub max_age_seconds: u64,
    /// Retention: at most this many events are kept.
    pub max_events: u64,
}
