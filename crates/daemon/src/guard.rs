//! The guard: a small helper process (`steward __guard`) that outlives steward by a moment
//! to kill every process group steward still had, should steward die without stopping them
//! (SIGKILL, OOM killer, a panic). `PR_SET_PDEATHSIG` alone would only reach each group's
//! leader; the grandchildren would live on.
//!
//! steward writes `+PGID` when it starts a group and `-PGID` once the group is gone, and
//! `=PATH` for the cgroup holding every instance's cgroup, on a pipe whose other end is the
//! guard's stdin. When the pipe closes (steward is gone, however
//! it went), the guard sends SIGKILL to every group still listed and exits.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::Pid;

/// The hidden subcommand the CLI dispatches to [`guard_main`].
pub const SUBCOMMAND: &str = "__guard";

/// steward's end of the guard.
pub struct Guard {
    pid: u32,
    pipe: File,
}

impl Guard {
    /// Starts `/proc/self/exe __guard` (the same binary, even if replaced on disk since).
    pub fn start() -> io::Result<Guard> {
        // Close-on-exec: a copy of the write end in any child (the guard included) would
        // keep the pipe open after steward dies, and the guard would never act.
        let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let child = Command::new("/proc/self/exe")
            .arg(SUBCOMMAND)
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Guard {
            pid: child.id(),
            pipe: File::from(write),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Records a new process group. A guard that cannot be told is reported, not fatal:
    /// supervision goes on, with only PDEATHSIG as the fallback.
    pub fn add(&mut self, pgid: u32) -> io::Result<()> {
        writeln!(self.pipe, "+{pgid}")
    }

    pub fn remove(&mut self, pgid: u32) -> io::Result<()> {
        writeln!(self.pipe, "-{pgid}")
    }

    /// The cgroup holding every instance's cgroup: one write to its `cgroup.kill` ends
    /// them all, `setsid` escapees included.
    pub fn set_cgroup_root(&mut self, root: &std::path::Path) -> io::Result<()> {
        writeln!(self.pipe, "={}", root.display())
    }
}

/// The guard's whole life: read the list until EOF, then kill what is left.
pub fn guard_main() -> i32 {
    // Ctrl-C in steward's terminal reaches the guard too; only EOF may end it.
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: installing SIG_IGN runs no handler code.
        let _ = unsafe { signal::signal(sig, SigHandler::SigIgn) };
    }
    let mut groups = BTreeSet::new();
    let mut cgroup_root = None;
    for line in BufReader::new(io::stdin().lock()).lines() {
        let Ok(line) = line else { break };
        let (op, num) = line.split_at(line.len().min(1));
        if op == "=" {
            cgroup_root = Some(std::path::PathBuf::from(num));
            continue;
        }
        match (op, num.parse::<i32>()) {
            ("+", Ok(pgid)) if pgid > 1 => {
                groups.insert(pgid);
            }
            ("-", Ok(pgid)) => {
                groups.remove(&pgid);
            }
            _ => {}
        }
    }
    if let Some(root) = cgroup_root {
        let _ = std::fs::write(root.join("cgroup.kill"), "1");
    }
    for pgid in groups {
        let _ = signal::killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    0
}
