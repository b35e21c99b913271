//! One cgroup (v2) per run of an instance, where steward may make them.
//!
//! A process group holds what a program forks, but not what calls `setsid()` (daemons do);
//! a cgroup holds every descendant, whatever it does. With one, steward freezes an instance
//! with `cgroup.freeze` (instead of SIGSTOP, which a process can notice), and ends every
//! process of a run with `cgroup.kill`. It needs only the cgroup2 core files, no
//! controller, so it works in the hybrid layout too. Where cgroup2 is missing or not
//! writable (a container, steward not root and not delegated), steward runs without and
//! says so once: pause uses SIGSTOP, stops reach process groups. `STEWARD_CGROUPS=off`
//! in steward's environment chooses that on purpose.
//!
//! Layout: `<steward's own cgroup>/steward-<pid>/<service>.<index>.<generation>`, one
//! cgroup per run of an instance.

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

    /// Makes the cgroup of one run of an instance (`<service>.<index>.<generation>`): a
    /// run's processes are born in it, and it goes with them. (A cgroup that was killed
    /// would, on some kernels, kill what is born in it next: a fresh one per run avoids
    /// the question.)
    pub fn make_run(&self, service: &str, index: u32, generation: u64) -> io::Result<PathBuf> {
        let dir = self.root.join(format!("{service}.{index}.{generation}"));
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(dir),
            Err(e) => Err(e),
        }
    }

    pub fn freeze(dir: &Path, frozen: bool) -> io::Result<()> {
        fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
    }

    /// SIGKILL to every process in a run's cgroup.
    pub fn kill(dir: &Path) -> io::Result<()> {
        match fs::write(dir.join("cgroup.kill"), "1") {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Removes a run's cgroup; false while it still holds a dying process.
    pub fn remove(dir: &Path) -> bool {
        match fs::remove_dir(dir) {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// SIGKILL to every process of every instance.
    pub fn kill_all(&self) -> io::Result<()> {
        fs::write(self.root.join("cgroup.kill"), "1")
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
