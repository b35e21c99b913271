//! `[[task]]`.

use super::*;
use crate::rlimit::{Bound, Limit, Resource};

fn task(name: &str, command: &[&str]) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        process: ProcessSpec {
            command: strings(command),
            ..ProcessSpec::default()
        },
        timeout: Some(Duration::from_secs(300)),
        mode: TaskMode::EveryStart,
        on_failure: TaskFailure::Abort,
    }
}

#[test]
fn defaults_and_order() {
    let c = ok(r#"
[[task]]
name = "create-user"
command = ["useradd", "--system", "reverse"]

[[task]]
name = "install"
command = ["install-runtime"]
"#);
    assert_eq!(
        c.tasks,
        vec![
            task("create-user", &["useradd", "--system", "reverse"]),
            task("install", &["install-runtime"]),
        ]
    );
    assert!(c.services.is_empty());
    assert!(ok("").tasks.is_empty());

    // Inline, before any table.
    let c = ok(r#"
task = [{ name = "b", command = ["b"] }, { name = "a", command = ["a"] }]
[service.web]
command = ["web"]
"#);
    assert_eq!(c.tasks, vec![task("b", &["b"]), task("a", &["a"])]);
}

#[test]
fn every_key() {
    let c = ok(r#"
[[task]]
name = "migrate"
command = ["migrate", "--up"]
env = { DATABASE_URL = "postgres:///app" }
env_file = "migrate.env"
working_dir = "/srv/app"
user = "app"
group = "app"
supplementary_groups = []
umask = "0077"
pass_env = ["PATH", "PG*"]
limits = { nofile = 1024, core = 0 }
no_new_privileges = true
timeout = "60s"
mode = "once"
on_failure = "continue"
"#);
    assert_eq!(
        c.tasks,
        vec![TaskSpec {
            name: "migrate".into(),
            process: ProcessSpec {
                command: strings(&["migrate", "--up"]),
                env: [("DATABASE_URL".to_string(), "postgres:///app".to_string())].into(),
                env_file: Some("/etc/steward/migrate.env".into()),
                working_dir: Some("/srv/app".into()),
                user: Some("app".into()),
                group: Some("app".into()),
                supplementary_groups: Some(Vec::new()),
                umask: Some(0o077),
                pass_env: strings(&["PATH", "PG*"]),
                limits: [
                    (Resource::Nofile, Limit::both(Bound::Finite(1024))),
                    (Resource::Core, Limit::both(Bound::Finite(0))),
                ]
                .into(),
                no_new_privileges: true,
            },
            timeout: Some(Duration::from_secs(60)),
            mode: TaskMode::Once,
            on_failure: TaskFailure::Continue,
        }]
    );
}

#[test]
fn timeouts_and_modes() {
    let one = |lines: &str| -> TaskSpec {
        let mut c = ok(&format!(
            "[[task]]\nname = \"t\"\ncommand = [\"t\"]\n{lines}\n"
        ));
        assert_eq!(c.tasks.len(), 1);
        c.tasks.remove(0)
    };
    assert_eq!(one("timeout = \"0s\"").timeout, None);
    assert_eq!(one("timeout = \"0\"").timeout, None);
    assert_eq!(
        one("timeout = \"1h\"").timeout,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(one("mode = \"every-start\"").mode, TaskMode::EveryStart);
    assert_eq!(one("on_failure = \"abort\"").on_failure, TaskFailure::Abort);
    // A background task runs for as long as steward does: no timeout, and none allowed.
    let t = one("mode = \"background\"");
    assert_eq!((t.mode, t.timeout), (TaskMode::Background, None));
    let p = problem(
        "[[task]]\nname = \"a\"\ncommand = [\"x\"]\nmode = \"background\"\ntimeout = \"10m\"\n",
    );
    assert_eq!((p.0, p.1), (5, 1));
    assert!(
        p.2.starts_with("`timeout` means nothing with `mode = \"background\"`"),
        "{p:?}"
    );
}

#[test]
fn missing_keys() {
    let p = problem("[[task]]\ncommand = [\"x\"]\n");
    assert_eq!((p.0, p.1), (1, 1));
    assert_eq!(p.2, "a task has no `name`");
    assert_eq!(
        p.3.as_deref(),
        Some("add one, e.g. `name = \"migrate\"`: it names the task in logs and status")
    );

    let p = problem("[[task]]\nname = \"x\"\n");
    assert_eq!((p.0, p.1), (1, 1));
    assert_eq!(p.2, "task `x` has no `command`");

    let ps = problems("[[task]]\ncommand = [\"x\"]\n\n[[task]]\n");
    let got: Vec<(usize, usize, &str)> = ps.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
    assert_eq!(
        got,
        [
            (1, 1, "a task has no `name`"),
            (4, 1, "a task has no `name`"),
            (4, 1, "a task has no `command`"),
        ]
    );

    // A line the TOML parser could not read is not also reported missing.
    let ps = problems("[[task]]\nname = \"x\"\ncommand = = [\"x\"]\n");
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!((ps[0].0, ps[0].1), (3, 11));
}

#[test]
fn names() {
    let p = problem(
        "[[task]]\nname = \"x\"\ncommand = [\"x\"]\n[[task]]\nname = \"x\"\ncommand = [\"y\"]\n",
    );
    assert_eq!((p.0, p.1), (5, 8));
    assert_eq!(p.2, "there are two tasks named `x`");
    assert_eq!(
        p.3.as_deref(),
        Some("task names must be unique; the other one is on line 2")
    );

    let help = "tasks and services share their names, because background tasks are shown in \
                status next to services; rename one of them";
    let p = problem(
        "[service.web]\ncommand = [\"web\"]\n[[task]]\nname = \"web\"\ncommand = [\"x\"]\n",
    );
    assert_eq!((p.0, p.1), (4, 8));
    assert_eq!(p.2, "task `web` has the same name as a service");
    assert_eq!(p.3.as_deref(), Some(help));
    // Whichever comes first in the file.
    let p = problem(
        "[[task]]\nname = \"web\"\ncommand = [\"x\"]\n[service.web]\ncommand = [\"web\"]\n",
    );
    assert_eq!((p.0, p.1, p.3.as_deref()), (2, 8, Some(help)));

    let p = problem("[[task]]\nname = \"a:b\"\ncommand = [\"x\"]\n");
    assert_eq!((p.0, p.1), (2, 8));
    assert!(p.2.starts_with("task name `a:b` contains `:`"), "{p:?}");
    assert_eq!(p.3.as_deref(), Some(TASK_NAME_HELP));
    let p = problem("[[task]]\nname = \"\"\ncommand = [\"x\"]\n");
    assert_eq!(p.2, "a task name cannot be empty");
    let p = problem("[[task]]\nname = 7\ncommand = [\"x\"]\n");
    assert_eq!((p.0, p.1), (2, 8));
    assert_eq!(p.2, "`name` must be a string, found an integer");
}

#[test]
fn value_errors() {
    let base = "[[task]]\nname = \"t\"\ncommand = [\"t\"]\n";
    let p = problem(&format!("{base}mode = \"every_start\"\n"));
    assert_eq!((p.0, p.1), (4, 8));
    assert_eq!(
        p.2,
        "`mode` must be \"every-start\", \"once\" or \"background\", found \"every_start\""
    );
    assert_eq!(p.3.as_deref(), Some("did you mean \"every-start\"?"));

    let p = problem(&format!("{base}on_failure = \"ignore\"\n"));
    assert_eq!((p.0, p.1), (4, 14));
    assert_eq!(
        p.2,
        "`on_failure` must be \"abort\" or \"continue\", found \"ignore\""
    );

    let p = problem(&format!(
        "{base}mode = \"background\"\non_failure = \"continue\"\n"
    ));
    assert_eq!((p.0, p.1), (5, 1));
    assert!(
        p.2.starts_with("`on_failure` means nothing with `mode = \"background\"`"),
        "{p:?}"
    );
    assert_eq!(p.3.as_deref(), Some("remove `on_failure`"));

    let p = problem(&format!("{base}timeout = 60\n"));
    assert_eq!((p.0, p.1), (4, 11));
    assert_eq!(
        p.3.as_deref(),
        Some("write it as a string with a unit, e.g. \"60s\"")
    );

    let p = problem(&format!("{base}timout = \"1s\"\n"));
    assert_eq!((p.0, p.1), (4, 1));
    assert_eq!(p.2, "unknown key `timout` in task `t`");
    assert_eq!(p.3.as_deref(), Some("did you mean `timeout`?"));
    // Service keys are not task keys.
    let p = problem(&format!("{base}restart = \"always\"\n"));
    assert_eq!(p.2, "unknown key `restart` in task `t`");

    // The process keys are checked as for a service.
    let p = problem("[[task]]\nname = \"t\"\ncommand = \"useradd --system app\"\n");
    assert_eq!((p.0, p.1), (3, 11));
    assert!(
        p.3.unwrap()
            .contains(r#"`command = ["useradd", "--system", "app"]`"#)
    );
    let p = problem(&format!("{base}env = {{ PORT = 80 }}\n"));
    assert_eq!(p.2, "`env.PORT` must be a string, found an integer");
    let p = problem(&format!("{base}user = \"\"\n"));
    assert_eq!(p.2, "`user` cannot be empty");
    let p = problem(&format!("{base}working_dir = \"~/x\"\n"));
    assert!(p.2.contains("does not expand"));
}

#[test]
fn table_shape_errors() {
    let p = problem("[task]\nname = \"x\"\ncommand = [\"x\"]\n");
    assert_eq!(p.2, "`task` must be an array of tables, found a table");
    assert_eq!(
        p.3.as_deref(),
        Some("write each task as `[[task]]`, with two brackets: tasks are a list, run in order")
    );
    let p = problem("task = 3\n");
    assert_eq!((p.0, p.1), (1, 8));
    assert_eq!(p.2, "`task` must be an array of tables, found an integer");
    let p = problem("task = [3]\n");
    assert_eq!((p.0, p.1), (1, 9));
    assert_eq!(p.2, "`task[0]` must be a table, found an integer");
}
