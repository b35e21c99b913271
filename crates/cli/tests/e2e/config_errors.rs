//! Config problems are reported with file, line and column, all at once.

use crate::harness::*;

#[test]
fn check_reports_every_problem_with_line_and_column() {
    let d = Daemon::prepare(
        r#"
[service.web]
command = ["{fixture}"]
restrat = "always"
instances = "two"
"#,
    );
    let out = steward(&["check", "-c", d.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = d.config.display().to_string();
    assert!(
        err.contains(&format!("{file}:10:1: error: unknown key `restrat`")),
        "{err}"
    );
    assert!(err.contains("did you mean `restart`?"), "{err}");
    assert!(err.contains(&format!("{file}:11:13: error:")), "{err}");
    assert!(err.contains("2 problems found"), "{err}");

    // up refuses the same file with the same report and starts nothing.
    let out = steward(&["up", "-c", d.config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(":10:1: error: unknown key `restrat`"));
    assert!(!d.socket.exists());
}

#[test]
fn check_accepts_a_valid_file() {
    let d = Daemon::prepare("[service.a]\ncommand = [\"{fixture}\"]\ninstances = 3\n");
    let out = steward(&["check", "-c", d.config.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 services, 3 instances)"));
}

#[test]
fn syntax_errors_have_a_position() {
    let d = Daemon::prepare("[service.a]\ncommand = [\"x\"\n");
    let out = steward(&["check", "-c", d.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = d.config.display().to_string();
    assert!(
        err.lines().next().unwrap().starts_with(&format!("{file}:")),
        "{err}"
    );
    assert!(err.contains(": error:"), "{err}");
}
