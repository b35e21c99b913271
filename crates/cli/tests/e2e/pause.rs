//! Pause and continue: freezing, signal-paused services with confirmation, refusals.

use std::time::{Duration, Instant};

use crate::harness::*;
use steward_proto::State;

#[test]
fn freeze_stops_a_busy_loop_and_continue_resumes_it() {
    freeze_and_continue(Daemon::prepare(BUSY).spawn());
}

#[test]
fn without_cgroups_freeze_falls_back_to_sigstop() {
    let d = Daemon::prepare(BUSY)
        .with_env("STEWARD_CGROUPS", "off".into())
        .spawn();
    // Logged by the loop once it runs, which may be just after the socket answers.
    poll(
        "the log to say there are no cgroups",
        || {
            d.log()
                .contains("no cgroups (turned off by STEWARD_CGROUPS=off)")
                .then_some(())
        },
        || d.log(),
    );
    freeze_and_continue(d);
}

const BUSY: &str = "[service.busy]\ncommand = [\"{fixture}\", \"--busy\"]\n";

fn freeze_and_continue(d: Daemon) {
    let pid = d
        .wait_instance("busy", 0, "running", |i| i.state == State::Running)
        .pid
        .unwrap();
    let out = d.ok(&["pause", "busy"]);
    assert!(out.contains("paused"), "{out}");
    let frozen = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), frozen, "no CPU time while paused");
    d.ok(&["continue", "busy"]);
    assert_eq!(d.instance("busy", 0).state, State::Running);
    let started = Instant::now();
    poll(
        "CPU time to advance again",
        || (cpu_ticks(pid) > frozen).then_some(()),
        || format!("{:?}", started.elapsed()),
    );
}

#[test]
fn a_service_that_pauses_itself_confirms_through_notify() {
    let d = Daemon::start(
        r#"
[service.polite]
command = ["{fixture}", "--notify-after", "0ms", "READY=1", "--on-signal", "10", "X_STEWARD=paused", "--on-signal", "12", "X_STEWARD=continued"]
notify = true
pause = "signal"
pause_signal = "USR1"
continue_signal = "USR2"
"#,
    );
    d.wait_instance("polite", 0, "running", |i| i.state == State::Running);
    d.ok(&["pause", "polite"]);
    assert_eq!(
        d.instance("polite", 0).state,
        State::Paused,
        "the ticket waited for the confirmation"
    );
    d.ok(&["continue", "polite"]);
    assert_eq!(d.instance("polite", 0).state, State::Running);
}

#[test]
fn pause_is_refused_unless_running_and_changes_nothing() {
    let d = Daemon::start("[service.a]\ncommand = [\"{fixture}\"]\ninstances = 2\n");
    d.wait_for("both running", |s| {
        s[0].instances
            .iter()
            .all(|i| i.state == State::Running)
            .then_some(())
    });
    d.ok(&["stop", "a:1"]);
    let out = d.cli(&["pause", "a"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a:1: it is stopped; only a running instance can be paused"),
        "{err}"
    );
    assert_eq!(d.instance("a", 0).state, State::Running, "all or nothing");
    let (code, _) = d.http("POST", "/v1/services/a/continue?instance=1");
    assert_eq!(code, 409);
}

#[test]
fn a_paused_instance_stops_promptly_and_its_watchdog_waits() {
    let d = Daemon::start(
        r#"
[service.dog]
command = ["{fixture}", "--notify-after", "0ms", "READY=1", "--watchdog-every", "50ms"]
notify = true
watchdog = "300ms"
stop_timeout = "10s"
"#,
    );
    let pid = d
        .wait_instance("dog", 0, "running", |i| i.state == State::Running)
        .pid;
    d.ok(&["pause", "dog"]);
    // Frozen, it sends no WATCHDOG=1; paused, steward does not expect one.
    std::thread::sleep(Duration::from_millis(900));
    let i = d.instance("dog", 0);
    assert_eq!((i.state, i.pid), (State::Paused, pid), "{:?}", i.last_exit);
    d.ok(&["continue", "dog"]);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        d.instance("dog", 0).pid,
        pid,
        "the watchdog is fed again after continue"
    );
    // Stop while paused: thawed and stopped by its stop signal, not by SIGKILL.
    d.ok(&["pause", "dog"]);
    let started = Instant::now();
    d.ok(&["stop", "dog"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    let last = d.instance("dog", 0).last_exit.unwrap();
    assert_eq!(
        last.signal.as_deref(),
        Some("SIGTERM"),
        "{}",
        last.counted_as
    );
}

#[test]
fn start_of_a_paused_instance_answers_and_uptime_survives_a_pause() {
    let d = Daemon::start(BUSY);
    d.wait_instance("busy", 0, "running", |i| i.state == State::Running);
    d.ok(&["pause", "busy"]);
    let paused = d.instance("busy", 0);
    let out = d.cli(&["start", "busy"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a start leaves it paused, and says so"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("busy:0 is paused, not running"));
    d.ok(&["continue", "busy"]);
    let i = d.instance("busy", 0);
    assert_eq!(i.pid, paused.pid);
    assert!(
        i.uptime_seconds.unwrap() >= paused.uptime_seconds.unwrap(),
        "uptime is the process's"
    );
}
