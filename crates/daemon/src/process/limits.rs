//! Resource limits. steward's own descriptor limit is raised at start: each captured
//! instance holds a pipe (and an open log file while it writes), and 10,000 services
//! outgrow the usual soft limit of 1,024. Children get the limit steward was started with
//! (unless their `limits` set `nofile`), since some programs misbehave with a huge one (a
//! `select()` past 1,024, a loop closing every possible fd).
//!
//! The config's `limits` are mapped here to the system's `RLIMIT_*` numbers.

use std::sync::OnceLock;

use nix::libc;
use steward_core::rlimit::{Bound, Limit, Resource};

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

/// The system's number for `resource`.
pub(super) fn resource_id(resource: Resource) -> libc::c_int {
    let id = match resource {
        Resource::As => libc::RLIMIT_AS,
        Resource::Core => libc::RLIMIT_CORE,
        Resource::Cpu => libc::RLIMIT_CPU,
        Resource::Data => libc::RLIMIT_DATA,
        Resource::Fsize => libc::RLIMIT_FSIZE,
        Resource::Locks => libc::RLIMIT_LOCKS,
        Resource::Memlock => libc::RLIMIT_MEMLOCK,
        Resource::Msgqueue => libc::RLIMIT_MSGQUEUE,
        Resource::Nice => libc::RLIMIT_NICE,
        Resource::Nofile => libc::RLIMIT_NOFILE,
        Resource::Nproc => libc::RLIMIT_NPROC,
        Resource::Rss => libc::RLIMIT_RSS,
        Resource::Rtprio => libc::RLIMIT_RTPRIO,
        Resource::Rttime => libc::RLIMIT_RTTIME,
        Resource::Sigpending => libc::RLIMIT_SIGPENDING,
        Resource::Stack => libc::RLIMIT_STACK,
    };
    id as libc::c_int
}

fn raw(bound: Bound) -> libc::rlim_t {
    match bound {
        Bound::Finite(n) => n as libc::rlim_t,
        Bound::Infinity => libc::RLIM_INFINITY,
    }
}

/// `limit` as `setrlimit` takes it.
pub(super) fn rlimit(limit: Limit) -> libc::rlimit {
    libc::rlimit {
        rlim_cur: raw(limit.soft),
        rlim_max: raw(limit.hard),
    }
}

/// steward's own hard limit of `resource` (infinity when it cannot be read: the start then
/// says what is wrong).
pub fn hard_limit(resource: Resource) -> Bound {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit.
    if unsafe { libc::getrlimit(resource_id(resource) as _, &mut lim) } != 0
        || lim.rlim_max == libc::RLIM_INFINITY
    {
        return Bound::Infinity;
    }
    Bound::Finite(lim.rlim_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_has_its_own_number_and_a_readable_limit() {
        let mut ids: Vec<_> = Resource::ALL.iter().map(|r| resource_id(*r)).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Resource::ALL.len());
        assert_eq!(
            resource_id(Resource::Nofile),
            libc::RLIMIT_NOFILE as libc::c_int
        );
        assert!(matches!(hard_limit(Resource::Nofile), Bound::Finite(n) if n > 0));
        let lim = rlimit(Limit {
            soft: Bound::Finite(5),
            hard: Bound::Infinity,
        });
        assert_eq!((lim.rlim_cur, lim.rlim_max), (5, libc::RLIM_INFINITY));
    }
}
