//! Moving one stream's bytes from its pipe to its files, a bounded amount per turn.
//!
//! Bytes are read into one buffer and written to the file; when lines matter (timestamps,
//! echo) they are cut into lines by the [`Assembler`] on the way. Not `splice(2)`: it holds
//! the pipe's lock while it writes the file, so the writing service waits (and spins) on
//! it; with read and write the service refills the pipe while the file is written, which
//! measured faster and cheaper for both (see the logs benchmark).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use tokio::sync::watch;
use tracing::{info, warn};

use super::Progress;
use super::file::{RotatingFile, Rotation};
use super::lines::{Assembler, Piece, Stamp};

/// How long a stream that cannot write waits before it tries again.
const RETRY: Duration = Duration::from_secs(1);

/// A stream's settings, changed in place by a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub rotation: Rotation,
    pub timestamps: bool,
}

impl Settings {
    pub fn of(spec: &steward_core::config::LogSpec) -> Settings {
        Settings {
            rotation: Rotation {
                max_size: spec.max_size,
                keep: spec.keep,
            },
            timestamps: spec.timestamps,
        }
    }
}

pub struct Stream {
    pub read: Arc<OwnedFd>,
    pub file: RotatingFile,
    /// `service:instance`, the prefix of echoed lines.
    pub label: String,
    pub settings: Settings,
    /// Made when a follower first subscribes, dropped when the last one has gone: most
    /// streams are never followed, and a watch is some 500 bytes.
    progress: Option<watch::Sender<Progress>>,
    /// Bytes taken from the pipe since the stream was made.
    written: u64,
    /// Only while lines matter (timestamps, echo).
    lines: Option<Box<Assembler>>,
    /// In the thread's queue of streams to serve.
    pub queued: bool,
    /// Its instance is gone: drained, then dropped.
    pub closing: bool,
    pub last_write: Instant,
    /// The error being retried (reported once), and when to try again.
    failing: Option<Box<(String, Instant)>>,
}

/// How a turn ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// The pipe is empty (or has no writer): wait for the next event.
    Drained,
    /// The budget ran out with more to read: serve it again after the others.
    More,
    /// Writing failed; try again at `retry_at`. The pipe keeps what was not read.
    Failed,
}

/// Buffers the thread shares between streams.
pub struct Scratch {
    pub read: Vec<u8>,
    /// Echoed lines, for steward's stdout.
    pub echo: Vec<u8>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            read: vec![0; 256 << 10],
            echo: Vec::new(),
        }
    }
}

impl Stream {
    pub fn new(
        read: Arc<OwnedFd>,
        file: RotatingFile,
        label: String,
        settings: Settings,
    ) -> Stream {
        Stream {
            read,
            file,
            label,
            settings,
            progress: None,
            written: 0,
            lines: None,
            queued: false,
            closing: false,
            last_write: Instant::now(),
            failing: None,
        }
    }

    /// When a failed write is to be tried again.
    pub fn retry_at(&self) -> Option<Instant> {
        self.failing.as_ref().map(|f| f.1)
    }

    /// Moves up to `budget` bytes from the pipe to the files (and to `scratch.echo` when
    /// `echo`).
    pub fn pump(&mut self, budget: u64, echo: bool, scratch: &mut Scratch) -> Turn {
        if self.retry_at().is_some_and(|t| Instant::now() < t) {
            return Turn::Failed;
        }
        let before = (self.written, self.file.rotations);
        let result = self.turn(budget, echo, scratch);
        let turn = match result {
            Ok(turn) => {
                if let Some(f) = self.failing.take() {
                    info!("{}: logs are written again (after: {})", self.label, f.0);
                }
                turn
            }
            Err(e) => {
                if self.failing.is_none() {
                    warn!(
                        "{}: cannot write logs to {}: {e}; the service's output waits in its \
                         pipe (retrying every {}s)",
                        self.label,
                        self.file.path().display(),
                        RETRY.as_secs()
                    );
                }
                self.failing = Some(Box::new((e.to_string(), Instant::now() + RETRY)));
                Turn::Failed
            }
        };
        if (self.written, self.file.rotations) != before {
            self.publish();
            self.last_write = Instant::now();
        }
        turn
    }

    fn progress_now(&self) -> Progress {
        Progress {
            written: self.written,
            rotations: self.file.rotations,
        }
    }

    /// Tells the followers, if any, what the stream has written.
    fn publish(&mut self) {
        let now = self.progress_now();
        if let Some(tx) = &self.progress {
            if tx.receiver_count() == 0 {
                self.progress = None;
            } else {
                tx.send_modify(|p| *p = now);
            }
        }
    }

    /// A follower's view of the stream's progress.
    pub fn subscribe(&mut self) -> watch::Receiver<Progress> {
        let now = self.progress_now();
        self.progress
            .get_or_insert_with(|| watch::channel(now).0)
            .subscribe()
    }

    fn turn(&mut self, budget: u64, echo: bool, scratch: &mut Scratch) -> io::Result<Turn> {
        let r = self.settings.rotation;
        let line_mode = self.settings.timestamps || echo;
        // What an earlier turn could not write goes first.
        self.file.flush(r)?;
        if !line_mode && let Some(mut lines) = self.lines.take() {
            // Lines no longer matter (a reload turned timestamps off): a held partial line
            // goes out before raw bytes follow it.
            lines.flush(&mut |p| self.file.push_raw(p.bytes, r));
            self.file.flush(r)?;
        }
        let mut moved = 0u64;
        let mut turn = Turn::More;
        // An event with nothing to read (the last writer left): no file to create or open.
        if !self.file.is_open() && !self.file.has_pending() && self.pipe_is_empty() {
            return Ok(Turn::Drained);
        }
        while moved < budget {
            let want = (scratch.read.len() as u64).min(budget - moved) as usize;
            let n = match nix::unistd::read(&*self.read, &mut scratch.read[..want]) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => 0,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                // Empty, or no writer: a partial line waits no longer.
                if let Some(lines) = &mut self.lines {
                    let file = &mut self.file;
                    let label = &self.label;
                    let timestamps = self.settings.timestamps;
                    let echo_buf = &mut scratch.echo;
                    lines.flush(&mut |p| put_piece(file, echo_buf, label, timestamps, echo, r, p));
                }
                turn = Turn::Drained;
                break;
            }
            moved += n as u64;
            self.written += n as u64;
            let data = &scratch.read[..n];
            if line_mode {
                let lines = self.lines.get_or_insert_default();
                let file = &mut self.file;
                let label = &self.label;
                let timestamps = self.settings.timestamps;
                let echo_buf = &mut scratch.echo;
                lines.feed(data, Stamp::now(), &mut |p| {
                    put_piece(file, echo_buf, label, timestamps, echo, r, p)
                });
            } else {
                self.file.push_raw(data, r);
            }
            if self.file.wants_flush() {
                self.file.flush(r)?;
            }
        }
        self.file.flush(r)?;
        Ok(turn)
    }

    fn pipe_is_empty(&self) -> bool {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let r = unsafe { libc::ioctl(self.read.as_raw_fd(), libc::FIONREAD, &mut n) };
        r == 0 && n == 0
    }

    /// The settings a reload gave.
    pub fn retune(&mut self, settings: Settings) {
        if settings.rotation.keep < self.settings.rotation.keep {
            self.file.prune(settings.rotation.keep);
        }
        self.settings = settings;
    }
}

/// One piece of a line: to the file (stamped when it starts a line and `timestamps`), and
/// echoed as `label | ...` when `echo`.
fn put_piece(
    file: &mut RotatingFile,
    echo_buf: &mut Vec<u8>,
    label: &str,
    timestamps: bool,
    echo: bool,
    r: Rotation,
    p: Piece<'_>,
) {
    let prefix: &[u8] = if timestamps && p.starts_line {
        p.stamp.as_bytes()
    } else {
        b""
    };
    file.push_line(prefix, p.bytes, p.starts_line, r);
    if echo {
        if p.starts_line {
            echo_buf.extend_from_slice(label.as_bytes());
            echo_buf.extend_from_slice(b" | ");
        }
        echo_buf.extend_from_slice(p.bytes);
    }
}
