//! The status documents of the API, built from the loop's state on request.

use steward_core::config::{Probe, ProbeCheck};
use steward_core::machine::{ExitHow, Instance, ProbeKind, ProbeState, State};
use steward_core::time::Instant;
use steward_proto as proto;

use crate::clock::Clock;
use crate::supervisor::ServiceRt;

pub fn service(
    rt: &ServiceRt,
    clock: &Clock,
    now: Instant,
    endpoints: &crate::endpoint::Endpoints,
) -> proto::ServiceStatus {
    proto::ServiceStatus {
        name: rt.spec.name.clone(),
        endpoint: endpoints.status(&rt.spec.name),
        instances: rt
            .instances
            .iter()
            .zip(&rt.io)
            .map(|(i, io)| instance(rt, i, io.rejected, clock, now))
            .collect(),
    }
}

fn instance(
    rt: &ServiceRt,
    inst: &Instance,
    rejected: u64,
    clock: &Clock,
    now: Instant,
) -> proto::InstanceStatus {
    let spec = &rt.spec;
    let probes = [
        (ProbeKind::Readiness, &spec.readiness, &inst.readiness),
        (ProbeKind::Liveness, &spec.liveness, &inst.liveness),
    ]
    .into_iter()
    .filter_map(|(kind, probe, state)| probe.as_ref().map(|p| probe_status(kind, p, state, clock)))
    .collect();
    proto::InstanceStatus {
        name: rt.spec.name.clone(),
        instance: inst.index,
        state: state(inst.state),
        pid: inst.pid,
        since: clock.wall(inst.since),
        since_seconds: Clock::seconds_between(inst.since, now),
        uptime_seconds: inst
            .pid
            .and(inst.started_at)
            .map(|t| Clock::seconds_between(t, now)),
        restarts: inst.restarts,
        failures: inst.failures_at(&rt.spec, now),
        last_exit: inst.last_exit.as_ref().map(|e| {
            let (code, signal) = code_and_signal(e.how);
            proto::LastExit {
                code,
                signal,
                counted_as_failure: e.kind.is_failure(),
                counted_as: e.describe(),
                at: clock.wall(e.at),
            }
        }),
        reason: inst.reason.clone(),
        notify: spec.notify.then(|| proto::NotifyStatus {
            ready: inst.notified.ready,
            reloading: inst.notified.reloading,
            stopping: inst.notified.stopping,
            status: inst.notified.status.clone(),
            main_pid: inst.notified.main_pid,
            errno: inst.notified.errno,
            exit_status: inst.notified.exit_status.clone(),
            rejected,
        }),
        probes,
        watchdog_seconds: inst.watchdog.map(|d| d.as_secs_f64()),
        usage: None,
    }
}

fn probe_status(
    kind: ProbeKind,
    probe: &Probe,
    state: &ProbeState,
    clock: &Clock,
) -> proto::ProbeStatus {
    proto::ProbeStatus {
        kind: kind.as_str().into(),
        check: match &probe.check {
            ProbeCheck::Exec { command } => format!("exec {}", command.join(" ")),
            ProbeCheck::Tcp { address } => format!("tcp {address}"),
            ProbeCheck::Http { url } => format!("http {url}"),
        },
        passing: state.passing,
        consecutive_failures: state.consecutive_failed,
        last_error: state.last_error.clone(),
        last_checked: state.last_checked.map(|t| clock.wall(t)),
    }
}

/// An exit's code or signal name, as the API spells them.
pub(crate) fn code_and_signal(how: Option<ExitHow>) -> (Option<i32>, Option<String>) {
    match how {
        Some(ExitHow::Code(c)) => (Some(c), None),
        Some(ExitHow::Signal(s)) => (None, Some(s.to_string())),
        None => (None, None),
    }
}

pub(crate) fn state(s: State) -> proto::State {
    match s {
        State::Stopped => proto::State::Stopped,
        State::StartPending => proto::State::StartPending,
        State::Running => proto::State::Running,
        State::StopPending => proto::State::StopPending,
        State::PausePending => proto::State::PausePending,
        State::Paused => proto::State::Paused,
        State::ContinuePending => proto::State::ContinuePending,
        State::Backoff => proto::State::Backoff,
        State::Failed => proto::State::Failed,
    }
}
