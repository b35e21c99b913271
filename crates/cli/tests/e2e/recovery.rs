//! How runs end, what they count as, and what follows: restart, recovery, backoff, give up.

use std::time::Duration;

use crate::harness::*;
use steward_proto::State;

#[test]
fn a_crash_is_a_failure_and_restarts_at_once() {
    let d = Daemon::start(
        r#"
[service.crashy]
command = ["{fixture}", "--record", "{dir}/crashy.log", "--crash-after", "30ms"]
backoff = { max = "0s" }
"#,
    );
    let i = d.wait_instance("crashy", 0, "3 restarts", |i| i.restarts >= 3);
    let last = i.last_exit.expect("a last exit");
    assert_eq!(last.signal.as_deref(), Some("SIGABRT"));
    assert!(last.counted_as_failure);
    assert!(
        last.counted_as.contains("killed by SIGABRT"),
        "{}",
        last.counted_as
    );
    assert!(i.failures >= 3);
    // Each restart is a new process (its record line may trail the status by a moment).
    let r = wait_record(&d.path("crashy.log"), "4 starts", |r| r.starts.len() >= 4);
    let pids: std::collections::BTreeSet<u32> = r.starts.iter().map(|s| s.0).collect();
    assert_eq!(pids.len(), r.starts.len(), "each restart is a new process");
    // Every ended run was reaped: steward leaves no zombie children behind.
    let steward = d.pid();
    d.wait_for("no zombies", |_| {
        zombie_children(steward).is_empty().then_some(())
    });
}

#[test]
fn exit_codes_follow_the_failure_table() {
    let d = Daemon::start(
        r#"
[service.clean]
command = ["{fixture}", "--exit-after", "10ms", "--exit-code", "0"]

[service.listed]
command = ["{fixture}", "--exit-after", "10ms", "--exit-code", "3"]
success_exit_codes = [3]

[service.flagged]
command = ["{fixture}", "--exit-after", "10ms", "--exit-code", "3"]
failure_flag = true
max_failures = 1

[service.plain]
command = ["{fixture}", "--exit-after", "10ms", "--exit-code", "3"]
restart = "never"
"#,
    );
    let settled = |s: &[steward_proto::ServiceStatus]| {
        s.iter().all(|s| {
            matches!(s.instances[0].state, State::Stopped | State::Failed)
                && s.instances[0].last_exit.is_some()
        })
    };
    let all = d.wait_for("all ended", |s| settled(s).then(|| s.to_vec()));
    let get = |n: &str| all.iter().find(|s| s.name == n).unwrap().instances[0].clone();

    let clean = get("clean");
    assert_eq!(
        clean.state,
        State::Stopped,
        "exit 0 under on-failure is not restarted"
    );
    assert_eq!(clean.last_exit.as_ref().unwrap().code, Some(0));
    assert!(!clean.last_exit.unwrap().counted_as_failure);

    let listed = get("listed");
    assert_eq!(listed.state, State::Stopped);
    assert!(
        !listed.last_exit.unwrap().counted_as_failure,
        "3 is a success code here"
    );

    // Without a STOPPING=1 announcement the failure flag changes nothing: non-zero fails.
    let flagged = get("flagged");
    assert_eq!(flagged.state, State::Failed);
    assert!(flagged.last_exit.unwrap().counted_as_failure);

    let plain = get("plain");
    assert_eq!(
        plain.state,
        State::Failed,
        "a failure with restart = never stays failed"
    );
    assert_eq!(plain.failures, 1);
    assert_eq!(plain.restarts, 0);
}

#[test]
fn sigkill_from_outside_is_a_failure() {
    let d = Daemon::start("[service.victim]\ncommand = [\"{fixture}\"]\n");
    let first = d.wait_instance("victim", 0, "running", |i| i.state == State::Running);
    let pid = first.pid.unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let i = d.wait_instance("victim", 0, "restarted", |i| {
        i.restarts == 1 && i.state == State::Running
    });
    let last = i.last_exit.unwrap();
    assert_eq!(last.signal.as_deref(), Some("SIGKILL"));
    assert!(last.counted_as_failure);
    assert_eq!(i.failures, 1);
    assert_ne!(i.pid, Some(pid));
}

#[test]
fn recovery_actions_apply_in_order_and_run_really_runs() {
    let d = Daemon::start(
        r#"
[service.svc]
command = ["{fixture}", "--record", "{dir}/svc.log", "--exit-after", "30ms", "--exit-code", "1"]
backoff = { max = "0s" }
recovery = [
  { action = "restart", delay = "0s" },
  { action = "restart", delay = "400ms" },
  { action = "run", command = ["{fixture}", "--record", "{dir}/ran.log", "--exit-after", "1ms"] },
]
max_failures = 4
"#,
    );
    let i = d.wait_instance("svc", 0, "failed after 4 failures", |i| {
        i.state == State::Failed
    });
    assert_eq!(i.failures, 4);
    assert_eq!(i.restarts, 3);
    let r = record(&d.path("svc.log"));
    assert_eq!(r.starts.len(), 4, "the 4th failure gives up");
    let gap = |a: usize, b: usize| Duration::from_nanos((r.starts[b].1 - r.starts[a].1) as u64);
    // Each run lasts 30ms; the second failure waits 400ms more before its restart.
    assert!(
        gap(1, 2) >= Duration::from_millis(430),
        "second action's delay: {:?}",
        gap(1, 2)
    );
    // The run action ran exactly once, for the third failure only.
    let ran = wait_record(&d.path("ran.log"), "the recovery command", |r| {
        !r.starts.is_empty()
    });
    assert_eq!(ran.starts.len(), 1);
    assert!(
        ran.starts[0].1 > r.starts[2].1,
        "ran after the third run started"
    );
    assert!(
        i.reason.contains("gave up after 4 failures"),
        "{}",
        i.reason
    );
}

#[test]
fn backoff_grows_then_caps() {
    let d = Daemon::start(
        r#"
[service.loop]
command = ["{fixture}", "--record", "{dir}/loop.log", "--exit-after", "1ms"]
restart = "always"
backoff = { initial = "40ms", multiplier = 4, max = "100ms", reset_after = "10s" }
"#,
    );
    let r = wait_record(&d.path("loop.log"), "7 starts", |r| r.starts.len() >= 7);
    let gaps: Vec<Duration> = r
        .starts
        .windows(2)
        .map(|w| Duration::from_nanos((w[1].1 - w[0].1) as u64))
        .collect();
    // Waits are 0, 40ms, then 160ms capped to 100ms, and stay at the cap (640ms, 2.5s uncapped).
    let floors = [0, 40, 100, 100, 100, 100];
    for (k, (g, floor)) in gaps.iter().zip(floors).enumerate() {
        assert!(
            *g >= Duration::from_millis(floor),
            "gap {k} = {g:?} < {floor}ms: {gaps:?}"
        );
    }
    for g in &gaps[3..6] {
        assert!(
            *g < Duration::from_millis(600),
            "backoff did not cap: {gaps:?}"
        );
    }
    let i = d.instance("loop", 0);
    assert_eq!(
        i.failures, 0,
        "clean exits under restart = always are not failures"
    );
}

#[test]
fn give_up_stays_failed_until_an_operator_starts_it() {
    let d = Daemon::start(
        r#"
[service.svc]
command = ["{fixture}", "--record", "{dir}/svc.log", "--exit-after", "20ms", "--exit-code", "1"]
max_failures = 2
backoff = { max = "0s" }
"#,
    );
    let i = d.wait_instance("svc", 0, "failed", |i| i.state == State::Failed);
    assert_eq!(i.failures, 2);
    let starts = record(&d.path("svc.log")).starts.len();
    assert_eq!(starts, 2);
    // The automatic budget never blocks a human.
    d.ok(&["start", "svc"]);
    let r = wait_record(&d.path("svc.log"), "a new start", |r| {
        r.starts.len() > starts
    });
    assert!(r.starts.len() > starts);
    d.wait_instance("svc", 0, "failed again", |i| {
        i.state == State::Failed && i.failures == 2
    });
}

#[test]
fn give_up_runs_its_command() {
    let d = Daemon::start(
        r#"
[service.svc]
command = ["{fixture}", "--exit-after", "10ms", "--exit-code", "1"]
max_failures = 1
on_give_up = { action = "run", command = ["{fixture}", "--touch", "{dir}/gave-up", "--exit-after", "1ms"] }
"#,
    );
    d.wait_instance("svc", 0, "failed", |i| i.state == State::Failed);
    let path = d.path("gave-up");
    d.wait_for("the give-up command", |_| path.exists().then_some(()));
}

#[test]
fn give_up_exit_stops_everything_and_exits_3() {
    let mut d = Daemon::start(
        r#"
[service.steady]
command = ["{fixture}", "--record", "{dir}/steady.log", "--fork-grandchild"]

[service.doomed]
command = ["{fixture}", "--exit-after", "300ms", "--exit-code", "1"]
max_failures = 2
backoff = { max = "0s" }
on_give_up = "exit"
"#,
    );
    let r = wait_record(&d.path("steady.log"), "steady up", |r| {
        !r.grandchildren.is_empty()
    });
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(3), "{}", d.log());
    let pids: Vec<u32> = r
        .starts
        .iter()
        .map(|s| s.0)
        .chain(r.grandchildren.iter().copied())
        .collect();
    wait_gone(&pids, "the other service after give-up");
    assert!(d.log().contains("gave up and on_give_up = \"exit\""));
}

#[test]
fn real_time_signals_are_decoded_both_ways() {
    let d = Daemon::start(
        r#"
[service.rt]
command = ["{fixture}", "--kill-self-after", "50ms", "40"]
restart = "never"

[service.rtstop]
command = ["{fixture}"]
stop_signal = "40"
stop_timeout = "10s"
"#,
    );
    let i = d.wait_instance("rt", 0, "failed by signal 40", |i| i.state == State::Failed);
    let last = i.last_exit.unwrap();
    assert_eq!(last.signal.as_deref(), Some("SIG40"));
    assert!(last.counted_as_failure);

    d.wait_instance("rtstop", 0, "running", |i| i.state == State::Running);
    let started = std::time::Instant::now();
    d.ok(&["stop", "rtstop"]);
    let last = d.instance("rtstop", 0).last_exit.unwrap();
    assert_eq!(
        last.signal.as_deref(),
        Some("SIG40"),
        "stopped by its stop_signal, not SIGKILL"
    );
    assert!(!last.counted_as_failure);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no stop_timeout wait"
    );
}
