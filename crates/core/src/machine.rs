//! The life of one service instance as a pure function: [`step`] takes the instance, its
//! spec, an [`Input`] and the time, updates the instance and returns the [`Effect`]s the
//! daemon must carry out. It never sleeps: when the instance needs to be woken later it sets
//! [`Instance::deadline`], and the daemon feeds [`Input::Tick`] once that time has come.
//!
//! ```text
//!              Start                 Spawned              exit (not asked)
//!   stopped ───────────▶ start-pending ──────▶ running ──────────────┐
//!      ▲                      ▲                   │ Stop             ▼
//!      │ exit                 │ Tick (delay)      ▼            classify: failure?
//!      └──────────────── stop-pending         backoff ◀── restart ──┤
//!                                                                   ├─▶ stopped
//!   failed ◀── max_failures / action none / restart=never ──────────┘
//! ```
//!
//! How a run ended is decided once, in [`classify`], following the failure table of the
//! design; everything after that (restart, recovery action, give up) is in [`after_exit`].

use std::fmt;
use std::time::Duration;

use crate::config::{GiveUp, RecoveryAction, RestartPolicy, ServiceSpec};
use crate::signal::Signal;
use crate::time::Instant;

/// The lifecycle states (the SCM's, plus `backoff` and `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Stopped,
    StartPending,
    Running,
    StopPending,
    /// Waiting to restart after an exit.
    Backoff,
    /// Gave up; needs an operator's start or a reload.
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

    /// A state the instance stays in until something happens (not a transition).
    pub fn is_settled(self) -> bool {
        !matches!(self, State::StartPending | State::StopPending)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a process ended, as `waitpid` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitHow {
    Code(i32),
    Signal(Signal),
}

/// What an ended run counted as. Each variant is one row of the failure table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitKind {
    /// Exited after steward asked it to stop, within `stop_timeout`.
    StopRequested,
    /// Asked to stop, did not within `stop_timeout`, killed with SIGKILL.
    StopTimedOut,
    /// Exit code 0 or one of `success_exit_codes`, not asked to stop.
    Success,
    /// Non-zero exit after announcing `STOPPING=1`, with `failure_flag` off.
    ReportedStop,
    /// Non-zero exit after announcing `STOPPING=1`, with `failure_flag` on.
    ReportedStopFailed,
    /// Non-zero exit, not asked, no announcement.
    ExitCode,
    /// Killed by a signal steward did not send.
    Signaled,
    /// steward killed it because its health failed (watchdog, liveness).
    Unhealthy(String),
    /// The process could not be started at all.
    SpawnFailed(String),
}

impl ExitKind {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            ExitKind::ReportedStopFailed
                | ExitKind::ExitCode
                | ExitKind::Signaled
                | ExitKind::Unhealthy(_)
                | ExitKind::SpawnFailed(_)
        )
    }
}

/// The last run's end, as shown in status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    /// `None` when the process never started.
    pub how: Option<ExitHow>,
    pub kind: ExitKind,
    pub at: Instant,
    /// Which run ended ([`Instance::generation`] at its start).
    pub generation: u64,
}

impl ExitRecord {
    /// "exit code 3: failure", "killed by SIGSEGV: failure", "stopped on request".
    pub fn describe(&self) -> String {
        let how = match self.how {
            Some(ExitHow::Code(c)) => format!("exit code {c}"),
            Some(ExitHow::Signal(s)) => format!("killed by {s}"),
            None => String::new(),
        };
        let what = match &self.kind {
            ExitKind::StopRequested => "stopped on request".to_string(),
            ExitKind::StopTimedOut => "did not stop within stop_timeout; killed".to_string(),
            ExitKind::Success => "clean exit".to_string(),
            ExitKind::ReportedStop => "reported stop (failure_flag off)".to_string(),
            ExitKind::ReportedStopFailed => "failure (reported stop, failure_flag on)".into(),
            ExitKind::ExitCode | ExitKind::Signaled => "failure".to_string(),
            ExitKind::Unhealthy(why) => format!("failure: {why}"),
            ExitKind::SpawnFailed(why) => format!("failure: could not start: {why}"),
        };
        if how.is_empty() {
            what
        } else {
            format!("{how}: {what}")
        }
    }
}

/// Something that happened to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// An operator (or the config) wants it up.
    Start,
    /// An operator (or the config) wants it down.
    Stop,
    /// Down, then up again.
    Restart,
    /// The daemon started the process asked for by [`Effect::Spawn`].
    Spawned { pid: u32 },
    /// The daemon could not start it (bad executable, user, directory...).
    SpawnFailed { error: String },
    /// A process of this instance was reaped.
    Exited { pid: u32, how: ExitHow },
    /// [`Instance::deadline`] has come (spurious ticks are ignored).
    Tick,
    /// The service said `STOPPING=1`: a non-zero exit now follows the failure flag.
    StoppingAnnounced,
    /// A health check failed: stop it with `signal` and count the exit as a failure.
    Unhealthy { reason: String, signal: Signal },
}

/// What the daemon must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start the instance's process; answer with [`Input::Spawned`] or [`Input::SpawnFailed`].
    Spawn,
    /// Send `signal` to the process group led by `pid`.
    Signal { pid: u32, signal: Signal },
    /// Run a command on the instance's behalf (not waited for).
    Run {
        command: Vec<String>,
        purpose: RunPurpose,
    },
    /// Stop every service and exit steward with `code`.
    ExitSupervisor { code: i32 },
    /// The instance changed state; `reason` says why, in words.
    Transition {
        from: State,
        to: State,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPurpose {
    Recovery,
    GiveUp,
}

/// One instance's state. The daemon owns it and changes it only through [`step`].
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub index: u32,
    pub state: State,
    /// When `state` was entered.
    pub since: Instant,
    /// Why it is in `state`.
    pub reason: String,
    /// The live process (also its process group id).
    pub pid: Option<u32>,
    /// When the live process was started.
    pub started_at: Option<Instant>,
    /// Automatic restarts so far.
    pub restarts: u32,
    /// Failures since the last reset; see [`Instance::failures_at`].
    failures: u32,
    /// Consecutive quick automatic restarts, for the crash-loop backoff.
    backoff_streak: u32,
    pub last_exit: Option<ExitRecord>,
    /// When the daemon must feed [`Input::Tick`].
    pub deadline: Option<Instant>,
    /// How many processes were started, ever; tells one run from the next.
    pub generation: u64,
    /// The operator's wish while a stop is in progress: start again once down.
    start_when_stopped: bool,
    /// Why steward is stopping the live process (decides how its exit counts).
    stopping: Option<StopCause>,
    /// The live process announced `STOPPING=1`.
    announced_stopping: bool,
    /// Mixed into the jitter so instances spread out; the daemon picks it at random.
    jitter_seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StopCause {
    Requested { killed: bool },
    Unhealthy { reason: String },
}

impl Instance {
    pub fn new(index: u32, jitter_seed: u64, now: Instant) -> Instance {
        Instance {
            index,
            state: State::Stopped,
            since: now,
            reason: "not started".into(),
            pid: None,
            started_at: None,
            restarts: 0,
            failures: 0,
            backoff_streak: 0,
            last_exit: None,
            deadline: None,
            generation: 0,
            start_when_stopped: false,
            stopping: None,
            announced_stopping: false,
            jitter_seed,
        }
    }

    /// The failure count as of `now`: zero once the instance has been running for
    /// `reset_failures_after` without failing.
    pub fn failures_at(&self, spec: &ServiceSpec, now: Instant) -> u32 {
        if self.state == State::Running && now - self.since >= spec.reset_failures_after {
            0
        } else {
            self.failures
        }
    }

    /// True while steward wants a process running for this instance.
    pub fn wants_up(&self) -> bool {
        match self.state {
            State::StartPending | State::Running | State::Backoff => true,
            State::StopPending => self.start_when_stopped || self.stopping_for_health(),
            State::Stopped | State::Failed => false,
        }
    }

    fn stopping_for_health(&self) -> bool {
        matches!(self.stopping, Some(StopCause::Unhealthy { .. }))
    }
}

/// Advances `inst` by one input. See the module docs for the picture.
pub fn step(inst: &mut Instance, spec: &ServiceSpec, input: Input, now: Instant) -> Vec<Effect> {
    let mut fx = Vec::new();
    // The reset is lazy; make it real before anything can leave `running`.
    inst.failures = inst.failures_at(spec, now);
    match input {
        Input::Start => match inst.state {
            State::Stopped | State::Failed | State::Backoff => {
                // A human's start is never blocked by the automatic budget.
                inst.failures = 0;
                inst.backoff_streak = 0;
                spawn(inst, now, "started by request", &mut fx);
            }
            State::StopPending => inst.start_when_stopped = true,
            State::StartPending | State::Running => {}
        },
        Input::Stop => match inst.state {
            State::StartPending | State::Running => {
                inst.start_when_stopped = false;
                request_stop(inst, spec, now, "stop requested", &mut fx);
            }
            State::StopPending => {
                inst.start_when_stopped = false;
                // A health stop becomes a requested one: the operator wants it down.
                if inst.stopping_for_health() {
                    inst.stopping = Some(StopCause::Requested { killed: false });
                }
            }
            State::Backoff | State::Failed => {
                inst.deadline = None;
                transition(
                    inst,
                    State::Stopped,
                    now,
                    "stopped by request".into(),
                    &mut fx,
                );
            }
            State::Stopped => {}
        },
        Input::Restart => {
            // An operator's restart starts a clean slate, whatever the state.
            inst.failures = 0;
            inst.backoff_streak = 0;
            match inst.state {
                State::StartPending | State::Running => {
                    inst.start_when_stopped = true;
                    request_stop(inst, spec, now, "restart requested", &mut fx);
                }
                State::StopPending => inst.start_when_stopped = true,
                State::Stopped | State::Failed | State::Backoff => {
                    spawn(inst, now, "restarted by request", &mut fx);
                }
            }
        }
        Input::Spawned { pid } => {
            if inst.state == State::StartPending && inst.pid.is_none() {
                inst.pid = Some(pid);
                inst.started_at = Some(now);
                let reason = format!("started, pid {pid}");
                transition(inst, State::Running, now, reason, &mut fx);
            }
        }
        Input::SpawnFailed { error } => {
            if inst.state == State::StartPending && inst.pid.is_none() {
                inst.started_at = Some(now);
                after_exit(inst, spec, None, ExitKind::SpawnFailed(error), now, &mut fx);
            }
        }
        Input::Exited { pid, how } => {
            if inst.pid == Some(pid) {
                let kind = classify(inst, spec, how);
                after_exit(inst, spec, Some(how), kind, now, &mut fx);
            }
        }
        Input::Tick => {
            if inst.deadline.is_some_and(|d| d <= now) {
                inst.deadline = None;
                on_deadline(inst, spec, now, &mut fx);
            }
        }
        Input::StoppingAnnounced => {
            if inst.pid.is_some() {
                inst.announced_stopping = true;
            }
        }
        Input::Unhealthy { reason, signal } => {
            if let (State::StartPending | State::Running, Some(pid)) = (inst.state, inst.pid) {
                inst.stopping = Some(StopCause::Unhealthy {
                    reason: reason.clone(),
                });
                inst.deadline = Some(now + spec.stop_timeout);
                fx.push(Effect::Signal { pid, signal });
                transition(inst, State::StopPending, now, reason, &mut fx);
            }
        }
    }
    fx
}

/// Decides what an exit counted as: the failure table, row by row.
pub fn classify(inst: &Instance, spec: &ServiceSpec, how: ExitHow) -> ExitKind {
    match (&inst.stopping, how) {
        (Some(StopCause::Requested { killed: true }), _) => ExitKind::StopTimedOut,
        (Some(StopCause::Requested { killed: false }), _) => ExitKind::StopRequested,
        (Some(StopCause::Unhealthy { reason }), _) => ExitKind::Unhealthy(reason.clone()),
        (None, ExitHow::Signal(_)) => ExitKind::Signaled,
        (None, ExitHow::Code(code)) if spec.is_success_code(code) => ExitKind::Success,
        (None, ExitHow::Code(_)) if inst.announced_stopping => {
            if spec.failure_flag {
                ExitKind::ReportedStopFailed
            } else {
                ExitKind::ReportedStop
            }
        }
        (None, ExitHow::Code(_)) => ExitKind::ExitCode,
    }
}

fn on_deadline(inst: &mut Instance, spec: &ServiceSpec, now: Instant, fx: &mut Vec<Effect>) {
    match inst.state {
        State::StopPending => {
            // stop_timeout is up: escalate once; the exit will follow.
            if let Some(pid) = inst.pid {
                if let Some(StopCause::Requested { killed }) = &mut inst.stopping {
                    *killed = true;
                }
                fx.push(Effect::Signal {
                    pid,
                    signal: Signal::KILL,
                });
                let why = format!("did not stop within {:?}; sent SIGKILL", spec.stop_timeout);
                inst.reason = why;
            }
        }
        State::Backoff => {
            inst.restarts += 1;
            spawn(inst, now, "restarted after backoff", fx);
        }
        _ => {}
    }
}

/// What follows an ended run (or a start that never ran): a clean stop, a restart, a
/// recovery action, or giving up.
fn after_exit(
    inst: &mut Instance,
    spec: &ServiceSpec,
    how: Option<ExitHow>,
    kind: ExitKind,
    now: Instant,
    fx: &mut Vec<Effect>,
) {
    let ran_for = inst.started_at.map_or(Duration::ZERO, |s| now - s);
    inst.pid = None;
    inst.deadline = None;
    inst.stopping = None;
    inst.announced_stopping = false;
    let record = ExitRecord {
        how,
        kind: kind.clone(),
        at: now,
        generation: inst.generation,
    };
    let described = record.describe();
    inst.last_exit = Some(record);

    // Asked to stop: down, or up again for a restart.
    if matches!(kind, ExitKind::StopRequested | ExitKind::StopTimedOut) {
        if std::mem::take(&mut inst.start_when_stopped) {
            spawn(inst, now, "restarted by request", fx);
        } else {
            transition(inst, State::Stopped, now, described, fx);
        }
        return;
    }
    if ran_for >= spec.backoff.reset_after {
        inst.backoff_streak = 0;
    }

    if !kind.is_failure() {
        if spec.restart == RestartPolicy::Always {
            restart_after(inst, spec, Duration::ZERO, now, described, fx);
        } else {
            transition(inst, State::Stopped, now, described, fx);
        }
        return;
    }

    inst.failures += 1;
    let n = inst.failures;
    if spec.max_failures.is_some_and(|max| n >= max) {
        let reason = format!("gave up after {n} failures; last: {described}");
        transition(inst, State::Failed, now, reason, fx);
        match &spec.on_give_up {
            GiveUp::Stay => {}
            GiveUp::Run { command } => fx.push(Effect::Run {
                command: command.clone(),
                purpose: RunPurpose::GiveUp,
            }),
            GiveUp::Exit => fx.push(Effect::ExitSupervisor {
                code: crate::config::EXIT_GAVE_UP,
            }),
        }
        return;
    }
    if spec.restart == RestartPolicy::Never {
        let reason = format!("failure {n}, restart = \"never\"; last: {described}");
        transition(inst, State::Failed, now, reason, fx);
        return;
    }
    let delay = match spec.recovery_for(n).clone() {
        RecoveryAction::Restart { delay } => delay,
        RecoveryAction::Run { command, delay } => {
            fx.push(Effect::Run {
                command,
                purpose: RunPurpose::Recovery,
            });
            delay
        }
        RecoveryAction::None => {
            let reason = format!("failure {n}, recovery action is none; last: {described}");
            transition(inst, State::Failed, now, reason, fx);
            return;
        }
    };
    restart_after(
        inst,
        spec,
        delay,
        now,
        format!("failure {n}: {described}"),
        fx,
    );
}

/// The least wait before retrying a start that failed to spawn.
pub const SPAWN_RETRY_FLOOR: Duration = Duration::from_secs(1);

/// Restarts at once, or after the larger of `delay` and the crash-loop backoff.
fn restart_after(
    inst: &mut Instance,
    spec: &ServiceSpec,
    delay: Duration,
    now: Instant,
    why: String,
    fx: &mut Vec<Effect>,
) {
    inst.backoff_streak += 1;
    let mut wait = delay.max(backoff_delay(spec, inst.backoff_streak, inst.jitter_seed));
    if matches!(
        inst.last_exit,
        Some(ExitRecord {
            kind: ExitKind::SpawnFailed(_),
            ..
        })
    ) {
        // Retrying a start that could not happen (missing binary, bad user) at full speed
        // would only spin; the cause is rarely gone within a second.
        wait = wait.max(SPAWN_RETRY_FLOOR);
    }
    if wait.is_zero() {
        inst.restarts += 1;
        spawn(inst, now, &format!("restarted after {why}"), fx);
    } else {
        inst.deadline = Some(now + wait);
        transition(
            inst,
            State::Backoff,
            now,
            format!("restarting in {wait:?} after {why}"),
            fx,
        );
    }
}

/// The backoff for the `streak`th consecutive quick restart: none for the first, then
/// `initial * multiplier^(streak-2)` up to `max`, plus jitter.
pub fn backoff_delay(spec: &ServiceSpec, streak: u32, seed: u64) -> Duration {
    let b = &spec.backoff;
    if streak <= 1 || b.max.is_zero() {
        return Duration::ZERO;
    }
    let factor = b.multiplier.powi((streak - 2).min(1000) as i32);
    let base = b.initial.as_secs_f64() * factor;
    let capped = base.min(b.max.as_secs_f64());
    let jitter = capped * b.jitter * unit_interval(seed ^ u64::from(streak));
    Duration::from_secs_f64((capped + jitter).min(b.max.as_secs_f64() * (1.0 + b.jitter)))
}

/// A number in [0, 1) derived from `x` (splitmix64): deterministic, well spread.
fn unit_interval(x: u64) -> f64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn spawn(inst: &mut Instance, now: Instant, why: &str, fx: &mut Vec<Effect>) {
    debug_assert!(inst.pid.is_none(), "spawn with a live process");
    inst.deadline = None;
    inst.stopping = None;
    inst.announced_stopping = false;
    inst.start_when_stopped = false;
    inst.generation += 1;
    fx.push(Effect::Spawn);
    transition(inst, State::StartPending, now, why.to_string(), fx);
}

fn request_stop(
    inst: &mut Instance,
    spec: &ServiceSpec,
    now: Instant,
    why: &str,
    fx: &mut Vec<Effect>,
) {
    match inst.pid {
        Some(pid) => {
            inst.stopping = Some(StopCause::Requested { killed: false });
            inst.deadline = Some(now + spec.stop_timeout);
            fx.push(Effect::Signal {
                pid,
                signal: spec.stop_signal,
            });
            transition(inst, State::StopPending, now, why.to_string(), fx);
        }
        // Start pending with no process yet: nothing to signal.
        None => {
            let restart = std::mem::take(&mut inst.start_when_stopped);
            transition(inst, State::Stopped, now, why.to_string(), fx);
            if restart {
                spawn(inst, now, "restarted by request", fx);
            }
        }
    }
}

fn transition(inst: &mut Instance, to: State, now: Instant, reason: String, fx: &mut Vec<Effect>) {
    let from = inst.state;
    inst.state = to;
    inst.since = now;
    inst.reason.clone_from(&reason);
    fx.push(Effect::Transition { from, to, reason });
}

#[cfg(test)]
mod tests;
