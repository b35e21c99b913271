//! The CLI and the API against a live daemon.

use crate::harness::*;
use steward_proto::State;

const TWO_WEB: &str = r#"
[service.web]
command = ["{fixture}", "--record", "{dir}/web.log"]
instances = 2
"#;

#[test]
fn status_start_stop_restart_by_instance() {
    let d = Daemon::start(TWO_WEB);
    let all = d.wait_for("both running", |s| {
        s[0].instances
            .iter()
            .all(|i| i.state == State::Running)
            .then(|| s.to_vec())
    });
    let pid0 = all[0].instances[0].pid.unwrap();
    let pid1 = all[0].instances[1].pid.unwrap();

    // Each instance is its own process, told its index.
    let r = wait_record(&d.path("web.log"), "both instances", |r| {
        r.starts.len() == 2
    });
    let text = std::fs::read_to_string(d.path("web.log")).unwrap();
    assert_eq!(r.starts.iter().map(|s| s.0).collect::<Vec<_>>().len(), 2);
    assert!(
        text.contains(&format!("start {pid0} 0 ")) && text.contains(&format!("start {pid1} 1 ")),
        "{text}"
    );

    let table = d.ok(&["status"]);
    assert!(table.starts_with("SERVICE  INST  STATE"), "{table}");
    assert!(
        table.contains(&format!("web      0     running  {pid0}")),
        "{table}"
    );

    // stop returns once the process is gone: no sleep needed before checking.
    let out = d.ok(&["stop", "web:1"]);
    assert!(out.contains("stopped"), "{out}");
    assert_eq!(
        out.lines().count(),
        2,
        "only the named instance is shown: {out}"
    );
    assert!(!alive(pid1), "stop returned before pid {pid1} was gone");
    let i1 = d.instance("web", 1);
    assert_eq!(i1.state, State::Stopped);
    let last = i1.last_exit.unwrap();
    assert!(!last.counted_as_failure);
    assert_eq!(last.signal.as_deref(), Some("SIGTERM"));
    assert_eq!(
        d.instance("web", 0).pid,
        Some(pid0),
        "the other instance is untouched"
    );

    d.ok(&["start", "web:1"]);
    let i1 = d.instance("web", 1);
    assert_eq!(i1.state, State::Running);
    assert_ne!(i1.pid, Some(pid1));

    d.ok(&["restart", "web"]);
    let after = d.status();
    for (i, old) in after[0].instances.iter().zip([pid0, i1.pid.unwrap()]) {
        assert_eq!(i.state, State::Running);
        assert_ne!(i.pid, Some(old), "restart made a new process");
        assert!(!alive(old));
        assert_eq!(i.failures, 0, "an operator restart is not a failure");
    }

    let json = d.ok(&["status", "web", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let inst = &v[0]["instances"][0];
    for field in [
        "name",
        "instance",
        "state",
        "pid",
        "since",
        "restarts",
        "failures",
        "last_exit",
    ] {
        assert!(inst.get(field).is_some(), "missing {field} in {inst}");
    }
    assert!(v[0]["instances"][1]["last_exit"]["counted_as_failure"].is_boolean());
}

#[test]
fn errors_are_clear_and_change_nothing() {
    let d = Daemon::start(TWO_WEB);
    d.wait_for("running", |s| {
        (s[0].instances[1].state == State::Running).then_some(())
    });
    let before = d.status();

    let out = d.cli(&["status", "nosuch"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "steward: no service named nosuch"
    );

    let out = d.cli(&["stop", "web:7"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("service web has no instance 7 (it has 2: 0 to 1)"),
        "{err}"
    );

    let (code, body) = d.http("GET", "/v1/services/nosuch");
    assert_eq!(code, 404);
    assert_eq!(body, r#"{"error":"no service named nosuch"}"#);
    let (code, body) = d.http("POST", "/v1/services/web/explode");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no action \\\"explode\\\""), "{body}");
    let (code, body) = d.http("POST", "/v1/services/web/stop?instance=abc");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("instance"), "{body}");
    let (code, _) = d.http("GET", "/v1/nothing");
    assert_eq!(code, 404);
    let (code, body) = d.http("DELETE", "/v1/services");
    assert_eq!(code, 405);
    assert_eq!(body, r#"{"error":"DELETE is not allowed on /v1/services"}"#);

    let after = d.status();
    for (a, b) in before[0].instances.iter().zip(&after[0].instances) {
        assert_eq!(
            (a.pid, a.state),
            (b.pid, b.state),
            "a bad request changed nothing"
        );
    }
}

#[test]
fn unreachable_daemon_is_one_line_and_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(steward_bin())
        .args(["--socket"])
        .arg(dir.path().join("none.sock"))
        .arg("status")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot reach steward at") && err.contains("is `steward up` running?"),
        "{err}"
    );
}

#[test]
fn socket_is_found_through_the_config_and_the_environment() {
    let d = Daemon::start(TWO_WEB);
    let config = d.config.to_str().unwrap();
    let out = std::process::Command::new(steward_bin())
        .args(["-c", config, "status", "--json"])
        .env_remove("STEWARD_SOCKET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(steward_bin())
        .args(["status"])
        .env("STEWARD_SOCKET", &d.socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn socket_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start(TWO_WEB);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A second daemon on the same socket is refused and leaves the first one serving.
    let out = steward(&["up", "-c", d.config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another steward is already listening"));
    d.ok(&["status"]);
}

#[test]
fn control_fails_when_the_instance_does_not_get_there() {
    let d = Daemon::start("[service.broken]\ncommand = [\"{dir}/missing-program\"]\n");
    d.wait_instance("broken", 0, "backoff", |i| i.state == State::Backoff);
    let out = d.cli(&["restart", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken:0 is backoff, not running: restarting in"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("command not found"));
}

#[test]
fn up_and_clients_take_the_socket_from_the_environment_first() {
    let d = Daemon::prepare(TWO_WEB);
    let env_socket = d.path("from-env.sock");
    let mut d = d.with_env("STEWARD_SOCKET", env_socket.clone());
    d.socket = env_socket.clone();
    let d = d.spawn();
    assert!(env_socket.exists() && !d.path("steward.sock").exists());
    d.ok(&["status"]);
}
