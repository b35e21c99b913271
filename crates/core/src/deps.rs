//! Whether a service's dependencies let it start, and whether its dependents let it stop.

use crate::config::{Condition, Dependency, ServiceSpec};
use crate::machine::{ExitKind, Instance, State};

/// Whether `instances` (all of one service) have reached `condition`. A service with no
/// instances meets every condition.
pub fn condition_met(condition: Condition, instances: &[Instance]) -> bool {
    instances.iter().all(|i| match condition {
        // A process exists or existed: a start that failed to spawn does not count.
        Condition::Started => {
            i.pid.is_some() || i.last_exit.as_ref().is_some_and(|e| e.how.is_some())
        }
        Condition::Running => {
            matches!(
                i.state,
                State::Running | State::PausePending | State::Paused | State::ContinuePending
            )
        }
        Condition::Completed => {
            i.state == State::Stopped
                && i.last_exit
                    .as_ref()
                    .is_some_and(|e| e.kind == ExitKind::Success)
        }
    })
}

/// The first dependency of `spec` that is not met, in words ("waiting for db to be
/// running"), or `None` when it may start. `instances_of` looks a service up.
pub fn blocked_by<'a>(
    spec: &ServiceSpec,
    instances_of: impl Fn(&str) -> Option<&'a [Instance]>,
) -> Option<String> {
    spec.depends_on
        .iter()
        .find_map(|Dependency { service, condition }| {
            let met = instances_of(service).is_some_and(|i| condition_met(*condition, i));
            (!met).then(|| format!("waiting for {service} to be {}", condition_word(*condition)))
        })
}

fn condition_word(c: Condition) -> &'static str {
    match c {
        Condition::Started => "started",
        Condition::Running => "running",
        Condition::Completed => "completed",
    }
}

/// Whether a service may be stopped in an orderly shutdown: every service that depends on
/// it (`dependents`, their instances) is down, with no live process.
pub fn may_stop<'a>(dependents: impl IntoIterator<Item = &'a [Instance]>) -> bool {
    dependents
        .into_iter()
        .all(|instances| instances.iter().all(|i| i.pid.is_none()))
}

/// For each service, the services that depend on it, each once, in name order.
pub fn dependents(
    services: &std::collections::BTreeMap<String, ServiceSpec>,
) -> std::collections::HashMap<String, Vec<String>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for spec in services.values() {
        for d in &spec.depends_on {
            let list = out.entry(d.service.clone()).or_default();
            if list.last() != Some(&spec.name) {
                list.push(spec.name.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{ExitHow, Input, step};
    use crate::time::Instant;

    fn spec(name: &str, deps: &[(&str, Condition)]) -> ServiceSpec {
        let mut s = ServiceSpec::with_defaults(name, vec!["x".into()]);
        s.depends_on = deps
            .iter()
            .map(|(n, c)| Dependency {
                service: n.to_string(),
                condition: *c,
            })
            .collect();
        s
    }

    fn instance_in(spec: &ServiceSpec, inputs: &[Input]) -> Instance {
        let mut i = Instance::new(0, 0, Instant::ORIGIN);
        for input in inputs {
            step(&mut i, spec, input.clone(), Instant::ORIGIN);
        }
        i
    }

    #[test]
    fn conditions() {
        let s = spec("db", &[]);
        let never = instance_in(&s, &[]);
        let running = instance_in(&s, &[Input::Start, Input::Spawned { pid: 5 }]);
        let done = instance_in(
            &s,
            &[
                Input::Start,
                Input::Spawned { pid: 5 },
                Input::Exited {
                    pid: 5,
                    how: ExitHow::Code(0),
                },
            ],
        );
        let crashed = instance_in(
            &s,
            &[
                Input::Start,
                Input::Spawned { pid: 5 },
                Input::Exited {
                    pid: 5,
                    how: ExitHow::Code(1),
                },
            ],
        );
        assert!(!condition_met(
            Condition::Started,
            std::slice::from_ref(&never)
        ));
        assert!(condition_met(
            Condition::Started,
            std::slice::from_ref(&running)
        ));
        assert!(condition_met(
            Condition::Running,
            std::slice::from_ref(&running)
        ));
        assert!(!condition_met(
            Condition::Running,
            std::slice::from_ref(&done)
        ));
        assert!(condition_met(
            Condition::Completed,
            std::slice::from_ref(&done)
        ));
        assert!(!condition_met(
            Condition::Completed,
            std::slice::from_ref(&crashed)
        ));
        assert!(
            condition_met(Condition::Running, &[]),
            "no instances: nothing to wait for"
        );
        let failed_spawn = [
            Input::Start,
            Input::SpawnFailed {
                error: "no such file".into(),
            },
        ];
        let never_spawned = instance_in(&s, &failed_spawn);
        assert!(!condition_met(
            Condition::Started,
            std::slice::from_ref(&never_spawned)
        ));
    }

    #[test]
    fn blocked_names_the_first_unmet_dependency() {
        let db = spec("db", &[]);
        let web = spec("web", &[("db", Condition::Running)]);
        let down = [instance_in(&db, &[])];
        let up = [instance_in(&db, &[Input::Start, Input::Spawned { pid: 5 }])];
        assert_eq!(
            blocked_by(&web, |_| Some(&down[..])).as_deref(),
            Some("waiting for db to be running")
        );
        assert_eq!(blocked_by(&web, |_| Some(&up[..])), None);
        assert_eq!(blocked_by(&db, |_| None), None);
    }

    #[test]
    fn stop_waits_for_dependents() {
        let db = spec("db", &[]);
        let web = spec("web", &[("db", Condition::Running)]);
        let live = [instance_in(
            &web,
            &[Input::Start, Input::Spawned { pid: 5 }],
        )];
        let dead = [instance_in(&web, &[])];
        let services = [db.clone(), web.clone()]
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        let of = dependents(&services);
        assert_eq!(of["db"], ["web"]);
        assert!(!of.contains_key("web"));
        assert!(!may_stop([&live[..]]), "web still runs");
        assert!(may_stop([&dead[..]]));
        assert!(may_stop(std::iter::empty()), "nothing depends on web");
    }
}
