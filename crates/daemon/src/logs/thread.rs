//! The log thread: one thread, one epoll set, every captured stream.
//!
//! The supervisor loop never touches a log file: it makes pipes and sends commands here.
//! Each epoll event queues its stream; each round serves every queued stream once, at most
//! [`BUDGET`] bytes, and puts back those with more to read, so one flooding service cannot
//! starve the others. While a stream cannot write (a full disk), it reads nothing: its
//! pipe fills and its service's writes wait.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::libc;
use tracing::{error, warn};

use super::epoll::{Epoll, WAKE, Wake};
use super::pump::{Scratch, Settings, Stream, Turn};

/// Bytes one stream may move per round.
const BUDGET: u64 = 512 << 10;
/// Bytes a stream whose instance is gone may still move before it is dropped (a leftover
/// process might write for ever).
const CLOSE_BUDGET: u64 = 64 << 20;
/// A file not written for this long is closed (and opened again on the next write).
const IDLE_CLOSE: Duration = Duration::from_secs(10);
/// Past this many open files, a file is closed as soon as its pipe is empty.
const MAX_OPEN: usize = 512;
/// At shutdown, how long streams that cannot write are retried before their output is
/// given up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub enum Command {
    Add {
        id: u64,
        stream: Box<Stream>,
    },
    Settings {
        id: u64,
        settings: Settings,
    },
    /// A follower wants the stream's progress watch.
    Subscribe {
        id: u64,
        reply: tokio::sync::oneshot::Sender<tokio::sync::watch::Receiver<super::Progress>>,
    },
    /// The instance is gone: drain the pipe, then drop it.
    Close {
        id: u64,
    },
    /// steward is exiting: drain every pipe, then end the thread.
    Shutdown,
}

/// Where commands go; cloned into every instance's logs.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    wake: Arc<Wake>,
}

impl Handle {
    pub fn send(&self, command: Command) {
        // A thread that is gone has nothing left to do with the command.
        if self.tx.send(command).is_ok() {
            self.wake.signal();
        }
    }
}

pub fn start(echo: bool) -> io::Result<(Handle, JoinHandle<()>)> {
    let epoll = Epoll::new()?;
    let wake = Arc::new(Wake::new()?);
    epoll.add(wake.fd(), WAKE)?;
    let (tx, rx) = mpsc::channel();
    let worker = Worker {
        epoll,
        wake: wake.clone(),
        rx,
        streams: HashMap::new(),
        ready: VecDeque::new(),
        retrying: Vec::new(),
        scratch: Scratch::new(),
        echo,
        open_files: 0,
        next_sweep: None,
    };
    let join = std::thread::Builder::new()
        .name("steward-logs".into())
        .spawn(move || worker.run())?;
    Ok((Handle { tx, wake }, join))
}

struct Worker {
    epoll: Epoll,
    wake: Arc<Wake>,
    rx: mpsc::Receiver<Command>,
    /// Boxed: the table holds a pointer per slot, not a whole stream.
    streams: HashMap<u64, Box<Stream>>,
    /// Streams to serve, in order.
    ready: VecDeque<u64>,
    /// Streams waiting to try a failed write again.
    retrying: Vec<u64>,
    scratch: Scratch,
    echo: bool,
    open_files: usize,
    next_sweep: Option<Instant>,
}

impl Worker {
    fn run(mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let n = match self.epoll.wait(&mut events, self.timeout_ms()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    error!("log thread: epoll_wait failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    0
                }
            };
            for ev in &events[..n] {
                let token = ev.u64;
                if token == WAKE {
                    self.wake.clear();
                } else {
                    self.enqueue(token);
                }
            }
            if !self.commands() {
                return self.finish();
            }
            self.serve_round();
            self.timers();
        }
    }

    /// How long epoll may sleep: not at all with streams queued, else until the next retry
    /// or idle sweep; for ever when there is neither (no polling).
    fn timeout_ms(&self) -> i32 {
        if !self.ready.is_empty() {
            return 0;
        }
        let retry = self
            .retrying
            .iter()
            .filter_map(|id| self.streams.get(id)?.retry_at())
            .min();
        let next = match (retry, self.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match next {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                (left.as_millis() as i32).saturating_add(1)
            }
        }
    }

    /// Takes the queued commands; false on shutdown.
    fn commands(&mut self) -> bool {
        while let Ok(command) = self.rx.try_recv() {
            match command {
                Command::Add { id, stream } => {
                    if let Err(e) = self.epoll.add(stream.read.as_raw_fd(), id) {
                        error!("{}: cannot watch its log pipe: {e}", stream.label);
                    }
                    self.streams.insert(id, stream);
                    // It may hold data already.
                    self.enqueue(id);
                }
                Command::Settings { id, settings } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.retune(settings);
                    }
                }
                Command::Subscribe { id, reply } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        let _ = reply.send(s.subscribe());
                    }
                }
                Command::Close { id } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.closing = true;
                        self.enqueue(id);
                    }
                }
                Command::Shutdown => return false,
            }
        }
        true
    }

    fn enqueue(&mut self, id: u64) {
        if let Some(s) = self.streams.get_mut(&id)
            && !s.queued
        {
            s.queued = true;
            self.ready.push_back(id);
        }
    }

    /// Serves each queued stream once.
    fn serve_round(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let Some(s) = self.streams.get_mut(&id) else {
                continue;
            };
            s.queued = false;
            let was_open = s.file.is_open();
            let budget = if s.closing { CLOSE_BUDGET } else { BUDGET };
            let turn = s.pump(budget, self.echo, &mut self.scratch);
            match (was_open, s.file.is_open()) {
                (false, true) => self.open_files += 1,
                (true, false) => self.open_files -= 1,
                _ => {}
            }
            match turn {
                Turn::Failed => {
                    if !self.retrying.contains(&id) {
                        self.retrying.push(id);
                    }
                }
                _ if s.closing => self.remove(id),
                Turn::More => {
                    s.queued = true;
                    self.ready.push_back(id);
                }
                Turn::Drained => {
                    if self.open_files > MAX_OPEN && !s.file.has_pending() && s.file.is_open() {
                        s.file.close();
                        self.open_files -= 1;
                    }
                }
            }
            self.write_echo();
        }
        if self.open_files > 0 && self.next_sweep.is_none() {
            self.next_sweep = Some(Instant::now() + IDLE_CLOSE);
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> = self
            .retrying
            .iter()
            .copied()
            .filter(|id| {
                self.streams
                    .get(id)
                    .is_none_or(|s| s.retry_at().is_none_or(|t| t <= now))
            })
            .collect();
        self.retrying.retain(|id| !due.contains(id));
        for id in due {
            self.enqueue(id);
        }
        if self.next_sweep.is_some_and(|t| t <= now) {
            for s in self.streams.values_mut() {
                if s.file.is_open()
                    && !s.file.has_pending()
                    && now.duration_since(s.last_write) >= IDLE_CLOSE
                {
                    s.file.close();
                    self.open_files -= 1;
                }
            }
            self.next_sweep = (self.open_files > 0).then(|| now + IDLE_CLOSE / 2);
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(s) = self.streams.remove(&id) {
            self.epoll.delete(s.read.as_raw_fd());
            if s.file.is_open() {
                self.open_files -= 1;
            }
        }
    }

    fn write_echo(&mut self) {
        if self.scratch.echo.is_empty() {
            return;
        }
        let mut out = io::stdout().lock();
        if let Err(e) = out.write_all(&self.scratch.echo).and_then(|()| out.flush()) {
            warn!("cannot echo logs to stdout ({e}); echo is off from now on");
            self.echo = false;
        }
        self.scratch.echo.clear();
    }

    /// Drains every pipe into its files before steward exits.
    fn finish(mut self) {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let ids: Vec<u64> = self.streams.keys().copied().collect();
        for id in ids {
            while let Some(s) = self.streams.get_mut(&id) {
                match s.pump(CLOSE_BUDGET, self.echo, &mut self.scratch) {
                    Turn::More => {}
                    Turn::Drained => break,
                    Turn::Failed if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Turn::Failed => {
                        error!(
                            "{}: output still in its pipe is lost: its log files cannot be written",
                            s.label
                        );
                        break;
                    }
                }
                self.write_echo();
            }
            self.write_echo();
        }
    }
}
