//! The reload plan: what a new config changes, decided from the old config, the new one
//! and what each instance is doing now. Only what changed is touched: an unchanged service
//! keeps its processes, a change that can apply to running processes is applied without a
//! restart, and scaling starts or stops only the instances it adds or removes.
//!
//! The daemon carries the plan out (stops in reverse dependency order, starts in
//! dependency order); this module only decides.

use crate::config::{Config, ProcessSpec, ServiceSpec, graph};

/// What an instance is doing, as far as a reload cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Steward wants it up: starting, running, in backoff, or restarting.
    Up,
    /// Paused, or on its way to or from it: it must come back paused.
    Paused,
    /// Down and meant to stay down (an operator stopped it, or it completed).
    Down,
    /// Down but about to start: waiting for its dependencies or the startup tasks.
    Waiting,
    /// Gave up after `max_failures`, or its recovery said to stay down.
    Failed,
}

/// One instance's step in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not touched.
    Keep,
    /// The new settings apply to it without a restart (or, when it is down, at its next
    /// start).
    Update,
    /// Started: a new instance, or a failed one that the new settings give a new chance.
    Start,
    /// Stopped and removed: its service or its index is gone.
    Stop,
    /// Stopped, then started with the new settings; paused again if it was paused.
    Restart { pause: bool },
}

/// How a service as a whole changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    /// Some settings that running processes cannot take changed.
    Restarted,
    /// Only settings that apply without a restart changed (possibly `instances` alone).
    Updated,
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Restarted => "restarted",
            Change::Updated => "updated",
            Change::Unchanged => "unchanged",
        }
    }
}

/// One service's part of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    pub name: String,
    pub change: Change,
    /// The keys whose values differ, in the config's spelling (`command`, `instances`...).
    pub keys: Vec<&'static str>,
    /// Every instance index the old or new config has, with its step.
    pub instances: Vec<(u32, Step)>,
}

impl ServicePlan {
    /// True when the plan does something to this service.
    pub fn touches(&self) -> bool {
        self.change != Change::Unchanged
    }
}

/// What a reload does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Removed services first (dependents before their dependencies), then the others in
    /// the new config's start order.
    pub services: Vec<ServicePlan>,
    /// Settings that changed but only take effect when steward itself restarts.
    pub needs_restart: Vec<&'static str>,
}

impl Plan {
    /// True when nothing at all changes.
    pub fn is_empty(&self) -> bool {
        self.needs_restart.is_empty() && self.services.iter().all(|s| !s.touches())
    }
}

/// The keys that running processes cannot take: changing one restarts the instance.
/// Everything else (recovery, probes, timeouts, signals, dependencies, `instances`, log
/// rotation and timestamps) applies in place.
pub const RESTART_KEYS: &[&str] = &[
    "command",
    "env",
    "env_file",
    "working_dir",
    "user",
    "group",
    "supplementary_groups",
    "umask",
    "pass_env",
    "limits",
    "no_new_privileges",
    "notify",
    "ready",
    "watchdog",
    // The child's stdout and stderr are these pipes from its start.
    "log.capture",
    "log.stderr",
    "endpoint.backend",
];

/// Decides what reloading `old` into `new` does, given what each instance is doing now
/// (`live(service, index)`, asked only for instances `old` has).
pub fn plan(old: &Config, new: &Config, live: impl Fn(&str, u32) -> Live) -> Plan {
    let mut services = Vec::new();
    // Removed services: dependents first, so reverse the old start order.
    for layer in graph::start_order(&old.services).iter().rev() {
        for name in layer {
            if !new.services.contains_key(name) {
                let n = old.services[name].instances;
                services.push(ServicePlan {
                    name: name.clone(),
                    change: Change::Removed,
                    keys: Vec::new(),
                    instances: (0..n).map(|i| (i, Step::Stop)).collect(),
                });
            }
        }
    }
    for layer in graph::start_order(&new.services) {
        for name in layer {
            let spec = &new.services[&name];
            services.push(match old.services.get(&name) {
                None => ServicePlan {
                    instances: (0..spec.instances).map(|i| (i, Step::Start)).collect(),
                    name,
                    change: Change::Added,
                    keys: Vec::new(),
                },
                Some(before) => service_plan(before, spec, &live),
            });
        }
    }
    Plan {
        services,
        needs_restart: needs_restart(old, new),
    }
}

fn service_plan(
    old: &ServiceSpec,
    new: &ServiceSpec,
    live: &impl Fn(&str, u32) -> Live,
) -> ServicePlan {
    let keys = changed_keys(old, new);
    let restart = keys.iter().any(|k| RESTART_KEYS.contains(k));
    let pause_changed = keys.contains(&"pause");
    // `instances` alone concerns only the indices it adds or removes.
    let settings_changed = keys.iter().any(|k| *k != "instances");
    let count = old.instances.max(new.instances);
    let instances = (0..count)
        .map(|i| {
            let step = if i >= new.instances {
                Step::Stop
            } else if i >= old.instances {
                Step::Start
            } else if !settings_changed {
                Step::Keep
            } else {
                match live(&new.name, i) {
                    Live::Failed => Step::Start,
                    Live::Up if restart => Step::Restart { pause: false },
                    Live::Paused if restart || pause_changed => Step::Restart { pause: true },
                    Live::Up | Live::Paused | Live::Down | Live::Waiting => Step::Update,
                }
            };
            (i, step)
        })
        .collect();
    let change = if keys.is_empty() {
        Change::Unchanged
    } else if restart {
        Change::Restarted
    } else {
        Change::Updated
    };
    ServicePlan {
        name: new.name.clone(),
        change,
        keys,
        instances,
    }
}

/// The keys of a service whose values differ, in the config's spelling.
pub fn changed_keys(old: &ServiceSpec, new: &ServiceSpec) -> Vec<&'static str> {
    // Destructured so that a new field cannot be forgotten here.
    let ServiceSpec {
        name: _,
        process,
        instances,
        restart,
        failure_flag,
        success_exit_codes,
        recovery,
        reset_failures_after,
        backoff,
        max_failures,
        on_give_up,
        stop_signal,
        stop_timeout,
        notify,
        ready_fd,
        start_timeout,
        watchdog,
        watchdog_signal,
        readiness,
        liveness,
        depends_on,
        pause,
        log,
        acl,
        endpoint,
        rolling,
    } = old;
    let ProcessSpec {
        command,
        env,
        env_file,
        working_dir,
        user,
        group,
        supplementary_groups,
        umask,
        pass_env,
        limits,
        no_new_privileges,
    } = process;
    let p = &new.process;
    let checks = [
        ("command", *command == p.command),
        ("env", *env == p.env),
        ("env_file", *env_file == p.env_file),
        ("working_dir", *working_dir == p.working_dir),
        ("user", *user == p.user),
        ("group", *group == p.group),
        (
            "supplementary_groups",
            *supplementary_groups == p.supplementary_groups,
        ),
        ("umask", *umask == p.umask),
        ("pass_env", *pass_env == p.pass_env),
        ("limits", *limits == p.limits),
        (
            "no_new_privileges",
            *no_new_privileges == p.no_new_privileges,
        ),
        ("instances", *instances == new.instances),
        ("restart", *restart == new.restart),
        ("failure_flag", *failure_flag == new.failure_flag),
        (
            "success_exit_codes",
            *success_exit_codes == new.success_exit_codes,
        ),
        ("recovery", *recovery == new.recovery),
        (
            "reset_failures_after",
            *reset_failures_after == new.reset_failures_after,
        ),
        ("backoff", *backoff == new.backoff),
        ("max_failures", *max_failures == new.max_failures),
        ("on_give_up", *on_give_up == new.on_give_up),
        ("stop_signal", *stop_signal == new.stop_signal),
        ("stop_timeout", *stop_timeout == new.stop_timeout),
        ("notify", *notify == new.notify),
        ("ready", *ready_fd == new.ready_fd),
        ("start_timeout", *start_timeout == new.start_timeout),
        ("watchdog", *watchdog == new.watchdog),
        ("watchdog_signal", *watchdog_signal == new.watchdog_signal),
        ("readiness", *readiness == new.readiness),
        ("liveness", *liveness == new.liveness),
        ("depends_on", *depends_on == new.depends_on),
        ("pause", *pause == new.pause),
        ("log.capture", log.capture == new.log.capture),
        ("log.stderr", log.stderr == new.log.stderr),
        // The writer takes these at once, between two reads.
        ("log.max_size", log.max_size == new.log.max_size),
        ("log.keep", log.keep == new.log.keep),
        ("log.timestamps", log.timestamps == new.log.timestamps),
        // Checked at each request against the config of the moment.
        ("acl", *acl == new.acl),
        // What each instance is given to listen on (its own address, or the endpoint's
        // socket) is fixed at its start; the rest of the endpoint changes in place.
        (
            "endpoint.backend",
            instance_listen(endpoint.as_ref()) == instance_listen(new.endpoint.as_ref()),
        ),
        ("endpoint", *endpoint == new.endpoint),
        ("rolling", *rolling == new.rolling),
    ];
    checks
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(key, _)| key)
        .collect()
}

/// What an endpoint hands its instances: their own addresses (proxy mode) or its socket.
fn instance_listen(
    e: Option<&crate::config::EndpointSpec>,
) -> Option<(
    crate::config::EndpointMode,
    Option<std::net::SocketAddr>,
    Option<&crate::endpoint::Address>,
)> {
    e.map(|e| match e.mode {
        crate::config::EndpointMode::Proxy => (e.mode, e.backend, None),
        crate::config::EndpointMode::Socket => (e.mode, None, Some(&e.listen)),
    })
}

/// A service's instance count changed at runtime (`steward scale`), with the file's
/// `instances` when it was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    pub file: u32,
    pub count: u32,
}

/// What a scale of a service running `running` instances to `count` leaves to remember,
/// given what was remembered before: nothing once the count is the file's own again.
pub fn scaled(before: Option<Scaled>, running: u32, count: u32) -> Option<Scaled> {
    let file = before.map_or(running, |s| s.file);
    (count != file).then_some(Scaled { file, count })
}

/// Applies the runtime counts to a newly read `config`: each stays while the file's
/// `instances` for its service is the one it was scaled from (a file that changes it
/// wins). Returns the counts that stay.
pub fn keep_scaled(
    config: &mut Config,
    scaled: &std::collections::BTreeMap<String, Scaled>,
) -> std::collections::BTreeMap<String, Scaled> {
    let mut kept = std::collections::BTreeMap::new();
    for (name, s) in scaled {
        if let Some(spec) = config.services.get_mut(name)
            && spec.instances == s.file
        {
            spec.instances = s.count;
            kept.insert(name.clone(), *s);
        }
    }
    kept
}

/// Settings outside the services that a running steward cannot take.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.control.socket != new.control.socket {
        out.push("[control] socket");
    }
    if old.supervisor.state_dir != new.supervisor.state_dir {
        out.push("[supervisor] state_dir");
    }
    // Startup tasks run when steward starts; a reload does not run them again.
    if old.tasks != new.tasks {
        out.push("[[task]]");
    }
    out
}

/// Renders the plan as the lines `steward reload` prints: one per service it changes.
pub fn describe(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for s in plan.services.iter().filter(|s| s.touches()) {
        let count = |step: fn(&Step) -> bool| {
            let list: Vec<String> = s
                .instances
                .iter()
                .filter(|(_, st)| step(st))
                .map(|(i, _)| i.to_string())
                .collect();
            list
        };
        let keys = if s.keys.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.keys.join(", "))
        };
        let mut parts = Vec::new();
        for (word, list) in [
            ("start", count(|st| *st == Step::Start)),
            ("stop", count(|st| *st == Step::Stop)),
            ("restart", count(|st| matches!(st, Step::Restart { .. }))),
            ("update", count(|st| *st == Step::Update)),
        ] {
            if !list.is_empty() {
                parts.push(format!("{word} {}", list.join(",")));
            }
        }
        let paused = count(|st| *st == Step::Restart { pause: true });
        if !paused.is_empty() {
            parts.push(format!("pause again {}", paused.join(",")));
        }
        let what = if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join("; "))
        };
        lines.push(format!("{} {}{keys}{what}", s.change.as_str(), s.name));
    }
    for key in &plan.needs_restart {
        lines.push(format!(
            "not applied: {key} changed; it takes effect when steward restarts"
        ));
    }
    lines
}

#[cfg(test)]
mod tests;
