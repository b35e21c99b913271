//! Graceful stop: a token tripped by SIGTERM/SIGINT, and pause/continue by signal.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::Notifier;

type Callback = Box<dyn FnOnce() + Send>;

/// Set once the program is asked to stop; shared by clones.
///
/// [`Service::stop_token`](crate::Service::stop_token) returns one that trips on SIGTERM or
/// SIGINT. Block on it with [`wait`](Self::wait) / [`wait_timeout`](Self::wait_timeout), poll
/// [`is_stopped`](Self::is_stopped), or `.await` [`stopped`](Self::stopped) in any async
/// runtime (it needs no runtime of its own).
#[derive(Clone, Default)]
pub struct StopToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    stopped: bool,
    wakers: Vec<Waker>,
    callbacks: Vec<Callback>,
}

impl std::fmt::Debug for StopToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopToken")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

impl StopToken {
    /// A token not tied to any signal; trip it with [`stop`](Self::stop).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking callback must not make the token unusable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Trips the token (the signal thread calls this; programs may too, to stop themselves).
    pub fn stop(&self) {
        let (wakers, callbacks) = {
            let mut state = self.lock();
            if state.stopped {
                return;
            }
            state.stopped = true;
            (
                std::mem::take(&mut state.wakers),
                std::mem::take(&mut state.callbacks),
            )
        };
        self.inner.changed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
        // Outside the lock, so callbacks may use the token.
        callbacks.into_iter().for_each(|f| f());
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Blocks until a stop is asked for.
    pub fn wait(&self) {
        let mut state = self.lock();
        while !state.stopped {
            state = self
                .inner
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until a stop is asked for or `timeout` passes; returns whether stopped.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .inner
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Runs `f` once when the token trips, on the thread that trips it (at once, here, if
    /// already tripped). Keep it short: it runs in the signal thread.
    pub fn on_stop(&self, f: impl FnOnce() + Send + 'static) {
        let mut state = self.lock();
        if state.stopped {
            drop(state);
            f();
        } else {
            state.callbacks.push(Box::new(f));
        }
    }

    /// A future that completes when the token trips; works in tokio or any executor.
    pub fn stopped(&self) -> Stopped {
        Stopped {
            token: self.clone(),
        }
    }
}

/// The future of [`StopToken::stopped`].
#[derive(Debug)]
pub struct Stopped {
    token: StopToken,
}

impl Future for Stopped {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.token.lock();
        if state.stopped {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Starts the thread that trips `token` on SIGTERM or SIGINT.
pub(crate) fn watch_stop_signals(token: StopToken) -> std::io::Result<()> {
    let mut signals =
        signal_hook::iterator::Signals::new([Signal::SIGTERM as i32, Signal::SIGINT as i32])?;
    std::thread::Builder::new()
        .name("steward-stop".into())
        .spawn(move || {
            // Later signals are swallowed: the program is already stopping, and steward
            // sends SIGKILL after stop_timeout if it takes too long.
            if signals.forever().next().is_some() {
                token.stop();
            }
            for _ in signals.forever() {}
        })?;
    Ok(())
}

/// Starts the thread that runs `pause`/`resume` on the pause/continue signals and confirms
/// each to steward.
pub(crate) fn watch_pause_signals(
    pause_signal: Signal,
    continue_signal: Signal,
    notifier: Notifier,
    mut pause: Box<dyn FnMut() + Send>,
    mut resume: Box<dyn FnMut() + Send>,
) -> std::io::Result<()> {
    let mut signals =
        signal_hook::iterator::Signals::new([pause_signal as i32, continue_signal as i32])?;
    std::thread::Builder::new()
        .name("steward-pause".into())
        .spawn(move || {
            let mut paused = false;
            for sig in signals.forever() {
                // One signal for both toggles; two signals are idempotent and always confirmed,
                // since steward may resend after a lost confirmation.
                let want_pause = if pause_signal == continue_signal {
                    !paused
                } else {
                    sig == pause_signal as i32
                };
                if want_pause {
                    if !paused {
                        pause();
                        paused = true;
                    }
                    let _ = notifier.paused();
                } else {
                    if paused {
                        resume();
                        paused = false;
                    }
                    let _ = notifier.continued();
                }
            }
        })?;
    Ok(())
}

/// Parses a signal name as steward writes it: `USR1`, `SIGUSR1` or a number.
pub(crate) fn parse_signal(name: &str) -> std::io::Result<Signal> {
    let name = name.trim();
    let parsed = if let Ok(n) = name.parse::<i32>() {
        Signal::try_from(n).ok()
    } else {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        full.parse::<Signal>().ok()
    };
    parsed.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown signal {name:?}"),
        )
    })
}
