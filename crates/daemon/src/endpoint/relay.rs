//! Relays one client connection to one instance, both ways, with `splice(2)` through a
//! pipe, so the bytes never come up to steward's memory. Each way ends with a half-close
//! (the other side reads end-of-file) and the relay ends when both have, or at the first
//! error (a reset), which closes both.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use tokio::io::Interest;

use super::conn::Conn;

/// What one pipe holds: 1 MiB when the system allows it (fewer calls for bulk transfers),
/// else the default 64 KiB.
const PIPE_SIZE: i32 = 1 << 20;

/// Byte counters for one way, one per place that shows them.
pub struct Counters<'a> {
    pub endpoint: &'a AtomicU64,
    pub instance: &'a AtomicU64,
}

impl Counters<'_> {
    fn add(&self, n: u64) {
        self.endpoint.fetch_add(n, Ordering::Relaxed);
        self.instance.fetch_add(n, Ordering::Relaxed);
    }
}

/// Relays until both ways are done; returns the bytes client → instance and back.
pub async fn relay(
    client: &Conn,
    instance: &Conn,
    up: Counters<'_>,
    down: Counters<'_>,
) -> io::Result<(u64, u64)> {
    tokio::try_join!(pump(client, instance, up), pump(instance, client, down))
}

async fn pump(from: &Conn, to: &Conn, counters: Counters<'_>) -> io::Result<u64> {
    let (read_end, write_end) = pipe()?;
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    let mut total = 0u64;
    loop {
        // Fill the pipe from the source...
        from.ready(Interest::READABLE).await?;
        let filled = from.try_io(Interest::READABLE, || {
            splice(
                from.as_fd(),
                None,
                &write_end,
                None,
                PIPE_SIZE as usize,
                flags,
            )
            .map_err(io::Error::from)
        });
        let mut in_pipe = match filled {
            Ok(0) => {
                // End of file: pass it on, and this way is done.
                let _ = to.shutdown_write();
                return Ok(total);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        // ...then empty it into the destination before reading more, so a slow reader
        // holds back its writer (the pipe is the only buffer).
        while in_pipe > 0 {
            to.ready(Interest::WRITABLE).await?;
            let sent = to.try_io(Interest::WRITABLE, || {
                splice(&read_end, None, to.as_fd(), None, in_pipe, flags).map_err(io::Error::from)
            });
            match sent {
                Ok(n) => {
                    in_pipe -= n;
                    total += n as u64;
                    counters.add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    // Best effort: an unprivileged process may be held to a smaller total of pipe memory.
    let _ = fcntl(&w, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    Ok((r, w))
}
