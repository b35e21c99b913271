//! Starting a child the way `posix_spawn` does: `clone(CLONE_VM | CLONE_VFORK)`.
//!
//! A plain `fork` copies and write-protects steward's page tables, and steward then pays a
//! copy-on-write fault for every page it touches until the child has exec'd: the cost of
//! a start grows with steward's size (10,000 services made it 4x the raw floor). A vfork
//! child borrows steward's memory and steward waits, suspended, until the child has exec'd
//! or failed, so a start costs the same whatever steward's size.
//!
//! The price is discipline: the child runs on a borrowed stack in steward's memory, so it
//! makes raw system calls only, on strings and pointer arrays prepared before the clone,
//! and never allocates. It reports a failure by writing the step and errno into memory the
//! parent reads once the clone returns.

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::OFlag;
use nix::libc::{self, c_char};
use nix::sched::{CloneFlags, clone};
use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};

use steward_core::rlimit::Resource;

use super::Launch;
use super::limits::{resource_id, rlimit};

/// The steps of the child's setup, named in errors.
const STEPS: [&str; 13] = [
    "reset signals",
    "setsid",
    "prctl",
    "setgroups",
    "setgid",
    "setuid",
    "chdir",
    "redirect stdin",
    "exec",
    "pass fds",
    "join cgroup",
    "redirect stdout and stderr",
    "prctl(PR_SET_NO_NEW_PRIVS)",
];
const STEP_EXEC: u64 = 8;
const STEP_NO_NEW_PRIVS: u64 = 12;
/// A failed `setrlimit` is step `STEP_LIMIT + i`, for `Resource::ALL[i]`.
const STEP_LIMIT: u64 = 64;

/// Room for the digits of a pid in a pid-valued variable (Linux pids have at most 7).
const PID_DIGITS: usize = 10;

/// Everything the child touches, made before the clone.
struct Prepared {
    path: CString,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    dir: Option<CString>,
    /// (supplementary groups, gid, uid, whether setgroups is allowed)
    ids: Option<(Vec<libc::gid_t>, libc::gid_t, libc::uid_t, bool)>,
    stdin: libc::c_int,
    /// -1: steward's own.
    stdout: libc::c_int,
    stderr: libc::c_int,
    /// The descriptor limit steward was started with, when it raised its own and the
    /// config sets none.
    nofile: Option<libc::rlimit>,
    /// (resource, limit, failure step) of the config's `limits`.
    limits: Vec<(libc::c_int, libc::rlimit, u64)>,
    umask: Option<libc::mode_t>,
    no_new_privs: bool,
    parent: libc::pid_t,
    /// The instance's cgroup: the child is born in it, or moves itself in through
    /// `cgroup_procs`.
    cgroup_dir: Option<OwnedFd>,
    cgroup_procs: Option<CString>,
    /// (source, target): sources are copies above every target, so no dup2 clobbers one.
    fds: Vec<(OwnedFd, libc::c_int)>,
    /// Where the child writes its pid: the value part of `NAME=..........` strings, owned
    /// here as raw pointers because the child writes through them.
    pid_slots: Vec<(*mut c_char, usize)>,
    // Own the strings the pointer arrays point into.
    _strings: Vec<CString>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        for &(ptr, _) in &self.pid_slots {
            // SAFETY: made by CString::into_raw in `prepare`, freed once here.
            drop(unsafe { CString::from_raw(ptr) });
        }
    }
}

/// Starts `launch` in a new session; returns its pid (also its process group id).
pub fn spawn(launch: &Launch) -> io::Result<u32> {
    let p = prepare(launch)?;
    let failure = AtomicU64::new(0);
    STACK.with(|stack| {
        let mut stack = stack.borrow_mut();
        // No handler of steward's may run on the child's borrowed stack: block every signal
        // until the child has reset them all to their defaults.
        let mut old = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut old),
        )?;
        let result = clone_child(&p, &failure, &mut stack);
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
        let pid = result?;
        match failure.load(Ordering::Acquire) {
            // The child exec'd. Its exit, and that of a failed child, go to the reaper.
            0 => Ok(pid),
            f => Err(step_error(f, launch)),
        }
    })
}

/// What the child needs, behind one pointer for the trampoline.
struct ChildArgs<'a> {
    p: &'a Prepared,
    failure: &'a AtomicU64,
    /// Move itself into its cgroup (when it was not born there).
    migrate: bool,
}

/// Clones the vfork child. With a cgroup, the child is born in it
/// (`clone3(CLONE_INTO_CGROUP)`): moving a process there afterwards takes a lock that,
/// once idle, first waits for an RCU grace period, milliseconds on every isolated start.
fn clone_child(p: &Prepared, failure: &AtomicU64, stack: &mut [u8]) -> io::Result<u32> {
    #[cfg(target_arch = "x86_64")]
    if let Some(cgroup) = &p.cgroup_dir {
        let args = ChildArgs {
            p,
            failure,
            migrate: false,
        };
        match clone3::into_cgroup(cgroup.as_raw_fd(), stack, &args) {
            Ok(pid) => return Ok(pid),
            // An older kernel, or a cgroup it will not take: move in the old way.
            Err(e) => {
                tracing::debug!("clone3(CLONE_INTO_CGROUP) failed ({e}); the child moves itself")
            }
        }
    }
    let args = ChildArgs {
        p,
        failure,
        migrate: true,
    };
    let cb = Box::new(|| {
        // SAFETY: runs in the vfork child; see `child`.
        unsafe { child(args.p, args.failure, args.migrate) }
    });
    // SAFETY: CLONE_VFORK suspends this thread until the child execs or exits, so the
    // stack, `p` and `failure` outlive every use the child makes of them.
    let pid = unsafe {
        clone(
            cb,
            stack,
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    }?;
    Ok(pid.as_raw() as u32)
}

/// `clone3` for a vfork child born in a cgroup. glibc has no wrapper for it, and a child
/// that shares steward's memory must never return into a Rust frame, so the call is a few
/// lines of assembly: the child calls [`trampoline`] on its own stack and exits if it
/// ever returns.
#[cfg(target_arch = "x86_64")]
mod clone3 {
    use super::*;

    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }

    const SYS_CLONE3: i64 = 435;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

    extern "C" fn trampoline(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `ChildArgs` of `into_cgroup`, alive while the parent waits.
        let a = unsafe { &*(arg as *const ChildArgs) };
        // SAFETY: the vfork child; see `child`.
        unsafe { child(a.p, a.failure, a.migrate) as libc::c_int }
    }

    pub(super) fn into_cgroup(
        cgroup: libc::c_int,
        stack: &mut [u8],
        child: &ChildArgs,
    ) -> io::Result<u32> {
        let base = stack.as_mut_ptr() as u64;
        // The ABI wants a 16-byte aligned stack at the call.
        let top = (base + stack.len() as u64) & !15;
        let args = CloneArgs {
            flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | CLONE_INTO_CGROUP,
            pidfd: 0,
            child_tid: 0,
            parent_tid: 0,
            exit_signal: libc::SIGCHLD as u64,
            stack: base,
            stack_size: top - base,
            tls: 0,
            set_tid: 0,
            set_tid_size: 0,
            cgroup: cgroup as u64,
        };
        let ret: i64;
        // SAFETY: the child starts on `stack` with every other register as the parent's,
        // so r12/r13 carry the function and its argument; it calls them and never comes
        // back here (exec, `_exit`, or the exit below). CLONE_VFORK keeps this thread
        // suspended, and `args`, `child` and `stack` alive, until then. The parent side
        // only loses what `syscall` clobbers.
        unsafe {
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "mov rdi, r13",
                "call r12",
                "mov edi, eax",
                "mov eax, 60",
                "syscall",
                "ud2",
                "2:",
                inout("rax") SYS_CLONE3 => ret,
                in("rdi") &args as *const CloneArgs,
                in("rsi") std::mem::size_of::<CloneArgs>(),
                in("r12") trampoline as extern "C" fn(*mut libc::c_void) -> libc::c_int,
                in("r13") child as *const ChildArgs as *mut libc::c_void,
                lateout("rcx") _,
                lateout("r11") _,
            );
        }
        if ret < 0 {
            return Err(io::Error::from_raw_os_error(-ret as i32));
        }
        Ok(ret as u32)
    }
}

thread_local! {
    /// The child's stack, reused: spawns happen on the supervisor's one thread.
    static STACK: RefCell<Vec<u8>> = RefCell::new(vec![0; 128 * 1024]);
}

/// The error of a child that failed at step `f >> 32` with errno `f & 0xffff_ffff`. Only
/// exec keeps the errno's kind (a caller says "command not found" for `NotFound`); a setup
/// step's error names the step.
fn step_error(f: u64, launch: &Launch) -> io::Error {
    let step = f >> 32;
    let errno = (f & 0xffff_ffff) as i32;
    let e = io::Error::from_raw_os_error(errno);
    if step == STEP_EXEC {
        let program = &launch.argv[0];
        return io::Error::new(e.kind(), format!("cannot execute {program}: {e}"));
    }
    let limit = step
        .checked_sub(STEP_LIMIT)
        .and_then(|i| Resource::ALL.get(i as usize))
        .and_then(|r| Some((r, launch.limits.get(r)?)));
    if let Some((resource, limit)) = limit {
        return io::Error::other(format!(
            "setting limits.{resource} (soft {}, hard {}) failed: {e}",
            limit.soft, limit.hard
        ));
    }
    let name = STEPS.get(step as usize).unwrap_or(&"setup");
    io::Error::other(format!("{name} failed: {e}"))
}

/// The vfork child: raw system calls only, nothing allocated, nothing returned but by exec
/// or `_exit`.
unsafe fn child(p: &Prepared, failure: &AtomicU64, migrate: bool) -> isize {
    let fail = |step: u64| -> isize {
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0) as u64;
        failure.store((step << 32) | errno.max(1), Ordering::Release);
        // SAFETY: ends the child without running anything of steward's.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: every call below is async-signal-safe and uses memory prepared by the parent.
    unsafe {
        // Handlers are steward's; reset them (this child has its own table: no CLONE_SIGHAND).
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            return fail(0);
        }
        if libc::setsid() < 0 {
            return fail(1);
        }
        // Into the instance's cgroup before anything else, while still privileged.
        if let (true, Some(procs)) = (migrate, &p.cgroup_procs) {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return fail(10);
            }
            libc::close(fd);
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return fail(2);
        }
        // steward died before the prctl: nobody would ever kill this child.
        if libc::getppid() != p.parent {
            return fail(2);
        }
        // While still privileged: only root may raise a hard limit.
        for (resource, limit, step) in &p.limits {
            if libc::setrlimit(*resource as _, limit) != 0 {
                return fail(*step);
            }
        }
        if let Some(mask) = p.umask {
            libc::umask(mask);
        }
        if let Some((groups, gid, uid, may_setgroups)) = &p.ids {
            if *may_setgroups && libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
                return fail(3);
            }
            if libc::setgid(*gid) != 0 {
                return fail(4);
            }
            if libc::setuid(*uid) != 0 {
                return fail(5);
            }
            // A change of identity clears the death signal; set it again.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return fail(2);
            }
        }
        if p.no_new_privs {
            let (on, zero) = (1 as libc::c_ulong, 0 as libc::c_ulong);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, on, zero, zero, zero) != 0 {
                return fail(STEP_NO_NEW_PRIVS);
            }
        }
        if let Some(dir) = &p.dir
            && libc::chdir(dir.as_ptr()) != 0
        {
            return fail(6);
        }
        if libc::dup2(p.stdin, 0) < 0 {
            return fail(7);
        }
        // Before the fds below, whose targets may be the numbers these have in steward.
        for (fd, target) in [(p.stdout, 1), (p.stderr, 2)] {
            if fd >= 0 && libc::dup2(fd, target) < 0 {
                return fail(11);
            }
        }
        for (source, target) in &p.fds {
            if libc::dup2(source.as_raw_fd(), *target) < 0 {
                return fail(9);
            }
        }
        if let Some(limit) = &p.nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, limit);
        }
        let pid = libc::getpid();
        for &(slot, offset) in &p.pid_slots {
            write_decimal(slot.add(offset).cast::<u8>(), pid as u32);
        }
        libc::execve(p.path.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
        fail(STEP_EXEC)
    }
}

/// Writes `n` in decimal at `at`, then a NUL: no allocation, for the vfork child.
///
/// # Safety
/// `at` must have room for `PID_DIGITS + 1` bytes.
unsafe fn write_decimal(at: *mut u8, mut n: u32) {
    let mut digits = [0u8; PID_DIGITS];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 || len == PID_DIGITS {
            break;
        }
    }
    for i in 0..len {
        // SAFETY: within the room the caller promised.
        unsafe { *at.add(i) = digits[len - 1 - i] };
    }
    // SAFETY: as above; len <= PID_DIGITS.
    unsafe { *at.add(len) = 0 };
}

fn prepare(launch: &Launch) -> io::Result<Prepared> {
    let cstring = |b: &[u8]| {
        CString::new(b).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "NUL byte in command or environment",
            )
        })
    };
    let program = launch
        .argv
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let path_var = launch
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let path = resolve(program, path_var, launch.working_dir.as_deref())?;

    let mut strings = Vec::with_capacity(launch.argv.len() + launch.env.len());
    for a in &launch.argv {
        strings.push(cstring(a.as_bytes())?);
    }
    for (k, v) in &launch.env {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        strings.push(cstring(&kv)?);
    }
    let pointers = |s: &[CString]| s.iter().map(|c| c.as_ptr()).collect::<Vec<_>>();
    let mut argv = pointers(&strings[..launch.argv.len()]);
    argv.push(std::ptr::null());
    // A pid variable the config also set is steward's to fill: the config's copy goes.
    let env_strings = strings[launch.argv.len()..].iter().filter(|c| {
        let bytes = c.as_bytes();
        !launch
            .pid_env
            .iter()
            .any(|n| bytes.starts_with(n.as_bytes()) && bytes.get(n.len()) == Some(&b'='))
    });
    let mut envp: Vec<*const c_char> = env_strings.map(|c| c.as_ptr()).collect();
    let mut pid_slots = Vec::new();
    for name in &launch.pid_env {
        let text = format!("{name}={}", "0".repeat(PID_DIGITS));
        let raw = cstring(text.as_bytes())?.into_raw();
        pid_slots.push((raw, name.len() + 1));
        envp.push(raw.cast_const());
    }
    envp.push(std::ptr::null());
    // Copies above every target number, so placing one never closes another.
    let lowest = launch
        .fds
        .iter()
        .map(|(_, t)| t + 1)
        .max()
        .unwrap_or(3)
        .max(3);
    let mut fds = Vec::with_capacity(launch.fds.len());
    for (fd, target) in &launch.fds {
        let raw = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(lowest))?;
        fds.push((unsafe_owned(raw), *target));
    }
    let dir = launch
        .working_dir
        .as_ref()
        .map(|d| cstring(d.as_os_str().as_bytes()))
        .transpose()?;
    let ids = launch.identity.as_ref().map(|id| {
        let groups = id.groups.iter().map(|g| g.as_raw()).collect();
        (
            groups,
            id.gid.as_raw(),
            id.uid.as_raw(),
            nix::unistd::Uid::current().is_root(),
        )
    });
    Ok(Prepared {
        path: cstring(path.as_os_str().as_bytes())?,
        argv,
        envp,
        dir,
        ids,
        stdin: dev_null()?.as_raw_fd(),
        stdout: launch.stdout.unwrap_or(-1),
        stderr: launch.stderr.unwrap_or(-1),
        nofile: match launch.limits.contains_key(&Resource::Nofile) {
            true => None,
            false => super::limits::for_children(),
        },
        limits: launch
            .limits
            .iter()
            .map(|(resource, limit)| {
                let index = Resource::ALL.iter().position(|r| r == resource);
                let step = STEP_LIMIT + index.unwrap_or(0) as u64;
                (resource_id(*resource), rlimit(*limit), step)
            })
            .collect(),
        umask: launch.umask.map(|m| m as libc::mode_t),
        no_new_privs: launch.no_new_privileges,
        parent: nix::unistd::getpid().as_raw(),
        fds,
        pid_slots,
        cgroup_dir: match &launch.cgroup_procs {
            Some(procs) => Some(open_dir(procs.parent().unwrap_or(procs))?),
            None => None,
        },
        cgroup_procs: launch
            .cgroup_procs
            .as_ref()
            .map(|p| cstring(p.as_os_str().as_bytes()))
            .transpose()?,
        _strings: strings,
    })
}

/// A directory opened for `CLONE_INTO_CGROUP`.
fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    Ok(fd)
}

/// Takes ownership of a descriptor fcntl just made.
fn unsafe_owned(raw: std::os::fd::RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `raw` was just returned by F_DUPFD_CLOEXEC and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `/dev/null`, opened once, close-on-exec (the child dup2s it onto fd 0).
fn dev_null() -> io::Result<&'static OwnedFd> {
    static FD: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = FD.get() {
        return Ok(fd);
    }
    let file = std::fs::File::open("/dev/null")?;
    Ok(FD.get_or_init(|| file.into()))
}

/// The search path when steward's environment has no `PATH`.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The file `execvp` would run: `program` itself if it has a `/` (relative to the
/// working directory), else the first executable match in `PATH`.
pub(crate) fn resolve(
    program: &str,
    path_var: Option<&OsStr>,
    working_dir: Option<&Path>,
) -> io::Result<PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        return Ok(match working_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        });
    }
    let search = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    for dir in std::env::split_paths(search) {
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{program}: command not found in PATH"),
    ))
}

/// Whether steward may execute `path`: a regular file with execute permission.
pub(crate) fn is_executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let c: &CStr = &c;
    // SAFETY: a valid C string; access only reads.
    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    ok && path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_execvp() {
        assert_eq!(
            resolve("sh", Some(OsStr::new("/nonexistent:/bin")), None).unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(
            resolve("./x", None, Some(Path::new("/srv"))).unwrap(),
            PathBuf::from("/srv/./x")
        );
        assert_eq!(
            resolve("/abs/y", None, Some(Path::new("/srv"))).unwrap(),
            PathBuf::from("/abs/y")
        );
        let e = resolve("no-such-program-x", Some(OsStr::new("/bin")), None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
