//! Resource limits as the config names them: `limits = { nofile = 4096, core = 0 }`. The
//! names are Linux's `RLIMIT_*` in lower case; the daemon maps them to the system's numbers.

use std::fmt;

/// One `RLIMIT_*` resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl Resource {
    /// Every resource, in the order of their names.
    pub const ALL: [Resource; 16] = [
        Resource::As,
        Resource::Core,
        Resource::Cpu,
        Resource::Data,
        Resource::Fsize,
        Resource::Locks,
        Resource::Memlock,
        Resource::Msgqueue,
        Resource::Nice,
        Resource::Nofile,
        Resource::Nproc,
        Resource::Rss,
        Resource::Rtprio,
        Resource::Rttime,
        Resource::Sigpending,
        Resource::Stack,
    ];

    /// The config's name: `RLIMIT_NOFILE` is `nofile`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::As => "as",
            Resource::Core => "core",
            Resource::Cpu => "cpu",
            Resource::Data => "data",
            Resource::Fsize => "fsize",
            Resource::Locks => "locks",
            Resource::Memlock => "memlock",
            Resource::Msgqueue => "msgqueue",
            Resource::Nice => "nice",
            Resource::Nofile => "nofile",
            Resource::Nproc => "nproc",
            Resource::Rss => "rss",
            Resource::Rtprio => "rtprio",
            Resource::Rttime => "rttime",
            Resource::Sigpending => "sigpending",
            Resource::Stack => "stack",
        }
    }

    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether the limit counts bytes, so that a size such as `"64MiB"` may give it.
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            Resource::As
                | Resource::Core
                | Resource::Data
                | Resource::Fsize
                | Resource::Memlock
                | Resource::Msgqueue
                | Resource::Rss
                | Resource::Stack
        )
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One side of a limit. `Finite` sorts below `Infinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    Finite(u64),
    Infinity,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Finite(n) => write!(f, "{n}"),
            Bound::Infinity => f.write_str("infinity"),
        }
    }
}

/// A soft and a hard limit; `soft <= hard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    pub soft: Bound,
    pub hard: Bound,
}

impl Limit {
    /// The same value for both, as a single value in the config means.
    pub fn both(bound: Bound) -> Limit {
        Limit {
            soft: bound,
            hard: bound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_sorted() {
        for r in Resource::ALL {
            assert_eq!(Resource::from_name(r.name()), Some(r));
        }
        let names: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(Resource::from_name("NOFILE"), None);
    }

    #[test]
    fn infinity_is_above_every_number() {
        assert!(Bound::Finite(u64::MAX) < Bound::Infinity);
        assert!(Bound::Finite(1) < Bound::Finite(2));
        assert_eq!(Bound::Infinity.to_string(), "infinity");
    }
}
