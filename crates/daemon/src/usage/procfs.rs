//! Parsers for the /proc and cgroup files usage is read from: pure functions over their
//! text, so they are tested on samples.

/// What usage needs of `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pgrp: u32,
    /// User and system CPU time, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    pub num_threads: u64,
    /// When the process started, in clock ticks after boot.
    pub starttime: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

impl ProcStat {
    pub fn ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

/// Parses `/proc/PID/stat`. The command name (field 2) may hold spaces and parentheses,
/// so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    // Fields from 3 (state) on; field N of proc(5) is at index N - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    Some(ProcStat {
        pgrp: u32::try_from(num(5)?).ok()?,
        utime: num(14)?,
        stime: num(15)?,
        num_threads: num(20)?,
        starttime: num(22)?,
        // rss is signed in the kernel's format; a negative one is read as 0.
        rss_pages: f.get(24 - 3)?.parse::<i64>().ok()?.max(0) as u64,
    })
}

/// The pids in a `cgroup.procs` file, one per line.
pub fn parse_pids(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// `usage_usec` of a cgroup's `cpu.stat`, in seconds.
pub fn parse_cpu_stat_seconds(text: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let usec: u64 = l.strip_prefix("usage_usec ")?.trim().parse().ok()?;
        Some(usec as f64 / 1e6)
    })
}

/// The boot time (`btime`, seconds since the Unix epoch) in `/proc/stat`.
pub fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a command name that has a space and a parenthesis.
    const STAT: &str = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1536 0 0 0 \
        250 37 4 2 20 0 3 0 987654 22523904 1375 18446744073709551615 1 1 0 0 0 0 0 \
        4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(
            s,
            ProcStat {
                pgrp: 4242,
                utime: 250,
                stime: 37,
                num_threads: 3,
                starttime: 987654,
                rss_pages: 1375,
            }
        );
        assert_eq!(s.ticks(), 287);
    }

    #[test]
    fn a_truncated_stat_is_refused() {
        assert_eq!(parse_stat("12 (x) S 1 12 12 0"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn cgroup_files() {
        assert_eq!(parse_pids("12\n345\n\n"), vec![12, 345]);
        assert_eq!(parse_pids(""), Vec::<u32>::new());
        let cpu = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
        assert_eq!(parse_cpu_stat_seconds(cpu), Some(2.5));
        assert_eq!(parse_cpu_stat_seconds("user_usec 1\n"), None);
    }

    #[test]
    fn boot_time() {
        let text = "cpu  1 2 3 4\nintr 5 6\nctxt 77\nbtime 1763712000\nprocesses 99\n";
        assert_eq!(parse_btime(text), Some(1_763_712_000));
        assert_eq!(parse_btime("cpu 1\n"), None);
    }
}
