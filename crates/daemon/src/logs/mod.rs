//! Captured output: each instance's stdout and stderr, through a pipe, into rotated files
//! under `STATE_DIR/logs/SERVICE/`.
//!
//! # How the bytes go
//!
//! - **Pipes** ([`pipe`]): one per instance and stream (stdout and stderr share one unless
//!   `stderr = "separate"`), made at the instance's first start (or first follow) and kept
//!   until the instance is removed. Each start hands the child a write end as fd 1 and 2.
//! - **The log thread** ([`thread`]): one thread reads every pipe (epoll, edge-triggered),
//!   a bounded amount per stream and round, and writes the files ([`file`]): by `splice(2)`
//!   when nothing needs the lines, else cut into lines ([`lines`]) for timestamps and
//!   `up --echo-logs`. The supervisor loop only makes pipes and sends commands.
//! - **Nothing is lost**: when the thread or the disk is slower than a service, its pipe
//!   fills and its writes wait. A write that fails is tried again, never skipped.
//! - **Followers** ([`read`], [`api`]): each stream publishes what it wrote and how often
//!   it rotated on a `watch`; `GET /v1/services/NAME/logs?follow=true` reads to the end,
//!   waits for the watch, and on a rotation finishes the old file before it opens the new.

pub(crate) mod api;
mod epoll;
mod file;
mod lines;
mod pipe;
mod pump;
pub mod read;
mod thread;

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use steward_core::config::{LogSpec, StderrMode};
use tokio::sync::watch;

use file::RotatingFile;
pub use file::rotated;
use pipe::Pipe;
use pump::{Settings, Stream};
use thread::{Command, Handle};

/// What a stream has written so far, for followers to wait on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes taken from the pipe.
    pub written: u64,
    /// Times the file was rotated.
    pub rotations: u64,
}

/// Which of an instance's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// stdout, and stderr too when merged.
    Out,
    /// stderr with `stderr = "separate"`.
    Err,
}

impl Output {
    /// `INDEX.log` or `INDEX.err.log`.
    pub fn file_name(self, index: u32) -> String {
        match self {
            Output::Out => format!("{index}.log"),
            Output::Err => format!("{index}.err.log"),
        }
    }
}

/// Starts the log thread; `echo` also copies every captured line to steward's stdout.
pub fn start(state_dir: &Path, echo: bool) -> io::Result<(Logs, LogThread)> {
    let (handle, join) = thread::start(echo)?;
    let logs = Logs {
        root: state_dir.join("logs"),
        handle: handle.clone(),
        next_id: 1,
    };
    Ok((
        logs,
        LogThread {
            handle,
            join: Some(join),
        },
    ))
}

/// The log thread itself, owned by whoever ends the daemon.
pub struct LogThread {
    handle: Handle,
    join: Option<JoinHandle<()>>,
}

impl LogThread {
    /// Drains every pipe into its files and ends the thread.
    pub fn finish(mut self) {
        self.handle.send(Command::Shutdown);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// The supervisor's side: makes each instance's pipes.
pub struct Logs {
    root: PathBuf,
    handle: Handle,
    next_id: u64,
}

impl Logs {
    /// `STATE_DIR/logs/SERVICE`.
    pub fn dir(&self, service: &str) -> PathBuf {
        self.root.join(service)
    }

    /// Makes the pipes of instance `index` of `service` and hands their read ends to the
    /// log thread.
    pub fn open(&mut self, service: &str, index: u32, spec: &LogSpec) -> io::Result<InstanceLogs> {
        let settings = Settings::of(spec);
        let mut end = |output: Output| -> io::Result<End> {
            let pipe = Pipe::new()?;
            let (tx, progress) = watch::channel(Progress::default());
            let id = self.next_id;
            self.next_id += 1;
            let file = RotatingFile::new(self.dir(service), output.file_name(index));
            let label = match output {
                Output::Out => format!("{service}:{index}"),
                Output::Err => format!("{service}:{index} (stderr)"),
            };
            let stream = Stream::new(pipe.read.clone(), file, label, settings, tx);
            self.handle.send(Command::Add {
                id,
                stream: Box::new(stream),
            });
            Ok(End { id, pipe, progress })
        };
        let out = end(Output::Out)?;
        let err = match spec.stderr {
            StderrMode::Merge => None,
            StderrMode::Separate => Some(end(Output::Err)?),
        };
        Ok(InstanceLogs {
            out,
            err,
            settings,
            stderr: spec.stderr,
            handle: self.handle.clone(),
        })
    }
}

struct End {
    id: u64,
    pipe: Pipe,
    progress: watch::Receiver<Progress>,
}

/// An instance's pipes, kept across its runs; dropping them closes them once drained.
pub struct InstanceLogs {
    out: End,
    err: Option<End>,
    settings: Settings,
    stderr: StderrMode,
    handle: Handle,
}

/// Write ends for one start: to be placed on the child's fd 1 and 2, and closed in
/// steward once it has started.
pub struct Writers {
    pub out: OwnedFd,
    pub err: Option<OwnedFd>,
}

impl InstanceLogs {
    /// Whether these pipes are the ones `spec` asks for (`capture` and `stderr` decide the
    /// child's fds; the rest is changed in place).
    pub fn fits(&self, spec: &LogSpec) -> bool {
        spec.capture && spec.stderr == self.stderr
    }

    pub fn writers(&self) -> io::Result<Writers> {
        Ok(Writers {
            out: self.out.pipe.writer()?,
            err: self.err.as_ref().map(|e| e.pipe.writer()).transpose()?,
        })
    }

    /// Sends the rotation and timestamp settings a reload gave, if they changed.
    pub fn retune(&mut self, spec: &LogSpec) {
        let settings = Settings::of(spec);
        if settings == self.settings {
            return;
        }
        self.settings = settings;
        for end in std::iter::once(&self.out).chain(&self.err) {
            self.handle.send(Command::Settings {
                id: end.id,
                settings,
            });
        }
    }

    /// The watch of `output`, when the instance has it.
    pub fn progress(&self, output: Output) -> Option<watch::Receiver<Progress>> {
        match output {
            Output::Out => Some(self.out.progress.clone()),
            Output::Err => self.err.as_ref().map(|e| e.progress.clone()),
        }
    }
}

impl Drop for InstanceLogs {
    fn drop(&mut self) {
        for end in std::iter::once(&self.out).chain(&self.err) {
            self.handle.send(Command::Close { id: end.id });
        }
    }
}

impl std::fmt::Debug for InstanceLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceLogs")
            .field("out", &self.out.id)
            .field("err", &self.err.as_ref().map(|e| e.id))
            .field("settings", &self.settings)
            .finish()
    }
}

/// Where one stream's files are, for the API's readers.
#[derive(Debug)]
pub struct Source {
    pub dir: PathBuf,
    /// `INDEX.log` or `INDEX.err.log`.
    pub name: String,
    pub keep: u32,
    pub timestamps: bool,
    /// `None` when the instance has no pipe yet (and no follow was asked).
    pub progress: Option<watch::Receiver<Progress>>,
}
