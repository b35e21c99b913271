//! One cgroup (v2) per instance, where steward may make them.
//!
//! A process group holds what a program forks, but not what calls `setsid()` (daemons do);
//! a cgroup holds every descendant, whatever it does. With one, steward freezes an instance
//! with `cgroup.freeze` (instead of SIGSTOP, which a process can notice), and ends every
//! process of a run, whatever session it made for itself. It needs only the cgroup2 core files, no
//! controller, so it works in the hybrid layout too. Where cgroup2 is missing or not
//! writable (a container, steward not root and not delegated), steward runs without and
//! says so once: pause uses SIGSTOP, stops reach process groups. `STEWARD_CGROUPS=off`
//! in steward's environment chooses that on purpose.
//!
//! Layout: `<steward's own cgroup>/steward-<pid>/<service>.<index>`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub struct Cgroups {
    root: PathBuf,
}

impl Cgroups {
    /// Makes `steward-<pid>` under steward's own cgroup, and clears away those of stewards
    /// that died before they could.
    pub fn setup() -> Result<Cgroups, String> {
        if std::env::var_os("STEWARD_CGROUPS").is_some_and(|v| v == "off") {
            return Err("turned off by STEWARD_CGROUPS=off".into());
        }
        let mount = cgroup2_mount().ok_or("no cgroup2 file system is mounted")?;
        let own = own_cgroup().ok_or("steward's own cgroup is not known (/proc/self/cgroup)")?;
        let parent = mount.join(own.trim_start_matches('/'));
        remove_stale(&parent);
        let root = parent.join(format!("steward-{}", std::process::id()));
        fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        if !root.join("cgroup.kill").exists() {
            let _ = fs::remove_dir(&root);
            return Err("the kernel has no cgroup.kill (Linux 5.14 or newer is needed)".into());
        }
        Ok(Cgroups { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The instance's cgroup, made on its first start and kept across its runs: a process
    /// born in a cgroup that already exists is cheap, while a new cgroup costs
    /// milliseconds on an idle machine.
    pub fn instance(&self, service: &str, index: u32) -> io::Result<PathBuf> {
        let dir = self.root.join(format!("{service}.{index}"));
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(dir),
            Err(e) => Err(e),
        }
    }

    pub fn freeze(dir: &Path, frozen: bool) -> io::Result<()> {
        fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
    }

    /// SIGKILL to every process left in an instance's cgroup once its run is over, pid by
    /// pid from `cgroup.procs`, until none is left (a few rounds at most, for processes
    /// forked meanwhile). Not `cgroup.kill`: on some kernels it would also kill the next
    /// run, born in the same cgroup.
    pub fn kill_leftovers(dir: &Path) -> io::Result<usize> {
        let mut killed = 0;
        for _ in 0..8 {
            let procs = fs::read_to_string(dir.join("cgroup.procs"))?;
            let pids: Vec<i32> = procs
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill takes plain integers.
                if unsafe { nix::libc::kill(pid, nix::libc::SIGKILL) } == 0 {
                    killed += 1;
                }
            }
        }
        Ok(killed)
    }

    /// SIGKILL to every process of every instance.
    pub fn kill_all(&self) -> io::Result<()> {
        fs::write(self.root.join("cgroup.kill"), "1")
    }

    /// Removes one instance's cgroup, once its service or index is gone (best effort: the
    /// cgroup stays while a dying process holds it).
    pub fn remove(dir: &Path) {
        let _ = fs::remove_dir(dir);
    }

    /// Removes the empty cgroups, at exit (best effort: a cgroup still holding a dying
    /// process stays, and the next steward clears it).
    pub fn remove_all(&self) {
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
        let _ = fs::remove_dir(&self.root);
    }
}

/// Where cgroup2 is mounted, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// steward's cgroup in the v2 hierarchy (the `0::` line of /proc/self/cgroup).
fn own_cgroup() -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

/// `steward-<pid>` cgroups whose steward is gone: kill what is left and remove them.
fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("steward-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = e.path();
        let _ = fs::write(dir.join("cgroup.kill"), "1");
        if let Ok(children) = fs::read_dir(&dir) {
            for c in children
                .flatten()
                .filter(|c| c.file_type().is_ok_and(|t| t.is_dir()))
            {
                let _ = fs::remove_dir(c.path());
            }
        }
        let _ = fs::remove_dir(&dir);
    }
}
