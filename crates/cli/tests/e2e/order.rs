//! Dependencies: start in order, stop in reverse, conditions, cycles.

use crate::harness::*;
use nix::sys::signal::Signal;
use steward_proto::State;

#[test]
fn start_in_dependency_order_and_stop_in_reverse() {
    let mut d = Daemon::start(
        r#"
[service.db]
command = ["{fixture}", "--record", "{dir}/db.log", "--term-exit-code", "0", "--notify-after", "400ms", "READY=1"]
notify = true

[service.web]
command = ["{fixture}", "--record", "{dir}/web.log", "--term-exit-code", "0"]
depends_on = ["db"]

[service.edge]
command = ["{fixture}", "--record", "{dir}/edge.log", "--term-exit-code", "0"]
depends_on = [{ service = "web", condition = "started" }]

[service.loner]
command = ["{fixture}", "--record", "{dir}/loner.log", "--term-exit-code", "0"]
"#,
    );
    let i = d.wait_instance("web", 0, "waiting", |i| i.reason.contains("waiting for db"));
    assert_eq!(i.state, State::Stopped);
    assert_eq!(i.reason, "waiting for db to be running");
    d.wait_instance("edge", 0, "running", |i| i.state == State::Running);
    let start = |f: &str| wait_record(&d.path(f), f, |r| !r.starts.is_empty()).starts[0].1;
    let (db, web, edge, loner) = (
        start("db.log"),
        start("web.log"),
        start("edge.log"),
        start("loner.log"),
    );
    assert!(web >= db + 400_000_000, "web waited for db to be ready");
    // "started" is met once steward has spawned web, which may write its line after edge.
    assert!(
        edge >= db + 400_000_000,
        "edge waited for web, which waited for db"
    );
    assert!(loner < web, "an independent service does not wait");

    // Stop: dependents first. Each records its exit as it goes.
    assert_eq!(d.signal_and_wait(Signal::SIGTERM).code(), Some(0));
    let ended = |f: &str| std::fs::metadata(d.path(f)).unwrap().modified().unwrap();
    assert!(ended("edge.log") <= ended("web.log") && ended("web.log") <= ended("db.log"));
    for f in ["db.log", "web.log", "edge.log"] {
        assert_eq!(record(&d.path(f)).exits.len(), 1, "{f} stopped cleanly");
    }
}

#[test]
fn completed_waits_for_a_successful_exit() {
    let d = Daemon::start(
        r#"
[service.migrate]
command = ["{fixture}", "--record", "{dir}/migrate.log", "--exit-after", "300ms"]

[service.app]
command = ["{fixture}", "--record", "{dir}/app.log"]
depends_on = [{ service = "migrate", condition = "completed" }]
"#,
    );
    d.wait_instance("app", 0, "running", |i| i.state == State::Running);
    let migrate = record(&d.path("migrate.log"));
    let app = wait_record(&d.path("app.log"), "app's start", |r| !r.starts.is_empty());
    assert_eq!(migrate.exits.len(), 1);
    assert!(app.starts[0].1 >= migrate.starts[0].1 + 300_000_000);
}

#[test]
fn a_cycle_is_a_config_error_naming_it() {
    let d = Daemon::prepare(
        r#"
[service.a]
command = ["{fixture}"]
depends_on = ["b"]

[service.b]
command = ["{fixture}"]
depends_on = ["a"]
"#,
    );
    let out = steward(&["check", "-c", d.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dependency cycle: a -> b -> a"), "{err}");
}

#[test]
fn an_operator_stop_of_a_waiting_instance_holds() {
    let d = Daemon::start(
        r#"
[service.db]
command = ["{fixture}", "--notify-after", "800ms", "READY=1"]
notify = true

[service.web]
command = ["{fixture}"]
instances = 2
depends_on = ["db"]
"#,
    );
    d.wait_instance("web", 1, "waiting", |i| {
        i.reason.starts_with("waiting for db")
    });
    d.ok(&["stop", "web:1"]);
    d.wait_instance("web", 0, "running once db is ready", |i| {
        i.state == State::Running
    });
    let i = d.instance("web", 1);
    assert_eq!(i.state, State::Stopped, "the operator's stop stands");
    assert_eq!(i.pid, None);
}
