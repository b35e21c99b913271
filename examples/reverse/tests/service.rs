//! The real `reverse` and `reverse-client` binaries, as steward would run them: addresses
//! from STEWARD_LISTEN, readiness and confirmations on a notify socket the test binds.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const REVERSE: &str = env!("CARGO_BIN_EXE_reverse");
const CLIENT: &str = env!("CARGO_BIN_EXE_reverse-client");

/// A running `reverse`, killed when dropped so that none outlives its test.
struct Reverse {
    child: Child,
    notify: UnixDatagram,
    /// The address clients use, as `unix:/path` or `tcp:IP:PORT`.
    address: String,
    _dir: tempfile::TempDir,
}

impl Reverse {
    /// Starts it on a Unix socket in a temp dir.
    fn unix(instance: u32, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("unix:{}", dir.path().join("reverse.sock").display());
        Self::start(dir, &listen, instance, extra)
    }

    /// Starts it on a TCP port the kernel picks; the address comes from its READY status.
    fn tcp(instance: u32, extra: &[&str]) -> Self {
        Self::start(
            tempfile::tempdir().unwrap(),
            "tcp:127.0.0.1:0",
            instance,
            extra,
        )
    }

    fn start(dir: tempfile::TempDir, listen: &str, instance: u32, extra: &[&str]) -> Self {
        Self::start_with(dir, listen, instance, extra, &[])
    }

    fn start_with(
        dir: tempfile::TempDir,
        listen: &str,
        instance: u32,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let notify_path = dir.path().join("notify");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let child = Command::new(REVERSE)
            .args(extra)
            .env("STEWARD_LISTEN", listen)
            .env("STEWARD_SERVICE", "reverse")
            .env("STEWARD_INSTANCE", instance.to_string())
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reverse = Self {
            child,
            notify,
            address: String::new(),
            _dir: dir,
        };
        let ready = reverse.recv();
        let status = ready
            .strip_prefix("READY=1\nSTATUS=listening on ")
            .unwrap_or_else(|| panic!("{ready:?}"));
        reverse.address = status.to_string();
        reverse
    }

    fn recv(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self
            .notify
            .recv(&mut buf)
            .expect("a notify message within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Waits for a notify message starting with `prefix`, skipping others (STATUS updates).
    fn expect_message(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let msg = self.recv();
            if msg.starts_with(prefix) {
                return msg;
            }
        }
        panic!("no {prefix:?} message within 10 s");
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
                "reverse did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn path(&self) -> &str {
        self.address.strip_prefix("unix:").expect("a unix address")
    }

    fn connect_unix(&self) -> UnixStream {
        let stream = UnixStream::connect(self.path()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    fn client(&self, args: &[&str]) -> Output {
        Command::new(CLIENT)
            .arg("--address")
            .arg(&self.address)
            .args(args)
            .env_remove("REVERSE_ADDRESS")
            .output()
            .unwrap()
    }
}

impl Drop for Reverse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Reads one answer ending in `terminator`.
fn read_answer(reader: &mut impl BufRead, terminator: u8) -> String {
    let mut answer = Vec::new();
    reader.read_until(terminator, &mut answer).unwrap();
    String::from_utf8(answer).unwrap()
}

#[test]
fn the_client_gets_reversed_text_over_unix() {
    let reverse = Reverse::unix(2, &[]);
    for (text, expected) in [
        ("hello", "olleh (instance 2)\n"),
        ("ae\u{301}", "e\u{301}a (instance 2)\n"),
        (
            "🇫🇷🇩🇪 👨\u{200d}👩\u{200d}👧!",
            "!👨\u{200d}👩\u{200d}👧 🇩🇪🇫🇷 (instance 2)\n",
        ),
    ] {
        let output = reverse.client(&[text]);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(stdout(&output), expected);
    }
}

#[test]
fn the_client_gets_reversed_text_over_tcp() {
    let reverse = Reverse::tcp(0, &[]);
    assert!(
        reverse.address.starts_with("tcp:127.0.0.1:"),
        "{}",
        reverse.address
    );
    let output = reverse.client(&["steward"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "drawets (instance 0)\n");
    let output = reverse.client(&["--nul", "nul-ended"]);
    assert_eq!(stdout(&output), "dedne-lun (instance 0)\n");
    let output = reverse.client(&["two\nlines"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn one_connection_carries_several_requests_with_either_terminator() {
    let reverse = Reverse::unix(1, &[]);
    let mut stream = reverse.connect_unix();
    stream.write_all(b"abc\ndef\0gh\r\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_answer(&mut reader, b'\n'), "cba (instance 1)\n");
    assert_eq!(read_answer(&mut reader, b'\0'), "fed (instance 1)\0");
    assert_eq!(read_answer(&mut reader, b'\n'), "hg (instance 1)\r\n");
    // Requests split across writes are put back together.
    stream.write_all(b"sp").unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    stream.write_all(b"lit\0").unwrap();
    assert_eq!(read_answer(&mut reader, b'\0'), "tilps (instance 1)\0");
}

#[test]
fn fifty_connections_at_once() {
    let reverse = Reverse::unix(0, &["--delay", "50"]);
    let streams: Vec<UnixStream> = (0..50).map(|_| reverse.connect_unix()).collect();
    // All requests are sent before any answer is read: they are served concurrently.
    for (i, mut stream) in streams.iter().enumerate() {
        stream.write_all(format!("req{i}\n").as_bytes()).unwrap();
    }
    let started = Instant::now();
    for (i, stream) in streams.into_iter().enumerate() {
        let answer = read_answer(&mut BufReader::new(stream), b'\n');
        let expected: String = format!("req{i}").chars().rev().collect();
        assert_eq!(answer, format!("{expected} (instance 0)\n"));
    }
    // 50 answers delayed 50 ms each, one after another, would take 2.5 s.
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn count_reports_answers_per_instance() {
    let reverse = Reverse::tcp(4, &[]);
    let output = reverse.client(&["--count", "20", "--concurrency", "4"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "instance 4: 20\nfailed: 0\n");
    // The served count reaches steward's status.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reverse.expect_message("STATUS=").ends_with("served 20") {
        assert!(Instant::now() < deadline, "no STATUS with the final count");
    }
}

#[test]
fn the_client_names_the_address_it_cannot_reach() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:{}", dir.path().join("nobody.sock").display());
    let output = Command::new(CLIENT)
        .args(["--address", &address, "--count", "3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "failed: 3\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot connect to {address}")),
        "{stderr}"
    );

    let output = Command::new(CLIENT)
        .args(["--ping"])
        .env("REVERSE_ADDRESS", &address)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&address));
}

#[test]
fn ping_succeeds_quietly() {
    let reverse = Reverse::unix(0, &[]);
    let output = reverse.client(&["--ping"]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty());
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let mut reverse = Reverse::unix(3, &["--delay", "500"]);
    let mut busy = reverse.connect_unix();
    let idle = reverse.connect_unix();
    busy.write_all(b"draining\n").unwrap();
    // Let the request arrive before the stop.
    std::thread::sleep(Duration::from_millis(100));
    let stopped = Instant::now();
    reverse.signal(Signal::SIGTERM);
    assert_eq!(
        read_answer(&mut BufReader::new(busy), b'\n'),
        "gniniard (instance 3)\n"
    );
    let status = reverse.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    assert!(reverse.expect_message("STOPPING=1").contains("STOPPING=1"));
    // The idle connection was closed, and the socket file removed.
    let mut rest = Vec::new();
    let mut idle = idle;
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0);
    assert!(!std::path::Path::new(reverse.path()).exists());
}

#[test]
fn pause_stops_accepting_until_continue() {
    let reverse = Reverse::unix(0, &[]);
    reverse.signal(Signal::SIGUSR1);
    assert_eq!(reverse.expect_message("X_STEWARD="), "X_STEWARD=paused");
    // Connecting still works (the backlog), but nobody answers while paused.
    let mut stream = reverse.connect_unix();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stream.write_all(b"later\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut answer = String::new();
    assert!(
        reader.read_line(&mut answer).is_err(),
        "answered while paused: {answer:?}"
    );
    reverse.signal(Signal::SIGUSR2);
    assert_eq!(reverse.expect_message("X_STEWARD="), "X_STEWARD=continued");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_answer(&mut reader, b'\n'), "retal (instance 0)\n");
}

#[test]
fn the_watchdog_is_petted_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("unix:{}", dir.path().join("reverse.sock").display());
    let reverse = Reverse::start_with(dir, &listen, 0, &[], &[("WATCHDOG_USEC", "200000")]);
    for _ in 0..2 {
        assert_eq!(reverse.expect_message("WATCHDOG"), "WATCHDOG=1");
    }
}

#[test]
fn a_socket_passed_in_listen_fds_is_served() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // LISTEN_PID must be the service's own pid: the shell sets it to $$ and execs reverse.
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "LISTEN_PID=$$ exec \"$0\"", REVERSE])
        .env("LISTEN_FDS", "1")
        .env("STEWARD_INSTANCE", "5")
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("STEWARD_LISTEN")
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let high = nix::libc::fcntl(fd, nix::libc::F_DUPFD, 100);
            if high < 0 || nix::libc::dup2(high, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(listener);
    let mut buf = [0u8; 4096];
    let n = notify.recv(&mut buf).expect("READY within 10 s");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    let mut reverse = Reverse {
        child,
        notify,
        address: format!("tcp:{addr}"),
        _dir: dir,
    };
    assert_eq!(ready, format!("READY=1\nSTATUS=listening on tcp:{addr}"));
    let output = reverse.client(&["fds"]);
    assert_eq!(stdout(&output), "sdf (instance 5)\n", "{output:?}");
    reverse.signal(Signal::SIGTERM);
    assert_eq!(reverse.wait(Duration::from_secs(5)).code(), Some(0));
}
