//! The status documents of the API, built from the loop's state on request.

use steward_core::machine::{ExitHow, Instance, State};
use steward_core::time::Instant;
use steward_proto as proto;

use crate::clock::Clock;
use crate::supervisor::ServiceRt;

pub fn service(rt: &ServiceRt, clock: &Clock, now: Instant) -> proto::ServiceStatus {
    proto::ServiceStatus {
        name: rt.spec.name.clone(),
        instances: rt
            .instances
            .iter()
            .map(|i| instance(rt, i, clock, now))
            .collect(),
    }
}

fn instance(rt: &ServiceRt, inst: &Instance, clock: &Clock, now: Instant) -> proto::InstanceStatus {
    proto::InstanceStatus {
        name: rt.spec.name.clone(),
        instance: inst.index,
        state: state(inst.state),
        pid: inst.pid,
        since: clock.wall(inst.since),
        since_seconds: Clock::seconds_between(inst.since, now),
        restarts: inst.restarts,
        failures: inst.failures_at(&rt.spec, now),
        last_exit: inst.last_exit.as_ref().map(|e| proto::LastExit {
            code: match e.how {
                Some(ExitHow::Code(c)) => Some(c),
                _ => None,
            },
            signal: match e.how {
                Some(ExitHow::Signal(s)) => Some(s.to_string()),
                _ => None,
            },
            counted_as_failure: e.kind.is_failure(),
            counted_as: e.describe(),
            at: clock.wall(e.at),
        }),
        reason: inst.reason.clone(),
    }
}

fn state(s: State) -> proto::State {
    match s {
        State::Stopped => proto::State::Stopped,
        State::StartPending => proto::State::StartPending,
        State::Running => proto::State::Running,
        State::StopPending => proto::State::StopPending,
        State::Backoff => proto::State::Backoff,
        State::Failed => proto::State::Failed,
    }
}
