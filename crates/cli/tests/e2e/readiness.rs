//! The notify protocol, the ready fd, the watchdog and the start timeout, with real programs.

use std::time::{Duration, Instant};

use crate::harness::*;
use steward_proto::State;

#[test]
fn notify_gates_running_and_shows_status() {
    let d = Daemon::start(
        r#"
[service.svc]
command = ["{fixture}", "--notify-after", "100ms", "STATUS=warming up", "--notify-after", "700ms", "READY=1", "--notify-after", "700ms", "STATUS=serving"]
notify = true
"#,
    );
    let i = d.wait_instance("svc", 0, "warming up", |i| {
        i.notify.as_ref().and_then(|n| n.status.as_deref()) == Some("warming up")
    });
    assert_eq!(i.state, State::StartPending, "not running before READY=1");
    let i = d.wait_instance("svc", 0, "running", |i| i.state == State::Running);
    let n = i.notify.unwrap();
    assert!(n.ready);
    d.wait_instance("svc", 0, "serving", |i| {
        i.notify.as_ref().unwrap().status.as_deref() == Some("serving")
    });
    let table = d.ok(&["status"]);
    assert!(
        table.contains("STATUS") && table.contains("serving"),
        "{table}"
    );
    // A restart's ticket resolves only once the new run is ready.
    d.ok(&["restart", "svc"]);
    let i = d.instance("svc", 0);
    assert_eq!(i.state, State::Running);
    assert!(i.notify.unwrap().ready);
}

#[test]
fn stock_systemd_notify_from_a_shell_works() {
    if !std::path::Path::new("/usr/bin/systemd-notify").exists() {
        eprintln!("skipped: systemd-notify is not installed (Debian package systemd)");
        return;
    }
    // systemd-notify exits right after sending: steward reads the datagram after it is gone.
    let d = Daemon::start(
        r#"
[service.sh]
command = ["sh", "-c", "sleep 0.2; systemd-notify --ready --status='hello from sh'; exec sleep 1000"]
notify = true
start_timeout = "10s"
"#,
    );
    let i = d.wait_instance("sh", 0, "running", |i| i.state == State::Running);
    assert_eq!(i.notify.unwrap().status.as_deref(), Some("hello from sh"));
}

#[test]
fn never_ready_times_out_as_a_failure() {
    let d = Daemon::start(
        r#"
[service.silent]
command = ["{fixture}"]
notify = true
start_timeout = "300ms"
restart = "never"
"#,
    );
    let i = d.wait_instance("silent", 0, "failed", |i| i.state == State::Failed);
    let last = i.last_exit.unwrap();
    assert!(last.counted_as_failure);
    assert!(
        last.counted_as.contains("not ready within start_timeout"),
        "{}",
        last.counted_as
    );
}

#[test]
fn extend_timeout_gives_more_time() {
    let d = Daemon::start(
        r#"
[service.slow]
command = ["{fixture}", "--notify-after", "50ms", "EXTEND_TIMEOUT_USEC=3000000", "--notify-after", "900ms", "READY=1"]
notify = true
start_timeout = "400ms"
restart = "never"
"#,
    );
    let i = d.wait_instance("slow", 0, "running", |i| {
        matches!(i.state, State::Running | State::Failed)
    });
    assert_eq!(i.state, State::Running, "{:?}", i.last_exit);
}

#[test]
fn ready_fd_gates_running() {
    let d = Daemon::start(
        r#"
[service.s6]
command = ["{fixture}", "--ready-fd-after", "400ms", "3"]
ready = "fd:3"
"#,
    );
    let started = Instant::now();
    let i = d.wait_instance("s6", 0, "start-pending", |i| i.pid.is_some());
    assert!(i.state == State::StartPending || started.elapsed() >= Duration::from_millis(400));
    d.wait_instance("s6", 0, "running", |i| i.state == State::Running);
}

#[test]
fn watchdog_gets_its_env_and_a_missed_deadline_is_a_failure() {
    let d = Daemon::start(
        r#"
[service.pet]
command = ["{fixture}", "--env-to", "{dir}/pet.env", "--notify-after", "0ms", "READY=1", "--watchdog-every", "50ms"]
notify = true
watchdog = "400ms"

[service.dead]
command = ["{fixture}", "--notify-after", "0ms", "READY=1"]
notify = true
watchdog = "300ms"
restart = "never"
"#,
    );
    let dead = d.wait_instance("dead", 0, "failed", |i| i.state == State::Failed);
    let last = dead.last_exit.unwrap();
    assert_eq!(
        last.signal.as_deref(),
        Some("SIGABRT"),
        "watchdog_signal defaults to ABRT"
    );
    assert!(
        last.counted_as.contains("watchdog expired"),
        "{}",
        last.counted_as
    );

    let pet = d.wait_instance("pet", 0, "running", |i| i.state == State::Running);
    let env = std::fs::read_to_string(d.path("pet.env")).unwrap();
    assert!(env.contains("WATCHDOG_USEC=400000\n"), "{env}");
    assert!(
        env.contains(&format!("WATCHDOG_PID={}\n", pet.pid.unwrap())),
        "{env}"
    );
    assert!(env.contains("NOTIFY_SOCKET=@steward/"), "{env}");
    // Well past several periods, the one that pets its watchdog is still the same run.
    let until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < until {
        let i = d.instance("pet", 0);
        assert_eq!(
            (i.state, i.pid),
            (State::Running, pet.pid),
            "{:?}",
            i.last_exit
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stopping_then_nonzero_exit_follows_the_failure_flag() {
    let d = Daemon::start(
        r#"
[service.lenient]
command = ["{fixture}", "--notify-after", "0ms", "READY=1", "--notify-after", "100ms", "STOPPING=1", "--exit-after", "200ms", "--exit-code", "3"]
notify = true
failure_flag = false

[service.strict]
command = ["{fixture}", "--notify-after", "0ms", "READY=1", "--notify-after", "100ms", "STOPPING=1", "--exit-after", "200ms", "--exit-code", "3"]
notify = true
failure_flag = true
max_failures = 1
"#,
    );
    let lenient = d.wait_instance("lenient", 0, "ended", |i| {
        i.last_exit.is_some() && matches!(i.state, State::Stopped | State::Failed)
    });
    assert_eq!(lenient.state, State::Stopped);
    let last = lenient.last_exit.unwrap();
    assert_eq!(last.code, Some(3));
    assert!(!last.counted_as_failure, "{}", last.counted_as);
    assert!(last.counted_as.contains("reported stop (failure_flag off)"));

    let strict = d.wait_instance("strict", 0, "failed", |i| i.state == State::Failed);
    let last = strict.last_exit.unwrap();
    assert!(last.counted_as_failure, "{}", last.counted_as);
    assert!(last.counted_as.contains("failure_flag on"));
}

#[test]
fn foreign_and_garbage_datagrams_are_refused_and_counted() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let d = Daemon::start(
        r#"
[service.svc]
command = ["{fixture}", "--notify-after", "0ms", "READY=1"]
notify = true
"#,
    );
    let i = d.wait_instance("svc", 0, "running", |i| i.state == State::Running);
    let name = format!("steward/{}/svc.0", d.pid());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::unbound().unwrap();
    // From this test process: outside the instance's session, so refused however valid.
    sock.send_to_addr(b"STOPPING=1\nSTATUS=spoofed", &addr)
        .unwrap();
    sock.send_to_addr(&[0xff, 0x00, b'\n', b'=', b'\n'], &addr)
        .unwrap();
    sock.send_to_addr(&vec![b'A'; 8192], &addr).unwrap();
    let after = d.wait_instance("svc", 0, "3 refused", |i| {
        i.notify.as_ref().unwrap().rejected >= 3
    });
    assert_eq!(after.pid, i.pid, "nothing happened to the instance");
    assert_eq!(after.state, State::Running);
    assert_ne!(after.notify.unwrap().status.as_deref(), Some("spoofed"));
}

#[test]
fn stopping_sent_just_before_exiting_is_never_missed() {
    // The datagram and the exit arrive together; the datagram must be handled first.
    let d = Daemon::start(
        r#"
[service.quick]
command = ["{fixture}", "--notify-after", "0ms", "READY=1", "--notify-after", "20ms", "STOPPING=1", "--exit-after", "20ms", "--exit-code", "3"]
notify = true
restart = "always"
backoff = { max = "0s" }
"#,
    );
    let i = d.wait_instance("quick", 0, "10 runs", |i| i.restarts >= 10);
    assert_eq!(
        i.failures, 0,
        "every exit followed a STOPPING=1: {:?}",
        i.last_exit
    );
    assert!(i.last_exit.unwrap().counted_as.contains("reported stop"));
}
