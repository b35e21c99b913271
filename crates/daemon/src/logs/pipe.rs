//! The pipe of one captured stream, made once per instance and kept for its life, so a
//! crash loop makes no pipes.
//!
//! The log thread holds the read end (non-blocking). steward does not keep a write end:
//! each start opens a new one from the read end through `/proc/self/fd` and hands it to
//! the child, which leaves one descriptor per stream in steward instead of two (10,000
//! services fit a 20,000 descriptor limit). Between runs the pipe has no writer and reads
//! see end-of-file, which only means "nothing now". Where `/proc` cannot do that, the
//! first write end is kept and duplicated for each start.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, OnceLock};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

#[derive(Debug)]
pub struct Pipe {
    pub read: Arc<OwnedFd>,
    /// The first write end, kept only where it cannot be opened again.
    kept: Option<OwnedFd>,
}

impl Pipe {
    pub fn new() -> io::Result<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        // Only the read end: the child's writes block when the pipe is full (back-pressure).
        fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        let mut pipe = Pipe {
            read: Arc::new(read),
            kept: Some(write),
        };
        if *REOPENS.get_or_init(|| pipe.reopen().is_ok()) {
            pipe.kept = None;
        }
        Ok(pipe)
    }

    /// A write end for a child (close-on-exec; the spawn puts it on fd 1 or 2).
    pub fn writer(&self) -> io::Result<OwnedFd> {
        match &self.kept {
            Some(w) => Ok(fcntl(w, FcntlArg::F_DUPFD_CLOEXEC(3)).map(owned)?),
            None => self.reopen(),
        }
    }

    fn reopen(&self) -> io::Result<OwnedFd> {
        let path = format!("/proc/self/fd/{}", self.read.as_raw_fd());
        let fd = nix::fcntl::open(
            path.as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        // Never 0 to 2 (steward started with them closed): the spawn puts these there.
        if fd.as_raw_fd() < 3 {
            return Ok(fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(3)).map(owned)?);
        }
        Ok(fd)
    }
}

/// Whether a pipe's write end can be opened again from its read end, found once.
static REOPENS: OnceLock<bool> = OnceLock::new();

fn owned(raw: std::os::fd::RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: a descriptor F_DUPFD_CLOEXEC just made, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn writers_reach_the_read_end_and_leave_no_write_end_behind() {
        let pipe = Pipe::new().unwrap();
        for text in ["first run\n", "second run\n"] {
            let mut w = std::fs::File::from(pipe.writer().unwrap());
            w.write_all(text.as_bytes()).unwrap();
        }
        let mut r = std::fs::File::from(pipe.read.as_ref().try_clone().unwrap());
        let mut got = String::new();
        // Every writer is closed: end-of-file after the data, not a blocked read.
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "first run\nsecond run\n");
    }
}
