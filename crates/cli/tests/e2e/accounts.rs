//! Real users and groups for tests, created with `groupadd` and `useradd` when the tests
//! run as root. Creation is idempotent (a user from an earlier run is reused) and
//! serialized: the tools lock `/etc/passwd` and fail rather than wait.

use std::process::Command;
use std::sync::Mutex;

static LOCK: Mutex<()> = Mutex::new(());

/// A user's ids.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn field(db: &str, name: &str, index: usize) -> Option<u32> {
    let out = Command::new("getent").args([db, name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(':')
        .nth(index)?
        .parse()
        .ok()
}

/// The gid of group `name`, created if needed; `None` when not root.
pub fn ensure_group(name: &str) -> Option<u32> {
    if !nix::unistd::Uid::current().is_root() {
        return None;
    }
    let _held = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if field("group", name, 2).is_none() {
        run("groupadd", &["--system", name]);
    }
    Some(field("group", name, 2).unwrap_or_else(|| panic!("cannot create group {name}")))
}

/// User `name`, created if needed and made a member of `groups` (created too); `None`
/// when not root.
pub fn ensure_user(name: &str, groups: &[&str]) -> Option<Account> {
    for g in groups {
        ensure_group(g)?;
    }
    if !nix::unistd::Uid::current().is_root() {
        return None;
    }
    let _held = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if field("passwd", name, 2).is_none() {
        let shell = "/usr/sbin/nologin";
        run(
            "useradd",
            &["--system", "--no-create-home", "--shell", shell, name],
        );
    }
    if !groups.is_empty() {
        run("usermod", &["-a", "-G", &groups.join(","), name]);
    }
    let uid = field("passwd", name, 2).unwrap_or_else(|| panic!("cannot create user {name}"));
    let gid = field("passwd", name, 3).unwrap();
    Some(Account { uid, gid })
}
