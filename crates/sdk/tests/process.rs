//! The SDK in real child processes: inherited fds, real signals. The test binary re-runs
//! itself with `SDK_CHILD` naming what the child does (see `child`), since signal handlers,
//! fds 3.. and the environment are process-wide.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use steward_sdk::{DEADLINE_EXIT_CODE, Listener, Service};

/// What a child does, selected by `SDK_CHILD`; a no-op in a normal test run.
#[test]
fn child() {
    let Ok(mode) = std::env::var("SDK_CHILD") else {
        return;
    };
    let service = Service::from_env();
    let mut out = std::io::stdout();
    match mode.as_str() {
        "listen-fds" => {
            let listeners = service.take_named_listeners().unwrap();
            let env_left = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]
                .iter()
                .any(|k| std::env::var_os(k).is_some());
            for (name, listener) in listeners {
                let cloexec = nix::fcntl::fcntl(&listener, nix::fcntl::FcntlArg::F_GETFD).unwrap()
                    & nix::fcntl::FdFlag::FD_CLOEXEC.bits()
                    != 0;
                let reply = format!("{name} cloexec={cloexec} env_left={env_left}\n");
                match listener {
                    Listener::Tcp(l) => l
                        .accept()
                        .unwrap()
                        .0
                        .write_all(format!("tcp {reply}").as_bytes())
                        .unwrap(),
                    Listener::Unix(l) => l
                        .accept()
                        .unwrap()
                        .0
                        .write_all(format!("unix {reply}").as_bytes())
                        .unwrap(),
                }
            }
        }
        "stop" => {
            let stop = service.stop_token().unwrap();
            writeln!(out, "armed").unwrap();
            let stopped = stop.wait_timeout(Duration::from_secs(20));
            writeln!(out, "stopped={stopped}").unwrap();
            std::process::exit(if stopped { 0 } else { 3 });
        }
        "deadline" => {
            let stop = service.stop_token().unwrap();
            writeln!(out, "armed").unwrap();
            // Work that ignores the stop: the deadline must end the process.
            service.run_with_deadline(&stop, Duration::from_millis(200), || {
                std::thread::sleep(Duration::from_secs(20))
            });
            std::process::exit(3);
        }
        "pause" => {
            service
                .on_pause(
                    || println!("pause-callback"),
                    || println!("continue-callback"),
                )
                .unwrap();
            let stop = service.stop_token().unwrap();
            writeln!(out, "armed").unwrap();
            stop.wait_timeout(Duration::from_secs(20));
        }
        other => panic!("unknown SDK_CHILD {other}"),
    }
}

/// A child process killed when dropped, so none outlives its test.
struct ChildGuard {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl ChildGuard {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdout }
    }

    /// The next line the child prints that is not the test harness's own.
    fn line(&mut self) -> String {
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "child closed stdout"
            );
            let line = line.trim_end().to_string();
            if !(line.is_empty() || line.starts_with("running ") || line.starts_with("test ")) {
                return line;
            }
        }
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "child did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn child_command(mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("SDK_CHILD", mode);
    for var in [
        "NOTIFY_SOCKET",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "STEWARD_LISTEN",
        "WATCHDOG_USEC",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn notify_socket(dir: &tempfile::TempDir) -> (UnixDatagram, String) {
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (socket, path.to_str().unwrap().to_string())
}

fn recv(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notify datagram within 10 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn listen_fds_hands_tcp_and_unix_listeners_to_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let unix_path = dir.path().join("admin.sock");
    let unix = UnixListener::bind(&unix_path).unwrap();
    let (tcp_fd, unix_fd) = (tcp.as_raw_fd(), unix.as_raw_fd());

    // LISTEN_PID must be the child's own pid, known only after fork: the shell sets it to
    // its pid ($$) and execs the test binary, which keeps that pid.
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "LISTEN_PID=$$ exec \"$0\" \"$@\""])
        .arg(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("SDK_CHILD", "listen-fds")
        .env("LISTEN_FDS", "2")
        .env("LISTEN_FDNAMES", "web:admin")
        .env_remove("LISTEN_PID")
        .env_remove("STEWARD_LISTEN");
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Move both out of the way first, in case either already sits at 3 or 4.
            let high_tcp = nix::libc::fcntl(tcp_fd, nix::libc::F_DUPFD, 100);
            let high_unix = nix::libc::fcntl(unix_fd, nix::libc::F_DUPFD, 100);
            if high_tcp < 0
                || high_unix < 0
                || nix::libc::dup2(high_tcp, 3) < 0
                || nix::libc::dup2(high_unix, 4) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = ChildGuard::spawn(cmd);
    // The parent's copies go: only the child can accept now.
    drop((tcp, unix));

    let mut conn = std::net::TcpStream::connect_timeout(&tcp_addr, Duration::from_secs(5)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "tcp web cloexec=true env_left=false\n");

    let mut conn = UnixStream::connect(&unix_path).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "unix admin cloexec=true env_left=false\n");
    assert!(child.wait(Duration::from_secs(10)).success());
}

#[test]
fn sigterm_trips_the_stop_token() {
    let mut child = ChildGuard::spawn(child_command("stop"));
    assert_eq!(child.line(), "armed");
    child.signal(Signal::SIGTERM);
    assert_eq!(child.line(), "stopped=true");
    assert_eq!(child.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn sigint_trips_the_stop_token_too() {
    let mut child = ChildGuard::spawn(child_command("stop"));
    assert_eq!(child.line(), "armed");
    child.signal(Signal::SIGINT);
    assert_eq!(child.line(), "stopped=true");
    assert_eq!(child.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn work_past_its_shutdown_deadline_exits_with_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, value) = notify_socket(&dir);
    let mut cmd = child_command("deadline");
    cmd.env("NOTIFY_SOCKET", &value);
    let mut child = ChildGuard::spawn(cmd);
    assert_eq!(child.line(), "armed");
    let sent = Instant::now();
    child.signal(Signal::SIGTERM);
    let status = child.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(DEADLINE_EXIT_CODE.into()));
    assert!(sent.elapsed() >= Duration::from_millis(200));
    assert!(recv(&socket).starts_with("EXIT_STATUS=did not stop within"));
}

#[test]
fn pause_and_continue_run_callbacks_and_are_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, value) = notify_socket(&dir);
    let mut cmd = child_command("pause");
    cmd.env("NOTIFY_SOCKET", &value)
        .env_remove("STEWARD_PAUSE_SIGNAL")
        .env_remove("STEWARD_CONTINUE_SIGNAL");
    let mut child = ChildGuard::spawn(cmd);
    assert_eq!(child.line(), "armed");
    child.signal(Signal::SIGUSR1);
    assert_eq!(child.line(), "pause-callback");
    assert_eq!(recv(&socket), "X_STEWARD=paused");
    child.signal(Signal::SIGUSR2);
    assert_eq!(child.line(), "continue-callback");
    assert_eq!(recv(&socket), "X_STEWARD=continued");
    child.signal(Signal::SIGTERM);
    assert!(child.wait(Duration::from_secs(10)).success());
}

#[test]
fn the_pause_signal_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, value) = notify_socket(&dir);
    let mut cmd = child_command("pause");
    cmd.env("NOTIFY_SOCKET", &value)
        .env("STEWARD_PAUSE_SIGNAL", "HUP")
        .env("STEWARD_CONTINUE_SIGNAL", "WINCH");
    let mut child = ChildGuard::spawn(cmd);
    assert_eq!(child.line(), "armed");
    child.signal(Signal::SIGHUP);
    assert_eq!(child.line(), "pause-callback");
    assert_eq!(recv(&socket), "X_STEWARD=paused");
    child.signal(Signal::SIGWINCH);
    assert_eq!(recv(&socket), "X_STEWARD=continued");
}
