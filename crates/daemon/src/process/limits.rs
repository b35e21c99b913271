//! steward's own descriptor limit, raised at start: each captured instance holds a pipe
//! (and an open log file while it writes), and 10,000 services outgrow the usual soft
//! limit of 1,024. Children get the limit steward was started with, since some programs
//! misbehave with a huge one (a `select()` past 1,024, a loop closing every possible fd).

use std::sync::OnceLock;

use nix::libc;

/// The limit steward was started with, when it raised its own.
static ORIGINAL: OnceLock<libc::rlimit> = OnceLock::new();

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns (old, new) soft limits.
pub fn raise_fd_limit() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let old = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let _ = ORIGINAL.set(lim);
    }
    Ok((old, lim.rlim_max))
}

/// What a child's `RLIMIT_NOFILE` goes back to, if steward raised its own.
pub(super) fn for_children() -> Option<libc::rlimit> {
    ORIGINAL.get().copied()
}
