//! The supervisor's side of systemd's notify protocol: one datagram socket per instance.
//!
//! Each instance with `notify = true` gets its own [`NotifySocket`], bound in Linux's
//! abstract namespace as `@steward/<steward pid>/<name>` (no file, so no permissions to set
//! and nothing to clean up: the name vanishes with the socket). The child is told the name in
//! `NOTIFY_SOCKET` (with the leading `@`, systemd's convention for abstract sockets, which
//! libsystemd, `systemd-notify` and the `sd-notify` crate understand).
//!
//! `SO_PASSCRED` is on, so the kernel stamps every datagram with the sender's pid, uid and
//! gid, whatever the sender does. [`NotifySocket::recv`] returns them with the parsed
//! messages ([`steward_core::notify::parse`]); [`sender_belongs`] decides whether the sender
//! is one of the instance's processes; [`spawn_reader`] forwards every datagram of a socket
//! to the supervisor's channel, tagged with the caller's key.
//!
//! File descriptors passed along a datagram (`FDSTORE=1`, and `BARRIER=1`, which
//! `systemd-notify` sends with a pipe and then waits until the pipe is closed) are closed at
//! once: steward keeps no descriptor of a service. Closing the barrier's pipe promptly is
//! what lets `systemd-notify` (without `--no-block`) exit instead of waiting 5 s.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg, setsockopt, sockopt,
};
use steward_core::notify::{self, Message};
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

/// The largest datagram read whole (systemd's limit too); longer ones are reported
/// [`Datagram::truncated`] and their content dropped.
pub const MAX_DATAGRAM: usize = 4096;

/// The most descriptors one `sendmsg` can pass (Linux's `SCM_MAX_FD`): room for them all, so
/// the control buffer never overflows and the credentials are always readable.
const MAX_FDS: usize = 253;

/// One instance's notify socket.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    /// `@steward/<pid>/<name>`: the value of `NOTIFY_SOCKET`.
    env: String,
}

/// One datagram, with the credentials the kernel attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The sender's pid (its thread group id) in steward's pid namespace; 0 if it is not
    /// visible there.
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    /// In the order sent; empty when `truncated`.
    pub messages: Vec<Message>,
    /// The datagram was longer than [`MAX_DATAGRAM`] bytes: its messages were dropped.
    pub truncated: bool,
}

impl NotifySocket {
    /// Binds `@steward/<steward pid>/<name>` (e.g. `name` = `web.0`), with `SO_PASSCRED`
    /// and close-on-exec. Must be called inside a tokio runtime. Fails with `InvalidInput`
    /// if `name` holds a NUL byte or makes the address longer than 107 bytes, and with
    /// `AddrInUse` if the name is taken.
    pub fn bind(name: &str) -> io::Result<NotifySocket> {
        if name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a notify socket name cannot contain NUL",
            ));
        }
        let env = format!("@steward/{}/{name}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&env.as_bytes()[1..])?;
        let socket = std::os::unix::net::UnixDatagram::bind_addr(&addr)?;
        setsockopt(&socket, sockopt::PassCred, &true)?;
        socket.set_nonblocking(true)?;
        let socket = UnixDatagram::from_std(socket)?;
        Ok(NotifySocket { socket, env })
    }

    /// The value for the child's `NOTIFY_SOCKET`: `@steward/<steward pid>/<name>`.
    pub fn env_value(&self) -> &str {
        &self.env
    }

    /// Waits for the next datagram. Datagrams without credentials (which `SO_PASSCRED`
    /// should make impossible) are skipped. Cancel-safe: a datagram is only taken off the
    /// socket by a call that returns it.
    pub async fn recv(&self) -> io::Result<Datagram> {
        loop {
            self.socket.readable().await?;
            match self.socket.try_io(Interest::READABLE, || self.recv_now()) {
                Ok(Some(datagram)) => return Ok(datagram),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next datagram already waiting, if any, without waiting. The supervisor calls it
    /// before it handles an exit, so that a `STOPPING=1` sent just before exiting is seen
    /// first. (Reading beside [`NotifySocket::recv`] is safe: each datagram is taken once,
    /// and a stale readiness only costs `recv` one `WouldBlock`.)
    pub fn try_recv(&self) -> io::Result<Option<Datagram>> {
        loop {
            match self.recv_now() {
                Ok(Some(datagram)) => return Ok(Some(datagram)),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// One non-blocking `recvmsg`: `Ok(None)` for a datagram to skip, `WouldBlock` when
    /// there is none.
    fn recv_now(&self) -> io::Result<Option<Datagram>> {
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut cmsg = nix::cmsg_space!(UnixCredentials, [RawFd; MAX_FDS]);
        let (bytes, truncated, creds) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
            let msg = match recvmsg::<()>(self.socket.as_raw_fd(), &mut iov, Some(&mut cmsg), flags)
            {
                Err(nix::errno::Errno::EINTR) => continue,
                result => result?,
            };
            let mut creds = None;
            // An overflowing control buffer (impossible with room for SCM_MAX_FD fds) hides
            // the credentials: the datagram is then skipped.
            if let Ok(cmsgs) = msg.cmsgs() {
                for cmsg in cmsgs {
                    match cmsg {
                        ControlMessageOwned::ScmCredentials(c) => creds = Some(c),
                        ControlMessageOwned::ScmRights(fds) => {
                            for fd in fds {
                                let _ = nix::unistd::close(fd);
                            }
                        }
                        _ => {}
                    }
                }
            }
            break (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC), creds);
        };
        let Some(creds) = creds else {
            warn!(socket = %self.env, "notify datagram without credentials, skipped");
            return Ok(None);
        };
        let messages = if truncated {
            Vec::new()
        } else {
            notify::parse(&buf[..bytes.min(MAX_DATAGRAM)])
        };
        Ok(Some(Datagram {
            pid: creds.pid(),
            uid: creds.uid(),
            gid: creds.gid(),
            messages,
            truncated,
        }))
    }
}

/// Whether a notify datagram's sender is one of the instance's processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Belongs {
    Yes,
    /// Why not, for the log.
    No(String),
}

/// Decides whether the sender of a datagram (`pid`, `uid` from its credentials) belongs to
/// the instance whose leader is `session` (steward starts each instance with `setsid`, so
/// all its processes share the session whose id is the leader's pid) and that runs as
/// `expected_uid`.
///
/// - If `/proc/<pid>/stat` exists (the sender still runs, or is a zombie), the sender
///   belongs iff its session (field 6) is `session`.
/// - If the sender is gone (a short-lived helper such as `systemd-notify --no-block`, or a
///   shell around it, that exited before steward read the datagram), its session can no
///   longer be checked, and it belongs iff `uid == expected_uid`. The trade-off: the socket's
///   name is told only to this instance (`NOTIFY_SOCKET`), so a sender that knows it and runs
///   as the instance's user is almost certainly one of its processes; but a process of the
///   same user outside the instance that learnt the name and exited quickly would be
///   accepted. Conversely, if the pid was reused by an unrelated process before the check,
///   a genuine message is refused (rare: it takes a pid wrap-around in between).
/// - A pid of 0 (the sender is in a pid namespace steward cannot see) never belongs.
pub fn sender_belongs(pid: i32, uid: u32, session: u32, expected_uid: u32) -> Belongs {
    if pid <= 0 {
        return Belongs::No(format!(
            "sender pid {pid} is not visible in steward's pid namespace"
        ));
    }
    let path = format!("/proc/{pid}/stat");
    match std::fs::read_to_string(&path) {
        Ok(stat) => match session_of(&stat) {
            Some(sid) if sid == session => Belongs::Yes,
            Some(sid) => Belongs::No(format!(
                "sender pid {pid} is in session {sid}, not the instance's ({session})"
            )),
            None => Belongs::No(format!("cannot parse {path}")),
        },
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::ESRCH) =>
        {
            if uid == expected_uid {
                Belongs::Yes
            } else {
                Belongs::No(format!(
                    "sender pid {pid} has exited and its uid {uid} is not the instance's ({expected_uid})"
                ))
            }
        }
        Err(e) => Belongs::No(format!("cannot read {path}: {e}")),
    }
}

/// The session id (field 6) of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
fn session_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    // state, ppid, pgrp, session
    rest.split_ascii_whitespace().nth(3)?.parse().ok()
}

/// Forwards every datagram of `socket` to `tx`, each wrapped by `wrap` (e.g. into the
/// supervisor's event with the instance's key), until `tx`'s receiver is dropped (or the
/// task is aborted). A receive error is logged and retried after 100 ms.
pub fn spawn_reader<E: Send + 'static>(
    socket: Arc<NotifySocket>,
    tx: mpsc::UnboundedSender<E>,
    wrap: impl Fn(Datagram) -> E + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                () = tx.closed() => return,
                received = socket.recv() => received,
            };
            match received {
                Ok(datagram) => {
                    if tx.send(wrap(datagram)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!(socket = %socket.env, "notify socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{SocketAddr, UnixDatagram as StdDatagram};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use nix::unistd::{getgid, getsid, getuid};

    /// A unique socket name per test (tests share the process, so the steward pid).
    fn bind(test: &str) -> NotifySocket {
        NotifySocket::bind(&format!("test.{test}")).expect("bind")
    }

    fn send(socket: &NotifySocket, bytes: &[u8]) {
        let addr = SocketAddr::from_abstract_name(&socket.env_value().as_bytes()[1..]).unwrap();
        let sender = StdDatagram::unbound().unwrap();
        assert_eq!(sender.send_to_addr(bytes, &addr).unwrap(), bytes.len());
    }

    async fn recv(socket: &NotifySocket) -> Datagram {
        tokio::time::timeout(Duration::from_secs(5), socket.recv())
            .await
            .expect("no datagram within 5s")
            .expect("recv")
    }

    fn me() -> (i32, u32, u32) {
        (
            std::process::id() as i32,
            getuid().as_raw(),
            getgid().as_raw(),
        )
    }

    fn my_session() -> u32 {
        getsid(None).unwrap().as_raw() as u32
    }

    #[tokio::test]
    async fn env_value_is_abstract_and_named() {
        let socket = bind("env");
        assert_eq!(
            socket.env_value(),
            format!("@steward/{}/test.env", std::process::id())
        );
        // The name is taken while the socket lives, and free again once it is dropped.
        let again = NotifySocket::bind("test.env").unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AddrInUse);
        drop(socket);
        NotifySocket::bind("test.env").expect("rebind after drop");
    }

    #[tokio::test]
    async fn bad_names() {
        assert_eq!(
            NotifySocket::bind("a\0b").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            NotifySocket::bind(&"x".repeat(200)).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[tokio::test]
    async fn receives_with_credentials() {
        let socket = bind("creds");
        send(&socket, b"READY=1");
        let (pid, uid, gid) = me();
        assert_eq!(
            recv(&socket).await,
            Datagram {
                pid,
                uid,
                gid,
                messages: vec![Message::Ready],
                truncated: false,
            }
        );
    }

    #[tokio::test]
    async fn several_messages_in_one_datagram() {
        let socket = bind("several");
        send(&socket, b"READY=1\nSTATUS=serving 3 clients\nMAINPID=42\n");
        send(&socket, b"WATCHDOG=1");
        let first = recv(&socket).await;
        assert_eq!(
            first.messages,
            vec![
                Message::Ready,
                Message::Status("serving 3 clients".into()),
                Message::MainPid(42),
            ]
        );
        assert_eq!(recv(&socket).await.messages, vec![Message::Watchdog]);
    }

    #[tokio::test]
    async fn garbage_is_reported_not_fatal() {
        let socket = bind("garbage");
        send(
            &socket,
            b"\xff\xfe\0READY\nREADY=0\n\nFDSTORE=1\nX_STEWARD=paused",
        );
        send(&socket, b"");
        let d = recv(&socket).await;
        assert!(!d.truncated);
        assert_eq!(d.messages.len(), 5);
        assert!(matches!(d.messages[0], Message::Invalid(_)));
        assert!(matches!(d.messages[1], Message::Invalid(_)));
        assert!(matches!(d.messages[2], Message::Invalid(_)));
        assert_eq!(d.messages[3], Message::Unknown("FDSTORE".into()));
        assert_eq!(d.messages[4], Message::Steward("paused".into()));
        // An empty datagram still arrives, with no message.
        assert_eq!(recv(&socket).await.messages, vec![]);
    }

    #[tokio::test]
    async fn long_datagrams_are_truncated() {
        let socket = bind("long");
        let exact = format!("STATUS={}", "x".repeat(MAX_DATAGRAM - 7));
        assert_eq!(exact.len(), MAX_DATAGRAM);
        send(&socket, exact.as_bytes());
        send(&socket, format!("{exact}y").as_bytes());
        send(&socket, b"READY=1");
        let d = recv(&socket).await;
        assert!(!d.truncated);
        assert_eq!(
            d.messages,
            vec![Message::Status("x".repeat(MAX_DATAGRAM - 7))]
        );
        let d = recv(&socket).await;
        assert!(d.truncated);
        assert_eq!(d.messages, vec![]);
        assert_eq!(d.pid, me().0);
        // The next datagram is intact.
        assert_eq!(recv(&socket).await.messages, vec![Message::Ready]);
    }

    #[tokio::test]
    async fn passed_fds_are_closed() {
        use nix::sys::socket::{ControlMessage, sendmsg};
        use std::io::{IoSlice, Read};
        let socket = bind("fds");
        let addr =
            nix::sys::socket::UnixAddr::new_abstract(&socket.env_value().as_bytes()[1..]).unwrap();
        let sender = StdDatagram::unbound().unwrap();
        let (mut read, write) = std::io::pipe().unwrap();
        let fds = [write.as_raw_fd()];
        sendmsg(
            sender.as_raw_fd(),
            &[IoSlice::new(b"BARRIER=1")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            Some(&addr),
        )
        .unwrap();
        drop(write);
        let d = recv(&socket).await;
        assert_eq!(d.messages, vec![Message::Unknown("BARRIER".into())]);
        // Every write end is closed: the read end sees end-of-file.
        let mut rest = Vec::new();
        assert_eq!(read.read_to_end(&mut rest).unwrap(), 0);
    }

    #[tokio::test]
    async fn reader_forwards_until_the_channel_closes() {
        let socket = Arc::new(bind("reader"));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reader = spawn_reader(socket.clone(), tx, |d| ("web.0", d));
        send(&socket, b"READY=1");
        send(&socket, b"STATUS=up");
        let (key, d) = rx.recv().await.unwrap();
        assert_eq!((key, d.messages), ("web.0", vec![Message::Ready]));
        let (key, d) = rx.recv().await.unwrap();
        assert_eq!(
            (key, d.messages),
            ("web.0", vec![Message::Status("up".into())])
        );
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the reader ends when the channel closes")
            .unwrap();
    }

    #[test]
    fn belongs_same_session() {
        let (pid, uid, _) = me();
        assert_eq!(sender_belongs(pid, uid, my_session(), uid), Belongs::Yes);
        // The session decides while the process lives, not the uid.
        assert_eq!(
            sender_belongs(pid, uid, my_session(), uid + 1),
            Belongs::Yes
        );
    }

    #[test]
    fn belongs_not_foreign_session() {
        let mut child = Command::new("sleep");
        child.arg("30");
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            child.pre_exec(|| nix::unistd::setsid().map(drop).map_err(io::Error::from));
        }
        let mut child = child.spawn().unwrap();
        let (_, uid, _) = me();
        let verdict = sender_belongs(child.id() as i32, uid, my_session(), uid);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(matches!(verdict, Belongs::No(_)), "{verdict:?}");
        // Nor in the session of a process that is not its own leader.
        let verdict = sender_belongs(me().0, uid, child.id(), uid);
        assert!(matches!(verdict, Belongs::No(_)), "{verdict:?}");
    }

    #[test]
    fn belongs_dead_sender_by_uid() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        let (_, uid, _) = me();
        assert_eq!(sender_belongs(pid, uid, 1, uid), Belongs::Yes);
        let verdict = sender_belongs(pid, uid, 1, uid + 1);
        assert!(matches!(verdict, Belongs::No(_)), "{verdict:?}");
        let verdict = sender_belongs(0, uid, 1, uid);
        assert!(matches!(verdict, Belongs::No(_)), "{verdict:?}");
    }

    #[test]
    fn session_field() {
        assert_eq!(
            session_of("42 (sleep) S 1 42 42 0 -1 4194560 ..."),
            Some(42)
        );
        assert_eq!(session_of("7 (a) b) (c) R 1 8 9 10 11"), Some(9));
        assert_eq!(session_of("7 (a b c"), None);
        assert_eq!(session_of("7 (x) R 1"), None);
    }

    /// `systemd-notify` (with its default barrier) against the socket, read while it runs:
    /// the barrier's pipe must be closed for it to exit at once.
    #[tokio::test]
    async fn systemd_notify_with_barrier() {
        let Some(bin) = systemd_notify() else { return };
        let socket = bind("systemd-notify");
        let started = Instant::now();
        let child = Command::new(bin)
            .args(["--ready", "--status=hi"])
            .env("NOTIFY_SOCKET", socket.env_value())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = recv(&socket).await;
        assert_eq!(
            d.messages,
            vec![Message::Ready, Message::Status("hi".into())]
        );
        let barrier = recv(&socket).await;
        assert_eq!(barrier.messages, vec![Message::Unknown("BARRIER".into())]);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "waited for the barrier's timeout"
        );
        let (_, uid, _) = me();
        // Sent by systemd-notify itself or, as root, in its parent's name (this process).
        assert_eq!(d.uid, uid);
        assert_eq!(
            sender_belongs(d.pid, d.uid, my_session(), uid),
            Belongs::Yes
        );
    }

    /// `systemd-notify --no-block` from a shell: both have exited before the datagram is read.
    #[tokio::test]
    async fn systemd_notify_exited_before_read() {
        let Some(bin) = systemd_notify() else { return };
        let socket = bind("systemd-notify-gone");
        let status = Command::new("sh")
            .args(["-c", &format!("{bin} --no-block --ready --status=hi; true")])
            .env("NOTIFY_SOCKET", socket.env_value())
            .status()
            .unwrap();
        assert!(status.success());
        let d = recv(&socket).await;
        assert_eq!(
            d.messages,
            vec![Message::Ready, Message::Status("hi".into())]
        );
        assert_ne!(
            d.pid,
            me().0,
            "sent by the shell or systemd-notify, not the test"
        );
        assert!(!std::path::Path::new(&format!("/proc/{}", d.pid)).exists());
        let (_, uid, _) = me();
        // Gone: judged by uid (the session 1 is not checked any more).
        assert_eq!(sender_belongs(d.pid, d.uid, 1, uid), Belongs::Yes);
        assert!(matches!(
            sender_belongs(d.pid, d.uid, 1, uid + 1),
            Belongs::No(_)
        ));
    }

    fn systemd_notify() -> Option<&'static str> {
        let bin = "/usr/bin/systemd-notify";
        if std::path::Path::new(bin).exists() {
            Some(bin)
        } else {
            eprintln!("{bin} not installed: skipped");
            None
        }
    }
}
