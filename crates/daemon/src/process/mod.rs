//! Starting, signalling and reaping processes.
//!
//! Every child steward starts leads its own session and process group (its pid is the group
//! id), dies with steward's main thread (`PR_SET_PDEATHSIG`), and is waited for only by
//! [`reap`], the one reaper: nothing else in the process calls `wait`. How a child is
//! started is in [`spawn`].

mod env;
mod limits;
mod spawn;

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::libc;
use nix::unistd::{Gid, Group, Uid, User};

pub(crate) use env::search_path;
use env::{Account, Sources};
pub use limits::{hard_limit, raise_fd_limit};
pub use spawn::spawn;
pub(crate) use spawn::{is_executable, resolve};
use steward_core::config::{ProcessSpec, ServiceSpec};
use steward_core::machine::ExitHow;
use steward_core::rlimit::{Limit, Resource};
use steward_core::signal::Signal;

/// Everything needed to start one process, resolved before the clone.
pub struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(OsString, OsString)>,
    pub working_dir: Option<PathBuf>,
    pub identity: Option<Identity>,
    /// The file mode creation mask; `None` keeps steward's.
    pub umask: Option<u32>,
    /// Set before the identity changes, so that root can raise hard limits.
    pub limits: BTreeMap<Resource, Limit>,
    pub no_new_privileges: bool,
    /// Open files to hand over, each at the given fd number in the child.
    pub fds: Vec<(OwnedFd, i32)>,
    /// Variables whose value is the child's own pid (`WATCHDOG_PID`, `LISTEN_PID`), known
    /// only once it exists: the child writes it in before exec.
    pub pid_env: Vec<String>,
    /// The `cgroup.procs` of the cgroup the child moves itself into first.
    pub cgroup_procs: Option<PathBuf>,
    /// The child's stdout and stderr, borrowed: open until the spawn returns. `None`
    /// leaves steward's own.
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
}

/// The user a child runs as; resolved by name service lookups in the parent.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub home: PathBuf,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
}

impl Launch {
    /// The launch of `process`, with the environment of [`env`]: what `pass_env` lets
    /// through of steward's, the account's `HOME`, `USER` and `LOGNAME`, `env_file`, `env`,
    /// then `extra` (steward's own variables, which the config cannot override).
    pub fn new(process: &ProcessSpec, extra: &[(&str, String)]) -> Result<Launch, String> {
        let file = match &process.env_file {
            Some(path) => read_env_file(path)?,
            None => Vec::new(),
        };
        // exec and chdir both fail with ENOENT; look first so the message says which.
        if let Some(dir) = &process.working_dir
            && !dir.is_dir()
        {
            return Err(format!(
                "working_dir {} does not exist or is not a directory",
                dir.display()
            ));
        }
        let identity = resolve_identity(process)?;
        let account = match &identity {
            Some(id) => Some(Account {
                user: id.user.clone(),
                home: id.home.clone().into(),
            }),
            None => own_account().clone(),
        };
        let env = env::build(Sources {
            own: std::env::vars_os().collect(),
            process,
            file: &file,
            account: account.as_ref(),
            extra,
        });
        Ok(Launch {
            argv: process.command.clone(),
            env,
            working_dir: process.working_dir.clone(),
            identity,
            umask: process.umask,
            limits: process.limits.clone(),
            no_new_privileges: process.no_new_privileges,
            fds: Vec::new(),
            pid_env: Vec::new(),
            cgroup_procs: None,
            stdout: None,
            stderr: None,
        })
    }

    /// Sets (or replaces) one variable of the child's environment.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Instance `index` of `spec`, told who it is in `STEWARD_SERVICE` / `STEWARD_INSTANCE`
    /// (and, with `pause = "signal"`, its pause and continue signals).
    pub fn for_instance(spec: &ServiceSpec, index: u32) -> Result<Launch, String> {
        let mut extra = vec![
            ("STEWARD_SERVICE", spec.name.clone()),
            ("STEWARD_INSTANCE", index.to_string()),
        ];
        // A program that pauses itself learns which signals mean pause and continue.
        if let steward_core::config::PauseMode::Signal { pause, resume } = spec.pause {
            extra.push(("STEWARD_PAUSE_SIGNAL", pause.name()));
            extra.push(("STEWARD_CONTINUE_SIGNAL", resume.name()));
        }
        Launch::new(&spec.process, &extra)
    }

    /// A helper command (recovery or give-up action, exec probe) run like the service:
    /// its environment, its user.
    pub fn for_command(spec: &ServiceSpec, argv: &[String]) -> Result<Launch, String> {
        let process = ProcessSpec {
            command: argv.to_vec(),
            ..spec.process.clone()
        };
        Launch::new(&process, &[("STEWARD_SERVICE", spec.name.clone())])
    }
}

/// Reads `KEY=VALUE` lines; blank lines and `#` comments are skipped, `export ` and one
/// level of matching quotes are accepted, as most env files are written.
pub(crate) fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read env_file {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("{}:{}: expected KEY=VALUE", path.display(), n + 1));
        };
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        out.push((key.trim().to_string(), unquoted.to_string()));
    }
    Ok(out)
}

/// steward's own account, looked up once: its uid never changes, and a start should not
/// wait on the name service for it.
fn own_account() -> &'static Option<Account> {
    static OWN: OnceLock<Option<Account>> = OnceLock::new();
    OWN.get_or_init(|| {
        let user = User::from_uid(Uid::current()).ok().flatten()?;
        Some(Account {
            user: user.name,
            home: user.dir.into(),
        })
    })
}

fn resolve_identity(spec: &ProcessSpec) -> Result<Option<Identity>, String> {
    if spec.user.is_none() && spec.group.is_none() && spec.supplementary_groups.is_none() {
        return Ok(None);
    }
    let current = Uid::current();
    let user = match &spec.user {
        Some(name) => find_user(name)?.ok_or_else(|| format!("user {name} does not exist"))?,
        None => User::from_uid(current)
            .map_err(|e| format!("cannot look up uid {current}: {e}"))?
            .ok_or_else(|| format!("uid {current} has no passwd entry"))?,
    };
    let gid = match &spec.group {
        Some(name) => lookup_group(name)?,
        None => user.gid,
    };
    let groups = match &spec.supplementary_groups {
        Some(names) => names
            .iter()
            .map(|n| lookup_group(n))
            .collect::<Result<_, _>>()?,
        None => {
            let cname = CString::new(user.name.as_str()).map_err(|e| e.to_string())?;
            nix::unistd::getgrouplist(&cname, gid)
                .map_err(|e| format!("cannot list groups of {}: {e}", user.name))?
        }
    };
    if !current.is_root() && (user.uid != current || gid != Gid::current()) {
        return Err(format!(
            "cannot run as user {} (uid {}, gid {gid}): steward runs as uid {current}, not root",
            user.name, user.uid
        ));
    }
    Ok(Some(Identity {
        user: user.name,
        home: user.dir,
        uid: user.uid,
        gid,
        groups,
    }))
}

pub(crate) fn lookup_group(name: &str) -> Result<Gid, String> {
    Ok(find_group(name)?
        .ok_or_else(|| format!("group {name} does not exist"))?
        .gid)
}

/// The passwd entry of user `name`; `None` when there is none, an error when the name
/// service could not be asked.
pub(crate) fn find_user(name: &str) -> Result<Option<User>, String> {
    User::from_name(name).map_err(|e| format!("cannot look up user {name}: {e}"))
}

/// The group entry of `name`; `None` when there is none, an error when the name service
/// could not be asked.
pub(crate) fn find_group(name: &str) -> Result<Option<Group>, String> {
    Group::from_name(name).map_err(|e| format!("cannot look up group {name}: {e}"))
}

/// Sends `sig` to the process group `pgid`. A group that is already gone is not an error.
/// Raw `killpg`: any signal number, real-time ones included.
pub fn signal_group(pgid: u32, sig: Signal) -> io::Result<()> {
    // SAFETY: killpg takes plain integers.
    match unsafe { libc::killpg(pgid as libc::pid_t, sig.number()) } {
        0 => Ok(()),
        _ => match Errno::last() {
            Errno::ESRCH => Ok(()),
            e => Err(e.into()),
        },
    }
}

/// One ended child, as the reaper saw it.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    pub pid: u32,
    pub how: ExitHow,
}

/// Collects every exited child. For each one that `leads_group` (a leader of a group steward
/// made), the rest of its group is killed *before* the leader is reaped, while the zombie
/// still holds the group id so it cannot be reused: no process of a run outlives it.
///
/// Raw `waitid`/`waitpid` and the C macros decode every status, real-time signals
/// included: a status that could not be decoded would leave a zombie that blocks the
/// `WNOWAIT` peek for good.
pub fn reap(mut leads_group: impl FnMut(u32) -> bool) -> Vec<Reaped> {
    let mut out = Vec::new();
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: a valid pointer to a siginfo_t.
        if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) } != 0 {
            break; // ECHILD: no children at all.
        }
        // SAFETY: waitid succeeded, so si_pid is set (0 when no child has exited).
        let pid = unsafe { info.si_pid() };
        if pid == 0 {
            break;
        }
        if leads_group(pid as u32) {
            let _ = signal_group(pid as u32, Signal::KILL);
        }
        let mut status = 0;
        // SAFETY: reaps the child waitid reported.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != pid {
            break;
        }
        let how = if libc::WIFSIGNALED(status) {
            ExitHow::Signal(Signal::from_number(libc::WTERMSIG(status)).unwrap_or(Signal::KILL))
        } else {
            ExitHow::Code(libc::WEXITSTATUS(status))
        };
        out.push(Reaped {
            pid: pid as u32,
            how,
        });
    }
    out
}

/// Makes steward the reaper of orphaned descendants, so daemonizing children are still
/// collected (and never left as zombies).
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_forms() {
        let dir = std::env::temp_dir().join(format!("steward-envfile-{}", std::process::id()));
        std::fs::write(&dir, "# c\n\nA=1\nexport B = \"two words\"\nC='x'\nD=\n").unwrap();
        let got = read_env_file(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let want = [("A", "1"), ("B", "two words"), ("C", "x"), ("D", "")];
        let want: Vec<_> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn env_file_errors_name_the_line() {
        let path = std::env::temp_dir().join(format!("steward-envfile-bad-{}", std::process::id()));
        std::fs::write(&path, "A=1\nnonsense\n").unwrap();
        let err = read_env_file(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.ends_with(":2: expected KEY=VALUE"), "{err}");
    }
}
