//! One stream, TCP or Unix: what the proxy accepts and what it connects to.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use steward_core::endpoint::Address;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    pub async fn connect(address: &Address) -> io::Result<Conn> {
        match address {
            Address::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                // Short requests must not wait for Nagle's timer on the relay's side.
                s.set_nodelay(true)?;
                Ok(Conn::Tcp(s))
            }
            Address::Unix(p) => UnixStream::connect(p).await.map(Conn::Unix),
        }
    }

    pub async fn ready(&self, interest: Interest) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.ready(interest).await.map(drop),
            Conn::Unix(s) => s.ready(interest).await.map(drop),
        }
    }

    /// Runs `f` (a non-blocking call on the fd); a `WouldBlock` clears the readiness so
    /// the next [`Conn::ready`] waits for the kernel.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        match self {
            Conn::Tcp(s) => s.try_io(interest, f),
            Conn::Unix(s) => s.try_io(interest, f),
        }
    }

    /// No more data goes this way (the peer reads end-of-file), while the other way stays open.
    pub fn shutdown_write(&self) -> io::Result<()> {
        let how = nix::sys::socket::Shutdown::Write;
        nix::sys::socket::shutdown(std::os::fd::AsRawFd::as_raw_fd(&self.as_fd()), how)
            .map_err(io::Error::from)
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Conn::Tcp(s) => s.as_fd(),
            Conn::Unix(s) => s.as_fd(),
        }
    }
}
