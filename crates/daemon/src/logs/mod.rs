//! Captured output: each instance's stdout and stderr, through a pipe, into rotated files
//! under `STATE_DIR/logs/SERVICE/`.
//!
//! # How the bytes go
//!
//! - **Pipes** ([`pipe`]): one per instance and stream (stdout and stderr share one unless
//!   `stderr = "separate"`), made at the instance's first start (or first follow) and kept
//!   until the instance is removed. Each start hands the child a write end as fd 1 and 2.
//! - **The log thread** ([`thread`]): one thread reads every pipe (epoll, edge-triggered),
//!   a bounded amount per stream and round, and writes the files ([`file`]): as read, or
//!   cut into lines ([`lines`]) for timestamps and `up --echo-logs`. The supervisor loop only makes pipes and sends commands.
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
            let id = self.next_id;
            self.next_id += 1;
            let file = RotatingFile::new(self.dir(service), output.file_name(index));
            let label = match output {
                Output::Out => format!("{service}:{index}"),
                Output::Err => format!("{service}:{index} (stderr)"),
            };
            let stream = Stream::new(pipe.read.clone(), file, label, settings);
            self.handle.send(Command::Add {
                id,
                stream: Box::new(stream),
            });
            Ok(End { id, pipe })
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

    /// Where to ask for the progress watch of `output`, when the instance has it.
    pub fn subscription(&self, output: Output) -> Option<Subscription> {
        let end = match output {
            Output::Out => Some(&self.out),
            Output::Err => self.err.as_ref(),
        }?;
        Some(Subscription {
            id: end.id,
            handle: self.handle.clone(),
        })
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

/// A stream's progress watch, to be asked for (from the log thread, off the loop).
pub struct Subscription {
    id: u64,
    handle: Handle,
}

impl Subscription {
    /// The watch; `None` when the stream has gone meanwhile.
    pub async fn watch(self) -> Option<watch::Receiver<Progress>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.handle.send(Command::Subscribe { id: self.id, reply });
        answer.await.ok()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subscription({})", self.id)
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
    pub progress: Option<Subscription>,
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// Waits (at most 20 s) until the stream has taken `bytes` from its pipe.
    fn wait_written(inst: &InstanceLogs, output: Output, bytes: u64) -> Progress {
        runtime().block_on(async {
            let mut progress = inst.subscription(output).unwrap().watch().await.unwrap();
            let wait = progress.wait_for(|p| p.written >= bytes);
            let p = tokio::time::timeout(Duration::from_secs(20), wait).await;
            *p.expect("in time").expect("stream alive")
        })
    }

    fn spec(max_size: u64, keep: u32) -> LogSpec {
        LogSpec {
            max_size,
            keep,
            ..LogSpec::default()
        }
    }

    #[test]
    fn the_thread_captures_each_start_into_the_same_files_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut logs, thread) = start(tmp.path(), false).unwrap();
        let inst = logs.open("svc", 0, &spec(4096, 2)).unwrap();
        // Two runs, one pipe.
        for _ in 0..2 {
            let w = inst.writers().unwrap();
            assert!(w.err.is_none(), "merged");
            std::fs::File::from(w.out).write_all(&[b'x'; 5000]).unwrap();
        }
        let p = wait_written(&inst, Output::Out, 10_000);
        assert_eq!(p.rotations, 2);
        let dir = tmp.path().join("logs/svc");
        let size = |n: &str| std::fs::metadata(dir.join(n)).unwrap().len();
        assert_eq!(
            (size("0.log.2"), size("0.log.1"), size("0.log")),
            (4096, 4096, 1808)
        );
        drop(inst);
        thread.finish();
    }

    #[test]
    fn output_that_cannot_be_written_waits_in_the_pipe_and_is_not_lost() {
        let tmp = tempfile::tempdir().unwrap();
        // A file where the service's directory goes: every write fails until it is gone.
        std::fs::create_dir(tmp.path().join("logs")).unwrap();
        let blocker = tmp.path().join("logs/svc");
        std::fs::write(&blocker, "").unwrap();
        let (mut logs, thread) = start(tmp.path(), false).unwrap();
        let mut separate = spec(10 << 20, 5);
        separate.stderr = StderrMode::Separate;
        let inst = logs.open("svc", 3, &separate).unwrap();
        let w = inst.writers().unwrap();
        // More than a pipe holds: the writer blocks until the directory can be made.
        let total = 1 << 20;
        let writer = std::thread::spawn(move || {
            std::fs::File::from(w.err.unwrap())
                .write_all(&vec![b'e'; total])
                .unwrap();
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !writer.is_finished(),
            "the pipe is full and the writer waits"
        );
        std::fs::remove_file(&blocker).unwrap();
        writer.join().unwrap();
        wait_written(&inst, Output::Err, total as u64);
        let got = std::fs::read(tmp.path().join("logs/svc/3.err.log")).unwrap();
        assert_eq!(got.len(), total);
        assert!(got.iter().all(|&b| b == b'e'));
        drop(inst);
        thread.finish();
    }

    #[test]
    fn a_retune_to_timestamps_stamps_the_next_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut logs, thread) = start(tmp.path(), false).unwrap();
        let mut inst = logs.open("svc", 0, &spec(1 << 20, 5)).unwrap();
        std::fs::File::from(inst.writers().unwrap().out)
            .write_all(b"plain\n")
            .unwrap();
        wait_written(&inst, Output::Out, 6);
        inst.retune(&LogSpec {
            timestamps: true,
            ..spec(1 << 20, 5)
        });
        std::fs::File::from(inst.writers().unwrap().out)
            .write_all(b"stamped\n")
            .unwrap();
        wait_written(&inst, Output::Out, 14);
        drop(inst);
        thread.finish();
        let text = std::fs::read_to_string(tmp.path().join("logs/svc/0.log")).unwrap();
        let (first, second) = text.split_once('\n').unwrap();
        assert_eq!(first, "plain");
        assert!(lines::stamp_of(second.as_bytes()).is_some(), "{second}");
        assert!(second.ends_with(" stamped\n"), "{second}");
    }
}
