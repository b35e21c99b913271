//! Turning what the loop sees into events: transitions, exits, probe changes, recovery
//! commands, operators' actions, reloads, tasks, and steward's own life.

use steward_core::machine::{Instance, State};
use steward_proto::{EventBody, ReloadReport};

use super::{Key, Supervisor};
use crate::journal::Health;
use crate::status;

/// What of an instance, changed by one step, makes an event besides a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Observed {
    /// Which run ended last (generation), and whether it was recorded at all.
    exit: Option<(u64, steward_core::time::Instant)>,
    readiness: Option<bool>,
    liveness: Option<bool>,
}

impl Observed {
    pub(super) fn of(inst: &Instance) -> Observed {
        Observed {
            exit: inst.last_exit.as_ref().map(|e| (e.generation, e.at)),
            readiness: inst.readiness.passing,
            liveness: inst.liveness.passing,
        }
    }
}

impl Supervisor {
    /// An exit or a probe's change, read off the instance after a step.
    pub(super) fn publish_changes(
        &mut self,
        key: &Key,
        old_pid: Option<u32>,
        before: &Observed,
        after: &Observed,
    ) {
        let Some(inst) = self.instance(key) else {
            return;
        };
        let mut out = Vec::new();
        if before.exit != after.exit
            && let Some(e) = &inst.last_exit
        {
            let (code, signal) = status::code_and_signal(e.how);
            let counted_as = e.describe();
            let message = match old_pid {
                Some(pid) => format!("process {pid} ended: {counted_as}"),
                None => counted_as.clone(),
            };
            out.push((
                message,
                EventBody::Exited {
                    pid: old_pid.filter(|_| e.how.is_some()),
                    code,
                    signal,
                    counted_as_failure: e.kind.is_failure(),
                    counted_as,
                },
            ));
        }
        let probes = [
            (
                "readiness",
                before.readiness,
                after.readiness,
                &inst.readiness,
            ),
            ("liveness", before.liveness, after.liveness, &inst.liveness),
        ];
        for (probe, was, now, state) in probes {
            let Some(passing) = now.filter(|_| was != now) else {
                continue;
            };
            let detail = state.last_error.clone().filter(|_| !passing);
            let word = if passing { "passing" } else { "failing" };
            let message = match &detail {
                Some(d) => format!("{probe} probe {word}: {d}"),
                None => format!("{probe} probe {word}"),
            };
            out.push((
                message,
                EventBody::Probe {
                    probe: probe.into(),
                    passing,
                    detail,
                },
            ));
        }
        for (message, body) in out {
            self.bus
                .publish(Some(&key.service), Some(key.index), message, body);
        }
    }

    pub(super) fn publish_transition(&mut self, key: &Key, from: State, to: State, reason: String) {
        let pid = self.instance(key).and_then(|i| i.pid);
        let message = format!("{from} -> {to}: {reason}");
        let body = EventBody::State {
            from: status::state(from),
            to: status::state(to),
            reason,
            pid,
        };
        self.bus
            .publish(Some(&key.service), Some(key.index), message, body);
    }

    pub(super) fn publish_recovery(
        &mut self,
        key: &Key,
        purpose: &str,
        command: Vec<String>,
        started: Result<u32, String>,
    ) {
        let message = match &started {
            Ok(pid) => format!("running {purpose} command {command:?} (pid {pid})"),
            Err(e) => format!("{purpose} command {command:?} failed to start: {e}"),
        };
        let (pid, error) = match started {
            Ok(pid) => (Some(pid), None),
            Err(e) => (None, Some(e)),
        };
        let body = EventBody::Recovery {
            purpose: purpose.into(),
            command,
            pid,
            error,
        };
        self.bus
            .publish(Some(&key.service), Some(key.index), message, body);
    }

    /// An operator's action on a service (all instances) or one instance.
    pub(super) fn publish_control(
        &mut self,
        service: &str,
        instance: Option<u32>,
        action: &str,
        who: &str,
        outcome: &str,
    ) {
        let message = format!("{action} requested by {who}: {outcome}");
        let body = EventBody::Control {
            action: action.into(),
            who: who.into(),
            outcome: outcome.into(),
        };
        self.bus.publish(Some(service), instance, message, body);
    }

    pub(super) fn publish_reload(&mut self, report: &ReloadReport, who: Option<String>) {
        let mut message = format!("reload ({}): {}", report.trigger, report.outcome);
        if let Some(e) = &report.error {
            message.push_str(&format!(": {e}"));
        } else if !report.summary.is_empty() {
            message.push_str(&format!(": {}", report.summary.join("; ")));
        }
        let body = EventBody::Reload {
            who,
            report: Box::new(report.clone()),
        };
        self.bus.publish(None, None, message, body);
    }

    pub(super) fn publish_task(&mut self, name: &str, state: &str, outcome: &str) {
        let message = format!("task {name} {state}: {outcome}");
        let body = EventBody::Task {
            name: name.into(),
            state: state.into(),
            outcome: outcome.into(),
        };
        self.bus.publish(None, None, message, body);
    }

    pub(super) fn publish_supervisor(&mut self, what: &str, message: String) {
        let body = EventBody::Supervisor { what: what.into() };
        self.bus.publish(None, None, message, body);
    }

    pub(super) fn on_journal_health(&mut self, health: Health) {
        let message = match (&health.problem, health.ok) {
            (Some(p), false) => format!("the journal cannot keep events: {p}"),
            (Some(p), true) => format!("the journal recovered: {p}"),
            (None, _) => "the journal keeps events again".to_string(),
        };
        let body = EventBody::Journal {
            ok: health.ok,
            problem: health.problem,
        };
        self.bus.publish(None, None, message, body);
    }
}
