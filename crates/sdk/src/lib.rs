//! The service side of steward: what a program that steward runs uses to tell it when it
//! is ready, what it is doing, that it is alive, and to take the sockets steward hands it,
//! stop gracefully and pause.
//!
//! It mirrors a hosted lifetime: start-up ends with `READY=1`, the stop signal trips a
//! [`StopToken`] the work watches, the work gets a deadline to finish, and the exit code
//! (with `STOPPING=1` / `EXIT_STATUS=` before it) tells steward whether the stop was clean,
//! deliberate or a failure (see [`Exit`]).
//!
//! Everything is a no-op outside steward: with none of its variables set, notifications
//! succeed without sending, [`Service::take_listeners`] is empty and the watchdog does
//! nothing, so the same binary runs by hand.
//!
//! The crate uses std threads only (one for the watchdog, one per kind of signal), so it
//! fits any program; [`StopToken::stopped`] is a plain future for async code, and the
//! `tokio` feature adds [`Listener::into_tokio`].
//!
//! # Example
//!
//! ```
//! use std::process::ExitCode;
//! use std::time::Duration;
//! use steward_sdk::{Exit, Service};
//!
//! fn main() -> ExitCode {
//!     let service = Service::from_env();
//!     // LISTEN_FDS, else STEWARD_LISTEN, else none (then pick a default address).
//!     let listeners = service.take_listeners().expect("listeners");
//!     let stop = service.stop_token().expect("SIGTERM handler");
//!     service.on_pause(|| eprintln!("pausing"), || eprintln!("continuing")).expect("pause handler");
//!     let _watchdog = service.start_watchdog().expect("watchdog");
//!     service.notifier().ready_with_status(&format!("{} listeners", listeners.len())).unwrap();
//!
//!     // The work gets 5 s to finish once stopping, or the process exits with
//!     // DEADLINE_EXIT_CODE.
//!     let worker_stop = stop.clone();
//!     let served = service.run_with_deadline(&stop, Duration::from_secs(5), move || {
//!         let mut served = 0;
//!         // Serve until SIGTERM; outside steward this example stops at once.
//!         while !worker_stop.wait_timeout(Duration::from_millis(10)) && served < 1 {
//!             served += 1;
//!         }
//!         served
//!     });
//!     let _ = service.notifier().stopping();
//!     service.exit(if served > 0 { Exit::Clean } else { Exit::failed(2, "served nothing") })
//! }
//! ```

#![warn(missing_docs)]

mod exit;
mod listen;
mod notify;
mod stop;
mod watchdog;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub use exit::Exit;
#[cfg(feature = "tokio")]
pub use listen::TokioListener;
pub use listen::{LISTEN_FDS_START, ListenAddress, Listener};
pub use nix::sys::signal::Signal;
pub use notify::Notifier;
pub use stop::{StopToken, Stopped};
pub use watchdog::Watchdog;

/// The exit code of a program whose work overran its shutdown deadline
/// ([`Service::run_with_deadline`]); 124 as `timeout(1)` uses.
pub const DEADLINE_EXIT_CODE: u8 = 124;

/// The environment variables the SDK reads.
const VARS: &[&str] = &[
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "STEWARD_LISTEN",
    "STEWARD_SERVICE",
    "STEWARD_INSTANCE",
    "STEWARD_PAUSE_SIGNAL",
    "STEWARD_CONTINUE_SIGNAL",
];

/// What steward told this process, and the means to answer it.
///
/// Make one per process with [`from_env`](Self::from_env), early in `main` (before other
/// threads start, since taking listeners unsets variables). Tests and embedders can pass an
/// explicit environment with [`from_vars`](Self::from_vars).
#[derive(Debug)]
pub struct Service {
    vars: HashMap<String, String>,
    pid: u32,
    /// Whether `vars` came from the process environment, which is then ours to edit.
    from_process: bool,
    notifier: Notifier,
    listeners_taken: AtomicBool,
    stop: Mutex<Option<StopToken>>,
}

impl Service {
    /// Reads steward's variables from the process environment.
    pub fn from_env() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let mut service = Self::from_vars(vars);
        service.from_process = true;
        service
    }

    /// Reads steward's variables from `vars` instead of the process environment; other
    /// names are ignored. The process id compared with `LISTEN_PID` and `WATCHDOG_PID` is
    /// still this process's.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .filter_map(|(k, v)| Some((k.into().into_string().ok()?, v.into().into_string().ok()?)))
            .filter(|(k, _)| VARS.contains(&k.as_str()))
            .collect();
        let notifier = match vars.get("NOTIFY_SOCKET").filter(|s| !s.is_empty()) {
            None => Notifier::disabled(),
            Some(path) => Notifier::new(path)
                .unwrap_or_else(|e| Notifier::broken(format!("NOTIFY_SOCKET: {e}"))),
        };
        Self {
            vars,
            pid: std::process::id(),
            from_process: false,
            notifier,
            listeners_taken: AtomicBool::new(false),
            stop: Mutex::new(None),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether steward runs this process (it sets `STEWARD_SERVICE` or `NOTIFY_SOCKET`).
    pub fn is_supervised(&self) -> bool {
        self.var("STEWARD_SERVICE").is_some() || self.notifier.is_enabled()
    }

    /// The service's name (`STEWARD_SERVICE`).
    pub fn name(&self) -> Option<&str> {
        self.var("STEWARD_SERVICE")
    }

    /// This instance's 0-based index (`STEWARD_INSTANCE`).
    pub fn instance(&self) -> Option<u32> {
        self.var("STEWARD_INSTANCE")?.parse().ok()
    }

    /// Where notify messages go; cheap to clone into other threads.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// `READY=1`: shortcut for [`Notifier::ready`].
    pub fn ready(&self) -> io::Result<()> {
        self.notifier.ready()
    }

    /// `STATUS=text`: shortcut for [`Notifier::status`].
    pub fn status(&self, status: &str) -> io::Result<()> {
        self.notifier.status(status)
    }

    /// The watchdog period steward enforces (`WATCHDOG_USEC`), if it is meant for this
    /// process (`WATCHDOG_PID` unset or equal to our pid).
    pub fn watchdog_interval(&self) -> Option<Duration> {
        if let Some(pid) = self.var("WATCHDOG_PID")
            && pid.parse::<u32>().ok() != Some(self.pid)
        {
            return None;
        }
        let usec: u64 = self.var("WATCHDOG_USEC")?.parse().ok()?;
        (usec > 0).then(|| Duration::from_micros(usec))
    }

    /// Starts a thread that sends `WATCHDOG=1` every half period; inactive when steward
    /// asked for no watchdog.
    pub fn start_watchdog(&self) -> io::Result<Watchdog> {
        match self.watchdog_interval() {
            Some(period) if self.notifier.is_enabled() => {
                Watchdog::start(self.notifier.clone(), period)
            }
            _ => Ok(Watchdog::inactive()),
        }
    }

    /// The address steward asks this instance to bind (`STEWARD_LISTEN`), if any.
    pub fn listen_address(&self) -> io::Result<Option<ListenAddress>> {
        self.var("STEWARD_LISTEN")
            .map(|s| {
                s.parse().map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("STEWARD_LISTEN: {e}"))
                })
            })
            .transpose()
    }

    /// The listeners this instance serves on: the sockets passed by socket activation
    /// (`LISTEN_FDS`, when `LISTEN_PID` is our pid), else one bound at `STEWARD_LISTEN`,
    /// else none. Only the first call takes them; later calls return none.
    ///
    /// Inherited fds get CLOEXEC, and (with [`from_env`](Self::from_env)) `LISTEN_FDS`,
    /// `LISTEN_PID` and `LISTEN_FDNAMES` are removed from the environment so that programs
    /// this one starts do not take them too.
    pub fn take_listeners(&self) -> io::Result<Vec<Listener>> {
        Ok(self
            .take_named_listeners()?
            .into_iter()
            .map(|(_, l)| l)
            .collect())
    }

    /// [`take_listeners`](Self::take_listeners) with each listener's name: from
    /// `LISTEN_FDNAMES` (`unknown` when unnamed), or `STEWARD_LISTEN`.
    pub fn take_named_listeners(&self) -> io::Result<Vec<(String, Listener)>> {
        if self.listeners_taken.swap(true, Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let count = self.activated_fd_count()?;
        if count > 0 {
            let names = self
                .var("LISTEN_FDNAMES")
                .map(|n| n.split(':').map(str::to_string).collect())
                .unwrap_or_default();
            if self.from_process {
                for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
                    // SAFETY: documented: from_env and take_listeners run early in main,
                    // before threads that could read the environment concurrently.
                    unsafe { std::env::remove_var(name) };
                }
            }
            // SAFETY: LISTEN_PID names this process, so steward passed these fds to us, and
            // the swap above makes this the only taker.
            return unsafe { listen::take_fds(count, names) };
        }
        match self.listen_address()? {
            Some(addr) => {
                let listener = addr
                    .bind()
                    .map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
                Ok(vec![("STEWARD_LISTEN".to_string(), listener)])
            }
            None => Ok(Vec::new()),
        }
    }

    /// How many fds socket activation passed to this process (0 when none or not ours).
    fn activated_fd_count(&self) -> io::Result<usize> {
        let (Some(fds), Some(pid)) = (self.var("LISTEN_FDS"), self.var("LISTEN_PID")) else {
            return Ok(0);
        };
        if pid.parse::<u32>().ok() != Some(self.pid) {
            return Ok(0);
        }
        fds.parse::<usize>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("LISTEN_FDS={fds:?} is not a count"),
            )
        })
    }

    /// The signal steward pauses this program with (`STEWARD_PAUSE_SIGNAL`, default SIGUSR1).
    pub fn pause_signal(&self) -> io::Result<Signal> {
        self.var("STEWARD_PAUSE_SIGNAL")
            .map_or(Ok(Signal::SIGUSR1), stop::parse_signal)
    }

    /// The signal steward continues this program with (`STEWARD_CONTINUE_SIGNAL`, default
    /// SIGUSR2).
    pub fn continue_signal(&self) -> io::Result<Signal> {
        self.var("STEWARD_CONTINUE_SIGNAL")
            .map_or(Ok(Signal::SIGUSR2), stop::parse_signal)
    }

    /// A token that trips on the first SIGTERM or SIGINT; installs the handlers on the first
    /// call, later calls return the same token. The signals no longer kill the process:
    /// the program must watch the token and exit.
    pub fn stop_token(&self) -> io::Result<StopToken> {
        let mut slot = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = &*slot {
            return Ok(token.clone());
        }
        let token = StopToken::new();
        stop::watch_stop_signals(token.clone())?;
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Runs `pause` on the pause signal and `resume` on the continue signal (from one
    /// background thread), then confirms each with `X_STEWARD=paused` /
    /// `X_STEWARD=continued`. A repeated signal is confirmed again without calling back.
    /// What pausing means is the program's: typically, stop taking new work.
    pub fn on_pause<P, R>(&self, pause: P, resume: R) -> io::Result<()>
    where
        P: FnMut() + Send + 'static,
        R: FnMut() + Send + 'static,
    {
        stop::watch_pause_signals(
            self.pause_signal()?,
            self.continue_signal()?,
            self.notifier.clone(),
            Box::new(pause),
            Box::new(resume),
        )
    }

    /// Runs `work` on its own thread and returns its result; once `stop` trips, the work has
    /// `deadline` to return, or the process sends `EXIT_STATUS=` and exits at once with
    /// [`DEADLINE_EXIT_CODE`] (a failure: no `STOPPING=1` is sent, since the program did not
    /// stop as asked). A panic in `work` is resumed here.
    ///
    /// For async programs, `work` can be `move || runtime.block_on(serve(...))`.
    pub fn run_with_deadline<T, F>(&self, stop: &StopToken, deadline: Duration, work: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        enum Event<T> {
            Done(std::thread::Result<T>),
            Stop,
        }
        let (tx, rx) = mpsc::channel();
        let done = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("steward-work".into())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
                let _ = done.send(Event::Done(result));
            })
            .expect("spawn the work thread");
        let tx = Arc::new(Mutex::new(Some(tx)));
        stop.on_stop(move || {
            if let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(Event::Stop);
            }
        });
        // Detached: past the deadline the process exits with the thread still running.
        drop(spawned);
        let finish = |result: std::thread::Result<T>| match result {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match rx.recv().expect("the work thread reports") {
            Event::Done(result) => return finish(result),
            Event::Stop => {}
        }
        match rx.recv_timeout(deadline) {
            Ok(Event::Done(result)) => finish(result),
            _ => {
                let _ = self
                    .notifier
                    .exit_status(&format!("did not stop within {deadline:?}"));
                std::process::exit(DEADLINE_EXIT_CODE.into());
            }
        }
    }

    /// Tells steward how the program ends (see [`Exit`]) and returns the exit code to
    /// return from `main`.
    pub fn exit(&self, exit: impl Into<Exit>) -> ExitCode {
        exit::exit_code(&self.notifier, &exit.into())
    }
}

#[cfg(test)]
mod tests;
