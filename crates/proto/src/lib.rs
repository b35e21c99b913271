//! The JSON documents of steward's API (`/v1/...`), shared by the daemon, the CLI and any
//! client. Field names are the contract: add fields, never rename them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod events;
pub use events::{Event, EventBody, JournalStatus};

mod usage;
pub use usage::Usage;

/// The lifecycle state of one instance, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Stopped,
    StartPending,
    Running,
    StopPending,
    PausePending,
    Paused,
    ContinuePending,
    Backoff,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::StartPending => "start-pending",
            State::Running => "running",
            State::StopPending => "stop-pending",
            State::PausePending => "pause-pending",
            State::Paused => "paused",
            State::ContinuePending => "continue-pending",
            State::Backoff => "backoff",
            State::Failed => "failed",
        }
    }
}

/// `GET /v1/services/{name}`; `GET /v1/services` returns an array of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceStatus {
    pub name: String,
    pub instances: Vec<InstanceStatus>,
    /// The service's endpoint and its figures since steward started, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointStatus>,
}

/// A service's endpoint: where it listens and what it has done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointStatus {
    /// `unix:/path` or `tcp:IP:PORT`.
    pub listen: String,
    /// `proxy` or `socket`.
    pub mode: String,
    /// `round-robin`, `least-connections` or `random` (proxy mode).
    pub balance: String,
    /// Whether the address is bound and served; `false` with `error` saying why.
    pub listening: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Connections accepted (proxy mode; in socket mode the instances accept).
    pub accepted: u64,
    /// Connections open now.
    pub active: u64,
    /// Connections refused by the endpoint's ACL.
    pub refused: u64,
    /// Connections closed because no instance could take them.
    pub unavailable: u64,
    /// Connection attempts an instance refused, retried on the next one.
    pub failed_over: u64,
    /// Bytes from clients to instances, and back.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Per instance (proxy mode).
    pub instances: Vec<EndpointInstance>,
}

/// One instance behind a proxy endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointInstance {
    pub instance: u32,
    /// Where the instance listens (its `STEWARD_LISTEN`).
    pub address: String,
    /// Whether new connections go to it now (running, ready, no failing probe).
    pub takes_connections: bool,
    /// Connections relayed to it.
    pub connections: u64,
    /// Open now.
    pub active: u64,
    /// Connection attempts it refused.
    pub failed: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceStatus {
    /// The service's name.
    pub name: String,
    /// 0-based index, the value of `STEWARD_INSTANCE`.
    pub instance: u32,
    pub state: State,
    /// The process (and process group) id while one runs.
    pub pid: Option<u32>,
    /// When the instance entered `state` (RFC 3339, UTC).
    pub since: String,
    /// Seconds in `state` when the document was made.
    pub since_seconds: f64,
    /// Seconds since the live process started (a pause does not reset it).
    pub uptime_seconds: Option<f64>,
    /// Automatic restarts since steward started.
    pub restarts: u32,
    /// Failures counted since the last reset (`reset_failures_after`).
    pub failures: u32,
    pub last_exit: Option<LastExit>,
    /// Why the instance is in its state, in words (e.g. "restarting in 200ms after failure 2").
    pub reason: String,
    /// What the service said through the notify socket during this run.
    pub notify: Option<NotifyStatus>,
    /// Readiness and liveness probes, when configured.
    pub probes: Vec<ProbeStatus>,
    /// The watchdog period in seconds, while one is set.
    pub watchdog_seconds: Option<f64>,
    /// What the run's processes use; only when the request asks (`?usage=true`) and a
    /// process runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// The notify protocol's view of an instance (`NOTIFY_SOCKET`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifyStatus {
    /// `READY=1` was received during this run.
    pub ready: bool,
    /// `RELOADING=1` was received and no `READY=1` since.
    pub reloading: bool,
    /// `STOPPING=1` was received.
    pub stopping: bool,
    /// The last `STATUS=` text.
    pub status: Option<String>,
    pub main_pid: Option<u32>,
    pub errno: Option<i32>,
    pub exit_status: Option<String>,
    /// Datagrams refused (from a process outside the instance, or too long) and lines that
    /// were not valid notify assignments.
    pub rejected: u64,
}

/// One health probe's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProbeStatus {
    /// `readiness` or `liveness`.
    pub kind: String,
    /// What it checks, e.g. `tcp 127.0.0.1:7000`.
    pub check: String,
    /// `null` until its threshold was reached once.
    pub passing: Option<bool>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    /// When it last ran (RFC 3339, UTC).
    pub last_checked: Option<String>,
}

/// A startup task (`[[task]]`): `GET /v1/tasks` returns these in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskStatus {
    pub name: String,
    /// `once`, `every-start` or `background`.
    pub mode: String,
    /// `pending`, `running`, `succeeded`, `failed`, `timed-out`, `skipped` (a `once` task
    /// that already succeeded), or `background` (started; see its service status).
    pub state: String,
    pub pid: Option<u32>,
    /// The outcome in words, e.g. "exit code 0", "timed out after 60s (it may be waiting
    /// for input)", "already done on 2026-11-21T09:00:00Z".
    pub outcome: Option<String>,
}

/// How the previous run ended and what steward made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastExit {
    /// Exit code, when the process exited.
    pub code: Option<i32>,
    /// Signal name (e.g. "SIGKILL"), when a signal ended it.
    pub signal: Option<String>,
    pub counted_as_failure: bool,
    /// How it ended and what it counted as, e.g. "exit code 3: failure",
    /// "killed by SIGTERM: stopped on request", "failure: could not start: ...".
    pub counted_as: String,
    /// When it ended (RFC 3339, UTC).
    pub at: String,
}

/// An answer that is only words (`POST /v1/shutdown`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// The body of `POST /v1/services/{name}/{start|stop|restart}`: the service's status once
/// the action has been applied (`wait=false` answers as soon as it was accepted).
pub type ControlResponse = ServiceStatus;

/// `GET /v1/config`: the config steward runs, and how the last reload went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigStatus {
    /// The config file; `null` for the built-in demo.
    pub path: Option<String>,
    /// SHA-256 of the file's bytes as loaded, in hex (what `sha256sum` prints).
    pub sha256: String,
    /// When this config was loaded (RFC 3339, UTC).
    pub loaded_at: String,
    pub services: usize,
    pub instances: u32,
    /// Whether a change of the file reloads it (`[supervisor] on_config_change`).
    pub watching: bool,
    /// The text of the active config.
    pub source: String,
    /// The last reload attempt, applied or not; `null` before the first.
    pub last_reload: Option<ReloadReport>,
}

/// What a reload did, or why it did nothing: the body of `POST /v1/reload` (200 when the
/// config was valid, 422 when it was not) and `last_reload` in `GET /v1/config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReloadReport {
    /// When it was attempted (RFC 3339, UTC).
    pub at: String,
    /// What asked for it: `api`, `signal` (SIGHUP) or `file` (the file changed).
    pub trigger: String,
    /// `applied`, `unchanged` (the file says what already runs), `dry-run` (planned, not
    /// applied), `invalid` (the old config keeps running) or `unreadable`.
    pub outcome: String,
    /// SHA-256 of the file that was read, when it could be read.
    pub sha256: Option<String>,
    /// Why it was not applied, in one line.
    pub error: Option<String>,
    /// Every problem found in the file, with its position.
    pub diagnostics: Vec<ConfigDiagnostic>,
    /// Per service that changes, in the order it is applied: removed services first, then
    /// the others in dependency order.
    pub plan: Vec<ServicePlan>,
    /// How many services stay as they are (their processes are not touched).
    pub unchanged: usize,
    /// Settings that changed but take effect only when steward restarts.
    pub needs_restart: Vec<String>,
    /// The plan in words, one line per service that changes.
    pub summary: Vec<String>,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigDiagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
    /// The whole diagnostic as `steward check` prints it: position, source line, caret.
    pub rendered: String,
}

/// One service's part of a reload plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServicePlan {
    pub name: String,
    /// `added`, `removed`, `restarted` or `updated` (applied without a restart).
    pub change: String,
    /// The keys whose values changed.
    pub keys: Vec<String>,
    pub instances: Vec<InstancePlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstancePlan {
    pub instance: u32,
    /// `keep`, `update`, `start`, `stop`, `restart` or `restart-paused`.
    pub step: String,
}
