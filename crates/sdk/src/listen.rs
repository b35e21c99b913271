//! Listening sockets: inherited through socket activation or bound from `STEWARD_LISTEN`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{
    AddressFamily, SockType, SockaddrLike, SockaddrStorage, getsockname, getsockopt, sockopt,
};

/// The first fd of socket activation (after stdin, stdout, stderr).
pub const LISTEN_FDS_START: RawFd = 3;

/// A listening socket handed to or bound for the service.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener (IPv4 or IPv6).
    Tcp(TcpListener),
    /// A Unix stream listener.
    Unix(UnixListener),
}

impl Listener {
    /// Puts the listener in (or out of) non-blocking mode, as async runtimes need.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(nonblocking),
            Listener::Unix(l) => l.set_nonblocking(nonblocking),
        }
    }

    /// The address it listens on, as a [`ListenAddress`] (`None` for an unnamed or abstract
    /// Unix socket).
    pub fn local_address(&self) -> io::Result<Option<ListenAddress>> {
        Ok(match self {
            Listener::Tcp(l) => Some(ListenAddress::Tcp(l.local_addr()?)),
            Listener::Unix(l) => l
                .local_addr()?
                .as_pathname()
                .map(|p| ListenAddress::Unix(p.to_path_buf())),
        })
    }

    /// Converts into a tokio listener (made non-blocking first, as tokio requires).
    /// Must be called inside a tokio runtime.
    #[cfg(feature = "tokio")]
    pub fn into_tokio(self) -> io::Result<TokioListener> {
        self.set_nonblocking(true)?;
        Ok(match self {
            Listener::Tcp(l) => TokioListener::Tcp(tokio::net::TcpListener::from_std(l)?),
            Listener::Unix(l) => TokioListener::Unix(tokio::net::UnixListener::from_std(l)?),
        })
    }

    /// Takes an inherited fd, telling TCP from Unix by its address family.
    fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        // Inherited fds arrive without CLOEXEC; programs we start must not keep them open.
        fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        let kind = getsockopt(&fd, sockopt::SockType)?;
        if kind != SockType::Stream {
            return Err(invalid(format!(
                "fd {} is a {kind:?} socket, not a stream listener",
                fd.as_raw_fd()
            )));
        }
        let addr: SockaddrStorage = getsockname(fd.as_raw_fd())?;
        match addr.family() {
            Some(AddressFamily::Inet | AddressFamily::Inet6) => {
                Ok(Listener::Tcp(TcpListener::from(fd)))
            }
            Some(AddressFamily::Unix) => Ok(Listener::Unix(UnixListener::from(fd))),
            other => Err(invalid(format!(
                "fd {} has unsupported address family {other:?}",
                fd.as_raw_fd()
            ))),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A tokio listener, from [`Listener::into_tokio`].
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub enum TokioListener {
    /// A tokio TCP listener.
    Tcp(tokio::net::TcpListener),
    /// A tokio Unix listener.
    Unix(tokio::net::UnixListener),
}

/// Where to listen: the syntax of `STEWARD_LISTEN`, `unix:/abs/path` or `tcp:IP:PORT`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddress {
    /// A Unix stream socket at an absolute path.
    Unix(PathBuf),
    /// A TCP address (`tcp:[::1]:80` for IPv6).
    Tcp(SocketAddr),
}

impl ListenAddress {
    /// Binds a listener here. For Unix, a stale socket file left by an earlier run is
    /// removed first; any other kind of file there is an error, never deleted.
    pub fn bind(&self) -> io::Result<Listener> {
        match self {
            ListenAddress::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr)?)),
            ListenAddress::Unix(path) => {
                remove_stale_socket(path)?;
                Ok(Listener::Unix(UnixListener::bind(path)?))
            }
        }
    }
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl FromStr for ListenAddress {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Self> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(invalid(format!(
                    "{s:?}: a unix address needs an absolute path"
                )));
            }
            Ok(ListenAddress::Unix(PathBuf::from(path)))
        } else if let Some(addr) = s.strip_prefix("tcp:") {
            addr.parse().map(ListenAddress::Tcp).map_err(|_| {
                invalid(format!(
                    "{s:?}: expected tcp:IP:PORT (tcp:[::1]:PORT for IPv6)"
                ))
            })
        } else {
            Err(invalid(format!(
                "{s:?}: expected unix:/path or tcp:IP:PORT"
            )))
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ListenAddress::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

/// Takes `count` inherited fds from [`LISTEN_FDS_START`] on.
///
/// # Safety
/// The fds must be open, owned by nobody else in this process, and not taken twice.
pub(crate) unsafe fn take_fds(
    count: usize,
    names: Vec<String>,
) -> io::Result<Vec<(String, Listener)>> {
    let mut listeners = Vec::with_capacity(count);
    let mut names = names.into_iter();
    let mut first_error = None;
    for i in 0..count {
        let raw = LISTEN_FDS_START + i as RawFd;
        // SAFETY: the caller promises these fds are ours to own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let name = names.next().unwrap_or_else(|| "unknown".to_string());
        // Keep taking the rest after a bad fd so that none stays open unowned.
        match Listener::from_fd(fd) {
            Ok(l) => listeners.push((name, l)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(listeners),
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
