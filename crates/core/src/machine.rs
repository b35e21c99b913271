//! The life of one service instance as a pure function: [`step`] takes the instance, its
//! spec, an [`Input`] and the time, updates the instance and returns the [`Effect`]s the
//! daemon must carry out. It never sleeps: every timer of an instance (restart delay, stop
//! timeout, start timeout, watchdog, next probe, pause confirmation) lives in the instance,
//! [`Instance::deadline`] is the earliest, and the daemon feeds [`Input::Tick`] then.
//!
//! ```text
//!            Start            Spawned + ready              exit (not asked)
//!  stopped ────────▶ start-pending ────────▶ running ───────────────────┐
//!     ▲                   ▲              Pause │  ▲ Continue           ▼
//!     │                   │                    ▼  │             classify: failure?
//!     │                   │   pause-pending ▶ paused ▶ continue-pending  │
//!     │ exit              │ Tick (delay)                                 │
//!     └──── stop-pending ◀┼── Stop, or unhealthy (watchdog, liveness,    │
//!                         │   start timeout) from any live state         │
//!                      backoff ◀──────────────── restart ────────────────┤
//!  failed ◀── max_failures / action none / restart = "never" ────────────┤
//!  stopped ◀── clean exit, not restarted ────────────────────────────────┘
//! ```
//!
//! How a run ended is decided once, in [`classify`], following the failure table of the
//! design; everything after that (restart, recovery action, give up) is in [`after_exit`].

use std::fmt;
use std::time::Duration;

use crate::config::{GiveUp, PauseMode, RecoveryAction, RestartPolicy, ServiceSpec};
use crate::signal::Signal;
use crate::time::Instant;

/// The lifecycle states: the SCM's seven, plus `backoff` and `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Stopped,
    /// Started, not yet ready (notify, ready fd, readiness probe).
    StartPending,
    Running,
    StopPending,
    PausePending,
    Paused,
    ContinuePending,
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
            State::PausePending => "pause-pending",
            State::Paused => "paused",
            State::ContinuePending => "continue-pending",
            State::Backoff => "backoff",
            State::Failed => "failed",
        }
    }

    /// A state the instance stays in until something happens (not a transition).
    pub fn is_settled(self) -> bool {
        !matches!(
            self,
            State::StartPending | State::StopPending | State::PausePending | State::ContinuePending
        )
    }

    /// A process is up and has not been asked to pause.
    fn is_live(self) -> bool {
        matches!(self, State::StartPending | State::Running)
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
    /// steward stopped it because its health failed (watchdog, liveness, start timeout).
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
        let how = self.how.map(|h| h.to_string()).unwrap_or_default();
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

/// The two kinds of health probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Gates `running`; afterwards only reported.
    Readiness,
    /// Failing it is a failure of the instance.
    Liveness,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "readiness",
            ProbeKind::Liveness => "liveness",
        }
    }

    /// This kind's probe in `spec`, if it has one.
    pub fn of(self, spec: &ServiceSpec) -> Option<&crate::config::Probe> {
        match self {
            ProbeKind::Readiness => spec.readiness.as_ref(),
            ProbeKind::Liveness => spec.liveness.as_ref(),
        }
    }
}

impl fmt::Display for ExitHow {
    /// "exit code 3", "killed by SIGSEGV".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitHow::Code(c) => write!(f, "exit code {c}"),
            ExitHow::Signal(s) => write!(f, "killed by {s}"),
        }
    }
}

/// How a helper process (an exec probe, a startup task) did: it passes only by exiting 0
/// before its timeout. `timed_out` is the timeout it ran past, if it did.
pub fn helper_result(how: ExitHow, timed_out: Option<Duration>) -> Result<String, String> {
    match (timed_out, how) {
        (Some(after), _) => Err(format!(
            "timed out after {}",
            crate::duration::format_duration(after)
        )),
        (None, ExitHow::Code(0)) => Ok(how.to_string()),
        (None, _) => Err(how.to_string()),
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
    /// An operator wants it paused; see [`refusal`] for when that is allowed.
    Pause,
    Continue,
    /// The daemon started the process asked for by [`Effect::Spawn`].
    Spawned {
        pid: u32,
    },
    /// The daemon could not start it (bad executable, user, directory...).
    SpawnFailed {
        error: String,
    },
    /// A process of this instance was reaped.
    Exited {
        pid: u32,
        how: ExitHow,
    },
    /// [`Instance::deadline`] has come (spurious ticks are ignored).
    Tick,
    /// `READY=1`, or a newline on the ready fd.
    Ready,
    /// `RELOADING=1`: the service reloads itself; `READY=1` ends it.
    Reloading,
    /// The service said `STOPPING=1`: a non-zero exit now follows the failure flag.
    StoppingAnnounced,
    /// `STATUS=...`
    Status(String),
    /// `MAINPID=...`
    MainPid(u32),
    /// `ERRNO=...`
    Errno(i32),
    /// `EXIT_STATUS=...`
    ExitStatus(String),
    /// `WATCHDOG=1`
    WatchdogPing,
    /// `WATCHDOG_USEC=...`: a new watchdog period (zero turns it off).
    WatchdogPeriod(Duration),
    /// `EXTEND_TIMEOUT_USEC=...`: the start (or stop) may take this much longer from now.
    ExtendTimeout(Duration),
    /// The endpoint has no connection open to this instance any more (after
    /// [`Effect::Drain`]): it may be sent its stop signal.
    Drained,
    /// A health check failed: stop it with `signal` and count the exit as a failure.
    Unhealthy {
        reason: String,
        signal: Signal,
    },
    /// The instance is paused: frozen by steward, or confirmed by `X_STEWARD=paused`.
    PauseDone,
    /// steward could not pause it (the freeze failed): it runs on.
    PauseFailed {
        reason: String,
    },
    /// The instance runs again: thawed, or confirmed by `X_STEWARD=continued`.
    ContinueDone,
    /// A probe asked for by [`Effect::Probe`] finished.
    ProbeResult {
        kind: ProbeKind,
        generation: u64,
        ok: bool,
        detail: String,
    },
    /// A reload changed the service's settings in place: the probes and the start
    /// deadline follow the new ones from now on. Everything else is read when it is used.
    Reconfigured,
}

/// What the daemon must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start the instance's process; answer with [`Input::Spawned`] or [`Input::SpawnFailed`].
    Spawn,
    /// Send `signal` to the process group led by `pid`.
    Signal { pid: u32, signal: Signal },
    /// Freeze every process of the instance; answer with [`Input::PauseDone`].
    Freeze { pid: u32 },
    /// Thaw them; answer with [`Input::ContinueDone`].
    Thaw { pid: u32 },
    /// Take the instance out of its endpoint's balance and answer [`Input::Drained`] once
    /// its open connections have ended (the drain timer ends the wait otherwise).
    Drain,
    /// Run the probe once; answer with [`Input::ProbeResult`] carrying `generation`.
    Probe { kind: ProbeKind, generation: u64 },
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

/// What the service told steward through the notify socket, for this run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notified {
    pub ready: bool,
    pub reloading: bool,
    pub stopping: bool,
    pub status: Option<String>,
    pub main_pid: Option<u32>,
    pub errno: Option<i32>,
    pub exit_status: Option<String>,
}

/// One probe's results for the current run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeState {
    /// `None` until the threshold of successes or failures is reached once.
    pub passing: Option<bool>,
    pub consecutive_ok: u32,
    pub consecutive_failed: u32,
    pub last_error: Option<String>,
    pub last_checked: Option<Instant>,
}

/// Every timer of an instance; [`Instance::deadline`] is the earliest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Timers {
    restart: Option<Instant>,
    stop: Option<Instant>,
    start: Option<Instant>,
    watchdog: Option<Instant>,
    readiness: Option<Instant>,
    liveness: Option<Instant>,
    /// Waiting for `X_STEWARD=paused|continued`.
    confirm: Option<Instant>,
    /// The end of an endpoint's drain: the stop signal goes then at the latest.
    drain: Option<Instant>,
}

impl Timers {
    fn all(&self) -> [Option<Instant>; 8] {
        [
            self.drain,
            self.restart,
            self.stop,
            self.start,
            self.watchdog,
            self.readiness,
            self.liveness,
            self.confirm,
        ]
    }

    fn probe(&mut self, kind: ProbeKind) -> &mut Option<Instant> {
        match kind {
            ProbeKind::Readiness => &mut self.readiness,
            ProbeKind::Liveness => &mut self.liveness,
        }
    }

    /// Takes `slot` if it is due at `now`.
    fn due(slot: &mut Option<Instant>, now: Instant) -> bool {
        if slot.is_some_and(|at| at <= now) {
            *slot = None;
            true
        } else {
            false
        }
    }
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
    /// The live process (also its process group and session id).
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
    /// How many processes were started, ever; tells one run from the next.
    pub generation: u64,
    pub notified: Notified,
    pub readiness: ProbeState,
    pub liveness: ProbeState,
    /// The current watchdog period (the config's, unless `WATCHDOG_USEC=` changed it).
    pub watchdog: Option<Duration>,
    timers: Timers,
    /// The operator's wish while a stop is in progress: start again once down.
    start_when_stopped: bool,
    /// Why steward is stopping the live process (decides how its exit counts).
    stopping: Option<StopCause>,
    /// Stopping, but its endpoint's open connections may still finish: no signal yet.
    pub draining: bool,
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
            generation: 0,
            notified: Notified::default(),
            readiness: ProbeState::default(),
            liveness: ProbeState::default(),
            watchdog: None,
            timers: Timers::default(),
            start_when_stopped: false,
            stopping: None,
            draining: false,
            jitter_seed,
        }
    }

    /// When the daemon must feed [`Input::Tick`]: the earliest timer.
    pub fn deadline(&self) -> Option<Instant> {
        self.timers.all().into_iter().flatten().min()
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
            State::PausePending | State::Paused | State::ContinuePending => true,
            State::StopPending => self.start_when_stopped || self.stopping_for_health(),
            State::Stopped | State::Failed => false,
        }
    }

    fn stopping_for_health(&self) -> bool {
        matches!(self.stopping, Some(StopCause::Unhealthy { .. }))
    }

    fn probe_mut(&mut self, kind: ProbeKind) -> &mut ProbeState {
        match kind {
            ProbeKind::Readiness => &mut self.readiness,
            ProbeKind::Liveness => &mut self.liveness,
        }
    }
}

/// Why an operator's `input` cannot apply to `inst` now, if it cannot (an API 409).
/// Everything but pause and continue always applies.
pub fn refusal(inst: &Instance, input: &Input) -> Option<String> {
    let ok = match input {
        Input::Pause => matches!(
            inst.state,
            State::Running | State::PausePending | State::Paused
        ),
        Input::Continue => {
            matches!(
                inst.state,
                State::Running | State::Paused | State::ContinuePending
            )
        }
        _ => true,
    };
    (!ok).then(|| {
        let what = if *input == Input::Pause {
            "a running instance can be paused"
        } else {
            "a paused instance can be continued"
        };
        format!("it is {}; only {what}", inst.state)
    })
}

/// Whether an operator's `request` (start, stop, restart, pause, continue), made when the
/// instance's generation was `gen0`, has taken effect: the API answers its ticket then.
pub fn settled(inst: &Instance, request: &Input, gen0: u64) -> bool {
    if !inst.state.is_settled() {
        return false;
    }
    let moved_on = inst.generation > gen0;
    match request {
        // Paused is up: a start leaves it paused, and says so.
        Input::Start => {
            moved_on || matches!(inst.state, State::Running | State::Paused) || !inst.wants_up()
        }
        Input::Restart => moved_on || !inst.wants_up(),
        Input::Stop => matches!(inst.state, State::Stopped | State::Failed) || moved_on,
        _ => true,
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
                spawn(inst, spec, now, "started by request", &mut fx);
            }
            State::StopPending => inst.start_when_stopped = true,
            _ => {}
        },
        Input::Stop => match inst.state {
            State::StopPending => {
                inst.start_when_stopped = false;
                // A health stop becomes a requested one: the operator wants it down.
                if inst.stopping_for_health() {
                    inst.stopping = Some(StopCause::Requested { killed: false });
                }
            }
            State::Backoff | State::Failed => {
                inst.timers.restart = None;
                transition(
                    inst,
                    State::Stopped,
                    now,
                    "stopped by request".into(),
                    &mut fx,
                );
            }
            State::Stopped => {}
            _ => {
                inst.start_when_stopped = false;
                request_stop(inst, spec, now, "stop requested", &mut fx);
            }
        },
        Input::Restart => {
            // An operator's restart starts a clean slate, whatever the state.
            inst.failures = 0;
            inst.backoff_streak = 0;
            match inst.state {
                State::StopPending => inst.start_when_stopped = true,
                State::Stopped | State::Failed | State::Backoff => {
                    spawn(inst, spec, now, "restarted by request", &mut fx);
                }
                _ => {
                    inst.start_when_stopped = true;
                    request_stop(inst, spec, now, "restart requested", &mut fx);
                }
            }
        }
        Input::Pause => pause(inst, spec, now, &mut fx),
        Input::Continue => resume(inst, spec, now, &mut fx),
        Input::PauseDone => {
            if inst.state == State::PausePending {
                inst.timers.confirm = None;
                transition(inst, State::Paused, now, "paused".into(), &mut fx);
            }
        }
        Input::PauseFailed { reason } => {
            if inst.state == State::PausePending {
                inst.timers.confirm = None;
                enter_running(
                    inst,
                    spec,
                    now,
                    &format!("could not pause: {reason}"),
                    &mut fx,
                );
            }
        }
        Input::ContinueDone => {
            if inst.state == State::ContinuePending {
                inst.timers.confirm = None;
                enter_running(inst, spec, now, "continued", &mut fx);
            }
        }
        Input::Spawned { pid } => {
            if inst.state == State::StartPending && inst.pid.is_none() {
                inst.pid = Some(pid);
                inst.started_at = Some(now);
                if spec.waits_for_readiness() {
                    inst.timers.start = Some(now + spec.start_timeout);
                    if let Some(probe) = &spec.readiness {
                        inst.timers.readiness = Some(now + probe.initial_delay);
                    }
                    inst.reason = format!("started, pid {pid}; waiting until ready");
                } else {
                    enter_running(inst, spec, now, &format!("started, pid {pid}"), &mut fx);
                }
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
        Input::Tick => on_timers(inst, spec, now, &mut fx),
        Input::Drained => {
            if inst.draining {
                inst.timers.drain = None;
                send_stop_signal(inst, spec, now, "drained", &mut fx);
            }
        }
        Input::Reconfigured => reconfigure(inst, spec, now),
        Input::Ready => {
            if inst.pid.is_some() {
                inst.notified.ready = true;
                inst.notified.reloading = false;
            }
        }
        Input::Reloading => {
            if inst.pid.is_some() {
                inst.notified.reloading = true;
            }
        }
        Input::StoppingAnnounced => {
            if inst.pid.is_some() {
                inst.notified.stopping = true;
            }
        }
        Input::Status(text) => inst.notified.status = Some(text),
        Input::MainPid(pid) => inst.notified.main_pid = Some(pid),
        Input::Errno(n) => inst.notified.errno = Some(n),
        Input::ExitStatus(s) => inst.notified.exit_status = Some(s),
        Input::WatchdogPing => {
            if let (State::Running, Some(period)) = (inst.state, inst.watchdog) {
                inst.timers.watchdog = Some(now + period);
            }
        }
        Input::WatchdogPeriod(period) => {
            inst.watchdog = (!period.is_zero()).then_some(period);
            if inst.state == State::Running {
                inst.timers.watchdog = inst.watchdog.map(|p| now + p);
            }
        }
        Input::ExtendTimeout(more) => {
            let later = |slot: &mut Option<Instant>| {
                if let Some(at) = slot {
                    *at = (*at).max(now + more);
                }
            };
            match inst.state {
                State::StartPending => later(&mut inst.timers.start),
                State::StopPending
                    if !matches!(inst.stopping, Some(StopCause::Requested { killed: true })) =>
                {
                    later(&mut inst.timers.stop)
                }
                _ => {}
            }
        }
        Input::Unhealthy { reason, signal } => {
            if inst.state.is_live() {
                stop_unhealthy(inst, spec, now, reason, signal, &mut fx);
            }
        }
        Input::ProbeResult {
            kind,
            generation,
            ok,
            detail,
        } => {
            if generation == inst.generation && inst.state.is_live() {
                probe_result(inst, spec, kind, ok, detail, now, &mut fx);
            }
        }
    }
    // Ready once every configured sign of readiness is there.
    if inst.state == State::StartPending && inst.pid.is_some() && is_ready(inst, spec) {
        enter_running(inst, spec, now, "ready", &mut fx);
    }
    fx
}

fn is_ready(inst: &Instance, spec: &ServiceSpec) -> bool {
    let signalled = !(spec.notify || spec.ready_fd.is_some()) || inst.notified.ready;
    let probed = spec.readiness.is_none() || inst.readiness.passing == Some(true);
    signalled && probed
}

/// Enters `running` (from start or continue): the watchdog and the probes run again.
fn enter_running(
    inst: &mut Instance,
    spec: &ServiceSpec,
    now: Instant,
    why: &str,
    fx: &mut Vec<Effect>,
) {
    inst.timers.start = None;
    inst.timers.watchdog = inst.watchdog.map(|p| now + p);
    if let Some(probe) = &spec.liveness {
        let first = inst
            .started_at
            .map_or(now, |s| s + probe.initial_delay)
            .max(now);
        inst.timers.liveness = Some(first);
    }
    if spec.readiness.is_some() && inst.timers.readiness.is_none() {
        inst.timers.readiness = Some(now);
    }
    transition(inst, State::Running, now, why.to_string(), fx);
}

fn on_timers(inst: &mut Instance, spec: &ServiceSpec, now: Instant, fx: &mut Vec<Effect>) {
    if Timers::due(&mut inst.timers.drain, now) && inst.draining {
        let why = format!(
            "connections still open after drain_timeout ({})",
            crate::duration::format_duration(now.saturating_since(inst.since))
        );
        send_stop_signal(inst, spec, now, &why, fx);
    }
    if Timers::due(&mut inst.timers.restart, now) && inst.state == State::Backoff {
        inst.restarts += 1;
        spawn(inst, spec, now, "restarted after backoff", fx);
    }
    if Timers::due(&mut inst.timers.stop, now)
        && inst.state == State::StopPending
        && let Some(pid) = inst.pid
    {
        // stop_timeout is up: escalate once; the exit will follow.
        if let Some(StopCause::Requested { killed }) = &mut inst.stopping {
            *killed = true;
        }
        fx.push(Effect::Signal {
            pid,
            signal: Signal::KILL,
        });
        inst.reason = format!("did not stop within {:?}; sent SIGKILL", spec.stop_timeout);
    }
    if Timers::due(&mut inst.timers.start, now) && inst.state == State::StartPending {
        let reason = format!("not ready within start_timeout ({:?})", spec.start_timeout);
        stop_unhealthy(inst, spec, now, reason, spec.stop_signal, fx);
    }
    if Timers::due(&mut inst.timers.watchdog, now)
        && inst.state == State::Running
        && let Some(period) = inst.watchdog
    {
        let reason = format!("watchdog expired (no WATCHDOG=1 for {period:?})");
        stop_unhealthy(inst, spec, now, reason, spec.watchdog_signal, fx);
    }
    for kind in [ProbeKind::Readiness, ProbeKind::Liveness] {
        if Timers::due(inst.timers.probe(kind), now) && inst.state.is_live() {
            fx.push(Effect::Probe {
                kind,
                generation: inst.generation,
            });
        }
    }
    if Timers::due(&mut inst.timers.confirm, now)
        && matches!(inst.state, State::PausePending | State::ContinuePending)
    {
        let why = if inst.state == State::PausePending {
            "did not confirm the pause in time; still running"
        } else {
            "did not confirm it continued in time; taken as running"
        };
        enter_running(inst, spec, now, why, fx);
    }
}

fn probe_result(
    inst: &mut Instance,
    spec: &ServiceSpec,
    kind: ProbeKind,
    ok: bool,
    detail: String,
    now: Instant,
    fx: &mut Vec<Effect>,
) {
    let Some(probe) = kind.of(spec) else { return };
    let state = inst.probe_mut(kind);
    state.last_checked = Some(now);
    if ok {
        state.consecutive_ok += 1;
        state.consecutive_failed = 0;
        if state.consecutive_ok >= probe.successes {
            state.passing = Some(true);
        }
    } else {
        state.consecutive_failed += 1;
        state.consecutive_ok = 0;
        state.last_error = Some(detail.clone());
        if state.consecutive_failed >= probe.failures {
            state.passing = Some(false);
        }
    }
    let failed = state.passing == Some(false) && !ok;
    let failed_count = state.consecutive_failed;
    *inst.timers.probe(kind) = Some(now + probe.interval);
    if kind == ProbeKind::Liveness && failed && inst.state == State::Running {
        let reason = format!("liveness probe failed {failed_count} times: {detail}");
        stop_unhealthy(inst, spec, now, reason, spec.stop_signal, fx);
    }
}

fn pause(inst: &mut Instance, spec: &ServiceSpec, now: Instant, fx: &mut Vec<Effect>) {
    let (State::Running, Some(pid)) = (inst.state, inst.pid) else {
        return;
    };
    suspend_health(inst);
    match &spec.pause {
        PauseMode::Freeze => fx.push(Effect::Freeze { pid }),
        PauseMode::Signal { pause, .. } => {
            fx.push(Effect::Signal {
                pid,
                signal: *pause,
            });
            if spec.notify {
                inst.timers.confirm = Some(now + spec.stop_timeout);
            }
        }
    }
    transition(inst, State::PausePending, now, "pause requested".into(), fx);
    // A signal-paused service that cannot confirm is taken at its word.
    if matches!(spec.pause, PauseMode::Signal { .. }) && !spec.notify {
        transition(
            inst,
            State::Paused,
            now,
            "paused (pause signal sent)".into(),
            fx,
        );
    }
}

fn resume(inst: &mut Instance, spec: &ServiceSpec, now: Instant, fx: &mut Vec<Effect>) {
    let (State::Paused, Some(pid)) = (inst.state, inst.pid) else {
        return;
    };
    match &spec.pause {
        PauseMode::Freeze => fx.push(Effect::Thaw { pid }),
        PauseMode::Signal { resume, .. } => {
            fx.push(Effect::Signal {
                pid,
                signal: *resume,
            });
            if spec.notify {
                inst.timers.confirm = Some(now + spec.stop_timeout);
            }
        }
    }
    transition(
        inst,
        State::ContinuePending,
        now,
        "continue requested".into(),
        fx,
    );
    if matches!(spec.pause, PauseMode::Signal { .. }) && !spec.notify {
        enter_running(inst, spec, now, "continued (continue signal sent)", fx);
    }
}

/// Applies new settings to the current run: a removed probe stops and forgets its results,
/// an added one starts (after its `initial_delay` from the start of the run), a changed one
/// checks again within its new interval; a start still waiting for readiness gets the new
/// `start_timeout`, counted from when the process started.
fn reconfigure(inst: &mut Instance, spec: &ServiceSpec, now: Instant) {
    for kind in [ProbeKind::Readiness, ProbeKind::Liveness] {
        let active = inst.pid.is_some()
            && match kind {
                ProbeKind::Readiness => {
                    matches!(inst.state, State::StartPending | State::Running)
                }
                ProbeKind::Liveness => inst.state == State::Running,
            };
        match kind.of(spec) {
            None => {
                *inst.timers.probe(kind) = None;
                *inst.probe_mut(kind) = ProbeState::default();
            }
            Some(probe) if active => {
                let first = inst
                    .started_at
                    .map_or(now, |s| s + probe.initial_delay)
                    .max(now);
                let slot = inst.timers.probe(kind);
                *slot = Some(slot.map_or(first, |at| at.min(now + probe.interval)));
            }
            Some(_) => {}
        }
    }
    if let (State::StartPending, Some(_), Some(started)) = (inst.state, inst.pid, inst.started_at) {
        inst.timers.start = spec
            .waits_for_readiness()
            .then(|| started + spec.start_timeout);
    }
}

/// While paused, a frozen process cannot answer: no watchdog, no probes.
fn suspend_health(inst: &mut Instance) {
    inst.timers.watchdog = None;
    inst.timers.readiness = None;
    inst.timers.liveness = None;
}

/// Decides what an exit counted as: the failure table, row by row.
pub fn classify(inst: &Instance, spec: &ServiceSpec, how: ExitHow) -> ExitKind {
    match (&inst.stopping, how) {
        (Some(StopCause::Requested { killed: true }), _) => ExitKind::StopTimedOut,
        (Some(StopCause::Requested { killed: false }), _) => ExitKind::StopRequested,
        (Some(StopCause::Unhealthy { reason }), _) => ExitKind::Unhealthy(reason.clone()),
        (None, ExitHow::Signal(_)) => ExitKind::Signaled,
        (None, ExitHow::Code(code)) if spec.is_success_code(code) => ExitKind::Success,
        (None, ExitHow::Code(_)) if inst.notified.stopping => {
            if spec.failure_flag {
                ExitKind::ReportedStopFailed
            } else {
                ExitKind::ReportedStop
            }
        }
        (None, ExitHow::Code(_)) => ExitKind::ExitCode,
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
    inst.timers = Timers::default();
    inst.stopping = None;
    inst.draining = false;
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
            spawn(inst, spec, now, "restarted by request", fx);
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
        spawn(inst, spec, now, &format!("restarted after {why}"), fx);
    } else {
        inst.timers.restart = Some(now + wait);
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

fn spawn(inst: &mut Instance, spec: &ServiceSpec, now: Instant, why: &str, fx: &mut Vec<Effect>) {
    debug_assert!(inst.pid.is_none(), "spawn with a live process");
    inst.timers = Timers::default();
    inst.stopping = None;
    inst.start_when_stopped = false;
    inst.notified = Notified::default();
    inst.readiness = ProbeState::default();
    inst.liveness = ProbeState::default();
    inst.watchdog = spec.watchdog;
    inst.generation += 1;
    fx.push(Effect::Spawn);
    transition(inst, State::StartPending, now, why.to_string(), fx);
}

/// Timers that belong to a live run (not the restart timer).
fn clear_run_timers(inst: &mut Instance) {
    inst.timers = Timers {
        restart: inst.timers.restart,
        ..Timers::default()
    };
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
            let paused = matches!(
                inst.state,
                State::PausePending | State::Paused | State::ContinuePending
            );
            inst.stopping = Some(StopCause::Requested { killed: false });
            clear_run_timers(inst);
            // Behind a proxy endpoint, a running instance first gets no new connections
            // and lets its open ones finish; the signal follows (see `send_stop_signal`).
            let drain = spec
                .endpoint
                .as_ref()
                .filter(|_| crate::endpoint::proxies(spec))
                .map_or(Duration::ZERO, |e| e.drain_timeout);
            if inst.state == State::Running && !drain.is_zero() {
                inst.draining = true;
                inst.timers.drain = Some(now + drain);
                fx.push(Effect::Drain);
                let why = format!(
                    "{why}; draining: no new connections, open ones have up to {}",
                    crate::duration::format_duration(drain)
                );
                transition(inst, State::StopPending, now, why, fx);
                return;
            }
            inst.timers.stop = Some(now + spec.stop_timeout);
            fx.push(Effect::Signal {
                pid,
                signal: spec.stop_signal,
            });
            // A frozen process only sees the stop signal once thawed.
            if paused && spec.pause == PauseMode::Freeze {
                fx.push(Effect::Thaw { pid });
            }
            transition(inst, State::StopPending, now, why.to_string(), fx);
        }
        // Start pending with no process yet: nothing to signal.
        None => {
            let restart = std::mem::take(&mut inst.start_when_stopped);
            transition(inst, State::Stopped, now, why.to_string(), fx);
            if restart {
                spawn(inst, spec, now, "restarted by request", fx);
            }
        }
    }
}

/// Ends a drain: the stop signal goes now and `stop_timeout` starts.
fn send_stop_signal(
    inst: &mut Instance,
    spec: &ServiceSpec,
    now: Instant,
    why: &str,
    fx: &mut Vec<Effect>,
) {
    inst.draining = false;
    let Some(pid) = inst.pid else { return };
    inst.timers.stop = Some(now + spec.stop_timeout);
    fx.push(Effect::Signal {
        pid,
        signal: spec.stop_signal,
    });
    inst.reason = format!("{why}; sent {}", spec.stop_signal);
}

/// Stops a live instance whose health failed; its exit will count as a failure.
fn stop_unhealthy(
    inst: &mut Instance,
    spec: &ServiceSpec,
    now: Instant,
    reason: String,
    signal: Signal,
    fx: &mut Vec<Effect>,
) {
    let Some(pid) = inst.pid else { return };
    inst.stopping = Some(StopCause::Unhealthy {
        reason: reason.clone(),
    });
    clear_run_timers(inst);
    inst.timers.stop = Some(now + spec.stop_timeout);
    fx.push(Effect::Signal { pid, signal });
    transition(inst, State::StopPending, now, reason, fx);
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
