//! Resource usage of an instance's processes, read from /proc when a client asks for it
//! (`?usage=true`); nothing is sampled while nobody asks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What every process of an instance's current run uses, summed: the processes in its
/// cgroup, or without one, in its process group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// CPU use in percent of one core (200 = two cores busy): how fast `cpu_seconds` grew
    /// since the previous sample of this run, or, at the first sample of a run, the
    /// average since it started (as `ps` shows it).
    pub cpu_percent: f64,
    /// CPU time (user + system) used so far, in seconds: with a cgroup, by every process
    /// that ever ran in the instance's cgroup, exited ones included (it is kept across
    /// runs); without, by the live processes of this run, held at its highest value.
    pub cpu_seconds: f64,
    /// Resident memory, summed over the processes (pages they share count once per
    /// process, as in `ps`).
    pub rss_bytes: u64,
    /// Threads, summed over the processes.
    pub threads: u64,
    /// Open file descriptors, summed; `null` when a process's fds could not be read.
    pub open_fds: Option<u64>,
    /// How many processes the run has (the main one included).
    pub processes: u32,
    /// Where the processes were found: `cgroup` or `process-group`.
    pub scope: String,
}
