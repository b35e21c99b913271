//! Real users and groups for tests that run processes as someone else. They are created on
//! first use when the tests run as root (names start with `stw-`) and kept: creating them
//! again is a no-op, so any test may ask for the ones it needs.
//!
//! Without root nothing can be created: both functions return `None`, and the test says
//! "skipped: needs root" and returns.

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::unistd::{Group, Uid, User};

/// One caller at a time in this test binary; other processes (another test binary) are
/// handled by retrying while the account files are locked.
static LOCK: Mutex<()> = Mutex::new(());

/// How long to retry while another process holds the account files' lock.
const RETRY_FOR: Duration = Duration::from_secs(20);

/// The gid of group `name`, created if it does not exist; `None` when not root.
pub fn ensure_group(name: &str) -> Option<u32> {
    if !Uid::current().is_root() {
        return None;
    }
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    Some(group_locked(name))
}

/// The (uid, primary gid) of user `name`, created if it does not exist, without a home
/// directory and with no login shell, and a member of each of `groups` (created too). An
/// existing user is added to the groups it lacks and keeps the others. `None` when not
/// root.
pub fn ensure_user(name: &str, groups: &[&str]) -> Option<(u32, u32)> {
    if !Uid::current().is_root() {
        return None;
    }
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for g in groups {
        group_locked(g);
    }
    if user(name).is_none() {
        let mut cmd = Command::new("useradd");
        cmd.args(["--no-create-home", "--shell", "/usr/sbin/nologin"]);
        if !groups.is_empty() {
            cmd.args(["--groups", &groups.join(",")]);
        }
        run_until(cmd.arg(name), || user(name).is_some());
    }
    let missing: Vec<&str> = groups
        .iter()
        .copied()
        .filter(|g| !is_member(name, g))
        .collect();
    if !missing.is_empty() {
        let mut cmd = Command::new("usermod");
        cmd.args(["--append", "--groups", &missing.join(","), name]);
        run_until(&mut cmd, || missing.iter().all(|g| is_member(name, g)));
    }
    let u = user(name).expect("the user was just created");
    Some((u.uid.as_raw(), u.gid.as_raw()))
}

fn group_locked(name: &str) -> u32 {
    if group(name).is_none() {
        run_until(Command::new("groupadd").arg(name), || group(name).is_some());
    }
    group(name)
        .expect("the group was just created")
        .gid
        .as_raw()
}

fn user(name: &str) -> Option<User> {
    User::from_name(name).expect("the passwd database can be read")
}

fn group(name: &str) -> Option<Group> {
    Group::from_name(name).expect("the group database can be read")
}

fn is_member(user: &str, group_name: &str) -> bool {
    group(group_name).is_some_and(|g| g.mem.iter().any(|m| m == user))
}

/// Runs `cmd` until `done()` holds: "already exists" (someone else made it) is fine, and
/// a failure while another process holds the lock is tried again.
fn run_until(cmd: &mut Command, done: impl Fn() -> bool) {
    let started = Instant::now();
    loop {
        let out = cmd.output().expect("run the account tool");
        if done() {
            return;
        }
        if started.elapsed() > RETRY_FOR {
            panic!(
                "{cmd:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
