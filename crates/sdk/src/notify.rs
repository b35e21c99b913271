//! The client side of the notify protocol: one datagram per message set to `NOTIFY_SOCKET`.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// Sends notify messages (`READY=1`, `STATUS=...`) to steward.
///
/// Cheap to clone and safe to share between threads. Get it from
/// [`Service::notifier`](crate::Service::notifier); outside steward (no `NOTIFY_SOCKET`) every method does
/// nothing and returns `Ok(())`.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Arc<Result<Target, String>>>,
}

#[derive(Debug)]
struct Target {
    addr: SocketAddr,
    socket: UnixDatagram,
}

impl Notifier {
    /// A notifier that sends nothing, as outside steward.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// A notifier for the value of `NOTIFY_SOCKET`: `@name` for an abstract socket,
    /// otherwise a path.
    pub fn new(notify_socket: &str) -> io::Result<Self> {
        let addr = match notify_socket.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None if notify_socket.starts_with('/') => SocketAddr::from_pathname(notify_socket)?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "NOTIFY_SOCKET={notify_socket:?} is neither @abstract nor an absolute path"
                    ),
                ));
            }
        };
        // std opens sockets with CLOEXEC, so children we start do not inherit it.
        let socket = UnixDatagram::unbound()?;
        Ok(Self {
            target: Some(Arc::new(Ok(Target { addr, socket }))),
        })
    }

    /// A notifier whose every send fails with `reason`: a `NOTIFY_SOCKET` that cannot be
    /// used is reported where the program first notifies, not hidden.
    pub(crate) fn broken(reason: String) -> Self {
        Self {
            target: Some(Arc::new(Err(reason))),
        }
    }

    /// Whether messages go anywhere (steward gave a `NOTIFY_SOCKET`).
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends raw `KEY=VALUE` lines as one datagram. Values must not contain newlines;
    /// the typed methods below take care of that.
    pub fn send(&self, lines: &[&str]) -> io::Result<()> {
        let target = match self.target.as_deref() {
            None => return Ok(()),
            Some(Ok(target)) => target,
            Some(Err(reason)) => return Err(io::Error::other(reason.clone())),
        };
        let datagram = lines.join("\n");
        target
            .socket
            .send_to_addr(datagram.as_bytes(), &target.addr)?;
        Ok(())
    }

    /// `READY=1`: start-up is done; steward marks the instance running.
    pub fn ready(&self) -> io::Result<()> {
        self.send(&["READY=1"])
    }

    /// `READY=1` with a `STATUS=` line in the same datagram.
    pub fn ready_with_status(&self, status: &str) -> io::Result<()> {
        self.send(&["READY=1", &status_line(status)])
    }

    /// `STATUS=text`: one line shown in steward's status (newlines become spaces).
    pub fn status(&self, status: &str) -> io::Result<()> {
        self.send(&[&status_line(status)])
    }

    /// `RELOADING=1`: the program is reloading its configuration; send [`ready`](Self::ready)
    /// when done.
    pub fn reloading(&self) -> io::Result<()> {
        self.send(&["RELOADING=1"])
    }

    /// `STOPPING=1`: the program is shutting down. A non-zero exit after this is a
    /// reported stop rather than a failure (unless the service sets `failure_flag`).
    pub fn stopping(&self) -> io::Result<()> {
        self.send(&["STOPPING=1"])
    }

    /// `WATCHDOG=1`: proof of life within `WATCHDOG_USEC`.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send(&["WATCHDOG=1"])
    }

    /// `WATCHDOG=trigger`: asks steward to treat the watchdog as expired now.
    pub fn watchdog_trigger(&self) -> io::Result<()> {
        self.send(&["WATCHDOG=trigger"])
    }

    /// `WATCHDOG_USEC=N`: changes the watchdog period steward enforces.
    pub fn set_watchdog_interval(&self, interval: Duration) -> io::Result<()> {
        self.send(&[&format!("WATCHDOG_USEC={}", interval.as_micros())])
    }

    /// `EXTEND_TIMEOUT_USEC=N`: asks for `extra` more time for the current start,
    /// reload or stop.
    pub fn extend_timeout(&self, extra: Duration) -> io::Result<()> {
        self.send(&[&format!("EXTEND_TIMEOUT_USEC={}", extra.as_micros())])
    }

    /// `MAINPID=N`: another process is now the service's main process.
    pub fn main_pid(&self, pid: u32) -> io::Result<()> {
        self.send(&[&format!("MAINPID={pid}")])
    }

    /// `ERRNO=N`: an errno-style code for why the program is failing.
    pub fn errno(&self, errno: i32) -> io::Result<()> {
        self.send(&[&format!("ERRNO={errno}")])
    }

    /// `EXIT_STATUS=text`: why the program is about to exit, shown in steward's status.
    pub fn exit_status(&self, text: &str) -> io::Result<()> {
        self.send(&[&format!("EXIT_STATUS={}", one_line(text))])
    }

    /// `X_STEWARD=paused`: confirms a pause requested by the pause signal.
    pub fn paused(&self) -> io::Result<()> {
        self.send(&["X_STEWARD=paused"])
    }

    /// `X_STEWARD=continued`: confirms a continue requested by the continue signal.
    pub fn continued(&self) -> io::Result<()> {
        self.send(&["X_STEWARD=continued"])
    }
}

fn status_line(status: &str) -> String {
    format!("STATUS={}", one_line(status))
}

/// A newline would start a new `KEY=VALUE` line, letting text inject messages.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}
