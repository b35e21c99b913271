//! A thread that pets steward's watchdog.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Notifier;

/// A running watchdog thread that sends `WATCHDOG=1` at half the period steward asked for.
///
/// Made by [`Service::start_watchdog`](crate::Service::start_watchdog). It proves only that
/// the process is alive; a program whose main loop can hang should rather call
/// [`Notifier::watchdog`] from that loop every [`Service::watchdog_interval`](crate::Service::watchdog_interval) / 2.
/// Dropping it stops the thread.
#[derive(Debug)]
pub struct Watchdog {
    running: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    interval: Option<Duration>,
}

impl Watchdog {
    /// A watchdog that does nothing (steward asked for none).
    pub fn inactive() -> Self {
        Self {
            running: None,
            interval: None,
        }
    }

    pub(crate) fn start(notifier: Notifier, period: Duration) -> std::io::Result<Self> {
        // Half the period leaves room for one late or lost ping.
        let interval = (period / 2).max(Duration::from_millis(1));
        let (tx, rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("steward-watchdog".into())
            .spawn(move || {
                loop {
                    // A failed send is not fatal: steward may be restarting its socket.
                    let _ = notifier.watchdog();
                    match rx.recv_timeout(interval) {
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        _ => break,
                    }
                }
            })?;
        Ok(Self {
            running: Some((tx, handle)),
            interval: Some(interval),
        })
    }

    /// Whether a thread is petting the watchdog.
    pub fn is_active(&self) -> bool {
        self.running.is_some()
    }

    /// How often it pets (half the watchdog period), if active.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Stops the thread and waits for it (at most one send).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some((tx, handle)) = self.running.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shutdown();
    }
}
