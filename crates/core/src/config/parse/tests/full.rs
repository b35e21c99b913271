//! A config with every new key at once: readiness, watchdog, probes, dependencies, pause
//! and startup tasks.

use super::*;

const EVERYTHING: &str = r#"
[supervisor]
state_dir = "/var/lib/steward"

[[task]]
name = "create-user"
command = ["useradd", "--system", "reverse"]
timeout = "60s"
mode = "once"

[[task]]
name = "warm-cache"
command = ["warm-cache"]
mode = "background"
user = "reverse"

[[task]]
name = "report"
command = ["sh", "-c", "echo starting | logger"]
timeout = "0s"
on_failure = "continue"

[service.db]
command = ["postgres", "-D", "/var/lib/postgres"]
notify = true
start_timeout = "5m"
watchdog = "30s"
watchdog_signal = "QUIT"
liveness = { tcp = "127.0.0.1:5432", interval = "5s", failures = 2 }

[service.migrate]
command = ["migrate", "--up"]
restart = "never"
depends_on = ["db"]

[service.reverse]
command = ["reverse-service"]
user = "reverse"
instances = 3
ready = "fd:3"
pause = "signal"
pause_signal = "TSTP"
depends_on = [
  "db",
  { service = "migrate", condition = "completed" },
]
readiness = { http = "http://127.0.0.1:7000/ready", initial_delay = "1s", interval = "2s", timeout = "500ms", successes = 2 }
liveness = { exec = ["reverse-client", "--ping"], interval = "10s", timeout = "2s", failures = 3 }

[service.edge]
command = ["edge"]
depends_on = [{ service = "reverse", condition = "started" }]
pause = "freeze"
"#;

#[test]
fn everything_together() {
    let c = ok(EVERYTHING);

    let names: Vec<&str> = c.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["create-user", "warm-cache", "report"]);
    let t = &c.tasks[0];
    assert_eq!(
        (t.timeout, t.mode, t.on_failure),
        (
            Some(Duration::from_secs(60)),
            TaskMode::Once,
            TaskFailure::Abort
        )
    );
    let t = &c.tasks[1];
    assert_eq!((t.timeout, t.mode), (None, TaskMode::Background));
    assert_eq!(t.process.user.as_deref(), Some("reverse"));
    let t = &c.tasks[2];
    assert_eq!(
        (t.timeout, t.mode, t.on_failure),
        (None, TaskMode::EveryStart, TaskFailure::Continue)
    );

    let db = &c.services["db"];
    assert_eq!(
        db,
        &ServiceSpec {
            notify: true,
            start_timeout: Duration::from_secs(300),
            watchdog: Some(Duration::from_secs(30)),
            watchdog_signal: Signal::parse("QUIT").unwrap(),
            liveness: Some(Probe {
                interval: Duration::from_secs(5),
                failures: 2,
                ..Probe::new(ProbeCheck::Tcp {
                    address: "127.0.0.1:5432".into()
                })
            }),
            ..ServiceSpec::with_defaults("db", strings(&["postgres", "-D", "/var/lib/postgres"]))
        }
    );

    let r = &c.services["reverse"];
    assert_eq!(r.ready_fd, Some(3));
    assert!(!r.notify);
    assert_eq!(
        r.pause,
        PauseMode::Signal {
            pause: Signal::parse("TSTP").unwrap(),
            resume: Signal::parse("USR2").unwrap(),
        }
    );
    assert_eq!(
        r.depends_on,
        vec![
            Dependency {
                service: "db".into(),
                condition: Condition::Running
            },
            Dependency {
                service: "migrate".into(),
                condition: Condition::Completed
            },
        ]
    );
    assert_eq!(
        r.readiness,
        Some(Probe {
            check: ProbeCheck::Http {
                url: "http://127.0.0.1:7000/ready".into()
            },
            initial_delay: Duration::from_secs(1),
            interval: Duration::from_secs(2),
            timeout: Duration::from_millis(500),
            failures: 3,
            successes: 2,
        })
    );
    assert_eq!(
        r.liveness,
        Some(Probe {
            timeout: Duration::from_secs(2),
            ..Probe::new(ProbeCheck::Exec {
                command: strings(&["reverse-client", "--ping"])
            })
        })
    );
    assert_eq!(c.services["edge"].pause, PauseMode::Freeze);

    use crate::config::graph;
    assert_eq!(graph::find_cycle(&c.services), None);
    assert_eq!(
        graph::start_order(&c.services),
        vec![
            strings(&["db"]),
            strings(&["migrate"]),
            strings(&["reverse"]),
            strings(&["edge"]),
        ]
    );
    assert_eq!(
        crate::deps::dependents(&c.services)["db"],
        strings(&["migrate", "reverse"])
    );
}

#[test]
fn every_problem_at_once() {
    let src = r#"[[task]]
name = "db"
command = "setup"

[service.db]
command = ["db"]
ready = "fd:2"
depends_on = ["web"]
readiness = { tcp = "db", exec = ["x"] }

[service.web]
command = ["web"]
depends_on = ["db", "db"]
pause_signal = "USR1"
"#;
    let ps = problems(src);
    let got: Vec<(usize, usize)> = ps.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(
        got,
        [
            (2, 8),
            (3, 11),
            (7, 13),
            (8, 15),
            (9, 21),
            (9, 27),
            (13, 21),
            (14, 1)
        ],
        "{ps:#?}"
    );
}

/// The complete example of `docs/configuration.md` is a valid config.
#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../../../../../../docs/configuration.md");
    let section = doc
        .split("## A complete example")
        .nth(1)
        .expect("the section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a toml block");
    let c = ok(example);
    assert_eq!(c.tasks.len(), 2);
    assert!(c.services["reverse"].waits_for_readiness());
    assert_eq!(crate::config::graph::find_cycle(&c.services), None);
    let reverse = &c.services["reverse"];
    assert!(reverse.rolling);
    let endpoint = reverse.endpoint.as_ref().expect("an endpoint");
    assert_eq!(endpoint.listen.to_string(), "tcp:0.0.0.0:8443");
    assert_eq!(endpoint.acl.as_ref().map(|a| a.entries.len()), Some(2));
    assert_eq!(endpoint.backend, Some("127.0.0.1:7000".parse().unwrap()));

    // The endpoint section's examples parse too.
    let section = doc
        .split("### `[service.NAME.endpoint]`")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the endpoint section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a toml block");
    let (table, inline) = block
        .split_once("# or, in [service.web]:")
        .expect("two forms");
    for text in [
        format!("[service.web]\ncommand = [\"web\"]\n{table}"),
        format!("[service.web]\ncommand = [\"web\"]\n{inline}"),
    ] {
        assert!(ok(&text).services["web"].endpoint.is_some(), "{text}");
    }
}
