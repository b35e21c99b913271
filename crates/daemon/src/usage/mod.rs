//! Resource usage of instances, read from /proc when a client asks for it.
//!
//! Nothing samples on its own: no timer, no background task. A request for usage (or a
//! metrics scrape) asks the supervisor loop for a [`Snapshot`] (the status documents, and
//! for each instance with a process its pid, run generation and cgroup directory: what the
//! loop owns, no I/O), then reads /proc on a blocking thread, off the loop.
//!
//! An instance's processes are those in its cgroup (`cgroup.procs`) when it has one, else
//! those in its process group, found by one scan of /proc per request for all such
//! instances together. Counts are summed over the processes; CPU percent and seconds come
//! from [`cpu::Memo`], the last sample of each run.

pub mod cpu;
pub mod procfs;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use steward_proto::{ServiceStatus, Usage};

use crate::supervisor::ServiceRt;
use cpu::{InstanceKey, Memo, Reading, Run};
use procfs::ProcStat;

/// Processes of a run, with their stat.
type Procs = Vec<(u32, ProcStat)>;

/// An instance with a process, as the loop knows it.
#[derive(Debug, Clone)]
pub struct Target {
    pub service: String,
    pub index: u32,
    pub run: Run,
    pub cgroup: Option<PathBuf>,
}

/// The loop's answer to a usage request: the status documents and what to sample.
#[derive(Debug)]
pub struct Snapshot {
    pub services: Vec<ServiceStatus>,
    pub targets: Vec<Target>,
    /// Every service is in it (not one asked by name): samples of the others are stale.
    pub all: bool,
}

/// The instances of `rt` that have a process.
pub fn targets(rt: &ServiceRt) -> impl Iterator<Item = Target> + '_ {
    rt.instances.iter().zip(&rt.io).filter_map(|(inst, io)| {
        Some(Target {
            service: rt.spec.name.clone(),
            index: inst.index,
            run: Run {
                pid: inst.pid?,
                generation: inst.generation,
            },
            cgroup: io.cgroup.clone(),
        })
    })
}

/// Reads usage; keeps the last sample of each run between requests.
pub struct Sampler {
    /// Held only by the blocking sampling thread of one request at a time; the loop never
    /// touches it.
    memo: Mutex<Memo>,
    page_size: u64,
}

impl Default for Sampler {
    fn default() -> Sampler {
        Sampler {
            memo: Mutex::new(Memo::new(ticks_per_second())),
            page_size: page_size(),
        }
    }
}

impl Sampler {
    /// Fills `usage` in the snapshot's documents. Blocking: call on a blocking thread.
    pub fn fill(&self, snapshot: Snapshot) -> Vec<ServiceStatus> {
        let Snapshot {
            mut services,
            targets,
            all,
        } = snapshot;
        let mut found = self.sample(&targets, all);
        for s in &mut services {
            for i in &mut s.instances {
                i.usage = found.remove(&(s.name.clone(), i.instance));
            }
        }
        services
    }

    /// Usage of each target whose processes could be read.
    fn sample(&self, targets: &[Target], all: bool) -> HashMap<InstanceKey, Usage> {
        let hz = ticks_per_second() as f64;
        // Instances with a cgroup, each on its own; the files are many, so on more than
        // one thread when there are many.
        let mut raws: Vec<Option<Raw>> = par_map(targets, |t| read_cgroup(t.cgroup.as_deref()?));
        // Without a cgroup: the process group, one scan of /proc for all of them.
        let wanted: HashSet<u32> = targets
            .iter()
            .zip(&raws)
            .filter(|(_, raw)| raw.is_none())
            .map(|(t, _)| t.run.pid)
            .collect();
        if !wanted.is_empty() {
            let at = boot_seconds();
            let mut groups = scan_groups(&wanted);
            for (t, raw) in targets.iter().zip(&mut raws) {
                if raw.is_none() {
                    let procs = groups.remove(&t.run.pid).unwrap_or_default();
                    *raw = Some(Raw::new(at, procs, "process-group", None));
                }
            }
        }
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = HashMap::new();
        for (t, raw) in targets.iter().zip(raws) {
            let Some(raw) = raw else { continue };
            let procs = &raw.procs;
            // Gone since the loop answered: nothing to show.
            if procs.is_empty() {
                continue;
            }
            let started = procs
                .iter()
                .find(|(pid, _)| *pid == t.run.pid)
                .or_else(|| procs.iter().min_by_key(|(_, s)| s.starttime))
                .map_or(raw.at, |(_, s)| s.starttime as f64 / hz);
            let reading = Reading {
                at: raw.at,
                ticks: procs.iter().map(|(_, s)| s.ticks()).sum(),
                started,
                cgroup_seconds: raw.cgroup_seconds,
            };
            let key = (t.service.clone(), t.index);
            let (cpu_percent, cpu_seconds) = memo.update(key.clone(), t.run, reading);
            out.insert(
                key,
                Usage {
                    cpu_percent,
                    cpu_seconds,
                    rss_bytes: procs.iter().map(|(_, s)| s.rss_pages).sum::<u64>() * self.page_size,
                    threads: procs.iter().map(|(_, s)| s.num_threads).sum(),
                    open_fds: raw.fds,
                    processes: procs.len() as u32,
                    scope: raw.scope.to_string(),
                },
            );
        }
        if all {
            // Instances gone or without a process: their next run starts afresh anyway.
            memo.retain(|k| out.contains_key(k));
        }
        out
    }
}

/// What was read of one run's processes.
struct Raw {
    /// When, in seconds after boot.
    at: f64,
    procs: Procs,
    fds: Option<u64>,
    scope: &'static str,
    cgroup_seconds: Option<f64>,
}

impl Raw {
    fn new(at: f64, procs: Procs, scope: &'static str, cgroup_seconds: Option<f64>) -> Raw {
        let fds = procs.iter().map(|(pid, _)| count_fds(*pid)).sum();
        Raw {
            at,
            procs,
            fds,
            scope,
            cgroup_seconds,
        }
    }
}

/// The processes in a cgroup; `None` when it cannot be read.
fn read_cgroup(dir: &Path) -> Option<Raw> {
    let pids = cgroup_procs(dir)?;
    let at = boot_seconds();
    let procs = stats_of(&pids);
    Some(Raw::new(at, procs, "cgroup", cgroup_cpu_seconds(dir)))
}

/// Below this many items, one thread does it all.
const PAR_MIN: usize = 64;
const PAR_MAX_THREADS: usize = 4;

/// `f` over `items`, in order, on up to [`PAR_MAX_THREADS`] threads (one per core): reading
/// /proc is mostly time in the kernel, which more cores shorten.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(PAR_MAX_THREADS).min(items.len() / PAR_MIN).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// steward's own process, for its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Own {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    /// Seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

/// Reads steward's own usage from /proc/self. Blocking.
pub fn own() -> Option<Own> {
    let stat = procfs::parse_stat(&fs::read_to_string("/proc/self/stat").ok()?)?;
    let hz = ticks_per_second() as f64;
    let btime = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| procfs::parse_btime(&t));
    let max_fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    Some(Own {
        cpu_seconds: stat.ticks() as f64 / hz,
        rss_bytes: stat.rss_pages * page_size(),
        open_fds: count_fds_at(Path::new("/proc/self/fd")),
        max_fds,
        start_time_seconds: btime.map(|b| b as f64 + stat.starttime as f64 / hz),
    })
}

fn cgroup_procs(dir: &Path) -> Option<Vec<u32>> {
    let text = read_text(&dir.join("cgroup.procs"))?;
    Some(procfs::parse_pids(&text))
}

fn cgroup_cpu_seconds(dir: &Path) -> Option<f64> {
    procfs::parse_cpu_stat_seconds(&read_text(&dir.join("cpu.stat"))?)
}

fn read_stat(pid: u32) -> Option<ProcStat> {
    procfs::parse_stat(&read_text(Path::new(&format!("/proc/{pid}/stat")))?)
}

/// A /proc or cgroup file, whole, in as few system calls as it takes: a request reads
/// thousands of them. Not `fs::read_to_string`, which first asks the size these files do
/// not know. They are seq_files, which fill a read as far as they have data, so a short
/// read is the end: no second read to see 0.
fn read_text(path: &Path) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// The stat of each pid still there.
fn stats_of(pids: &[u32]) -> Procs {
    pids.iter()
        .filter_map(|&pid| Some((pid, read_stat(pid)?)))
        .collect()
}

/// Every process whose process group is in `pgids`, by group.
fn scan_groups(pgids: &HashSet<u32>) -> HashMap<u32, Procs> {
    let mut groups: HashMap<u32, Procs> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return groups;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(stat) = read_stat(pid)
            && pgids.contains(&stat.pgrp)
        {
            groups.entry(stat.pgrp).or_default().push((pid, stat));
        }
    }
    groups
}

fn count_fds(pid: u32) -> Option<u64> {
    count_fds_at(Path::new(&format!("/proc/{pid}/fd")))
}

/// Open fds: Linux 6.2 and later give their number as the size of `/proc/PID/fd` (one
/// system call); before, or for none, the size is 0 and the entries are counted.
fn count_fds_at(dir: &Path) -> Option<u64> {
    match fs::metadata(dir).ok()?.len() {
        0 => Some(fs::read_dir(dir).ok()?.count() as u64),
        n => Some(n),
    }
}

/// Seconds since boot, suspend included: the clock of `starttime` in /proc.
fn boot_seconds() -> f64 {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a system parameter.
    let n = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system parameter.
    let n = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader on this test process: its own group, found by the /proc scan.
    #[test]
    fn reads_a_real_process_group() {
        let pid = std::process::id();
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        let sampler = Sampler::default();
        let target = Target {
            service: "self".into(),
            index: 0,
            run: Run {
                pid: pgid,
                generation: 1,
            },
            cgroup: None,
        };
        let found = sampler.sample(&[target], true);
        let u = &found[&("self".to_string(), 0)];
        assert!(u.processes >= 1);
        assert!(u.threads >= 1);
        assert!(u.rss_bytes > 0);
        assert!(u.open_fds.unwrap() >= 3, "{u:?}");
        assert_eq!(u.scope, "process-group");
        assert!(read_stat(pid).is_some());
    }

    #[test]
    fn a_vanished_run_has_no_usage() {
        let sampler = Sampler::default();
        let target = Target {
            service: "gone".into(),
            index: 0,
            // pid_max is at most 2^22: no process group has this id.
            run: Run {
                pid: u32::MAX - 1,
                generation: 1,
            },
            cgroup: None,
        };
        assert!(sampler.sample(&[target], true).is_empty());
        assert!(sampler.memo.lock().unwrap().is_empty());
    }

    #[test]
    fn own_process() {
        let own = own().unwrap();
        assert!(own.rss_bytes > 0);
        assert!(own.open_fds.unwrap() >= 3);
        assert!(own.start_time_seconds.unwrap() > 1.0e9);
        assert!(own.max_fds.unwrap() > 0);
    }
}
