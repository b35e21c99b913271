//! The event journal: every event, kept in SQLite under `state_dir` across restarts.
//!
//! One thread owns the database. The supervisor hands it events through a channel with a
//! counted bound and never waits: past the bound an event loses its place in the file
//! (counted as lost, and reported), never a delay in supervision. The thread writes what
//! arrives within 50 ms in one transaction, so a crash loop's thousands of events a second
//! cost twenty commits.
//!
//! A broken journal never stops steward (the file is never memory-mapped, see `store`). Problems (a locked file, a read-only file, a full
//! disk) are reported through `problems` and retried; events wait in memory meanwhile, up
//! to a bound. A file that is not a database at all is moved aside and a new one started,
//! as journald does with a corrupt file. The newest events are also kept in memory, so a
//! stream can resume from them while the file cannot be read.

mod store;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant as StdInstant};

use steward_core::config::JournalSpec;
use steward_proto::JournalStatus;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use store::Store;

/// Events the supervisor may queue ahead of the journal thread before they are lost.
/// Counted, not preallocated: a bounded channel of this size would hold megabytes of
/// empty slots for ever.
const QUEUE: usize = 65_536;
/// Newest events kept in memory.
const RING: usize = 1024;
/// Events kept in memory for a retry while the file cannot be written.
const BACKLOG: usize = 100_000;
/// How often a broken journal is tried again.
const RETRY: Duration = Duration::from_secs(2);
/// Opening a broken file is not tried more often than this, however many events or
/// queries arrive.
const REOPEN: Duration = Duration::from_millis(500);
/// How long events gather before they are written together.
const BATCH: Duration = Duration::from_millis(50);
/// A flush of at least this many events returns freed memory to the system.
const TRIM_AFTER: usize = 4096;
/// How many events one query returns at most; callers page on by id.
pub const PAGE: usize = 1000;

/// One event, serialized once for every reader.
#[derive(Debug)]
pub struct Record {
    pub id: u64,
    pub at_ms: i64,
    pub service: Option<Box<str>>,
    pub instance: Option<u32>,
    pub kind: &'static str,
    pub json: Box<str>,
}

pub type Shared = Arc<Record>;

/// Which events a query wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only events with a larger id.
    pub after: Option<u64>,
    /// Only events at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    pub service: Option<String>,
    pub instance: Option<u32>,
    /// Only the newest this many (of those that match the rest).
    pub tail: Option<usize>,
}

impl Filter {
    pub fn matches(&self, r: &Record) -> bool {
        self.after.is_none_or(|a| r.id > a)
            && self.since_ms.is_none_or(|s| r.at_ms >= s)
            && self
                .service
                .as_deref()
                .is_none_or(|s| r.service.as_deref() == Some(s))
            && self.instance.is_none_or(|i| r.instance == Some(i))
    }
}

/// A query's answer: at most [`PAGE`] events in id order.
#[derive(Debug)]
pub struct Found {
    pub events: Vec<Shared>,
    /// Set when the file could not be read and memory does not reach back far enough:
    /// events may be missing before the first one returned.
    pub gap: Option<String>,
}

enum Msg {
    Record(Shared),
    Query(Box<(Filter, oneshot::Sender<Found>)>),
    Status(oneshot::Sender<JournalStatus>),
    Retention(JournalSpec),
    /// Answered once everything queued before it is written (or could not be).
    Sync(mpsc::Sender<()>),
}

/// A change in the journal's health, for the supervisor to announce.
#[derive(Debug, Clone)]
pub struct Health {
    pub ok: bool,
    pub problem: Option<String>,
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Msg>,
    /// Events queued and not yet taken by the thread.
    queued: Arc<AtomicUsize>,
    lost: Arc<AtomicU64>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` on its own thread. Returns the handle and
    /// the id the next event gets: one past the newest in the file, so ids never repeat.
    pub fn start(
        path: PathBuf,
        spec: JournalSpec,
        problems: tokio::sync::mpsc::UnboundedSender<Health>,
    ) -> (Journal, u64) {
        let (tx, rx) = mpsc::channel();
        let (first_tx, first_rx) = mpsc::channel();
        let lost = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer::new(path, spec, problems, lost.clone(), queued.clone());
        let spawned = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer.run(rx, first_tx));
        if let Err(e) = spawned {
            error!("cannot start the journal thread: {e}; events are streamed but not kept");
        }
        // A file that is locked or slow to open must not hold up the services.
        let first = first_rx
            .recv_timeout(Duration::from_secs(2))
            .ok()
            .flatten()
            .unwrap_or_else(fallback_first_id);
        (Journal { tx, queued, lost }, first)
    }

    /// Queues an event; never blocks. Past [`QUEUE`] waiting events, it is lost (counted).
    pub fn record(&self, r: Shared) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= QUEUE
            || self.tx.send(Msg::Record(r)).is_err()
        {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub async fn query(&self, filter: Filter) -> Found {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Query(Box::new((filter, reply))));
        rx.await.unwrap_or_else(|_| Found {
            events: Vec::new(),
            gap: Some("the journal thread is not running".into()),
        })
    }

    pub async fn status(&self) -> Option<JournalStatus> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Status(reply));
        rx.await.ok()
    }

    /// Waits until the events queued so far are written, for at most `timeout`: steward's
    /// last events must reach the file before it exits.
    pub fn sync(&self, timeout: Duration) {
        let (tx, rx) = mpsc::channel();
        self.send(Msg::Sync(tx));
        let _ = rx.recv_timeout(timeout);
    }

    pub fn set_retention(&self, spec: JournalSpec) {
        self.send(Msg::Retention(spec));
    }

    /// Sends a message that is not an event (never counted against the bound); a journal
    /// thread that is gone answers nothing, which the callers handle.
    fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }
}

/// Without the file's newest id, start from the clock: larger than any id an earlier run
/// could have reached, so resuming streams do not see ids go back.
fn fallback_first_id() -> u64 {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64);
    micros.max(1)
}

/// The journal thread's state.
struct Writer {
    path: PathBuf,
    spec: JournalSpec,
    store: Option<Store>,
    problem: Option<String>,
    last_attempt: Option<StdInstant>,
    /// Events not yet in the file.
    backlog: VecDeque<Shared>,
    ring: VecDeque<Shared>,
    problems: tokio::sync::mpsc::UnboundedSender<Health>,
    lost: Arc<AtomicU64>,
    queued: Arc<AtomicUsize>,
    last_prune: Option<StdInstant>,
    since_prune: u64,
}

impl Writer {
    fn new(
        path: PathBuf,
        spec: JournalSpec,
        problems: tokio::sync::mpsc::UnboundedSender<Health>,
        lost: Arc<AtomicU64>,
        queued: Arc<AtomicUsize>,
    ) -> Writer {
        Writer {
            path,
            spec,
            store: None,
            problem: None,
            last_attempt: None,
            backlog: VecDeque::new(),
            ring: VecDeque::with_capacity(RING),
            problems,
            lost,
            queued,
            last_prune: None,
            since_prune: 0,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>, first: mpsc::Sender<Option<u64>>) {
        self.connect();
        let newest = self.store.as_ref().and_then(|s| s.newest_id().ok());
        let _ = first.send(newest.map(|n| n.unwrap_or(0) + 1));
        self.prune();
        loop {
            // Only a journal with events waiting for a broken file wakes on a timer.
            let msg = if self.backlog.is_empty() {
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                match rx.recv_timeout(RETRY) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.flush();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            };
            self.handle(msg);
            // What arrives within BATCH joins the same transaction: each commit syncs the
            // file, and one per event would cost a crash loop or a start of thousands of
            // services a core. Readers never wait for it: streams are live, and a query
            // writes what is queued first.
            let until = StdInstant::now() + BATCH;
            let mut open = true;
            while open && !self.backlog.is_empty() {
                let left = until.saturating_duration_since(StdInstant::now());
                match rx.recv_timeout(left) {
                    Ok(msg) => self.handle(msg),
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
                }
            }
            self.flush();
            if !open {
                break;
            }
        }
        self.flush();
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Record(r) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                if self.ring.len() == RING {
                    self.ring.pop_front();
                }
                self.ring.push_back(r.clone());
                if self.backlog.len() == BACKLOG {
                    self.backlog.pop_front();
                    self.lost.fetch_add(1, Ordering::Relaxed);
                }
                self.backlog.push_back(r);
            }
            Msg::Query(query) => {
                let (filter, reply) = *query;
                // A query sees every event queued before it.
                self.flush();
                let _ = reply.send(self.query(&filter));
            }
            Msg::Status(reply) => {
                self.flush();
                let _ = reply.send(self.status());
            }
            Msg::Sync(done) => {
                self.flush();
                let _ = done.send(());
            }
            Msg::Retention(spec) => {
                if spec != self.spec {
                    self.spec = spec;
                    self.last_prune = None;
                }
            }
        }
    }

    /// Opens the file if it is not open, moving a corrupt one aside.
    fn connect(&mut self) -> bool {
        if self.store.is_some() {
            return true;
        }
        if self.problem.is_some() && self.last_attempt.is_some_and(|t| t.elapsed() < REOPEN) {
            return false;
        }
        self.last_attempt = Some(StdInstant::now());
        match Store::open(&self.path) {
            Ok(s) => {
                self.store = Some(s);
                true
            }
            Err(e) if store::is_corrupt(&e) => {
                let aside = corrupt_name(&self.path);
                let moved = std::fs::rename(&self.path, &aside);
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(with_suffix(&self.path, suffix));
                }
                match moved
                    .map_err(|m| m.to_string())
                    .and_then(|()| Store::open(&self.path).map_err(|e| e.to_string()))
                {
                    Ok(s) => {
                        let why = format!(
                            "{} was not a usable database ({e}); moved it to {} and started a new journal",
                            self.path.display(),
                            aside.display()
                        );
                        error!("journal: {why}");
                        // Reported as a problem that is already solved.
                        let _ = self.problems.send(Health {
                            ok: true,
                            problem: Some(why),
                        });
                        self.store = Some(s);
                        true
                    }
                    Err(e2) => {
                        self.fail(format!("cannot open {}: {e}; {e2}", self.path.display()));
                        false
                    }
                }
            }
            Err(e) => {
                self.fail(format!("cannot open {}: {e}", self.path.display()));
                false
            }
        }
    }

    /// Writes the backlog in one transaction.
    fn flush(&mut self) {
        if self.backlog.is_empty() || !self.connect() {
            return;
        }
        let store = self.store.as_mut().expect("connected");
        match store.insert(self.backlog.iter()) {
            Ok(()) => {
                self.since_prune += self.backlog.len() as u64;
                let burst = self.backlog.len() >= TRIM_AFTER;
                self.backlog.clear();
                if burst {
                    self.backlog.shrink_to(RING);
                    // A burst (the start of thousands of services) leaves its events'
                    // memory free but held; give it back to the system.
                    // SAFETY: malloc_trim only releases free heap memory.
                    unsafe { nix::libc::malloc_trim(0) };
                }
                if let Some(was) = self.problem.take() {
                    info!("journal: writing again (the problem was: {was})");
                    let _ = self.problems.send(Health {
                        ok: true,
                        problem: None,
                    });
                }
                self.prune_if_due();
            }
            Err(e) => {
                // Reopen next time: a file replaced or unlocked meanwhile is picked up.
                self.store = None;
                self.fail(format!("cannot write to {}: {e}", self.path.display()));
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.last_attempt = Some(StdInstant::now());
        if self.problem.as_deref() != Some(why.as_str()) {
            error!(
                "journal: {why}; events are still streamed, and kept in memory to be written later"
            );
            let _ = self.problems.send(Health {
                ok: false,
                problem: Some(why.clone()),
            });
            self.problem = Some(why);
        }
    }

    fn prune_if_due(&mut self) {
        let due = self
            .last_prune
            .is_none_or(|t| t.elapsed() > Duration::from_secs(600))
            || self.since_prune >= (self.spec.max_events / 10).max(100);
        if due {
            self.prune();
        }
    }

    fn prune(&mut self) {
        let Some(store) = &mut self.store else {
            return;
        };
        let now_ms = now_ms();
        let oldest = now_ms - self.spec.max_age.as_millis().min(i64::MAX as u128) as i64;
        match store.prune(oldest, self.spec.max_events) {
            Ok(0) => {}
            Ok(n) => info!("journal: removed {n} events past retention"),
            Err(e) => warn!("journal: cannot remove old events: {e}"),
        }
        self.last_prune = Some(StdInstant::now());
        self.since_prune = 0;
    }

    fn query(&mut self, filter: &Filter) -> Found {
        if self.connect()
            && let Some(store) = &self.store
        {
            match store.query(filter, PAGE) {
                Ok(mut events) => {
                    // Events not yet written are newer than any in the file.
                    if events.len() < PAGE || filter.tail.is_some() {
                        let newest = events.last().map_or(0, |r| r.id);
                        events.extend(
                            self.backlog
                                .iter()
                                .filter(|r| r.id > newest && filter.matches(r))
                                .cloned(),
                        );
                        let skip = match filter.tail {
                            Some(n) => events.len().saturating_sub(n),
                            None => 0,
                        };
                        events.drain(..skip);
                        events.truncate(PAGE);
                    }
                    return Found { events, gap: None };
                }
                Err(e) => self.fail(format!("cannot read {}: {e}", self.path.display())),
            }
        }
        // From memory: the ring, which holds the newest events.
        let mut events: Vec<Shared> = self
            .ring
            .iter()
            .filter(|r| filter.matches(r))
            .cloned()
            .collect();
        if let Some(n) = filter.tail {
            let skip = events.len().saturating_sub(n);
            events.drain(..skip);
        }
        events.truncate(PAGE);
        let reaches = match (self.ring.front(), filter.after) {
            (Some(first), Some(after)) => first.id <= after + 1,
            _ => false,
        };
        let gap = (!reaches).then(|| {
            format!(
                "older events cannot be read now ({}); showing the newest kept in memory",
                self.problem
                    .as_deref()
                    .unwrap_or("the journal is unavailable")
            )
        });
        Found { events, gap }
    }

    fn status(&mut self) -> JournalStatus {
        let counts = if self.connect() {
            self.store.as_ref().and_then(|s| s.counts().ok())
        } else {
            None
        };
        let (events, oldest_id, newest_id) = counts.unwrap_or((0, None, None));
        JournalStatus {
            path: self.path.display().to_string(),
            ok: self.problem.is_none(),
            problem: self.problem.clone(),
            events,
            oldest_id,
            newest_id,
            lost: self.lost.load(Ordering::Relaxed),
            max_age_seconds: self.spec.max_age.as_secs(),
            max_events: self.spec.max_events,
        }
    }
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn corrupt_name(path: &Path) -> PathBuf {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    with_suffix(path, &format!(".corrupt-{stamp}"))
}

#[cfg(test)]
mod tests;
