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

#[test]
fn check_reports_what_the_machine_lacks_at_each_value() {
    let d = Daemon::prepare(
        r#"
[[task]]
name = "prepare"
command = ["no-such-program-steward"]
env = { PATH = "{dir}" }

[service.web]
command = ["{dir}/missing", "--port", "80"]
user = "no-such-user-steward"
group = "no-such-group-steward"
working_dir = "{dir}/nowhere"
env_file = "missing.env"

[service.ok]
command = ["{fixture}"]
"#,
    );
    let out = steward(&["check", "-c", d.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = d.config.display().to_string();
    let dir = d.config.parent().unwrap().display().to_string();
    for want in [
        format!(
            "{file}:10:12: error: command not found: `no-such-program-steward` is in no \
             directory of PATH"
        ),
        format!("{file}:14:12: error: command not found: `{dir}/missing` does not exist"),
        format!("{file}:15:8: error: user `no-such-user-steward` does not exist"),
        format!("{file}:16:9: error: group `no-such-group-steward` does not exist"),
        format!("{file}:17:15: error: working_dir {dir}/nowhere does not exist"),
        format!("{file}:18:12: error: env_file {dir}/missing.env does not exist"),
    ] {
        assert!(err.contains(&want), "{want}\nnot in\n{err}");
    }
    assert!(
        err.contains(&format!("help: PATH is {dir} (from `env.PATH`)")),
        "{err}"
    );
    assert!(err.contains("6 problems found"), "{err}");

    // Once the machine has them, the same file is fine.
    std::fs::create_dir(d.path("nowhere")).unwrap();
    std::fs::write(d.path("missing.env"), "A=1\n").unwrap();
    let text = std::fs::read_to_string(&d.config).unwrap();
    let fixture = fixture().display().to_string();
    let text = text
        .replace("\"no-such-program-steward\"", "\"true\"")
        .replace("{ PATH = ", "{ X = ")
        .replace(&format!("{dir}/missing\""), &format!("{fixture}\""))
        .replace("no-such-user-steward", "root")
        .replace("no-such-group-steward", "root");
    std::fs::write(&d.config, text).unwrap();
    let out = steward(&["check", "-c", d.config.to_str().unwrap()]);
    let running_as_root = nix::unistd::Uid::current().is_root();
    if running_as_root {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        // As anyone else, `root` is another user, which only root may run as.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not root: it cannot run a service as user `root`"),
            "{err}"
        );
    }
}
