//! CPU percent and the CPU-seconds counter, from successive samples of a run.
//!
//! The last sample of each instance is kept, with the run it belongs to (pid and
//! generation), so a new run never measures against its predecessor. Times are seconds
//! after boot (`CLOCK_BOOTTIME`, the clock of `starttime` in /proc), passed in.

use std::collections::HashMap;

/// Below this, ticks (10 ms each) are too coarse for a percentage: a sample that soon
/// after the previous one repeats the previous figure and keeps the older base.
pub const MIN_WINDOW: f64 = 0.25;

/// Which run of which instance: `(service, index)` and `(pid, generation)`.
pub type InstanceKey = (String, u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub pid: u32,
    pub generation: u64,
}

/// One reading of a run's processes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// When it was taken, in seconds after boot.
    pub at: f64,
    /// utime + stime of the live processes, in clock ticks.
    pub ticks: u64,
    /// When the run's main process started, in seconds after boot.
    pub started: f64,
    /// The cgroup's own CPU counter (`cpu.stat`), when the run has a cgroup.
    pub cgroup_seconds: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Last {
    run: Run,
    /// The base of the next percentage: when, and the counter then.
    at: f64,
    base_seconds: f64,
    cpu_percent: f64,
    /// The highest counter value reported for this run.
    max_seconds: f64,
}

/// The last sample per instance.
#[derive(Debug, Default)]
pub struct Memo {
    last: HashMap<InstanceKey, Last>,
    ticks_per_second: f64,
}

impl Memo {
    pub fn new(ticks_per_second: u64) -> Memo {
        Memo {
            last: HashMap::new(),
            ticks_per_second: ticks_per_second.max(1) as f64,
        }
    }

    /// CPU percent and CPU seconds of `run` at `reading`; remembers the reading as the base
    /// of the next one.
    pub fn update(&mut self, key: InstanceKey, run: Run, r: Reading) -> (f64, f64) {
        let hz = self.ticks_per_second;
        let previous = self.last.get(&key).filter(|l| l.run == run).copied();
        // Without a cgroup, the sum over live processes drops when one of them exits: the
        // counter holds its highest value instead, so it never goes back within a run.
        let cpu_seconds = match (r.cgroup_seconds, previous) {
            (Some(s), _) => s,
            (None, Some(l)) => (r.ticks as f64 / hz).max(l.max_seconds),
            (None, None) => r.ticks as f64 / hz,
        };
        let next = match previous {
            // Between two samples, the counter's rate: with a cgroup it includes processes
            // that ran and exited in between, which live ticks miss.
            Some(l) if r.at - l.at >= MIN_WINDOW => Last {
                run,
                at: r.at,
                base_seconds: cpu_seconds,
                cpu_percent: (cpu_seconds - l.base_seconds).max(0.0) * 100.0 / (r.at - l.at),
                max_seconds: cpu_seconds,
            },
            // Too soon: the last figure again, and the older base, so the next window is
            // long enough.
            Some(l) => Last {
                max_seconds: cpu_seconds,
                ..l
            },
            // The first sample of a run: the average since it started (a cgroup's counter
            // also holds the earlier runs, so the run's own ticks). `starttime` is in ticks
            // too: a run only just started counts as MIN_WINDOW old, or its first tick
            // would read as several cores.
            None => Last {
                run,
                at: r.at,
                base_seconds: cpu_seconds,
                cpu_percent: r.ticks as f64 * 100.0 / hz / (r.at - r.started).max(MIN_WINDOW),
                max_seconds: cpu_seconds,
            },
        };
        self.last.insert(key, next);
        (next.cpu_percent, cpu_seconds)
    }

    /// Forgets the instances `keep` refuses (those gone, or with no process).
    pub fn retain(&mut self, mut keep: impl FnMut(&InstanceKey) -> bool) {
        self.last.retain(|k, _| keep(k));
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> InstanceKey {
        ("web".into(), 0)
    }

    const RUN: Run = Run {
        pid: 100,
        generation: 1,
    };

    fn reading(at: f64, ticks: u64) -> Reading {
        Reading {
            at,
            ticks,
            started: 10.0,
            cgroup_seconds: None,
        }
    }

    #[test]
    fn the_first_sample_is_the_average_since_the_start() {
        let mut m = Memo::new(100);
        // 150 ticks = 1.5 s of CPU in the 3 s since the start at 10 s.
        assert_eq!(m.update(key(), RUN, reading(13.0, 150)), (50.0, 1.5));
    }

    #[test]
    fn later_samples_measure_since_the_previous_one() {
        let mut m = Memo::new(100);
        m.update(key(), RUN, reading(13.0, 150));
        // 200 more ticks in 2 s: a core and all.
        assert_eq!(m.update(key(), RUN, reading(15.0, 350)), (100.0, 3.5));
        // Idle since.
        assert_eq!(m.update(key(), RUN, reading(17.0, 350)), (0.0, 3.5));
    }

    #[test]
    fn a_sample_too_soon_repeats_the_figure_and_keeps_its_base() {
        let mut m = Memo::new(100);
        m.update(key(), RUN, reading(13.0, 150));
        m.update(key(), RUN, reading(15.0, 350));
        let (pct, _) = m.update(key(), RUN, reading(15.1, 352));
        assert_eq!(pct, 100.0, "repeats the last window's figure");
        // The next window runs from 15.0, not 15.1: 50 ticks in 1 s.
        assert_eq!(m.update(key(), RUN, reading(16.0, 400)).0, 50.0);
    }

    #[test]
    fn a_new_run_does_not_inherit_the_last_sample() {
        let mut m = Memo::new(100);
        m.update(key(), RUN, reading(13.0, 5000));
        let next = Run {
            pid: 101,
            generation: 2,
        };
        let r = Reading {
            at: 20.0,
            ticks: 40,
            started: 18.0,
            cgroup_seconds: None,
        };
        // 0.4 s in the 2 s since the new run started; the counter starts again.
        assert_eq!(m.update(key(), next, r), (20.0, 0.4));
        // The same pid in a later generation is a new run too.
        let reused = Run {
            pid: 101,
            generation: 3,
        };
        let r = Reading {
            at: 30.0,
            ticks: 100,
            started: 28.0,
            cgroup_seconds: None,
        };
        assert_eq!(m.update(key(), reused, r).0, 50.0);
    }

    #[test]
    fn an_exited_process_does_not_make_the_counter_go_back() {
        let mut m = Memo::new(100);
        m.update(key(), RUN, reading(13.0, 300));
        // A child with 200 ticks exited: the live sum dropped.
        let (pct, secs) = m.update(key(), RUN, reading(15.0, 110));
        assert_eq!(pct, 0.0, "no negative percent");
        assert_eq!(secs, 3.0, "the counter holds");
    }

    #[test]
    fn the_cgroup_counter_wins_when_there_is_one() {
        let mut m = Memo::new(100);
        let r = Reading {
            cgroup_seconds: Some(7.25),
            ..reading(13.0, 150)
        };
        assert_eq!(m.update(key(), RUN, r), (50.0, 7.25));
    }

    #[test]
    fn with_a_cgroup_the_percent_counts_processes_that_exited_between_samples() {
        let mut m = Memo::new(100);
        let at = |at: f64, cgroup: f64| Reading {
            cgroup_seconds: Some(cgroup),
            ..reading(at, 100)
        };
        m.update(key(), RUN, at(13.0, 7.0));
        // The live processes did nothing, but a child that came and went used 1.5 s.
        assert_eq!(m.update(key(), RUN, at(16.0, 8.5)), (50.0, 8.5));
    }

    #[test]
    fn the_counter_holds_across_a_sample_too_soon() {
        let mut m = Memo::new(100);
        m.update(key(), RUN, reading(13.0, 300));
        assert_eq!(m.update(key(), RUN, reading(13.1, 500)).1, 5.0);
        // A process with 3 s exited: the live sum is 2 s, the counter stays at 5.
        assert_eq!(m.update(key(), RUN, reading(14.0, 200)).1, 5.0);
    }

    #[test]
    fn retain_forgets_instances() {
        let mut m = Memo::new(100);
        m.update(key(), RUN, reading(13.0, 1));
        m.update(("db".into(), 0), RUN, reading(13.0, 1));
        m.retain(|k| k.0 == "db");
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_run_just_started_counts_as_min_window_old() {
        let mut m = Memo::new(100);
        let r = Reading {
            started: 13.0,
            ..reading(13.001, 5)
        };
        // 5 ticks over 250 ms, not over 1 ms.
        assert_eq!(m.update(key(), RUN, r).0, 20.0);
    }
}
