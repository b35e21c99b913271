//! Relays one client connection to one instance, both ways. Short messages (requests and
//! answers) are copied through a small buffer, one `recv` and one `send` each; once a
//! read fills the buffer, that way is a bulk transfer and goes on with `splice(2)`
//! through a pipe, so its bytes never come up to steward's memory. Each way ends with a
//! half-close (the other side reads end-of-file) and the relay ends when both have, or at
//! the first error (a reset), which closes both.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use nix::sys::socket::MsgFlags;
use tokio::io::Interest;

use super::conn::Conn;

/// What one pipe holds: 1 MiB when the system allows it (fewer calls for bulk transfers),
/// else the default 64 KiB.
const PIPE_SIZE: i32 = 1 << 20;

/// The copy buffer: a message up to this size is copied; a read that fills it switches the
/// way to splice.
const SMALL: usize = 4096;

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

/// One way: copied while the messages are short, spliced once they are not.
async fn pump(from: &Conn, to: &Conn, counters: Counters<'_>) -> io::Result<u64> {
    let mut buf = [0u8; SMALL];
    let mut total = 0u64;
    loop {
        from.ready(Interest::READABLE).await?;
        let read = from.try_io(Interest::READABLE, || {
            nix::sys::socket::recv(from.as_fd().as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(io::Error::from)
        });
        let n = match read {
            Ok(0) => {
                let _ = to.shutdown_write();
                return Ok(total);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        send_all(to, &buf[..n]).await?;
        total += n as u64;
        counters.add(n as u64);
        if n == SMALL {
            return splice_rest(from, to, counters, total).await;
        }
    }
}

async fn send_all(to: &Conn, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        to.ready(Interest::WRITABLE).await?;
        let sent = to.try_io(Interest::WRITABLE, || {
            nix::sys::socket::send(to.as_fd().as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The rest of one way through a pipe; `total` bytes went before.
async fn splice_rest(
    from: &Conn,
    to: &Conn,
    counters: Counters<'_>,
    mut total: u64,
) -> io::Result<u64> {
    let (read_end, write_end) = pipe()?;
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
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
        // holds back its writer (the pipe is the only buffer), and a full pipe never
        // passes for an empty socket.
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

    use super::*;

    /// Bytes `0, 1, ... 250, 0, 1 ...`: a transfer that drops or repeats a chunk shows.
    fn pattern(n: usize, offset: u8) -> Vec<u8> {
        (0..n)
            .map(|i| ((i % 251) as u8).wrapping_add(offset))
            .collect()
    }

    /// Relays between `client_side` and `instance_side` while a client sends 3 MiB then
    /// half-closes, and the instance reads it all, answers 1 MiB and closes.
    async fn round_trip<C, I>(client: C, client_side: Conn, instance_side: Conn, instance: I)
    where
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let up = pattern(3 << 20, 0);
        let down = pattern(1 << 20, 7);
        let (ep_in, ep_out, i_in, i_out) = (
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
        );
        let server = {
            let (up, down) = (up.clone(), down.clone());
            tokio::spawn(async move {
                let mut instance = instance;
                let mut got = Vec::new();
                instance.read_to_end(&mut got).await.unwrap();
                assert!(got == up, "the instance got what the client sent");
                instance.write_all(&down).await.unwrap();
                instance.shutdown().await.unwrap();
            })
        };
        let client_task = {
            let up = up.clone();
            tokio::spawn(async move {
                let mut client = client;
                client.write_all(&up).await.unwrap();
                // Half-close: the answer must still come back.
                client.shutdown().await.unwrap();
                let mut got = Vec::new();
                client.read_to_end(&mut got).await.unwrap();
                got
            })
        };
        let counters = |e, i| Counters {
            endpoint: e,
            instance: i,
        };
        let (sent, received) = relay(
            &client_side,
            &instance_side,
            counters(&ep_in, &i_in),
            counters(&ep_out, &i_out),
        )
        .await
        .unwrap();
        server.await.unwrap();
        let got = client_task.await.unwrap();
        assert!(got == down, "the client got the instance's answer");
        assert_eq!((sent, received), (up.len() as u64, down.len() as u64));
        for (counter, want) in [
            (&ep_in, up.len()),
            (&i_in, up.len()),
            (&ep_out, down.len()),
            (&i_out, down.len()),
        ] {
            assert_eq!(counter.load(Ordering::Relaxed), want as u64);
        }
    }

    /// A connected TCP pair over loopback: (the connecting end, the accepted end).
    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let near = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (far, _) = listener.accept().await.unwrap();
        (near, far)
    }

    #[tokio::test]
    async fn relays_both_ways_over_tcp_with_half_close() {
        let (client, client_side) = tcp_pair().await;
        let (instance_side, instance) = tcp_pair().await;
        round_trip(
            client,
            Conn::Tcp(client_side),
            Conn::Tcp(instance_side),
            instance,
        )
        .await;
    }

    #[tokio::test]
    async fn relays_between_unix_and_tcp() {
        let dir = tempfile::tempdir().unwrap();
        let front = UnixListener::bind(dir.path().join("front.sock")).unwrap();
        let client = UnixStream::connect(dir.path().join("front.sock"))
            .await
            .unwrap();
        let (client_side, _) = front.accept().await.unwrap();
        let (instance_side, instance) = tcp_pair().await;
        round_trip(
            client,
            Conn::Unix(client_side),
            Conn::Tcp(instance_side),
            instance,
        )
        .await;
    }

    #[tokio::test]
    async fn a_reset_ends_the_relay_with_an_error() {
        let (client, client_side) = tcp_pair().await;
        let (instance_side, instance) = tcp_pair().await;
        // The instance dies mid-conversation: a reset (linger 0), not a clean close.
        instance.set_zero_linger().unwrap();
        drop(instance);
        let zero = AtomicU64::new(0);
        let c = || Counters {
            endpoint: &zero,
            instance: &zero,
        };
        let result = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            relay(&Conn::Tcp(client_side), &Conn::Tcp(instance_side), c(), c()),
        )
        .await
        .expect("the relay ends");
        drop(client);
        assert!(result.is_err(), "{result:?}");
    }
}
