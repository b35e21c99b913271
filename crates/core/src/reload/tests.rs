use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::config::{Condition, Dependency, PauseMode, Probe, ProbeCheck};
use crate::signal::Signal;

fn config(services: Vec<ServiceSpec>) -> Config {
    Config {
        supervisor: Default::default(),
        control: Default::default(),
        http: None,
        services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
        tasks: Vec::new(),
    }
}

fn svc(name: &str, instances: u32) -> ServiceSpec {
    let mut s = ServiceSpec::with_defaults(name, vec!["/bin/prog".into()]);
    s.instances = instances;
    s
}

fn steps(plan: &Plan, name: &str) -> Vec<Step> {
    plan.services
        .iter()
        .find(|s| s.name == name)
        .unwrap()
        .instances
        .iter()
        .map(|(_, s)| *s)
        .collect()
}

fn up(_: &str, _: u32) -> Live {
    Live::Up
}

#[test]
fn an_unchanged_config_plans_nothing() {
    let c = config(vec![svc("a", 2), svc("b", 1)]);
    let p = plan(&c, &c, up);
    assert!(p.is_empty());
    assert_eq!(steps(&p, "a"), vec![Step::Keep, Step::Keep]);
}

#[test]
fn a_changed_env_restarts_only_that_service() {
    let old = config(vec![svc("a", 2), svc("b", 1)]);
    let mut new = old.clone();
    let a = new.services.get_mut("a").unwrap();
    a.process.env.insert("MODE".into(), "fast".into());
    let p = plan(&old, &new, up);
    let a = p.services.iter().find(|s| s.name == "a").unwrap();
    assert_eq!(a.change, Change::Restarted);
    assert_eq!(a.keys, vec!["env"]);
    assert_eq!(steps(&p, "a"), vec![Step::Restart { pause: false }; 2]);
    assert_eq!(steps(&p, "b"), vec![Step::Keep]);
    assert_eq!(describe(&p)[0], "restarted a (env): restart 0,1");
}

#[test]
fn scaling_touches_only_the_added_or_removed_indices() {
    let old = config(vec![svc("a", 3)]);
    let new = config(vec![svc("a", 5)]);
    let p = plan(&old, &new, up);
    assert_eq!(p.services[0].change, Change::Updated);
    assert_eq!(
        steps(&p, "a"),
        vec![Step::Keep, Step::Keep, Step::Keep, Step::Start, Step::Start]
    );
    let p = plan(&new, &old, up);
    assert_eq!(
        steps(&p, "a"),
        vec![Step::Keep, Step::Keep, Step::Keep, Step::Stop, Step::Stop]
    );
    assert_eq!(describe(&p), vec!["updated a (instances): stop 3,4"]);
}

#[test]
fn recovery_and_probe_changes_apply_in_place() {
    let old = config(vec![svc("a", 1)]);
    let mut new = old.clone();
    let a = new.services.get_mut("a").unwrap();
    a.max_failures = Some(3);
    a.stop_timeout = Duration::from_secs(2);
    a.liveness = Some(Probe::new(ProbeCheck::Tcp {
        address: "127.0.0.1:1".into(),
    }));
    let p = plan(&old, &new, up);
    assert_eq!(p.services[0].change, Change::Updated);
    assert_eq!(
        p.services[0].keys,
        vec!["max_failures", "stop_timeout", "liveness"]
    );
    assert_eq!(steps(&p, "a"), vec![Step::Update]);
}

#[test]
fn log_rotation_and_timestamps_apply_in_place() {
    let old = config(vec![svc("a", 2), svc("b", 1)]);
    let mut new = old.clone();
    let a = new.services.get_mut("a").unwrap();
    a.log.max_size = 1 << 20;
    a.log.keep = 2;
    a.log.timestamps = true;
    let p = plan(&old, &new, up);
    let a = p.services.iter().find(|s| s.name == "a").unwrap();
    assert_eq!(a.change, Change::Updated);
    assert_eq!(a.keys, vec!["log.max_size", "log.keep", "log.timestamps"]);
    assert_eq!(steps(&p, "a"), vec![Step::Update; 2]);
    assert_eq!(steps(&p, "b"), vec![Step::Keep]);
}

#[test]
fn log_capture_and_stderr_change_the_fds_so_they_restart() {
    use crate::config::StderrMode;
    let old = config(vec![svc("a", 1), svc("b", 1)]);
    let mut new = old.clone();
    new.services.get_mut("a").unwrap().log.capture = false;
    new.services.get_mut("b").unwrap().log.stderr = StderrMode::Separate;
    let p = plan(&old, &new, up);
    for (name, key) in [("a", "log.capture"), ("b", "log.stderr")] {
        let s = p.services.iter().find(|s| s.name == name).unwrap();
        assert_eq!((s.change, s.keys.clone()), (Change::Restarted, vec![key]));
        assert_eq!(steps(&p, name), vec![Step::Restart { pause: false }]);
    }
    // Down, it takes the new fds at its next start.
    let p = plan(&old, &new, |_, _| Live::Down);
    assert_eq!(steps(&p, "a"), vec![Step::Update]);
}

#[test]
fn run_as_settings_are_fixed_at_exec_so_they_restart() {
    use crate::rlimit::{Bound, Limit, Resource};
    let names = ["a", "b", "c", "d", "e"];
    let old = config(names.iter().map(|n| svc(n, 2)).collect());
    let mut new = old.clone();
    let s = &mut new.services;
    s.get_mut("a").unwrap().process.umask = Some(0o027);
    s.get_mut("b").unwrap().process.pass_env = vec!["PATH".into(), "MY_*".into()];
    let limit = Limit::both(Bound::Finite(4096));
    s.get_mut("c").unwrap().process.limits = [(Resource::Nofile, limit)].into();
    s.get_mut("d").unwrap().process.no_new_privileges = true;
    let p = plan(&old, &new, up);
    let want = [
        ("a", "umask"),
        ("b", "pass_env"),
        ("c", "limits"),
        ("d", "no_new_privileges"),
    ];
    for (name, key) in want {
        let s = p.services.iter().find(|s| s.name == name).unwrap();
        assert_eq!((s.change, s.keys.clone()), (Change::Restarted, vec![key]));
        assert_eq!(steps(&p, name), vec![Step::Restart { pause: false }; 2]);
        assert!(RESTART_KEYS.contains(&key));
    }
    assert_eq!(steps(&p, "e"), vec![Step::Keep; 2]);
    assert_eq!(describe(&p)[2], "restarted c (limits): restart 0,1");

    // A paused instance comes back paused; a stopped one takes them at its next start.
    let p = plan(&old, &new, |_, _| Live::Paused);
    assert_eq!(steps(&p, "a"), vec![Step::Restart { pause: true }; 2]);
    let p = plan(&old, &new, |_, _| Live::Down);
    assert_eq!(steps(&p, "d"), vec![Step::Update; 2]);
}

#[test]
fn paused_instances_come_back_paused_and_failed_ones_get_a_new_chance() {
    let old = config(vec![svc("a", 4)]);
    let mut new = old.clone();
    new.services.get_mut("a").unwrap().process.command = vec!["/bin/other".into()];
    let live =
        |_: &str, i: u32| [Live::Paused, Live::Failed, Live::Down, Live::Waiting][i as usize];
    assert_eq!(
        steps(&plan(&old, &new, live), "a"),
        vec![
            Step::Restart { pause: true },
            Step::Start,
            Step::Update,
            Step::Update
        ]
    );
    // A new pause mode cannot apply to a process paused the old way: restart it, paused.
    let mut new = old.clone();
    new.services.get_mut("a").unwrap().pause = PauseMode::Signal {
        pause: Signal::HUP,
        resume: Signal::INT,
    };
    assert_eq!(
        steps(&plan(&old, &new, live), "a"),
        vec![
            Step::Restart { pause: true },
            Step::Start,
            Step::Update,
            Step::Update
        ]
    );
}

#[test]
fn removed_services_stop_first_dependents_before_dependencies() {
    let mut b = svc("b", 1);
    b.depends_on = vec![Dependency {
        service: "a".into(),
        condition: Condition::Running,
    }];
    let old = config(vec![svc("a", 1), b, svc("z", 1)]);
    let new = config(vec![svc("z", 1), svc("c", 1)]);
    let p = plan(&old, &new, up);
    let order: Vec<(&str, Change)> = p
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.change))
        .collect();
    assert_eq!(
        order,
        vec![
            ("b", Change::Removed),
            ("a", Change::Removed),
            ("c", Change::Added),
            ("z", Change::Unchanged)
        ]
    );
}

#[test]
fn settings_outside_services_are_reported_not_applied() {
    let old = config(vec![svc("a", 1)]);
    let mut new = old.clone();
    new.control.socket = Some("/run/other.sock".into());
    let p = plan(&old, &new, up);
    assert!(!p.is_empty());
    assert_eq!(p.needs_restart, vec!["[control] socket"]);
}

// ---- property: applying plan(old, new) to old yields new, and touches nothing equal ----

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

/// A service drawn from a few values of a restart key (command), a hot key
/// (max_failures), the pause mode, the count and a dependency on an earlier name (so the
/// graph has no cycle).
fn arb_service(index: usize) -> impl Strategy<Value = ServiceSpec> {
    (
        0..3u32,
        0..2u8,
        0..2u8,
        0..2u8,
        proptest::option::of(0..index.max(1)),
    )
        .prop_map(move |(instances, cmd, maxf, pause, dep)| {
            let mut s = svc(NAMES[index], instances);
            s.process.command = vec![format!("/bin/prog{cmd}")];
            s.max_failures = (maxf == 1).then_some(5);
            if pause == 1 {
                s.pause = PauseMode::Signal {
                    pause: Signal::HUP,
                    resume: Signal::INT,
                };
            }
            if let Some(d) = dep.filter(|&d| d < index) {
                s.depends_on = vec![Dependency {
                    service: NAMES[d].into(),
                    condition: Condition::Started,
                }];
            }
            s
        })
}

fn arb_config() -> impl Strategy<Value = Config> {
    proptest::collection::vec(proptest::option::of(0..1u8), NAMES.len())
        .prop_flat_map(|present| {
            let services: Vec<_> = present
                .iter()
                .enumerate()
                .filter(|(_, p)| p.is_some())
                .map(|(i, _)| arb_service(i).boxed())
                .collect();
            services
        })
        .prop_map(|services| {
            // A dependency on a service that is not there is dropped, as the parser would
            // refuse it.
            let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
            let services = services
                .into_iter()
                .map(|mut s| {
                    s.depends_on.retain(|d| names.contains(&d.service));
                    s
                })
                .collect();
            config(services)
        })
}

fn arb_live() -> impl Strategy<Value = Live> {
    prop_oneof![
        Just(Live::Up),
        Just(Live::Paused),
        Just(Live::Down),
        Just(Live::Waiting),
        Just(Live::Failed)
    ]
}

/// A model of the daemon: per service its spec and per instance (pid, live).
type World = BTreeMap<String, (ServiceSpec, Vec<(u64, Live)>)>;

fn world(config: &Config, lives: &[Live]) -> World {
    let mut pid = 100;
    let mut n = 0;
    config
        .services
        .iter()
        .map(|(name, spec)| {
            let instances = (0..spec.instances)
                .map(|_| {
                    pid += 1;
                    n += 1;
                    (pid, lives[n % lives.len()])
                })
                .collect();
            (name.clone(), (spec.clone(), instances))
        })
        .collect()
}

fn apply(world: &World, plan: &Plan, new: &Config) -> World {
    let mut w = world.clone();
    let mut pid = 10_000;
    for sp in &plan.services {
        if sp.change == Change::Removed {
            assert!(sp.instances.iter().all(|(_, s)| *s == Step::Stop));
            w.remove(&sp.name);
            continue;
        }
        let spec = new.services[&sp.name].clone();
        let entry = w
            .entry(sp.name.clone())
            .or_insert_with(|| (spec.clone(), Vec::new()));
        entry.0 = spec.clone();
        let mut stopped = Vec::new();
        for &(i, step) in &sp.instances {
            let i = i as usize;
            let wanted = i < spec.instances as usize;
            match step {
                Step::Keep | Step::Update => assert!(wanted && i < entry.1.len()),
                Step::Start => {
                    pid += 1;
                    if i < entry.1.len() {
                        entry.1[i] = (pid, Live::Up);
                    } else {
                        assert_eq!(i, entry.1.len(), "new indices are contiguous");
                        entry.1.push((pid, Live::Up));
                    }
                }
                Step::Stop => {
                    assert!(!wanted && i < entry.1.len());
                    stopped.push(i);
                }
                Step::Restart { pause } => {
                    assert!(wanted);
                    pid += 1;
                    entry.1[i] = (pid, if pause { Live::Paused } else { Live::Up });
                }
            }
        }
        // Only what the plan stops goes away.
        for i in stopped.into_iter().rev() {
            entry.1.remove(i);
        }
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_the_plan_yields_the_new_config(
        old in arb_config(),
        new in arb_config(),
        lives in proptest::collection::vec(arb_live(), 1..8),
    ) {
        let before = world(&old, &lives);
        let live = |name: &str, i: u32| before[name].1[i as usize].1;
        let p = plan(&old, &new, live);
        let after = apply(&before, &p, &new);

        // The result is the new config: the same services, specs and instance counts.
        prop_assert_eq!(after.keys().collect::<Vec<_>>(), new.services.keys().collect::<Vec<_>>());
        for (name, (spec, instances)) in &after {
            prop_assert_eq!(spec, &new.services[name]);
            prop_assert_eq!(instances.len(), spec.instances as usize);
        }
        for (name, (old_spec, old_instances)) in &before {
            let Some((new_spec, new_instances)) = after.get(name) else { continue };
            let kept = old_instances.iter().zip(new_instances);
            let keys = changed_keys(old_spec, new_spec);
            if keys.iter().all(|k| *k == "instances") {
                // Nothing equal is touched: same processes, same states.
                for (a, b) in kept {
                    prop_assert_eq!(a, b);
                }
                continue;
            }
            let restart = keys.iter().any(|k| RESTART_KEYS.contains(k));
            for (a, b) in kept {
                match a.1 {
                    // A paused instance is paused afterwards, whatever happened to it.
                    Live::Paused => prop_assert_eq!(b.1, Live::Paused),
                    // The new settings reach every process that runs: it restarted.
                    Live::Up if restart => prop_assert_ne!(a.0, b.0),
                    // Otherwise a running process is left alone.
                    Live::Up => prop_assert_eq!(a, b),
                    Live::Failed => prop_assert_eq!(b.1, Live::Up),
                    Live::Down | Live::Waiting => prop_assert_eq!(a, b),
                }
            }
        }

        // Added and changed services come after their dependencies.
        let position = |name: &str| p.services.iter().position(|s| s.name == name);
        for (name, spec) in &new.services {
            for d in &spec.depends_on {
                prop_assert!(position(&d.service) < position(name));
            }
        }
        prop_assert!(plan(&new, &new, live_any).is_empty());
    }
}

fn live_any(_: &str, i: u32) -> Live {
    [
        Live::Up,
        Live::Paused,
        Live::Down,
        Live::Waiting,
        Live::Failed,
    ][i as usize % 5]
}

/// The keys a reload from `old` to `new` (each a `[service.a]` body) changes, and whether
/// any of them restarts the instances.
fn endpoint_change(old: &str, new: &str) -> (Vec<&'static str>, bool) {
    let parse = |body: &str| {
        let text = format!("[service.a]\ncommand = [\"/bin/prog\"]\ninstances = 2\n{body}");
        crate::config::parse("/etc/steward/steward.toml", &text).unwrap()
    };
    let (old, new) = (parse(old), parse(new));
    let keys = changed_keys(&old.services["a"], &new.services["a"]);
    let restarts = plan(&old, &new, up).services.iter().any(|s| {
        s.instances
            .iter()
            .any(|(_, st)| matches!(st, Step::Restart { .. }))
    });
    assert_eq!(
        restarts,
        keys.iter().any(|k| RESTART_KEYS.contains(k)),
        "{keys:?}"
    );
    (keys, restarts)
}

#[test]
fn a_proxy_endpoints_acl_balance_and_listen_apply_in_place() {
    let old = "endpoint = { listen = \"unix:/run/a.sock\" }\n";
    for new in [
        "endpoint = { listen = \"unix:/run/a.sock\", acl = [\"allow group:web read,write\"] }\n",
        "endpoint = { listen = \"unix:/run/a.sock\", balance = \"least-connections\" }\n",
        "endpoint = { listen = \"tcp:127.0.0.1:8000\" }\n",
        "endpoint = { listen = \"unix:/run/a.sock\", drain_timeout = \"1m\" }\n",
    ] {
        assert_eq!(
            endpoint_change(old, new),
            (vec!["endpoint"], false),
            "{new}"
        );
    }
}

#[test]
fn an_endpoints_backend_or_mode_restarts_the_instances() {
    let old = "endpoint = { listen = \"unix:/run/a.sock\" }\n";
    for new in [
        "endpoint = { listen = \"unix:/run/a.sock\", backend = \"tcp:127.0.0.1:7000\" }\n",
        "endpoint = { listen = \"unix:/run/a.sock\", mode = \"socket\" }\n",
    ] {
        assert_eq!(
            endpoint_change(old, new),
            (vec!["endpoint.backend", "endpoint"], true),
            "{new}"
        );
    }
    // Adding or removing an endpoint changes what the instances are given.
    let (keys, restarts) = endpoint_change("", old);
    assert_eq!(
        (keys, restarts),
        (vec!["endpoint.backend", "endpoint"], true)
    );
    // In socket mode the instances hold the socket itself: a new address restarts them.
    let socket = "endpoint = { listen = \"unix:/run/a.sock\", mode = \"socket\" }\n";
    let moved = "endpoint = { listen = \"unix:/run/b.sock\", mode = \"socket\" }\n";
    assert!(endpoint_change(socket, moved).1);
}

#[test]
fn rolling_applies_in_place() {
    assert_eq!(
        endpoint_change("", "rolling = true\n"),
        (vec!["rolling"], false)
    );
}

#[test]
fn a_scaled_count_stays_until_the_file_changes_the_services_instances() {
    // Scaled from the file's 3 to 5, then to 2: the file's value is still 3.
    let first = scaled(None, 3, 5);
    assert_eq!(first, Some(Scaled { file: 3, count: 5 }));
    let second = scaled(first, 5, 2);
    assert_eq!(second, Some(Scaled { file: 3, count: 2 }));
    // Back to the file's own count: nothing left to remember.
    assert_eq!(scaled(second, 2, 3), None);

    let remembered = BTreeMap::from([("web".to_string(), second.unwrap())]);
    let mut same = web(3);
    let kept = keep_scaled(&mut same, &remembered);
    assert_eq!(
        same.services["web"].instances, 2,
        "the file left `instances` alone"
    );
    assert_eq!(kept, remembered);
    let mut changed = web(4);
    let kept = keep_scaled(&mut changed, &remembered);
    assert_eq!(
        changed.services["web"].instances, 4,
        "the file's new count wins"
    );
    assert!(kept.is_empty());
    let mut gone = config(Vec::new());
    assert!(keep_scaled(&mut gone, &remembered).is_empty());
}

fn web(instances: u32) -> Config {
    let mut spec = ServiceSpec::with_defaults("web", vec!["prog".into()]);
    spec.instances = instances;
    config(vec![spec])
}
