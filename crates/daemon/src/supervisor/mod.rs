//! The supervisor loop: the one owner of every instance's state.
//!
//! One task `select!`s over SIGCHLD (then reaps), API requests, events from helper tasks
//! (notify datagrams, ready fds, network probes), the earliest timer, and SIGTERM/SIGINT.
//! Each event becomes an [`Input`] to the core's [`step`], and the effects it returns are
//! carried out here, in order. Nothing else touches the state, so there is no lock and
//! nothing polls: when nothing happens, no timer is armed and the loop sleeps.
//!
//! The parts: [`control`] answers the API, [`order`] starts services in dependency order
//! and stops them in reverse, [`boot`] runs the startup tasks first, [`health`] runs
//! probes and reads notify sockets and ready fds, [`reload`] applies a new config.

mod boot;
mod control;
mod emit;
mod health;
mod logs;
mod order;
mod reload;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use steward_core::config::{Config, ServiceSpec};
use steward_core::machine::{Effect, Input, Instance, ProbeKind, RunPurpose, State, step};
use steward_core::signal::Signal;
use steward_core::time::Instant;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

pub use control::{Action, ApiError, Request};
pub use reload::Active;

use crate::cgroup::Cgroups;
use crate::clock::Clock;
use crate::events::Bus;
use crate::guard::Guard;
use crate::journal::Health;
use crate::process::{self, Launch};
use crate::reloader::Trigger;
use emit::Observed;

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
    /// Per instance: its notify socket and counters.
    pub io: Vec<health::InstanceIo>,
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
    /// An exec probe of an instance's run.
    Probe {
        key: Key,
        kind: ProbeKind,
        generation: u64,
        timed_out: bool,
    },
    /// A startup task.
    Task {
        index: usize,
        timed_out: bool,
    },
}

/// What a timer wakes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    /// The instance's own deadline (`Instance::deadline`).
    Instance(Key),
    /// A probe or task process that must be killed if still running.
    Kill(u32),
}

/// Events from the helper tasks, in arrival order.
#[derive(Debug)]
enum Event {
    Notify(Key, crate::notify::Datagram),
    ReadyFd {
        key: Key,
        generation: u64,
    },
    Probe {
        key: Key,
        kind: ProbeKind,
        generation: u64,
        ok: bool,
        detail: String,
    },
}

struct Shutdown {
    code: i32,
    /// Services still to be stopped, each once its dependents are down.
    to_stop: BTreeSet<String>,
}

pub struct Supervisor {
    clock: Clock,
    services: BTreeMap<String, ServiceRt>,
    pids: HashMap<u32, Owner>,
    timers: BTreeSet<(Instant, Timer)>,
    /// When each armed timer fires, to find it again in `timers`.
    armed: HashMap<Timer, Instant>,
    waiters: Vec<control::Waiter>,
    guard: Option<Guard>,
    shutdown: Option<Shutdown>,
    events: mpsc::UnboundedSender<Event>,
    boot: boot::Boot,
    /// Instances the config wants up, waiting for their service's dependencies.
    waiting: BTreeSet<Key>,
    /// Instances an operator started or stopped during the boot: not started with the rest.
    held: BTreeSet<Key>,
    /// For each service, the services that depend on it.
    dependents: HashMap<String, Vec<String>>,
    /// One cgroup per instance, where steward may make them.
    cgroups: Option<Cgroups>,
    /// The config steward runs.
    active: reload::Active,
    /// What the reloads applied so far still have to do.
    reload_work: reload::Work,
    /// Where SIGHUP asks for a reload; `None` without a config file.
    reload_tx: Option<mpsc::Sender<Trigger>>,
    /// Where every event goes: live streams and the journal.
    bus: Bus,
    /// The API's access policy: replaced by each applied reload.
    access: tokio::sync::watch::Sender<std::sync::Arc<crate::auth::Access>>,
    /// Makes the instances' log pipes; `None`: output is not captured.
    logs: Option<crate::logs::Logs>,
    /// The services' endpoints.
    endpoints: crate::endpoint::Endpoints,
}

/// The loop's connections to the rest of steward.
pub struct Links {
    /// Where SIGHUP asks for a reload; `None` without a config file.
    pub reload_tx: Option<mpsc::Sender<Trigger>>,
    /// Where every event goes.
    pub bus: Bus,
    /// Where each applied reload sends the API's new access policy.
    pub access: tokio::sync::watch::Sender<std::sync::Arc<crate::auth::Access>>,
    /// The journal's reports on its own health.
    pub journal_health: mpsc::UnboundedReceiver<Health>,
}

impl Supervisor {
    pub fn new(
        mut config: Config,
        mut active: reload::Active,
        clock: Clock,
        state_dir: PathBuf,
        links: Links,
    ) -> (Supervisor, Receivers) {
        let Links {
            reload_tx,
            bus,
            access,
            journal_health,
        } = links;
        let now = clock.now();
        let seed = random_seed();
        let dependents = steward_core::deps::dependents(&config.services);
        let services = std::mem::take(&mut config.services)
            .into_iter()
            .map(|(name, spec)| (name, ServiceRt::new(spec, seed, now)))
            .collect::<BTreeMap<_, _>>();
        active.set(config, services.keys().cloned().collect());
        let (events, events_rx) = mpsc::unbounded_channel();
        let (reports, reports_rx) = mpsc::unbounded_channel();
        let endpoints = crate::endpoint::Endpoints::new(state_dir.clone(), reports);
        let boot = boot::Boot::new(active.tasks().to_vec(), &state_dir);
        let sup = Supervisor {
            clock,
            services,
            pids: HashMap::new(),
            timers: BTreeSet::new(),
            armed: HashMap::new(),
            waiters: Vec::new(),
            guard: None,
            shutdown: None,
            events,
            boot,
            waiting: BTreeSet::new(),
            held: BTreeSet::new(),
            dependents,
            cgroups: None,
            active,
            reload_work: reload::Work::default(),
            reload_tx,
            bus,
            access,
            logs: None,
            endpoints,
        };
        let rx = Receivers {
            events: events_rx,
            journal_health,
            endpoints: reports_rx,
        };
        (sup, rx)
    }

    /// Runs until every service is down after a shutdown; returns steward's exit code.
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut rx: Receivers,
    ) -> std::io::Result<i32> {
        // Subscribe before the first spawn so no exit can be missed.
        let mut sigchld = signal(SignalKind::child())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        // SIGHUP's default would kill steward and leave the guard to SIGKILL every service.
        let mut sighup = signal(SignalKind::hangup())?;
        if let Err(e) = process::become_subreaper() {
            warn!("cannot become a subreaper ({e}); orphaned grandchildren go to init");
        }
        match Cgroups::setup() {
            Ok(c) => {
                info!(
                    "each instance runs in its own cgroup under {}",
                    c.root().display()
                );
                self.cgroups = Some(c);
            }
            Err(e) => info!("no cgroups ({e}): pause uses SIGSTOP, stops reach process groups"),
        }
        self.start_guard();
        // Before any instance starts: a socket-mode endpoint's socket is what they get.
        self.sync_endpoints();
        let started = format!(
            "steward {} started (pid {}), {} services",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            self.services.len()
        );
        self.publish_supervisor("started", started);
        self.advance();
        loop {
            if self.shutdown.is_some() && self.all_down() {
                break;
            }
            let next = self.timers.first().map(|(at, _)| self.clock.to_tokio(*at));
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                _ = sigchld.recv() => self.on_sigchld(&mut rx),
                Some(req) = requests.recv() => self.on_request(req),
                Some(event) = rx.events.recv() => {
                    // Whatever else has queued up meanwhile, in one wake-up.
                    self.on_event(event);
                    while let Ok(event) = rx.events.try_recv() {
                        self.on_event(event);
                    }
                }
                _ = tokio::time::sleep_until(next.unwrap_or(far)), if next.is_some() => self.on_timers(),
                _ = sigterm.recv() => self.begin_shutdown(0, "SIGTERM received"),
                _ = sigint.recv() => self.begin_shutdown(0, "SIGINT received"),
                _ = sighup.recv() => self.on_sighup(),
                Some(health) = rx.journal_health.recv() => self.on_journal_health(health),
                Some(report) = rx.endpoints.recv() => self.on_endpoint_report(report),
            }
            self.advance();
            self.settle_waiters();
        }
        self.finish();
        Ok(self.shutdown.map_or(0, |s| s.code))
    }

    /// Moves the boot, reload and shutdown sequences on after every event.
    fn advance(&mut self) {
        if self.shutdown.is_some() {
            self.stop_in_order();
            return;
        }
        self.advance_reload();
        if !self.boot.is_done() {
            self.run_tasks();
        } else {
            self.start_waiting();
        }
    }

    fn on_sighup(&mut self) {
        match &self.reload_tx {
            Some(tx) => {
                info!("SIGHUP received: reloading the config");
                // A full queue already holds a reload, which will read the file anew.
                let _ = tx.try_send(Trigger::Signal);
            }
            None => warn!(
                "SIGHUP received, but steward runs the built-in demo: there is no config file to reload"
            ),
        }
    }

    fn instance(&self, key: &Key) -> Option<&Instance> {
        self.services
            .get(&key.service)?
            .instances
            .get(key.index as usize)
    }

    fn all_down(&self) -> bool {
        self.services
            .values()
            .all(|rt| rt.instances.iter().all(|i| i.pid.is_none()))
            && !self.pids.values().any(|o| matches!(o, Owner::Task { .. }))
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
            let old_pid = inst.pid;
            let before = Observed::of(inst);
            let effects = step(inst, &rt.spec, input, now);
            let (deadline, new_pid) = (inst.deadline(), inst.pid);
            if rt.spec.endpoint.is_some() {
                // Before the effects: a drain starts with no new connection to it.
                let takes = steward_core::endpoint::takes_connections(inst);
                self.endpoints.set_takes(&key.service, key.index, takes);
            }
            let after = Observed::of(inst);
            if before != after {
                self.publish_changes(key, old_pid, &before, &after);
            }

            self.arm(Timer::Instance(key.clone()), deadline);
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

    /// Freezes (or thaws) an instance: its cgroup, else (or should that fail) its process
    /// group with SIGSTOP/SIGCONT, which cannot be caught.
    fn freeze(&self, key: &Key, pid: u32, frozen: bool) -> std::io::Result<()> {
        if let Some(dir) = self.io(key).and_then(|io| io.cgroup.as_ref()) {
            match Cgroups::freeze(dir, frozen) {
                Ok(()) => return Ok(()),
                Err(e) => warn!("{key}: cgroup freezer failed ({e}); using signals"),
            }
        }
        process::signal_group(pid, if frozen { Signal::STOP } else { Signal::CONT })
    }

    /// Feeds `input` to every instance of `service`.
    fn input_all(&mut self, service: &str, input: Input) {
        let count = self
            .services
            .get(service)
            .map_or(0, |rt| rt.instances.len() as u32);
        for index in 0..count {
            self.input(
                &Key {
                    service: service.to_string(),
                    index,
                },
                input.clone(),
            );
        }
    }

    /// Carries out one effect; returns the input it produces, if any.
    fn carry_out(&mut self, key: &Key, effect: Effect) -> Option<Input> {
        match effect {
            Effect::Spawn => Some(self.spawn_instance(key)),
            Effect::Signal { pid, signal } => {
                debug!("{key}: sending {signal} to process group {pid}");
                if let Err(e) = process::signal_group(pid, signal) {
                    error!("{key}: cannot send {signal} to process group {pid}: {e}");
                }
                // SIGKILL means the whole run: what left the group too.
                if signal == Signal::KILL {
                    self.kill_cgroup(key);
                }
                None
            }
            Effect::Freeze { pid } => match self.freeze(key, pid, true) {
                Ok(()) => Some(Input::PauseDone),
                Err(e) => {
                    error!("{key}: cannot pause: {e}");
                    Some(Input::PauseFailed {
                        reason: e.to_string(),
                    })
                }
            },
            Effect::Thaw { pid } => {
                if let Err(e) = self.freeze(key, pid, false) {
                    error!("{key}: cannot continue: {e}");
                }
                Some(Input::ContinueDone)
            }
            Effect::Probe { kind, generation } => self.run_probe(key, kind, generation),
            Effect::Drain => {
                let rt = self.services.get(&key.service)?;
                let generation = rt.instances.get(key.index as usize)?.generation;
                let limit = rt.spec.endpoint.as_ref()?.drain_timeout;
                self.endpoints
                    .drain(&key.service, key.index, generation, limit);
                None
            }
            Effect::Run { command, purpose } => {
                self.run_command(key, command, purpose);
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
                self.publish_transition(key, from, to, reason);
                None
            }
        }
    }

    fn spawn_instance(&mut self, key: &Key) -> Input {
        let Some(rt) = self.services.get_mut(&key.service) else {
            return Input::SpawnFailed {
                error: "no such service".into(),
            };
        };
        let spec = &rt.spec;
        let result = Launch::for_instance(spec, key.index).and_then(|mut launch| {
            let io = &mut rt.io[key.index as usize];
            let generation = rt.instances[key.index as usize].generation;
            let ready = health::prepare(spec, key, io, &mut launch, &self.events)?;
            self.endpoints.prepare(spec, key.index, &mut launch)?;
            if let Some(cgroups) = &self.cgroups
                && io.cgroup.is_none()
            {
                match cgroups.instance(&key.service, key.index) {
                    Ok(dir) => io.cgroup = Some(dir),
                    Err(e) => warn!("{key}: starting without its own cgroup: {e}"),
                }
            }
            launch.cgroup_procs = io.cgroup.as_ref().map(|dir| dir.join("cgroup.procs"));
            // steward's copies of the write ends close once the child has its own.
            let _writers = logs::prepare(self.logs.as_mut(), spec, key, io, &mut launch)?;
            let pid =
                process::spawn(&launch).map_err(|e| spawn_error(&spec.process.command, &e))?;
            io.expected_uid = launch
                .identity
                .as_ref()
                .map_or(nix::unistd::getuid().as_raw(), |i| i.uid.as_raw());
            if let Some(read_end) = ready {
                health::watch_ready_fd(read_end, key.clone(), generation, self.events.clone());
            }
            Ok(pid)
        });
        match result {
            Ok(pid) => {
                self.guard_add(pid);
                Input::Spawned { pid }
            }
            Err(error) => Input::SpawnFailed { error },
        }
    }

    fn run_command(&mut self, key: &Key, command: Vec<String>, purpose: RunPurpose) {
        let Some(rt) = self.services.get(&key.service) else {
            return;
        };
        let what = match purpose {
            RunPurpose::Recovery => "recovery",
            RunPurpose::GiveUp => "give-up",
        };
        let launch = Launch::for_command(&rt.spec, &command);
        let owner = Owner::Command {
            service: key.service.clone(),
            purpose,
        };
        let started = self.start_helper(launch, owner, None);
        match &started {
            Ok(pid) => info!("{key}: running {what} command {command:?} (pid {pid})"),
            Err(e) => error!("{key}: {what} command failed to start: {e}"),
        }
        self.publish_recovery(key, what, command, started);
    }

    fn on_sigchld(&mut self, rx: &mut Receivers) {
        let reaped = process::reap(|pid| self.pids.contains_key(&pid));
        for r in reaped {
            match self.pids.get(&r.pid).cloned() {
                Some(Owner::Instance(key)) => {
                    // What the instance said before it exited comes first (`STOPPING=1`
                    // decides how a non-zero exit counts).
                    while let Ok(event) = rx.events.try_recv() {
                        self.on_event(event);
                    }
                    self.drain_notify(&key);
                    // The leader is gone: so is every process of its run.
                    self.kill_cgroup(&key);
                    self.input(
                        &key,
                        Input::Exited {
                            pid: r.pid,
                            how: r.how,
                        },
                    );
                }
                Some(Owner::Command { service, purpose }) => {
                    self.forget_pid(r.pid);
                    info!(
                        "{service}: {purpose:?} command (pid {}) ended: {}",
                        r.pid, r.how
                    );
                }
                Some(Owner::Probe {
                    key,
                    kind,
                    generation,
                    timed_out,
                }) => {
                    self.forget_pid(r.pid);
                    self.exec_probe_ended(key, kind, generation, r.how, timed_out);
                }
                Some(Owner::Task { index, timed_out }) => {
                    self.forget_pid(r.pid);
                    self.task_ended(index, r.how, timed_out);
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

    fn on_timers(&mut self) {
        let now = self.clock.now();
        while let Some((at, timer)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, timer.clone()));
            match timer {
                Timer::Instance(key) => {
                    self.armed.remove(&Timer::Instance(key.clone()));
                    self.input(&key, Input::Tick);
                }
                Timer::Kill(pid) => {
                    self.armed.remove(&Timer::Kill(pid));
                    self.kill_overdue(pid);
                }
            }
        }
    }

    /// A probe or task process ran past its timeout: kill its group; its exit reports it.
    fn kill_overdue(&mut self, pid: u32) {
        match self.pids.get_mut(&pid) {
            Some(Owner::Probe { timed_out, .. } | Owner::Task { timed_out, .. }) => {
                *timed_out = true
            }
            _ => return,
        }
        if let Err(e) = process::signal_group(pid, Signal::KILL) {
            error!("cannot kill overdue process group {pid}: {e}");
        }
    }

    /// Sets (or, with `None`, clears) when `timer` fires.
    fn arm(&mut self, timer: Timer, at: Option<Instant>) {
        if self.armed.get(&timer).copied() == at {
            return;
        }
        if let Some(old) = self.armed.remove(&timer) {
            self.timers.remove(&(old, timer.clone()));
        }
        if let Some(at) = at {
            self.armed.insert(timer.clone(), at);
            self.timers.insert((at, timer));
        }
    }

    /// Starts a helper process (recovery or give-up command, exec probe, task) as `owner`:
    /// the guard learns of it, the reaper reports its end, and after `timeout` its group is
    /// killed.
    fn start_helper(
        &mut self,
        launch: Result<Launch, String>,
        owner: Owner,
        timeout: Option<Duration>,
    ) -> Result<u32, String> {
        let launch = launch?;
        let pid = process::spawn(&launch).map_err(|e| spawn_error(&launch.argv, &e))?;
        self.guard_add(pid);
        self.pids.insert(pid, owner);
        if let Some(t) = timeout {
            let at = self.clock.now() + t;
            self.arm(Timer::Kill(pid), Some(at));
        }
        Ok(pid)
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Notify(key, datagram) => self.on_notify(&key, datagram),
            Event::ReadyFd { key, generation } => {
                if self
                    .instance(&key)
                    .is_some_and(|i| i.generation == generation)
                {
                    self.input(&key, Input::Ready);
                }
            }
            Event::Probe {
                key,
                kind,
                generation,
                ok,
                detail,
            } => {
                self.input(
                    &key,
                    Input::ProbeResult {
                        kind,
                        generation,
                        ok,
                        detail,
                    },
                );
            }
        }
    }

    /// Makes the endpoints match the services (at start, and after a reload or a scale).
    fn sync_endpoints(&mut self) {
        let services = self.services.iter().map(|(name, rt)| {
            let takes = rt
                .instances
                .iter()
                .map(steward_core::endpoint::takes_connections)
                .collect();
            (name, &rt.spec, takes)
        });
        self.endpoints.sync(services);
    }

    fn on_endpoint_report(&mut self, report: crate::endpoint::Report) {
        use crate::endpoint::Report;
        match report {
            Report::Drained {
                service,
                index,
                generation,
            } => {
                let key = Key { service, index };
                if self
                    .instance(&key)
                    .is_some_and(|i| i.generation == generation && i.draining)
                {
                    self.input(&key, Input::Drained);
                }
            }
            Report::Refused {
                service,
                who,
                reason,
            } => {
                let listen = self
                    .services
                    .get(&service)
                    .and_then(|rt| rt.spec.endpoint.as_ref())
                    .map_or(String::new(), |e| e.listen.to_string());
                let request = format!("connect to endpoint {listen}");
                let message = format!("refused {request} from {who}: {reason}");
                warn!("{service}: {message}");
                let body = steward_proto::EventBody::Access {
                    who,
                    request,
                    right: "read,write".into(),
                    status: 403,
                    reason,
                };
                self.bus.publish(Some(&service), None, message, body);
            }
        }
    }

    fn is_shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// Stops every service, dependents first (first call), or kills them all at once
    /// (second call).
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
                if let Some(cgroups) = &self.cgroups {
                    let _ = cgroups.kill_all();
                }
            }
            return;
        }
        info!("{why}: stopping every service");
        self.publish_supervisor("stopping", format!("{why}: stopping every service"));
        self.waiting.clear();
        self.reload_work.abandon();
        let to_stop = self.services.keys().cloned().collect();
        self.shutdown = Some(Shutdown { code, to_stop });
        self.abort_tasks();
    }

    /// Last words: helper processes still running die with steward.
    fn finish(&mut self) {
        for (&pid, owner) in &self.pids {
            if !matches!(owner, Owner::Instance(_)) {
                debug!("killing helper pid {pid} ({owner:?}), still running at exit");
                let _ = process::signal_group(pid, Signal::KILL);
            }
        }
        if let Some(cgroups) = &self.cgroups {
            cgroups.remove_all();
        }
        self.endpoints.close_all();
        info!("every service is stopped");
        self.publish_supervisor("stopped", "every service is stopped".into());
        self.bus.journal().sync(Duration::from_secs(2));
    }

    /// Ends every process left of the instance's run: those in its cgroup, whatever
    /// session or process group they made for themselves.
    fn kill_cgroup(&mut self, key: &Key) {
        if let Some(dir) = self.io(key).and_then(|io| io.cgroup.as_ref())
            && let Err(e) = Cgroups::kill_leftovers(dir)
        {
            error!("{key}: cannot kill what is left in its cgroup: {e}");
        }
    }

    fn io(&self, key: &Key) -> Option<&health::InstanceIo> {
        self.services.get(&key.service)?.io.get(key.index as usize)
    }

    fn start_guard(&mut self) {
        match Guard::start() {
            Ok(mut guard) => {
                if let Some(cgroups) = &self.cgroups {
                    let _ = guard.set_cgroup_root(cgroups.root());
                }
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
        // A later process may get this pid: its predecessor's kill timer must not fire.
        self.arm(Timer::Kill(pid), None);
        if let Some(guard) = &mut self.guard {
            let _ = guard.remove(pid);
        }
    }
}

impl ServiceRt {
    fn new(spec: ServiceSpec, seed: u64, now: Instant) -> ServiceRt {
        let count = spec.instances;
        let mut rt = ServiceRt {
            spec,
            instances: Vec::new(),
            io: Vec::new(),
        };
        rt.grow(count, seed, now);
        rt
    }

    /// Adds instances up to `count` (a new service, or a reload that scales it up).
    fn grow(&mut self, count: u32, seed: u64, now: Instant) {
        while (self.instances.len() as u32) < count {
            let i = self.instances.len() as u32;
            let jitter = seed ^ hash_key(&self.spec.name, i);
            self.instances.push(Instance::new(i, jitter, now));
            self.io.push(health::InstanceIo::default());
        }
    }
}

/// The receiving ends the loop owns.
pub struct Receivers {
    events: mpsc::UnboundedReceiver<Event>,
    journal_health: mpsc::UnboundedReceiver<Health>,
    endpoints: mpsc::UnboundedReceiver<crate::endpoint::Report>,
}

fn spawn_error(command: &[String], e: &std::io::Error) -> String {
    let program = command.first().map_or("", String::as_str);
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("{program}: command not found"),
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
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}
