//! Services run as their configured user and groups.

use crate::harness::*;
use steward_proto::State;

const USER: &str = "steward-e2e";
const GROUP: &str = "steward-e2e-extra";

fn id_of(flag: &str, name: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args([flag, name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn gid_of(group: &str) -> u32 {
    let out = std::process::Command::new("getent")
        .args(["group", group])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn user_group_and_supplementary_groups_are_applied() {
    if !nix::unistd::Uid::current().is_root() {
        eprintln!("skipped: creating a user needs root");
        return;
    }
    // Idempotent: the user may exist from an earlier run.
    let _ = std::process::Command::new("groupadd")
        .args(["--system", GROUP])
        .output();
    let _ = std::process::Command::new("useradd")
        .args(["--system", "--no-create-home", USER])
        .output();
    let d = Daemon::prepare(&format!(
        r#"
[service.who]
command = ["{{fixture}}", "--env-to", "{{dir}}/out/env.txt"]
user = "{USER}"
supplementary_groups = ["{GROUP}"]
working_dir = "/"
"#
    ));
    // The service's user must be able to reach and write its output file.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(d.path("out")).unwrap();
    std::fs::set_permissions(d.path("out"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = d.spawn();
    let i = d.wait_instance("who", 0, "running", |i| i.state == State::Running);
    let env = d.path("out/env.txt");
    d.wait_for("env written", |_| env.exists().then_some(()));
    let text = std::fs::read_to_string(&env).unwrap();
    let (uid, gid, extra) = (id_of("-u", USER), id_of("-g", USER), gid_of(GROUP));
    assert!(text.contains(&format!("uid={uid}\n")), "{text}");
    assert!(text.contains(&format!("gid={gid}\n")), "{text}");
    assert!(text.contains(&format!("groups={extra}\n")), "{text}");
    assert!(text.contains(&format!("USER={USER}\n")), "{text}");
    assert!(
        text.contains("STEWARD_SERVICE=who\n") && text.contains("STEWARD_INSTANCE=0\n"),
        "{text}"
    );
    assert!(text.contains("cwd=/\n"), "{text}");
    // And the kernel agrees.
    let status = std::fs::read_to_string(format!("/proc/{}/status", i.pid.unwrap())).unwrap();
    let line = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        line("Uid:").split_whitespace().nth(1),
        Some(uid.to_string().as_str())
    );
    assert_eq!(
        line("Gid:").split_whitespace().nth(1),
        Some(gid.to_string().as_str())
    );
    assert_eq!(
        line("Groups:").split_whitespace().nth(1),
        Some(extra.to_string().as_str())
    );
}

#[test]
fn a_missing_user_is_a_clear_start_failure() {
    let d = Daemon::start(
        r#"
[service.nobody-here]
command = ["{fixture}"]
user = "no-such-user-steward"
"#,
    );
    let i = d.wait_instance("nobody-here", 0, "spawn failure", |i| i.last_exit.is_some());
    let last = i.last_exit.unwrap();
    assert!(last.counted_as_failure);
    assert!(
        last.counted_as
            .contains("user no-such-user-steward does not exist"),
        "{}",
        last.counted_as
    );
}

#[test]
fn a_missing_working_dir_or_command_is_named() {
    let d = Daemon::start(
        r#"
[service.nodir]
command = ["{fixture}"]
working_dir = "{dir}/nowhere"

[service.nocmd]
command = ["{dir}/no-such-program"]
"#,
    );
    let why = |name: &str| {
        let i = d.wait_instance(name, 0, "a spawn failure", |i| i.last_exit.is_some());
        assert_eq!(
            i.state,
            State::Backoff,
            "retried later, not in a tight loop"
        );
        i.last_exit.unwrap().counted_as
    };
    assert!(
        why("nodir").contains("nowhere does not exist or is not a directory"),
        "{}",
        why("nodir")
    );
    assert!(
        why("nocmd").contains("no-such-program: command not found"),
        "{}",
        why("nocmd")
    );
}
