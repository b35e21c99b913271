//! Probes steward runs itself: exec, tcp and http, against real listeners.

use crate::harness::*;
use steward_proto::State;

/// A port nobody listens on (bound, then released).
#[test]
fn exec_readiness_gates_running() {
    let d = Daemon::start(
        r#"
[service.gated]
command = ["{fixture}"]
readiness = { exec = ["test", "-e", "{dir}/ready"], interval = "100ms" }
"#,
    );
    let i = d.wait_instance("gated", 0, "a failed readiness check", |i| {
        i.probes.first().is_some_and(|p| p.last_error.is_some())
    });
    assert_eq!(i.state, State::StartPending);
    assert_eq!(i.probes[0].last_error.as_deref(), Some("exit code 1"));
    std::fs::write(d.path("ready"), "").unwrap();
    let i = d.wait_instance("gated", 0, "running", |i| i.state == State::Running);
    assert_eq!(i.probes[0].kind, "readiness");
    assert_eq!(i.probes[0].passing, Some(true));
}

#[test]
fn tcp_and_http_probes_against_real_listeners() {
    let (tcp, http, bad) = (free_port(), free_port(), free_port());
    let d = Daemon::start(&format!(
        r#"
[service.tcp]
command = ["{{fixture}}", "--listen-tcp", "127.0.0.1:{tcp}"]
readiness = {{ tcp = "127.0.0.1:{tcp}", interval = "100ms" }}
liveness = {{ tcp = "127.0.0.1:{tcp}", interval = "100ms" }}

[service.http]
command = ["{{fixture}}", "--listen-tcp", "127.0.0.1:{http}", "--http-status", "200"]
readiness = {{ http = "http://127.0.0.1:{http}/health", interval = "100ms" }}

[service.unhealthy]
command = ["{{fixture}}", "--listen-tcp", "127.0.0.1:{bad}", "--http-status", "503"]
readiness = {{ http = "http://127.0.0.1:{bad}/", interval = "100ms", failures = 2 }}
start_timeout = "30s"
"#
    ));
    let i = d.wait_instance("tcp", 0, "running and live", |i| {
        i.state == State::Running && i.probes.iter().all(|p| p.passing == Some(true))
    });
    assert_eq!(i.probes.len(), 2);
    assert!(i.probes[0].check.starts_with("tcp 127.0.0.1:"));
    d.wait_instance("http", 0, "running", |i| i.state == State::Running);
    let i = d.wait_instance("unhealthy", 0, "failing readiness", |i| {
        i.probes[0].passing == Some(false)
    });
    assert_eq!(i.state, State::StartPending, "a 503 never makes it ready");
    assert_eq!(i.probes[0].last_error.as_deref(), Some("HTTP 503"));
    let table = d.ok(&["status", "unhealthy"]);
    assert!(table.contains("readiness failing: HTTP 503"), "{table}");
}

#[test]
fn liveness_failures_are_a_failure() {
    let port = free_port();
    let d = Daemon::start(&format!(
        r#"
[service.deaf]
command = ["{{fixture}}"]
liveness = {{ tcp = "127.0.0.1:{port}", interval = "100ms", failures = 2 }}
restart = "never"
"#
    ));
    let i = d.wait_instance("deaf", 0, "failed", |i| i.state == State::Failed);
    let last = i.last_exit.unwrap();
    assert!(last.counted_as_failure);
    assert!(
        last.counted_as
            .contains("liveness probe failed 2 times: connection refused"),
        "{}",
        last.counted_as
    );
}

#[test]
fn an_exec_probe_that_hangs_is_killed_at_its_timeout() {
    let d = Daemon::start(
        r#"
[service.svc]
command = ["{fixture}"]
liveness = { exec = ["{fixture}", "--record", "{dir}/probe.log"], interval = "100ms", timeout = "200ms", failures = 1 }
restart = "never"
"#,
    );
    let i = d.wait_instance("svc", 0, "failed", |i| i.state == State::Failed);
    assert!(
        i.last_exit
            .unwrap()
            .counted_as
            .contains("timed out after 200ms")
    );
    let probes = record(&d.path("probe.log"));
    wait_gone(
        &probes.starts.iter().map(|s| s.0).collect::<Vec<_>>(),
        "the timed-out probe",
    );
}
