//! Startup tasks: in order, before any service; timeouts; once across restarts; abort.

use crate::harness::*;
use nix::sys::signal::Signal;
use steward_proto::State;

#[test]
fn tasks_run_in_order_before_services_and_once_is_remembered() {
    let config = r#"
[[task]]
name = "prepare"
command = ["{fixture}", "--record", "{dir}/prepare.log", "--exit-after", "200ms"]

[[task]]
name = "install"
command = ["{fixture}", "--record", "{dir}/install.log", "--exit-after", "1ms"]
mode = "once"

[[task]]
name = "stdin-reader"
command = ["sh", "-c", "read answer && test \"$answer\" = yes"]
on_failure = "continue"

[service.app]
command = ["{fixture}", "--record", "{dir}/app.log"]
"#;
    let mut d = Daemon::start(config);
    d.wait_instance("app", 0, "running", |i| i.state == State::Running);
    let prepare = record(&d.path("prepare.log"));
    let app = wait_record(&d.path("app.log"), "app's start", |r| !r.starts.is_empty());
    assert!(
        app.starts[0].1 >= prepare.starts[0].1 + 200_000_000,
        "services wait for the tasks"
    );
    let tasks: serde_json::Value = {
        let (code, body) = d.http("GET", "/v1/tasks");
        assert_eq!(code, 200);
        serde_json::from_str(&body).unwrap()
    };
    let states: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["succeeded", "succeeded", "failed"]);
    // stdin is /dev/null: a task that asks a question fails at once instead of hanging.
    assert_eq!(tasks[2]["outcome"], "exit code 1");
    let table = d.ok(&["status"]);
    assert!(
        table.contains("TASK") && table.contains("stdin-reader"),
        "{table}"
    );
    assert_eq!(d.signal_and_wait(Signal::SIGTERM).code(), Some(0));

    // Started again on the same state dir: the once task is not run again.
    let d = d.spawn();
    d.wait_instance("app", 0, "running", |i| i.state == State::Running);
    assert_eq!(record(&d.path("install.log")).starts.len(), 1);
    assert_eq!(
        record(&d.path("prepare.log")).starts.len(),
        2,
        "every-start runs every time"
    );
    let (_, body) = d.http("GET", "/v1/tasks");
    let tasks: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tasks[1]["state"], "skipped");
    assert!(
        tasks[1]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("already done on ")
    );
}

#[test]
fn a_task_past_its_timeout_aborts_the_start() {
    let mut d = Daemon::start(
        r#"
[[task]]
name = "slow"
command = ["{fixture}", "--record", "{dir}/slow.log"]
timeout = "300ms"

[service.app]
command = ["{fixture}", "--record", "{dir}/app.log"]
"#,
    );
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(4), "{}", d.log());
    assert!(
        d.log()
            .contains("task slow timed out after 300ms (it may be waiting for input)"),
        "{}",
        d.log()
    );
    assert!(!d.path("app.log").exists(), "no service started");
    let slow = record(&d.path("slow.log"));
    wait_gone(&[slow.starts[0].0], "the timed-out task");
}

#[test]
fn a_background_task_is_supervised_like_a_service() {
    let d = Daemon::start(
        r#"
[[task]]
name = "agent"
command = ["{fixture}", "--record", "{dir}/agent.log"]
mode = "background"

[service.app]
command = ["{fixture}"]
"#,
    );
    let i = d.wait_instance("agent", 0, "running", |i| i.state == State::Running);
    d.wait_instance("app", 0, "running", |i| i.state == State::Running);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i.pid.unwrap() as i32),
        Signal::SIGKILL,
    )
    .unwrap();
    d.wait_instance("agent", 0, "restarted", |i| {
        i.restarts == 1 && i.state == State::Running
    });
}
