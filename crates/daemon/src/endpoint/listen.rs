//! Binding an endpoint's address. A Unix socket gets its group and mode before it
//! appears at its path (the control socket's way); a TCP one reuses the address so a
//! restarted steward binds at once.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use steward_core::config::{EndpointMode, EndpointSpec};
use steward_core::endpoint::Address;

/// A Unix endpoint's file mode without `socket_mode`: anyone may connect, and the ACL
/// (if any) decides.
pub const DEFAULT_MODE: u32 = 0o666;

/// An endpoint's bound, listening socket.
pub enum Bound {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// What the proxy accepts on.
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// Binds `spec.listen`. A socket passed to instances (socket mode) stays blocking, as
/// systemd passes them; programs that want otherwise set it themselves.
pub fn bind(spec: &EndpointSpec) -> Result<Bound, String> {
    let bound = match &spec.listen {
        Address::Tcp(addr) => {
            let socket = match addr {
                std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            }
            .and_then(|s| {
                s.set_reuseaddr(true)?;
                s.bind(*addr)?;
                s.listen(1024)
            })
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let std = socket.into_std().map_err(|e| e.to_string())?;
            Bound::Tcp(std)
        }
        Address::Unix(path) => {
            let gid = match &spec.socket_group {
                Some(name) => Some(
                    nix::unistd::Group::from_name(name)
                        .ok()
                        .flatten()
                        .ok_or_else(|| format!("no group `{name}`"))?
                        .gid
                        .as_raw(),
                ),
                None => None,
            };
            let mode = spec.socket_mode.unwrap_or(DEFAULT_MODE);
            let listener = crate::api::bind(path, mode, gid)
                .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
            Bound::Unix(listener.into_std().map_err(|e| e.to_string())?)
        }
    };
    if spec.mode == EndpointMode::Socket {
        set_blocking(&bound).map_err(|e| e.to_string())?;
    }
    Ok(bound)
}

fn set_blocking(b: &Bound) -> io::Result<()> {
    match b {
        Bound::Tcp(l) => l.set_nonblocking(false),
        Bound::Unix(l) => l.set_nonblocking(false),
    }
}

impl Bound {
    /// A second handle on the socket for the proxy to accept on.
    pub fn to_tokio(&self) -> io::Result<Listener> {
        Ok(match self {
            Bound::Tcp(l) => {
                let l = l.try_clone()?;
                l.set_nonblocking(true)?;
                Listener::Tcp(tokio::net::TcpListener::from_std(l)?)
            }
            Bound::Unix(l) => {
                let l = l.try_clone()?;
                l.set_nonblocking(true)?;
                Listener::Unix(tokio::net::UnixListener::from_std(l)?)
            }
        })
    }
}

impl AsFd for Bound {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Bound::Tcp(l) => l.as_fd(),
            Bound::Unix(l) => l.as_fd(),
        }
    }
}
