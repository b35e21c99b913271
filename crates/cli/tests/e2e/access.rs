//! The control socket's ACL against real users: each test creates its users and groups
//! (as root; skipped otherwise) and runs the CLI as them, so the daemon sees them through
//! the kernel's credentials.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Output, Stdio};

use steward_proto::State;

use crate::users::{ensure_group, ensure_user};

/// A user's (uid, primary gid).
type Account = (u32, u32);
use crate::harness::*;

/// The CLI against `d`, run as `who` (its uid and primary gid; no supplementary groups,
/// so steward must find them by name service).
fn as_user(d: &Daemon, who: Account, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    Command::new(steward_bin())
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .uid(who.0)
        .gid(who.1)
        .env_remove("STEWARD_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The CLI as `who` with all its groups, as after a login (`setpriv --init-groups`): what
/// the file permissions of the socket see.
fn as_login(d: &Daemon, who: Account, args: &[&str]) -> Output {
    Command::new("setpriv")
        .arg(format!("--reuid={}", who.0))
        .arg(format!("--regid={}", who.1))
        .arg("--init-groups")
        .arg(steward_bin())
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .env_remove("STEWARD_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A daemon others may reach: its directory open to all, the socket's mode as configured.
fn open_daemon(control: &str, services: &str) -> Daemon {
    let d = Daemon::prepare(services);
    d.write_config_control(control, services);
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.spawn()
}

const SERVICE: &str = r#"
[service.svc]
command = ["{fixture}"]
"#;

#[test]
fn the_acl_decides_by_user_and_group_and_a_deny_wins() {
    let Some(ops) = ensure_group("stw-ops") else {
        eprintln!("skipped: creating users needs root");
        return;
    };
    ensure_group("stw-guests").unwrap();
    let alice = ensure_user("stw-alice", &[]).unwrap();
    let oscar = ensure_user("stw-oscar", &["stw-ops"]).unwrap();
    let gus = ensure_user("stw-gus", &["stw-guests"]).unwrap();
    let dave = ensure_user("stw-dave", &["stw-ops"]).unwrap();
    let control = r#"
socket_mode = "0666"
acl = [
  "deny group:stw-guests all",
  "allow authenticated read",
  "allow group:stw-ops control",
  "deny user:stw-dave control",
  "allow uid:0 admin",
]
"#;
    let d = open_daemon(control, SERVICE);
    let pid = d
        .wait_instance("svc", 0, "running", |i| i.state == State::Running)
        .pid
        .unwrap();
    let _ = ops;

    // Authenticated: reads, cannot stop.
    let out = as_user(&d, alice, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("svc"));
    let out = as_user(&d, alice, &["stop", "svc"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("uid")
            && err.contains("(stw-alice)")
            && err.contains("lacks the `control` right on service `svc`"),
        "{err}"
    );
    // Not allowed to read the config either (admin).
    let out = as_user(&d, alice, &["config"]);
    assert!(
        stderr(&out).contains("lacks the `admin` right"),
        "{}",
        stderr(&out)
    );

    // A guest: denied everything, even reading, and told by which entry.
    let out = as_user(&d, gus, &["status"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refused by `deny group:stw-guests"),
        "{}",
        stderr(&out)
    );

    // Dave is in ops, but the deny on him wins over the group's allow.
    let out = as_user(&d, dave, &["stop", "svc"]);
    assert!(
        stderr(&out).contains("refused by `deny user:stw-dave control`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.instance("svc", 0).pid,
        Some(pid),
        "a refused stop touched the service"
    );

    // Ops (a supplementary group, found by name service) can stop.
    let out = as_user(&d, oscar, &["stop", "svc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    d.wait_instance("svc", 0, "stopped", |i| i.state == State::Stopped);
    wait_gone(&[pid], "the stopped service");

    // The audit trail: each refusal, and the stop, with who.
    let events = d.ok(&["events", "--json"]);
    let access: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("\"kind\":\"access\""))
        .collect();
    assert!(access.len() >= 4, "{events}");
    let has = |who: &str, what: &str, status: u16| {
        access.iter().any(|l| {
            l.contains(&format!("({who})"))
                && l.contains(what)
                && l.contains(&format!("\"status\":{status}"))
        })
    };
    assert!(
        has("stw-alice", "POST /v1/services/svc/stop", 403),
        "{events}"
    );
    assert!(has("stw-gus", "GET /v1/services", 403), "{events}");
    assert!(
        has("stw-dave", "POST /v1/services/svc/stop", 403),
        "{events}"
    );
    assert!(
        events.lines().any(|l| l.contains("\"kind\":\"control\"")
            && l.contains(&format!("uid {} (stw-oscar)", oscar.0))
            && l.contains("\"action\":\"stop\"")),
        "{events}"
    );
}

#[test]
fn the_socket_file_gets_its_group_and_mode_and_a_reload_changes_them_and_the_acl() {
    let Some(ops) = ensure_group("stw-ops") else {
        eprintln!("skipped: creating users needs root");
        return;
    };
    let alice = ensure_user("stw-alice", &[]).unwrap();
    let oscar = ensure_user("stw-oscar", &["stw-ops"]).unwrap();
    let acl = r#"acl = ["allow authenticated read", "allow uid:0 admin"]"#;
    let control = format!("socket_group = \"stw-ops\"\nsocket_mode = \"0660\"\n{acl}\n");
    let d = open_daemon(&control, SERVICE);
    d.wait_instance("svc", 0, "running", |i| i.state == State::Running);
    let meta = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660);
    assert_eq!(meta.gid(), ops);
    // No stray files from the private bind directory.
    let names: Vec<String> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(".stw")), "{names:?}");

    // The group's member may connect; another user cannot even open the socket.
    let out = as_login(&d, oscar, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = as_login(&d, alice, &["status"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).to_lowercase().contains("permission denied"),
        "{}",
        stderr(&out)
    );

    // A reload opens the socket to all and lets alice control: both apply live.
    let control = "socket_group = \"stw-ops\"\nsocket_mode = \"0666\"\n\
        acl = [\"allow authenticated read\", \"allow user:stw-alice control\", \"allow uid:0 admin\"]\n";
    d.write_config_control(control, SERVICE);
    let report = d.ok(&["reload"]);
    assert!(!report.contains("restart"), "{report}");
    poll(
        "the socket's new mode",
        || (std::fs::metadata(&d.socket).ok()?.mode() & 0o777 == 0o666).then_some(()),
        || d.log(),
    );
    let out = as_login(&d, alice, &["stop", "svc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    d.wait_instance("svc", 0, "stopped", |i| i.state == State::Stopped);
}

#[test]
fn without_an_acl_only_root_and_stewards_user_get_in() {
    let Some(_) = ensure_group("stw-ops") else {
        eprintln!("skipped: creating users needs root");
        return;
    };
    let alice = ensure_user("stw-alice", &[]).unwrap();
    let d = open_daemon("socket_mode = \"0666\"\n", SERVICE);
    d.wait_instance("svc", 0, "running", |i| i.state == State::Running);
    let out = as_user(&d, alice, &["status"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("lacks the `read` right"),
        "{}",
        stderr(&out)
    );
    let (code, body) = d.http("GET", "/v1/services");
    assert_eq!(code, 200, "{body}");
}

#[test]
fn shutdown_needs_admin_and_stops_everything() {
    let mut d = Daemon::start(SERVICE);
    let pid = d
        .wait_instance("svc", 0, "running", |i| i.state == State::Running)
        .pid
        .unwrap();
    if let Some(alice) = ensure_user("stw-alice", &[]) {
        std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = as_user(&d, alice, &["shutdown"]);
        assert!(
            stderr(&out).contains("lacks the `read` right"),
            "{}",
            stderr(&out)
        );
        assert!(alive(pid));
    }
    let out = d.ok(&["shutdown"]);
    assert!(out.contains("stopping every service"), "{out}");
    assert!(out.contains("stopped"), "{out}");
    let status = d.wait_exit();
    assert!(status.success(), "{status}");
    wait_gone(&[pid], "the service after shutdown");
    assert!(
        d.log().contains("shutdown requested by uid 0 (root)"),
        "{}",
        d.log()
    );
}

#[test]
fn a_reload_that_takes_read_away_ends_an_open_stream() {
    let Some(_) = ensure_group("stw-ops") else {
        eprintln!("skipped: creating users needs root");
        return;
    };
    let alice = ensure_user("stw-alice", &[]).unwrap();
    let control =
        "socket_mode = \"0666\"\nacl = [\"allow authenticated read\", \"allow uid:0 admin\"]\n";
    let d = open_daemon(control, SERVICE);
    d.wait_instance("svc", 0, "running", |i| i.state == State::Running);
    // alice follows the event stream, as herself.
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(steward_bin())
        .arg("--socket")
        .arg(&d.socket)
        .args(["events", "-f"])
        .uid(alice.0)
        .gid(alice.1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The stream is open once the daemon journals a first event alice can see; make one.
    d.ok(&["restart", "svc"]);
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut out, &mut first).expect("alice's stream shows an event");
    let control = "socket_mode = \"0666\"\nacl = [\"allow uid:0 admin\"]\n";
    d.write_config_control(control, SERVICE);
    d.ok(&["reload"]);
    poll(
        "alice's stream to end",
        || child.try_wait().unwrap(),
        || d.log(),
    );
    let events = d.ok(&["events", "--json"]);
    assert!(
        events.lines().any(|l| l.contains("\"kind\":\"access\"")
            && l.contains("(stw-alice)")
            && l.contains("stream ended: the ACL no longer grants it the `read` right")),
        "{events}"
    );
}
