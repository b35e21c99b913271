//! The supervisor loop: the one owner of every instance's state.
//!
//! One task `select!`s over SIGCHLD (then reaps), API requests, the earliest instance
//! deadline, and SIGTERM/SIGINT. Each event becomes an [`Input`] to the core's
//! [`step`], and the effects it returns are carried out here, in order. Nothing else
//! touches the state, so there is no lock and nothing polls: when nothing happens, no timer
//! is armed and the loop sleeps.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use steward_core::config::{Config, ServiceSpec};
use steward_core::machine::{Effect, Input, Instance, RunPurpose, State, step};
use steward_core::signal::Signal;
use steward_core::time::Instant;
use steward_proto::ServiceStatus;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::clock::Clock;
use crate::guard::Guard;
use crate::process::{self, Launch};
use crate::status;

/// What the API asks of the loop. Each carries its reply: a ticket that resolves once the
/// request has been applied.
#[derive(Debug)]
pub enum Request {
    Status {
        service: Option<String>,
        reply: oneshot::Sender<Result<Vec<ServiceStatus>, ApiError>>,
    },
    Control {
        service: String,
        instance: Option<u32>,
        action: Action,
        /// Answer once every targeted instance has settled, not just on acceptance.
        wait: bool,
        reply: oneshot::Sender<Result<ServiceStatus, ApiError>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    fn input(self) -> Input {
        match self {
            Action::Start => Input::Start,
            Action::Stop => Input::Stop,
            Action::Restart => Input::Restart,
        }
    }
}

/// An error for an API client: an HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

/// An instance's address: service name and index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub service: String,
    pub index: u32,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.service, self.index)
    }
}

pub struct ServiceRt {
    pub spec: ServiceSpec,
    pub instances: Vec<Instance>,
}

/// Who a child process belongs to.
#[derive(Debug, Clone)]
enum Owner {
    Instance(Key),
    /// A recovery or give-up command run for a service.
    Command {
        service: String,
        purpose: RunPurpose,
    },
}

/// A control request waiting for its instances to settle.
struct Waiter {
    service: String,
    /// Each targeted instance with its generation when the request was made.
    targets: Vec<(u32, u64)>,
    action: Action,
    reply: oneshot::Sender<Result<ServiceStatus, ApiError>>,
}

struct Shutdown {
    code: i32,
}

pub struct Supervisor {
    clock: Clock,
    services: BTreeMap<String, ServiceRt>,
    pids: HashMap<u32, Owner>,
    deadlines: BTreeSet<(Instant, Key)>,
    waiters: Vec<Waiter>,
    guard: Option<Guard>,
    shutdown: Option<Shutdown>,
}

impl Supervisor {
    pub fn new(config: &Config, clock: Clock) -> Supervisor {
        let now = clock.now();
        let seed = random_seed();
        let services = config
            .services
            .iter()
            .map(|(name, spec)| {
                let instances = (0..spec.instances)
                    .map(|i| Instance::new(i, seed ^ hash_key(name, i), now))
                    .collect();
                (
                    name.clone(),
                    ServiceRt {
                        spec: spec.clone(),
                        instances,
                    },
                )
            })
            .collect();
        Supervisor {
            clock,
            services,
            pids: HashMap::new(),
            deadlines: BTreeSet::new(),
            waiters: Vec::new(),
            guard: None,
            shutdown: None,
        }
    }

    /// Runs until every service is down after a shutdown; returns steward's exit code.
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>) -> std::io::Result<i32> {
        // Subscribe before the first spawn so no exit can be missed.
        let mut sigchld = signal(SignalKind::child())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        // SIGHUP's default would kill steward and leave the guard to SIGKILL every service.
        let mut sighup = signal(SignalKind::hangup())?;
        if let Err(e) = process::become_subreaper() {
            warn!("cannot become a subreaper ({e}); orphaned grandchildren go to init");
        }
        self.start_guard();
        let keys: Vec<Key> = self.keys().collect();
        for key in keys {
            self.input(&key, Input::Start);
        }
        loop {
            if self.shutdown.is_some() && self.all_down() {
                break;
            }
            let next = self
                .deadlines
                .first()
                .map(|(at, _)| self.clock.to_tokio(*at));
            let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400);
            tokio::select! {
                _ = sigchld.recv() => self.on_sigchld(),
                Some(req) = requests.recv() => self.on_request(req),
                _ = tokio::time::sleep_until(next.unwrap_or(far)), if next.is_some() => self.on_deadlines(),
                _ = sigterm.recv() => self.begin_shutdown(0, "SIGTERM received"),
                _ = sigint.recv() => self.begin_shutdown(0, "SIGINT received"),
                _ = sighup.recv() => warn!("SIGHUP received: this version does not reload its config; services are left as they are"),
            }
            self.settle_waiters();
        }
        self.finish();
        Ok(self.shutdown.map_or(0, |s| s.code))
    }

    fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.services.iter().flat_map(|(name, rt)| {
            (0..rt.instances.len() as u32).map(move |index| Key {
                service: name.clone(),
                index,
            })
        })
    }

    fn all_down(&self) -> bool {
        self.services
            .values()
            .all(|rt| rt.instances.iter().all(|i| i.pid.is_none()))
    }

    /// Feeds `input` to one instance and carries out everything that follows from it.
    fn input(&mut self, key: &Key, input: Input) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let now = self.clock.now();
            let Some(rt) = self.services.get_mut(&key.service) else {
                return;
            };
            let Some(inst) = rt.instances.get_mut(key.index as usize) else {
                return;
            };
            let (old_deadline, old_pid) = (inst.deadline, inst.pid);
            let effects = step(inst, &rt.spec, input, now);
            let (new_deadline, new_pid) = (inst.deadline, inst.pid);

            if old_deadline != new_deadline {
                if let Some(at) = old_deadline {
                    self.deadlines.remove(&(at, key.clone()));
                }
                if let Some(at) = new_deadline {
                    self.deadlines.insert((at, key.clone()));
                }
            }
            if old_pid != new_pid {
                if let Some(pid) = old_pid {
                    self.forget_pid(pid);
                }
                if let Some(pid) = new_pid {
                    self.pids.insert(pid, Owner::Instance(key.clone()));
                }
            }
            for effect in effects {
                if let Some(next) = self.carry_out(key, effect) {
                    queue.push_back(next);
                }
            }
        }
    }

    /// Carries out one effect; returns the input it produces, if any.
    fn carry_out(&mut self, key: &Key, effect: Effect) -> Option<Input> {
        let rt = self.services.get(&key.service)?;
        match effect {
            Effect::Spawn => {
                let result = Launch::for_instance(&rt.spec, key.index).and_then(|l| {
                    process::spawn(&l).map_err(|e| spawn_error(&rt.spec.process.command, &e))
                });
                match result {
                    Ok(pid) => {
                        self.guard_add(pid);
                        Some(Input::Spawned { pid })
                    }
                    Err(error) => Some(Input::SpawnFailed { error }),
                }
            }
            Effect::Signal { pid, signal } => {
                debug!("{key}: sending {signal} to process group {pid}");
                if let Err(e) = process::signal_group(pid, signal) {
                    error!("{key}: cannot send {signal} to process group {pid}: {e}");
                }
                None
            }
            Effect::Run { command, purpose } => {
                let what = match purpose {
                    RunPurpose::Recovery => "recovery",
                    RunPurpose::GiveUp => "give-up",
                };
                let result = Launch::for_command(&rt.spec, &command)
                    .and_then(|l| process::spawn(&l).map_err(|e| spawn_error(&command, &e)));
                match result {
                    Ok(pid) => {
                        info!("{key}: running {what} command {command:?} (pid {pid})");
                        self.guard_add(pid);
                        let service = key.service.clone();
                        self.pids.insert(pid, Owner::Command { service, purpose });
                    }
                    Err(e) => error!("{key}: {what} command failed to start: {e}"),
                }
                None
            }
            Effect::ExitSupervisor { code } => {
                let why =
                    format!("{key} gave up and on_give_up = \"exit\"; exiting with code {code}");
                self.begin_shutdown(code, &why);
                None
            }
            Effect::Transition { from, to, reason } => {
                match to {
                    State::Failed | State::Backoff => warn!("{key}: {from} -> {to}: {reason}"),
                    _ => info!("{key}: {from} -> {to}: {reason}"),
                }
                None
            }
        }
    }

    fn on_sigchld(&mut self) {
        let reaped = process::reap(|pid| self.pids.contains_key(&pid));
        for r in reaped {
            match self.pids.get(&r.pid).cloned() {
                Some(Owner::Instance(key)) => self.input(
                    &key,
                    Input::Exited {
                        pid: r.pid,
                        how: r.how,
                    },
                ),
                Some(Owner::Command { service, purpose }) => {
                    self.forget_pid(r.pid);
                    info!(
                        "{service}: {purpose:?} command (pid {}) ended: {:?}",
                        r.pid, r.how
                    );
                }
                None if self.guard.as_ref().is_some_and(|g| g.pid() == r.pid) => {
                    error!(
                        "the guard process (pid {}) ended: {:?}; starting a new one",
                        r.pid, r.how
                    );
                    self.start_guard();
                }
                None => debug!("reaped orphan pid {}: {:?}", r.pid, r.how),
            }
        }
    }

    fn on_deadlines(&mut self) {
        let now = self.clock.now();
        while let Some((at, key)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, key.clone()));
            self.input(&key, Input::Tick);
        }
    }

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Status { service, reply } => {
                let _ = reply.send(self.status(service.as_deref()));
            }
            Request::Control {
                service,
                instance,
                action,
                wait,
                reply,
            } => {
                let result = self.control(&service, instance, action);
                match result {
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                    Ok(targets) if wait => {
                        self.waiters.push(Waiter {
                            service,
                            targets,
                            action,
                            reply,
                        });
                    }
                    Ok(_) => {
                        let _ = reply.send(self.service_status(&service));
                    }
                }
            }
        }
    }

    /// Applies an operator's action; returns the targeted instances and their generations.
    fn control(
        &mut self,
        service: &str,
        instance: Option<u32>,
        action: Action,
    ) -> Result<Vec<(u32, u64)>, ApiError> {
        if self.shutdown.is_some() {
            return Err(ApiError::new(503, "steward is shutting down"));
        }
        let rt = self
            .services
            .get(service)
            .ok_or_else(|| unknown_service(service))?;
        let count = rt.instances.len() as u32;
        let indices: Vec<u32> = match instance {
            Some(i) if i < count => vec![i],
            Some(i) => {
                return Err(ApiError::new(
                    404,
                    format!(
                        "service {service} has no instance {i} (it has {count}: 0 to {})",
                        count.saturating_sub(1)
                    ),
                ));
            }
            None => (0..count).collect(),
        };
        let targets = indices
            .iter()
            .map(|&i| (i, rt.instances[i as usize].generation))
            .collect();
        info!(
            "{service}: {action:?} requested{}",
            instance.map_or(String::new(), |i| format!(" for instance {i}"))
        );
        for index in indices {
            self.input(
                &Key {
                    service: service.to_string(),
                    index,
                },
                action.input(),
            );
        }
        Ok(targets)
    }

    /// Answers the control requests whose instances have all settled.
    fn settle_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let shutting_down = self.shutdown.is_some();
        let (done, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| shutting_down || self.is_settled(w));
        self.waiters = pending;
        for w in done {
            let _ = w.reply.send(self.service_status(&w.service));
        }
    }

    fn is_settled(&self, w: &Waiter) -> bool {
        let Some(rt) = self.services.get(&w.service) else {
            return true;
        };
        w.targets.iter().all(|&(index, gen0)| {
            let Some(inst) = rt.instances.get(index as usize) else {
                return true;
            };
            if !inst.state.is_settled() {
                return false;
            }
            let moved_on = inst.generation > gen0;
            match w.action {
                Action::Start => moved_on || inst.state == State::Running || !inst.wants_up(),
                Action::Restart => moved_on || !inst.wants_up(),
                Action::Stop => matches!(inst.state, State::Stopped | State::Failed) || moved_on,
            }
        })
    }

    fn status(&self, service: Option<&str>) -> Result<Vec<ServiceStatus>, ApiError> {
        match service {
            Some(name) => Ok(vec![self.service_status(name)?]),
            None => {
                let now = self.clock.now();
                Ok(self
                    .services
                    .values()
                    .map(|rt| status::service(rt, &self.clock, now))
                    .collect())
            }
        }
    }

    fn service_status(&self, name: &str) -> Result<ServiceStatus, ApiError> {
        let rt = self
            .services
            .get(name)
            .ok_or_else(|| unknown_service(name))?;
        Ok(status::service(rt, &self.clock, self.clock.now()))
    }

    /// Stops every service (first call) or kills them all at once (second call).
    fn begin_shutdown(&mut self, code: i32, why: &str) {
        if let Some(shutdown) = &mut self.shutdown {
            if code != 0 && shutdown.code == 0 {
                shutdown.code = code;
            }
            if code == 0 {
                warn!("{why} again: killing every service now");
                for &pid in self.pids.keys() {
                    let _ = process::signal_group(pid, Signal::KILL);
                }
            }
            return;
        }
        info!("{why}: stopping every service");
        self.shutdown = Some(Shutdown { code });
        let keys: Vec<Key> = self.keys().collect();
        for key in keys {
            self.input(&key, Input::Stop);
        }
    }

    /// Last words: commands still running die with steward.
    fn finish(&mut self) {
        for (&pid, owner) in &self.pids {
            if let Owner::Command { service, .. } = owner {
                warn!("{service}: killing command pid {pid}, still running at exit");
                let _ = process::signal_group(pid, Signal::KILL);
            }
        }
        info!("every service is stopped");
    }

    fn start_guard(&mut self) {
        match Guard::start() {
            Ok(mut guard) => {
                for &pid in self.pids.keys() {
                    let _ = guard.add(pid);
                }
                self.guard = Some(guard);
            }
            Err(e) => error!(
                "cannot start the guard process ({e}); if steward is killed, grandchildren of services may survive"
            ),
        }
    }

    fn guard_add(&mut self, pid: u32) {
        if let Some(guard) = &mut self.guard
            && let Err(e) = guard.add(pid)
        {
            error!("cannot tell the guard about pid {pid}: {e}");
        }
    }

    fn forget_pid(&mut self, pid: u32) {
        self.pids.remove(&pid);
        if let Some(guard) = &mut self.guard {
            let _ = guard.remove(pid);
        }
    }
}

fn unknown_service(name: &str) -> ApiError {
    ApiError::new(404, format!("no service named {name}"))
}

fn spawn_error(command: &[String], e: &std::io::Error) -> String {
    let program = command.first().map_or("", String::as_str);
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{program}: command not found (or working_dir missing)")
        }
        std::io::ErrorKind::PermissionDenied => format!("{program}: permission denied"),
        _ => format!("{program}: {e}"),
    }
}

fn hash_key(name: &str, index: u32) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (name, index).hash(&mut h);
    h.finish()
}

/// Per-daemon randomness for backoff jitter, so two nodes do not retry in lockstep.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}
