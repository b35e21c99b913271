//! The JSON documents of steward's API (`/v1/...`), shared by the daemon, the CLI and any
//! client. Field names are the contract: add fields, never rename them.

use serde::{Deserialize, Serialize};

/// The lifecycle state of one instance, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Stopped,
    StartPending,
    Running,
    StopPending,
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
            State::Backoff => "backoff",
            State::Failed => "failed",
        }
    }
}

/// `GET /v1/services/{name}`; `GET /v1/services` returns an array of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Automatic restarts since steward started.
    pub restarts: u32,
    /// Failures counted since the last reset (`reset_failures_after`).
    pub failures: u32,
    pub last_exit: Option<LastExit>,
    /// Why the instance is in its state, in words (e.g. "restarting in 200ms after failure 2").
    pub reason: String,
}

/// How the previous run ended and what steward made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// The body of `POST /v1/services/{name}/{start|stop|restart}`: the service's status once
/// the action has been applied (`wait=false` answers as soon as it was accepted).
pub type ControlResponse = ServiceStatus;
