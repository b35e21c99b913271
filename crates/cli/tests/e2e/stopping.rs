//! Stopping: whole process groups, bounded by stop_timeout, and nothing outlives steward.

use crate::harness::*;
use nix::sys::signal::Signal;
use steward_proto::State;

#[test]
fn stop_kills_grandchildren_that_ignore_sigterm() {
    let d = Daemon::start(
        r#"
[service.stubborn]
command = ["{fixture}", "--record", "{dir}/s.log", "--fork-grandchild", "--ignore-sigterm"]
stop_timeout = "300ms"
"#,
    );
    let r = wait_record(&d.path("s.log"), "grandchild", |r| {
        !r.grandchildren.is_empty()
    });
    let (leader, grandchild) = (r.starts[0].0, r.grandchildren[0]);
    d.ok(&["stop", "stubborn"]);
    assert!(
        !alive(leader) && !alive(grandchild),
        "stop returned with the group still alive"
    );
    let i = d.instance("stubborn", 0);
    assert_eq!(i.state, State::Stopped);
    let last = i.last_exit.unwrap();
    assert_eq!(last.signal.as_deref(), Some("SIGKILL"));
    assert!(!last.counted_as_failure, "{}", last.counted_as);
    assert!(
        last.counted_as.contains("did not stop within stop_timeout"),
        "{}",
        last.counted_as
    );
}

#[test]
fn a_leader_that_exits_takes_its_group_with_it() {
    let d = Daemon::start(
        r#"
[service.parent]
command = ["{fixture}", "--record", "{dir}/p.log", "--fork-grandchild", "--exit-after", "100ms", "--exit-code", "1"]
restart = "never"
"#,
    );
    let r = wait_record(&d.path("p.log"), "grandchild", |r| {
        !r.grandchildren.is_empty()
    });
    d.wait_instance("parent", 0, "failed", |i| i.state == State::Failed);
    wait_gone(&r.grandchildren, "grandchild of an exited leader");
}

#[test]
fn sigterm_stops_every_service_then_exits_0() {
    let mut d = Daemon::start(
        r#"
[service.polite]
command = ["{fixture}", "--record", "{dir}/a.log"]
instances = 2

[service.stubborn]
command = ["{fixture}", "--record", "{dir}/b.log", "--fork-grandchild", "--ignore-sigterm"]
stop_timeout = "200ms"
"#,
    );
    let a = wait_record(&d.path("a.log"), "two polite", |r| r.starts.len() == 2);
    let b = wait_record(&d.path("b.log"), "stubborn", |r| {
        !r.grandchildren.is_empty()
    });
    let guard = children_matching(d.pid(), "__guard");
    assert_eq!(guard.len(), 1, "one guard process");
    let status = d.signal_and_wait(Signal::SIGTERM);
    assert_eq!(status.code(), Some(0), "{}", d.log());
    let pids: Vec<u32> = a
        .starts
        .iter()
        .chain(&b.starts)
        .map(|s| s.0)
        .chain(b.grandchildren.clone())
        .collect();
    for p in &pids {
        assert!(!alive(*p), "pid {p} outlived steward's clean exit");
    }
    assert!(!d.socket.exists(), "the socket is removed on exit");
    wait_gone(&guard, "the guard after steward's exit");
}

#[test]
fn nothing_outlives_a_sigkilled_steward() {
    let mut d = Daemon::start(
        r#"
[service.a]
command = ["{fixture}", "--record", "{dir}/a.log", "--fork-grandchild", "--ignore-sigterm"]
instances = 2

[service.b]
command = ["{fixture}", "--record", "{dir}/b.log", "--fork-grandchild"]
"#,
    );
    let a = wait_record(&d.path("a.log"), "a", |r| r.grandchildren.len() == 2);
    let b = wait_record(&d.path("b.log"), "b", |r| r.grandchildren.len() == 1);
    let guard = children_matching(d.pid(), "__guard");
    d.signal_and_wait(Signal::SIGKILL);
    wait_gone(&guard, "the guard after its work");
    let pids: Vec<u32> = [a, b]
        .iter()
        .flat_map(|r| {
            r.starts
                .iter()
                .map(|s| s.0)
                .chain(r.grandchildren.iter().copied())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(pids.len(), 6);
    wait_gone(&pids, "service processes after steward was SIGKILLed");
}

#[test]
fn sighup_does_not_stop_anything() {
    let mut d = Daemon::start("[service.a]\ncommand = [\"{fixture}\"]\n");
    let before = d.wait_instance("a", 0, "running", |i| i.state == State::Running);
    let pid = nix::unistd::Pid::from_raw(d.pid() as i32);
    nix::sys::signal::kill(pid, Signal::SIGHUP).unwrap();
    d.wait_for("the SIGHUP to be logged", |_| {
        d.log().contains("SIGHUP received").then_some(())
    });
    assert_eq!(d.instance("a", 0).pid, before.pid);
    assert_eq!(d.signal_and_wait(Signal::SIGTERM).code(), Some(0));
}

#[test]
fn a_process_that_left_the_group_dies_with_its_instance() {
    let escapes = r#"
[service.leaky]
command = ["sh", "-c", "setsid sleep 1000 & echo $! > {dir}/escapee; exec sleep 1000"]
"#;
    let mut d = Daemon::start(escapes);
    if !d.log().contains("each instance runs in its own cgroup") {
        eprintln!("skipped: no writable cgroup2 here (process groups only)");
        return;
    }
    let escapee = || -> u32 {
        let path = d.path("escapee");
        poll(
            "the escapee's pid",
            || std::fs::read_to_string(&path).ok()?.trim().parse().ok(),
            String::new,
        )
    };
    let first = escapee();
    let leader = d
        .wait_instance("leaky", 0, "running", |i| i.state == State::Running)
        .pid
        .unwrap();
    let session = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap()
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .nth(4)
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    assert_ne!(session(first), leader, "it left the instance's session");
    d.ok(&["stop", "leaky"]);
    wait_gone(&[first], "the escapee after stop");

    std::fs::remove_file(d.path("escapee")).unwrap();
    d.ok(&["start", "leaky"]);
    let second = escapee();
    d.signal_and_wait(Signal::SIGKILL);
    wait_gone(&[second], "the escapee after steward was SIGKILLed");
}
