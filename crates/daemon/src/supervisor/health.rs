//! How an instance tells steward it is ready and alive: the notify socket (systemd's
//! protocol), the ready fd (s6's), and the probes steward runs itself (exec, tcp, http).

use std::os::fd::OwnedFd;
use std::sync::Arc;

use nix::fcntl::OFlag;
use steward_core::config::{ProbeCheck, ServiceSpec};
use steward_core::machine::{ExitHow, Input, ProbeKind, helper_result};
use steward_core::notify::Message;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Event, Key, Owner, Supervisor};
use crate::notify::{self, Belongs, Datagram, NotifySocket, sender_belongs};
use crate::probe;
use crate::process::Launch;

/// An instance's I/O with steward that outlives one run: its notify socket.
#[derive(Debug, Default)]
pub struct InstanceIo {
    pub notify: Option<Arc<NotifySocket>>,
    reader: Option<tokio::task::JoinHandle<()>>,
    /// Datagrams refused: from outside the instance, truncated, or malformed lines.
    pub rejected: u64,
    /// The uid the instance runs as, for datagrams whose sender has already exited.
    pub expected_uid: u32,
    /// The instance's cgroup (kept across its runs), when it has one.
    pub cgroup: Option<std::path::PathBuf>,
    /// Its stdout and stderr pipes (kept across its runs), when captured.
    pub logs: Option<crate::logs::InstanceLogs>,
}

impl Drop for InstanceIo {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

/// Readies `launch` for the health checks the spec asks for: `NOTIFY_SOCKET` (the socket
/// is bound once per instance and kept across runs), `WATCHDOG_USEC`/`WATCHDOG_PID`, and
/// the ready fd, whose read end is returned.
pub(super) fn prepare(
    spec: &ServiceSpec,
    key: &Key,
    io: &mut InstanceIo,
    launch: &mut Launch,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Option<OwnedFd>, String> {
    if spec.notify {
        if io.notify.is_none() {
            let socket = NotifySocket::bind(&format!("{}.{}", key.service, key.index))
                .map_err(|e| format!("cannot create the notify socket: {e}"))?;
            let socket = Arc::new(socket);
            let key = key.clone();
            let reader = notify::spawn_reader(socket.clone(), events.clone(), move |d| {
                Event::Notify(key.clone(), d)
            });
            io.reader = Some(reader);
            io.notify = Some(socket);
        }
        let socket = io.notify.as_ref().expect("bound above");
        launch.set_env("NOTIFY_SOCKET", socket.env_value());
    }
    if let Some(period) = spec.watchdog {
        launch.set_env("WATCHDOG_USEC", &period.as_micros().to_string());
        launch.pid_env.push("WATCHDOG_PID".into());
    }
    let Some(fd) = spec.ready_fd else {
        return Ok(None);
    };
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| format!("cannot create the ready fd pipe: {e}"))?;
    launch.fds.push((write, fd as i32));
    Ok(Some(read))
}

/// Waits for the newline that says the instance is ready (s6's notification fd).
pub(super) fn watch_ready_fd(
    read: OwnedFd,
    key: Key,
    generation: u64,
    events: mpsc::UnboundedSender<Event>,
) {
    tokio::spawn(async move {
        let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(read) else {
            return;
        };
        let mut buf = [0u8; 64];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => return, // closed without a newline: never ready this way
                Ok(n) if buf[..n].contains(&b'\n') => {
                    let _ = events.send(Event::ReadyFd { key, generation });
                    return;
                }
                Ok(_) => {}
            }
        }
    });
}

impl Supervisor {
    /// Handles the datagrams waiting on `key`'s notify socket, now.
    pub(super) fn drain_notify(&mut self, key: &Key) {
        let socket = self
            .services
            .get(&key.service)
            .and_then(|rt| rt.io.get(key.index as usize)?.notify.clone());
        let Some(socket) = socket else { return };
        while let Ok(Some(datagram)) = socket.try_recv() {
            self.on_notify(key, datagram);
        }
    }

    /// Checks who sent a datagram, then feeds what it says to the instance.
    pub(super) fn on_notify(&mut self, key: &Key, datagram: Datagram) {
        let Some(rt) = self.services.get_mut(&key.service) else {
            return;
        };
        let Some(inst) = rt.instances.get(key.index as usize) else {
            return;
        };
        let io = &mut rt.io[key.index as usize];
        let verdict = match inst.pid {
            None => Belongs::No("the instance has no process".into()),
            // The leader itself, the usual sender: no need to look it up in /proc.
            Some(leader) if datagram.pid > 0 && datagram.pid as u32 == leader => Belongs::Yes,
            Some(leader) => sender_belongs(datagram.pid, datagram.uid, leader, io.expected_uid),
        };
        if let Belongs::No(why) = verdict {
            io.rejected += 1;
            warn!(
                "{key}: refused a notify datagram from pid {}: {why}",
                datagram.pid
            );
            return;
        }
        if datagram.truncated {
            io.rejected += 1;
            warn!(
                "{key}: refused a notify datagram over {} bytes",
                crate::notify::MAX_DATAGRAM
            );
            return;
        }
        let watchdog_signal = rt.spec.watchdog_signal;
        let mut inputs = Vec::new();
        for message in datagram.messages {
            let input = match message {
                Message::Ready => Input::Ready,
                Message::Reloading => Input::Reloading,
                Message::Stopping => Input::StoppingAnnounced,
                Message::Status(text) => Input::Status(text),
                Message::MainPid(pid) => Input::MainPid(pid),
                Message::Watchdog => Input::WatchdogPing,
                Message::WatchdogTrigger => Input::Unhealthy {
                    reason: "watchdog triggered by the service (WATCHDOG=trigger)".into(),
                    signal: watchdog_signal,
                },
                Message::WatchdogUsec(us) => {
                    Input::WatchdogPeriod(std::time::Duration::from_micros(us))
                }
                Message::ExtendTimeoutUsec(us) => {
                    Input::ExtendTimeout(std::time::Duration::from_micros(us))
                }
                Message::Errno(n) => Input::Errno(n),
                Message::ExitStatus(s) => Input::ExitStatus(s),
                Message::Steward(word) => match word.as_str() {
                    "paused" => Input::PauseDone,
                    "continued" => Input::ContinueDone,
                    other => {
                        debug!("{key}: ignoring X_STEWARD={other}");
                        continue;
                    }
                },
                Message::Unknown(k) => {
                    debug!("{key}: ignoring notify key {k}");
                    continue;
                }
                Message::Invalid(why) => {
                    io.rejected += 1;
                    warn!("{key}: bad notify message: {why}");
                    continue;
                }
            };
            inputs.push(input);
        }
        for input in inputs {
            self.input(key, input);
        }
    }

    /// Runs one probe of `key`'s current run: network checks in a task, exec probes as a
    /// child process the reaper reports. Returns an input when it failed to start.
    pub(super) fn run_probe(
        &mut self,
        key: &Key,
        kind: ProbeKind,
        generation: u64,
    ) -> Option<Input> {
        let rt = self.services.get(&key.service)?;
        let probe = kind.of(&rt.spec)?;
        let timeout = probe.timeout;
        if let Some(check) = probe::network_check(&probe.check) {
            let (events, key) = (self.events.clone(), key.clone());
            tokio::spawn(async move {
                let (ok, detail) = match probe::check_network(&check, timeout).await {
                    Ok(d) => (true, d),
                    Err(e) => (false, e),
                };
                let _ = events.send(Event::Probe {
                    key,
                    kind,
                    generation,
                    ok,
                    detail,
                });
            });
            return None;
        }
        let ProbeCheck::Exec { command } = &probe.check else {
            return None;
        };
        let launch = Launch::for_command(&rt.spec, command);
        let owner = Owner::Probe {
            key: key.clone(),
            kind,
            generation,
            timed_out: false,
        };
        match self.start_helper(launch, owner, Some(timeout)) {
            Ok(_) => None,
            Err(e) => Some(Input::ProbeResult {
                kind,
                generation,
                ok: false,
                detail: e,
            }),
        }
    }

    pub(super) fn exec_probe_ended(
        &mut self,
        key: Key,
        kind: ProbeKind,
        generation: u64,
        how: ExitHow,
        timed_out: bool,
    ) {
        let timeout = self
            .services
            .get(&key.service)
            .and_then(|rt| kind.of(&rt.spec))
            .map(|p| p.timeout);
        let result = helper_result(how, timeout.filter(|_| timed_out));
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e);
        self.on_event(Event::Probe {
            key,
            kind,
            generation,
            ok,
            detail,
        });
    }
}
