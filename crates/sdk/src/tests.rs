use std::future::Future;
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

use super::*;

const NO_VARS: [(&str, &str); 0] = [];

/// A notify socket bound by the test, as steward binds its own.
struct Steward {
    socket: UnixDatagram,
    value: String,
    _dir: Option<tempfile::TempDir>,
}

impl Steward {
    fn abstract_name() -> Self {
        let name = format!(
            "steward-sdk-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let socket =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        Self::with(socket, format!("@{name}"), None)
    }

    fn path() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        Self::with(socket, path.to_str().unwrap().to_string(), Some(dir))
    }

    fn with(socket: UnixDatagram, value: String, dir: Option<tempfile::TempDir>) -> Self {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Self {
            socket,
            value,
            _dir: dir,
        }
    }

    fn recv(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).expect("a datagram within 5 s");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn service(&self, extra: &[(&str, &str)]) -> Service {
        let mut vars = vec![("NOTIFY_SOCKET".to_string(), self.value.clone())];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Service::from_vars(vars)
    }
}

#[test]
fn outside_steward_everything_is_a_no_op() {
    let service = Service::from_vars(NO_VARS);
    assert!(!service.is_supervised());
    assert_eq!(service.name(), None);
    assert_eq!(service.instance(), None);
    let n = service.notifier();
    assert!(!n.is_enabled());
    n.ready().unwrap();
    n.ready_with_status("up").unwrap();
    n.status("s").unwrap();
    n.reloading().unwrap();
    n.stopping().unwrap();
    n.watchdog().unwrap();
    n.extend_timeout(Duration::from_secs(1)).unwrap();
    n.exit_status("x").unwrap();
    assert!(service.take_listeners().unwrap().is_empty());
    assert_eq!(service.watchdog_interval(), None);
    assert!(!service.start_watchdog().unwrap().is_active());
    assert_eq!(service.pause_signal().unwrap(), Signal::SIGUSR1);
    assert_eq!(service.continue_signal().unwrap(), Signal::SIGUSR2);
    assert_eq!(service.exit(Exit::Clean), ExitCode::SUCCESS);
}

#[test]
fn identity_comes_from_steward_variables() {
    let service = Service::from_vars([
        ("STEWARD_SERVICE", "web"),
        ("STEWARD_INSTANCE", "2"),
        ("HOME", "/root"),
    ]);
    assert!(service.is_supervised());
    assert_eq!(service.name(), Some("web"));
    assert_eq!(service.instance(), Some(2));
}

#[test]
fn messages_reach_an_abstract_socket() {
    let steward = Steward::abstract_name();
    let service = steward.service(&[]);
    service
        .notifier()
        .ready_with_status("listening\non :80")
        .unwrap();
    assert_eq!(steward.recv(), "READY=1\nSTATUS=listening on :80");
    let n = service.notifier();
    n.reloading().unwrap();
    assert_eq!(steward.recv(), "RELOADING=1");
    n.watchdog().unwrap();
    assert_eq!(steward.recv(), "WATCHDOG=1");
    n.watchdog_trigger().unwrap();
    assert_eq!(steward.recv(), "WATCHDOG=trigger");
    n.set_watchdog_interval(Duration::from_millis(1500))
        .unwrap();
    assert_eq!(steward.recv(), "WATCHDOG_USEC=1500000");
    n.extend_timeout(Duration::from_secs(3)).unwrap();
    assert_eq!(steward.recv(), "EXTEND_TIMEOUT_USEC=3000000");
    n.main_pid(42).unwrap();
    assert_eq!(steward.recv(), "MAINPID=42");
    n.errno(5).unwrap();
    assert_eq!(steward.recv(), "ERRNO=5");
    n.paused().unwrap();
    assert_eq!(steward.recv(), "X_STEWARD=paused");
    n.continued().unwrap();
    assert_eq!(steward.recv(), "X_STEWARD=continued");
}

#[test]
fn messages_reach_a_path_socket() {
    let steward = Steward::path();
    let service = steward.service(&[]);
    service.ready().unwrap();
    assert_eq!(steward.recv(), "READY=1");
    service.status("busy").unwrap();
    assert_eq!(steward.recv(), "STATUS=busy");
    service.notifier().stopping().unwrap();
    assert_eq!(steward.recv(), "STOPPING=1");
}

#[test]
fn exit_announces_deliberate_and_failed_exits() {
    let steward = Steward::path();
    let service = steward.service(&[]);
    assert_eq!(
        service.exit(Exit::reported(3, "no work left")),
        ExitCode::from(3)
    );
    assert_eq!(steward.recv(), "STOPPING=1\nEXIT_STATUS=no work left");
    assert_eq!(service.exit(Err::<(), _>("disk full")), ExitCode::FAILURE);
    assert_eq!(steward.recv(), "EXIT_STATUS=disk full");
    assert_eq!(Exit::failed(0, "x").code(), 1, "a failure never exits 0");
    assert_eq!(Exit::from(Ok::<(), String>(())), Exit::Clean);
}

#[test]
fn a_bad_notify_socket_is_reported_on_send() {
    let service = Service::from_vars([("NOTIFY_SOCKET", "relative/path")]);
    let err = service.ready().unwrap_err();
    assert!(err.to_string().contains("NOTIFY_SOCKET"), "{err}");
}

#[test]
fn the_watchdog_pets_at_about_half_the_period() {
    let steward = Steward::abstract_name();
    let service = steward.service(&[("WATCHDOG_USEC", "200000")]);
    assert_eq!(
        service.watchdog_interval(),
        Some(Duration::from_millis(200))
    );
    let started = Instant::now();
    let watchdog = service.start_watchdog().unwrap();
    assert_eq!(watchdog.interval(), Some(Duration::from_millis(100)));
    for _ in 0..3 {
        assert_eq!(steward.recv(), "WATCHDOG=1");
    }
    // Three pings at 0, ~100 and ~200 ms: well inside a generous bound, and not bunched.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(4),
        "{took:?}"
    );
    watchdog.stop();
    // Stopped: at most the one ping in flight while stopping arrives, then nothing.
    steward
        .socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let late = std::iter::from_fn(|| steward.socket.recv(&mut [0u8; 64]).ok()).count();
    assert!(late <= 1, "{late} pings after stop");
}

#[test]
fn the_watchdog_belongs_to_the_pid_it_names() {
    let steward = Steward::abstract_name();
    let other = (std::process::id() + 1).to_string();
    let service = steward.service(&[("WATCHDOG_USEC", "100000"), ("WATCHDOG_PID", &other)]);
    assert_eq!(service.watchdog_interval(), None);
    assert!(!service.start_watchdog().unwrap().is_active());
    let ours = std::process::id().to_string();
    let service = steward.service(&[("WATCHDOG_USEC", "100000"), ("WATCHDOG_PID", &ours)]);
    assert_eq!(
        service.watchdog_interval(),
        Some(Duration::from_millis(100))
    );
}

#[test]
fn listen_fds_for_another_pid_are_ignored() {
    let other = (std::process::id() + 1).to_string();
    let service = Service::from_vars([("LISTEN_FDS", "2"), ("LISTEN_PID", other.as_str())]);
    assert!(service.take_listeners().unwrap().is_empty());
}

#[test]
fn steward_listen_binds_unix_replacing_a_stale_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    // A socket file left by a previous run that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let value = format!("unix:{}", path.display());
    let service = Service::from_vars([("STEWARD_LISTEN", value.as_str())]);
    let mut listeners = service.take_named_listeners().unwrap();
    assert_eq!(listeners.len(), 1);
    let (name, listener) = listeners.pop().unwrap();
    assert_eq!(name, "STEWARD_LISTEN");
    assert_eq!(
        listener.local_address().unwrap(),
        Some(ListenAddress::Unix(path.clone()))
    );
    let Listener::Unix(listener) = listener else {
        panic!("not unix")
    };
    let mut client = UnixStream::connect(&path).unwrap();
    client.write_all(b"hi").unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 2];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    assert!(service.take_listeners().unwrap().is_empty(), "taken once");
}

#[test]
fn steward_listen_never_deletes_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, "keep").unwrap();
    let value = format!("unix:{}", path.display());
    let err = Service::from_vars([("STEWARD_LISTEN", value.as_str())])
        .take_listeners()
        .unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
}

#[test]
fn steward_listen_binds_tcp() {
    let service = Service::from_vars([("STEWARD_LISTEN", "tcp:127.0.0.1:0"), ("PORT", "0")]);
    let listeners = service.take_listeners().unwrap();
    let [Listener::Tcp(listener)] = &listeners[..] else {
        panic!("{listeners:?}")
    };
    let addr = listener.local_addr().unwrap();
    assert!(addr.port() != 0);
    let _client = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    listener.accept().unwrap();
}

#[test]
fn listen_addresses_parse_and_print() {
    for ok in ["unix:/run/app.sock", "tcp:127.0.0.1:7000", "tcp:[::1]:80"] {
        assert_eq!(ok.parse::<ListenAddress>().unwrap().to_string(), ok);
    }
    for bad in [
        "unix:rel",
        "tcp:localhost:80",
        "udp:1.2.3.4:5",
        "tcp:1.2.3.4",
        "",
    ] {
        assert!(bad.parse::<ListenAddress>().is_err(), "{bad}");
    }
    let err = Service::from_vars([("STEWARD_LISTEN", "nope")])
        .take_listeners()
        .unwrap_err();
    assert!(err.to_string().contains("STEWARD_LISTEN"), "{err}");
}

#[test]
fn pause_signals_come_from_the_environment() {
    let service = Service::from_vars([
        ("STEWARD_PAUSE_SIGNAL", "HUP"),
        ("STEWARD_CONTINUE_SIGNAL", "SIGWINCH"),
    ]);
    assert_eq!(service.pause_signal().unwrap(), Signal::SIGHUP);
    assert_eq!(service.continue_signal().unwrap(), Signal::SIGWINCH);
    let service = Service::from_vars([
        ("STEWARD_PAUSE_SIGNAL", "10"),
        ("STEWARD_CONTINUE_SIGNAL", "usr2"),
    ]);
    assert_eq!(service.pause_signal().unwrap(), Signal::SIGUSR1);
    assert_eq!(service.continue_signal().unwrap(), Signal::SIGUSR2);
    assert!(
        Service::from_vars([("STEWARD_PAUSE_SIGNAL", "BOGUS")])
            .pause_signal()
            .is_err()
    );
}

#[test]
fn the_stop_token_wakes_waiters_callbacks_and_futures() {
    let token = StopToken::new();
    assert!(!token.wait_timeout(Duration::from_millis(20)));
    let (tx, rx) = mpsc::channel();
    token.on_stop(move || tx.send("called").unwrap());
    let waiter = {
        let token = token.clone();
        std::thread::spawn(move || token.wait())
    };
    let future = token.stopped();
    token.stop();
    token.stop();
    waiter.join().unwrap();
    assert!(token.is_stopped());
    assert!(token.wait_timeout(Duration::ZERO));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "called");
    // A stopped token's future is ready at the first poll, with no runtime.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    assert!(future.as_mut().poll(&mut cx).is_ready());
}

#[test]
fn run_with_deadline_returns_the_work_result() {
    let service = Service::from_vars(NO_VARS);
    let stop = StopToken::new();
    let inner = stop.clone();
    let stopper = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stopper.stop();
    });
    let value = service.run_with_deadline(&stop, Duration::from_secs(5), move || {
        inner.wait();
        7
    });
    assert_eq!(value, 7);
}
