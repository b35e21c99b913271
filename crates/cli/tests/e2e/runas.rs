//! Running as another user: identity, groups, umask, resource limits, no_new_privileges
//! and the environment, read back from the kernel (`/proc/PID/...`) of real processes.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::harness::*;
use crate::users::{ensure_group, ensure_user};
use steward_proto::State;

/// Makes `dir` readable by everyone and `dir/out` writable by everyone, for services that
/// run as another user.
fn open_up(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// The fields of the `/proc/PID/status` line `key:`.
fn status_field(pid: u32, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status:\n{text}"));
    line.split_whitespace().map(str::to_string).collect()
}

/// (soft, hard) of the `/proc/PID/limits` line that starts with `name`.
fn limit(pid: u32, name: &str) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/limits:\n{text}"));
    let mut f = rest.split_whitespace().map(str::to_string);
    (f.next().unwrap(), f.next().unwrap())
}

/// The environment of `pid`.
fn environ(pid: u32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

fn running_pid(d: &Daemon, service: &str) -> u32 {
    let i = d.wait_instance(service, 0, "running", |i| i.state == State::Running);
    i.pid.unwrap()
}

#[test]
fn identity_umask_limits_and_no_new_privileges_reach_the_process() {
    let Some((uid, _)) = ensure_user("stw-svc", &[]) else {
        eprintln!("skipped: needs root");
        return;
    };
    let a = ensure_group("stw-grp-a").unwrap();
    let b = ensure_group("stw-grp-b").unwrap();
    let d = Daemon::prepare(
        r#"
[service.hardened]
command = ["{fixture}", "--env-to", "{dir}/out/env.txt"]
user = "stw-svc"
group = "stw-grp-a"
supplementary_groups = ["stw-grp-b"]
umask = "0027"
limits = { nofile = 1234, nproc = [100, 200] }
no_new_privileges = true
working_dir = "/"
"#,
    );
    open_up(d.dir.path());
    let d = d.spawn();
    let pid = running_pid(&d, "hardened");

    // real, effective, saved and file-system ids
    assert_eq!(status_field(pid, "Uid"), vec![uid.to_string(); 4]);
    assert_eq!(status_field(pid, "Gid"), vec![a.to_string(); 4]);
    assert_eq!(status_field(pid, "Groups"), [b.to_string()]);
    assert_eq!(status_field(pid, "Umask"), ["0027"]);
    assert_eq!(status_field(pid, "NoNewPrivs"), ["1"]);
    assert_eq!(limit(pid, "Max open files"), ("1234".into(), "1234".into()));
    assert_eq!(limit(pid, "Max processes"), ("100".into(), "200".into()));

    // What the program itself sees.
    let env = d.path("out/env.txt");
    d.wait_for("env written", |_| env.exists().then_some(()));
    let text = std::fs::read_to_string(&env).unwrap();
    for line in [
        format!("uid={uid}"),
        format!("gid={a}"),
        format!("groups={b}"),
        "USER=stw-svc".to_string(),
        "LOGNAME=stw-svc".to_string(),
        "STEWARD_SERVICE=hardened".to_string(),
        "STEWARD_INSTANCE=0".to_string(),
        "cwd=/".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    // Written under umask 0027.
    assert_eq!(std::fs::metadata(&env).unwrap().mode() & 0o777, 0o640);
}

#[test]
fn default_supplementary_groups_are_the_users_groups() {
    // A user of its own: another test adding groups to it would change the answer.
    let Some((_, gid)) = ensure_user("stw-member", &["stw-grp-a", "stw-grp-b"]) else {
        eprintln!("skipped: needs root");
        return;
    };
    let d = Daemon::start(
        r#"
[service.member]
command = ["{fixture}"]
user = "stw-member"
"#,
    );
    let pid = running_pid(&d, "member");
    // The primary group, and every group of /etc/group that lists the user.
    let mut want = vec![gid];
    for line in std::fs::read_to_string("/etc/group").unwrap().lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() == 4 && f[3].split(',').any(|m| m == "stw-member") {
            want.push(f[2].parse().unwrap());
        }
    }
    want.sort();
    want.dedup();
    let mut got: Vec<u32> = status_field(pid, "Groups")
        .iter()
        .map(|g| g.parse().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, want);
    for g in ["stw-grp-a", "stw-grp-b"] {
        assert!(got.contains(&ensure_group(g).unwrap()), "{g}");
    }
}

#[test]
fn the_environment_is_an_allow_list() {
    let as_user = ensure_user("stw-svc", &[]).is_some();
    let mut config = r#"
[service.plain]
command = ["{fixture}"]

[service.custom]
command = ["{fixture}"]
pass_env = ["PATH", "LC_*", "MY_*"]
env = { FROM_ENV = "1", HOME = "/custom-home" }
"#
    .to_string();
    if as_user {
        config.push_str(
            r#"
[service.as-user]
command = ["{fixture}"]
user = "stw-svc"
env = { FROM_ENV = "2" }
"#,
        );
    } else {
        eprintln!("skipped the part with another user: needs root");
    }
    let d = Daemon::prepare(&config)
        .with_env("SECRET_TOKEN", "x".into())
        .with_env("LC_TIME", "C".into())
        .with_env("MY_APP_MODE", "fast".into())
        .spawn();
    let own = nix::unistd::User::from_uid(nix::unistd::Uid::current())
        .unwrap()
        .unwrap();
    let own_home = own.dir.display().to_string();

    let plain = environ(running_pid(&d, "plain"));
    assert!(!plain.contains_key("SECRET_TOKEN"), "{plain:#?}");
    assert!(!plain.contains_key("MY_APP_MODE"), "{plain:#?}");
    assert_eq!(plain.get("LC_TIME").map(String::as_str), Some("C"));
    assert_eq!(plain.get("PATH"), std::env::var("PATH").ok().as_ref());
    assert_eq!(plain.get("USER"), Some(&own.name));
    assert_eq!(plain.get("LOGNAME"), Some(&own.name));
    assert_eq!(plain.get("HOME"), Some(&own_home));
    assert_eq!(plain["STEWARD_SERVICE"], "plain");

    let custom = environ(running_pid(&d, "custom"));
    assert!(!custom.contains_key("SECRET_TOKEN"), "{custom:#?}");
    assert_eq!(custom["MY_APP_MODE"], "fast");
    assert_eq!(custom["LC_TIME"], "C");
    assert_eq!(custom["FROM_ENV"], "1");
    assert_eq!(custom["HOME"], "/custom-home", "env wins over the account");
    assert_eq!(custom.get("USER"), Some(&own.name));

    if as_user {
        let user = environ(running_pid(&d, "as-user"));
        let home = nix::unistd::User::from_name("stw-svc")
            .unwrap()
            .unwrap()
            .dir
            .display()
            .to_string();
        assert!(!user.contains_key("SECRET_TOKEN"), "{user:#?}");
        assert_eq!(user["LC_TIME"], "C");
        assert_eq!(user["FROM_ENV"], "2");
        assert_eq!(user["USER"], "stw-svc");
        assert_eq!(user["LOGNAME"], "stw-svc");
        assert_eq!(user["HOME"], home);
    }
}

#[test]
fn a_task_runs_as_its_user_with_its_umask() {
    let Some((uid, _)) = ensure_user("stw-svc", &[]) else {
        eprintln!("skipped: needs root");
        return;
    };
    let d = Daemon::prepare(
        r#"
[[task]]
name = "as-user"
command = ["{fixture}", "--touch", "{dir}/out/by-user", "--exit-after", "1ms"]
user = "stw-svc"
umask = "0027"

[[task]]
name = "private"
command = ["{fixture}", "--touch", "{dir}/out/private", "--exit-after", "1ms"]
umask = "0077"

[service.after]
command = ["{fixture}"]
"#,
    );
    open_up(d.dir.path());
    let d = d.spawn();
    // Services start once the tasks have ended.
    running_pid(&d, "after");
    let by_user = std::fs::metadata(d.path("out/by-user")).unwrap();
    assert_eq!(by_user.uid(), uid);
    assert_eq!(by_user.mode() & 0o777, 0o640);
    let private = std::fs::metadata(d.path("out/private")).unwrap();
    assert_eq!(private.uid(), 0);
    assert_eq!(private.mode() & 0o777, 0o600);
}

#[test]
fn check_as_a_non_root_user_refuses_root_and_a_raised_hard_limit() {
    let Some((uid, gid)) = ensure_user("stw-check", &[]) else {
        eprintln!("skipped: needs root");
        return;
    };
    // The binaries live under the target dir: that user must be able to run them.
    let as_user = |program: &Path, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .uid(uid)
            .gid(gid)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    assert!(as_user(fixture(), &["--help"]).status.success());
    assert!(as_user(&steward_bin(), &["--version"]).status.success());

    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let above = hard + 1;
    let d = Daemon::prepare(&format!(
        r#"
[service.web]
command = ["{{fixture}}"]
user = "root"
limits = {{ nofile = {above} }}

[[task]]
name = "mine"
command = ["{{fixture}}"]
user = "stw-check"
limits = {{ nofile = {hard} }}
"#
    ));
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = as_user(&steward_bin(), &["check", "-c", d.config.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let file = d.config.display().to_string();
    let want = [
        format!(
            "{file}:10:8: error: steward runs as uid {uid}, not root: it cannot run a service \
             as user `root` (uid 0)"
        ),
        format!(
            "{file}:11:21: error: steward runs as uid {uid}, not root: it cannot give a service \
             a hard limit `nofile` of {above}, above its own ({hard})"
        ),
    ];
    for line in &want {
        assert!(err.lines().any(|l| l == line), "{line} in:\n{err}");
    }
    assert!(err.contains("2 problems found"), "{err}");

    // As root, the same file is fine.
    let out = steward(&["check", "-c", d.config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_limit_the_kernel_refuses_fails_the_start_by_name() {
    // Above fs.nr_open, RLIMIT_NOFILE is refused even to root.
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let too_many = nr_open + 1;
    let d = Daemon::start(&format!(
        r#"
[service.greedy]
command = ["{{fixture}}"]
limits = {{ nofile = {too_many}, core = 0 }}
"#
    ));
    let i = d.wait_instance("greedy", 0, "a spawn failure", |i| i.last_exit.is_some());
    let last = i.last_exit.unwrap();
    assert!(last.counted_as_failure);
    let want = format!(
        "setting limits.nofile (soft {too_many}, hard {too_many}) failed: Operation not permitted"
    );
    assert!(last.counted_as.contains(&want), "{}", last.counted_as);
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
