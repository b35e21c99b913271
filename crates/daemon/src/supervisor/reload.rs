//! Reloads: the plan from the core, carried out on the live instances.
//!
//! A plan's steps become work the loop finishes over the next events, like a shutdown:
//! instances to restart or remove are stopped dependents first (each once no service that
//! depends on it still has one of them running); a restarted instance then waits for its
//! dependencies like any start, and is paused again once running if it was paused.
//! Settings that apply in place are swapped at once and the instances told
//! (`Input::Reconfigured`). An operator's action on an instance takes it out of the
//! reload: the operator's word stands.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use steward_core::config::{Config, OnConfigChange, ServiceSpec};
use steward_core::deps;
use steward_core::machine::{Input, State};
use steward_core::reload::{self, Change, Live, Plan, Step};
use steward_proto::{ConfigDiagnostic, ConfigStatus, InstancePlan, ReloadReport, ServicePlan};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::{ApiError, Key, ServiceRt, Supervisor};
use crate::reloader::{Loaded, Trigger};

/// The config steward runs, and where it came from.
pub struct Active {
    /// The running config without its services: each service's spec lives once, in its
    /// `ServiceRt`, not twice.
    rest: Config,
    /// The running config's services.
    names: BTreeSet<String>,
    /// `None` for the built-in demo.
    path: Option<PathBuf>,
    text: String,
    sha256: String,
    loaded_at: jiff::Timestamp,
    last: Option<ReloadReport>,
    /// Services `steward scale` changed, by name: kept across reloads while the file's
    /// `instances` for the service stays what it was when scaled.
    scaled: BTreeMap<String, reload::Scaled>,
}

impl Active {
    /// The config read from `path` (`None`: the built-in demo) as `text`; the supervisor
    /// sets the config itself.
    pub fn new(path: Option<PathBuf>, text: String) -> Active {
        Active {
            rest: Config::default(),
            names: BTreeSet::new(),
            path,
            sha256: crate::reloader::sha256_hex(text.as_bytes()),
            text,
            loaded_at: jiff::Timestamp::now(),
            last: None,
            scaled: BTreeMap::new(),
        }
    }

    /// Takes `config` (whose services have gone to the supervisor) and their names.
    pub(super) fn set(&mut self, mut config: Config, names: BTreeSet<String>) {
        config.services.clear();
        self.rest = config;
        self.names = names;
    }

    pub(super) fn tasks(&self) -> &[steward_core::config::TaskSpec] {
        &self.rest.tasks
    }
}

/// What is left to do of the reloads applied so far.
#[derive(Default)]
pub(super) struct Work {
    /// Instances to stop: then started again, or removed.
    pending: BTreeMap<Key, Pending>,
    /// Restarted instances to pause once they are running.
    pause_after: BTreeSet<Key>,
    /// Instances of `rolling` services restarted and not running yet: the next instance
    /// of their service waits for them.
    rolling: BTreeSet<Key>,
    /// For each service, its dependents in the old and the new config: a reload stops
    /// dependents first by both.
    dependents: HashMap<String, Vec<String>>,
    waiters: Vec<Waiter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    /// `Some(pause)`: start again (and pause); `None`: remove.
    restart: Option<bool>,
    stop_sent: bool,
}

/// A `POST /v1/reload` waiting for its plan to be carried out.
pub(super) struct Waiter {
    keys: Vec<Key>,
    report: ReloadReport,
    reply: oneshot::Sender<Result<ReloadReport, ApiError>>,
}

impl Work {
    /// The instance is being removed by a reload: an operator cannot act on it.
    pub(super) fn is_retiring(&self, key: &Key) -> bool {
        self.pending.get(key).is_some_and(|p| p.restart.is_none())
    }

    /// Whether an earlier reload already asked the instance to stop.
    fn stop_sent(&self, key: &Key) -> bool {
        self.pending.get(key).is_some_and(|p| p.stop_sent)
    }

    pub(super) fn is_pending(&self, key: &Key) -> bool {
        self.pending.contains_key(key)
    }

    /// An operator acted on the instance: the reload leaves it to them.
    pub(super) fn release(&mut self, key: &Key) {
        if !self.is_retiring(key) {
            self.pending.remove(key);
        }
        self.pause_after.remove(key);
        self.rolling.remove(key);
    }

    /// A restart of a rolling service's instance, to be done in its turn.
    pub(super) fn queue_restart(&mut self, key: Key) {
        let pending = Pending {
            restart: Some(false),
            stop_sent: false,
        };
        self.pending.insert(key, pending);
    }

    /// The rolling service's instance is out for a restart: the next waits for it.
    pub(super) fn rolling_out(&mut self, key: Key) {
        self.rolling.insert(key);
    }

    /// A shutdown stops everything; nothing is to be started again.
    pub(super) fn abandon(&mut self) {
        self.pending.retain(|_, p| p.restart.is_none());
        self.pause_after.clear();
        self.rolling.clear();
    }
}

impl Supervisor {
    /// A batch of reload triggers, with the file read once for all of them.
    pub(super) fn on_reload(&mut self, read: Result<Loaded, String>, batch: Vec<Trigger>) {
        type Reply = oneshot::Sender<Result<ReloadReport, ApiError>>;
        let ignore_files = self.active.rest.supervisor.on_config_change == OnConfigChange::Ignore;
        let (mut files, mut signals) = (0, 0);
        let mut dry_runs: Vec<Reply> = Vec::new();
        let mut replies: Vec<(bool, Reply)> = Vec::new();
        let mut whos: Vec<String> = Vec::new();
        for t in batch {
            match t {
                Trigger::File => files += usize::from(!ignore_files),
                Trigger::Signal => signals += 1,
                Trigger::Api {
                    dry_run: true,
                    reply,
                    ..
                } => dry_runs.push(reply),
                Trigger::Api {
                    wait, reply, who, ..
                } => {
                    replies.push((wait, reply));
                    if !whos.contains(&who) {
                        whos.push(who);
                    }
                }
            }
        }
        if self.shutdown.is_some() {
            for reply in dry_runs.into_iter().chain(replies.into_iter().map(|r| r.1)) {
                let _ = reply.send(Err(ApiError::new(503, "steward is shutting down")));
            }
            return;
        }
        // Dry runs first: they only plan, whatever the rest of the batch does.
        for reply in dry_runs {
            let _ = reply.send(Ok(self.dry_run(&read)));
        }
        let word = match (replies.is_empty(), signals, files) {
            (false, _, _) => "api",
            (true, 0, 0) => return,
            (true, 0, _) => "file",
            (true, _, _) => "signal",
        };
        let file_only = word == "file";
        let who = (!whos.is_empty()).then(|| whos.join("; "));
        let path = self.active.path.clone().unwrap_or_default();
        let loaded = match read {
            Ok(l) => l,
            Err(why) => {
                error!("reload ({word}): {why}; the running config is kept");
                let report = report(word, "unreadable", None, Some(why), &[], None);
                return self.answer(report, who, replies, Vec::new());
            }
        };
        // Editors write a file more than once per save: only a new text counts, and a
        // broken one is reported once.
        let last_sha = self.active.last.as_ref().and_then(|r| r.sha256.as_deref());
        if file_only && (loaded.sha256 == self.active.sha256 || last_sha == Some(&loaded.sha256)) {
            return;
        }
        // An empty file is valid (no services) but, seen by the watcher, it is far more
        // likely a writer between truncating and writing: it must not stop everything.
        if file_only && loaded.text.trim().is_empty() {
            warn!(
                "{} is empty: not applied (it may be being written); to run no services, \
                 reload explicitly with SIGHUP or `steward reload`",
                path.display()
            );
            return;
        }
        let config = match loaded.result {
            Ok(c) => c,
            Err(diags) => {
                error!(
                    "reload ({word}): {} is not valid; the running config is kept:\n{diags}",
                    path.display()
                );
                let why = invalid_why(&path, &diags);
                let sha = Some(loaded.sha256.as_str());
                let report = report(word, "invalid", sha, Some(why), &diags.0, None);
                return self.answer(report, who, replies, Vec::new());
            }
        };
        let access = match loaded.access {
            Some(Ok(access)) => Some(access),
            Some(Err(why)) => {
                error!("reload ({word}): {why}; the running config is kept");
                let sha = Some(loaded.sha256.as_str());
                let report = report(word, "invalid", sha, Some(why), &[], None);
                return self.answer(report, who, replies, Vec::new());
            }
            None => None,
        };
        let mut config = config;
        self.active.scaled = reload::keep_scaled(&mut config, &self.active.scaled);
        let plan = reload::plan(&self.running_config(), &config, |s, i| self.live(s, i));
        let summary = reload::describe(&plan);
        if plan.is_empty() {
            info!("reload ({word}): nothing to change");
        } else {
            info!(
                "reload ({word}) of {}: {}",
                path.display(),
                summary.join("; ")
            );
        }
        for key in &plan.needs_restart {
            warn!("reload ({word}): {key} changed; it takes effect when steward restarts");
        }
        let keys = self.apply(&config, &plan);
        let names = config.services.keys().cloned().collect();
        self.active.set(config, names);
        self.active.text = loaded.text;
        self.active.sha256 = loaded.sha256.clone();
        self.active.loaded_at = jiff::Timestamp::now();
        // A removed service without instances has nothing to wait for.
        for sp in plan.services.iter().filter(|s| s.change == Change::Removed) {
            self.shrink(&sp.name);
        }
        let outcome = if plan.is_empty() {
            "unchanged"
        } else {
            "applied"
        };
        let report = report(word, outcome, Some(&loaded.sha256), None, &[], Some(&plan));
        self.bus
            .journal()
            .set_retention(self.active.rest.supervisor.journal);
        if let Some(access) = access {
            self.access.send_replace(access);
        }
        self.sync_endpoints();
        self.answer(report, who, replies, keys);
    }

    /// `steward scale`: the running config with `service`'s `instances` changed, applied
    /// as a reload of it would be: only the added or removed instances start or stop. The
    /// file is not touched; a later reload keeps the count as long as the file's own
    /// `instances` for the service is what it was.
    pub(super) fn scale(
        &mut self,
        service: &str,
        instances: u32,
        who: String,
        wait: bool,
        reply: oneshot::Sender<Result<ReloadReport, ApiError>>,
    ) {
        if self.shutdown.is_some() {
            let _ = reply.send(Err(ApiError::new(503, "steward is shutting down")));
            return;
        }
        let max = steward_core::config::MAX_INSTANCES;
        if instances > max {
            let why = format!("instances: {instances} is more than the {max} a service may have");
            let _ = reply.send(Err(ApiError::new(400, why)));
            return;
        }
        let old = self.running_config();
        let Some(spec) = old.services.get(service) else {
            let _ = reply.send(Err(ApiError::new(404, format!("no service {service:?}"))));
            return;
        };
        let before = self.active.scaled.get(service).copied();
        match reload::scaled(before, spec.instances, instances) {
            Some(s) => self.active.scaled.insert(service.to_string(), s),
            None => self.active.scaled.remove(service),
        };
        let mut new = old.clone();
        if let Some(spec) = new.services.get_mut(service) {
            spec.instances = instances;
        }
        let plan = reload::plan(&old, &new, |s, i| self.live(s, i));
        info!(
            "scale of {service} to {instances} by {who}: {}",
            reload::describe(&plan).join("; ")
        );
        let keys = self.apply(&new, &plan);
        let names = new.services.keys().cloned().collect();
        self.active.set(new, names);
        self.sync_endpoints();
        let outcome = if plan.is_empty() {
            "unchanged"
        } else {
            "applied"
        };
        let sha = self.active.sha256.clone();
        let report = report("scale", outcome, Some(&sha), None, &[], Some(&plan));
        self.answer(report, Some(who), vec![(wait, reply)], keys);
    }

    /// The report of a dry run: what the file would do, or why it cannot be applied.
    fn dry_run(&self, read: &Result<Loaded, String>) -> ReloadReport {
        let loaded = match read {
            Ok(l) => l,
            Err(why) => return report("api", "unreadable", None, Some(why.clone()), &[], None),
        };
        let sha = Some(loaded.sha256.as_str());
        match &loaded.result {
            Ok(config) => {
                let mut config = config.clone();
                // What `steward scale` set stays, as in a real reload.
                reload::keep_scaled(&mut config, &self.active.scaled);
                let plan = reload::plan(&self.running_config(), &config, |s, i| self.live(s, i));
                report("api", "dry-run", sha, None, &[], Some(&plan))
            }
            Err(diags) => {
                let path = self.active.path.clone().unwrap_or_default();
                let why = invalid_why(&path, diags);
                report("api", "invalid", sha, Some(why), &diags.0, None)
            }
        }
    }

    /// Records the report as the last reload attempt and answers the callers: at once, or
    /// (with `wait`) once `keys` have settled.
    fn answer(
        &mut self,
        report: ReloadReport,
        who: Option<String>,
        replies: Vec<(bool, oneshot::Sender<Result<ReloadReport, ApiError>>)>,
        keys: Vec<Key>,
    ) {
        self.publish_reload(&report, who);
        for (wait, reply) in replies {
            if wait && !keys.is_empty() {
                self.reload_work.waiters.push(Waiter {
                    keys: keys.clone(),
                    report: report.clone(),
                    reply,
                });
            } else {
                let _ = reply.send(Ok(report.clone()));
            }
        }
        self.active.last = Some(report);
    }

    /// What an instance is doing, as the planner needs it.
    fn live(&self, service: &str, index: u32) -> Live {
        let key = Key {
            service: service.to_string(),
            index,
        };
        if let Some(Pending {
            restart: Some(pause),
            ..
        }) = self.reload_work.pending.get(&key)
        {
            return if *pause { Live::Paused } else { Live::Up };
        }
        if self.reload_work.pause_after.contains(&key) {
            return Live::Paused;
        }
        let Some(inst) = self.instance(&key) else {
            return Live::Down;
        };
        match inst.state {
            State::PausePending | State::Paused => Live::Paused,
            State::Failed => Live::Failed,
            State::Stopped if self.waiting.contains(&key) => Live::Waiting,
            State::Stopped if !self.boot.is_done() && !self.held.contains(&key) => Live::Waiting,
            State::Stopped => Live::Down,
            State::StopPending if !inst.wants_up() => Live::Down,
            _ => Live::Up,
        }
    }

    /// Carries out the plan's first moves; returns the instances it starts or restarts.
    fn apply(&mut self, new: &Config, plan: &Plan) -> Vec<Key> {
        let fresh = deps::dependents(&new.services);
        let old = std::mem::replace(&mut self.dependents, fresh.clone());
        let work = &mut self.reload_work;
        if work.pending.is_empty() {
            // The earlier reloads are done: their configs no longer order anything.
            work.dependents.clear();
        }
        for (service, list) in old.into_iter().chain(fresh) {
            let entry = work.dependents.entry(service).or_default();
            for d in list {
                if !entry.contains(&d) {
                    entry.push(d);
                }
            }
        }
        let now = self.clock.now();
        let seed = super::random_seed();
        let mut started = Vec::new();
        let mut reconfigure = Vec::new();
        for sp in &plan.services {
            let key = |index: u32| Key {
                service: sp.name.clone(),
                index,
            };
            if let Some(spec) = new.services.get(&sp.name) {
                // Added, or changed: the new settings, at once.
                self.services
                    .entry(sp.name.clone())
                    .and_modify(|rt| {
                        rt.spec = spec.clone();
                        rt.retune_logs();
                    })
                    .or_insert_with(|| ServiceRt::new(spec.clone(), seed, now));
            }
            for &(index, step) in &sp.instances {
                let k = key(index);
                match step {
                    Step::Keep => {}
                    Step::Update => reconfigure.push(k),
                    Step::Stop => {
                        self.waiting.remove(&k);
                        self.reload_work.pause_after.remove(&k);
                        let stop_sent = self.reload_work.stop_sent(&k);
                        self.reload_work.pending.insert(
                            k,
                            Pending {
                                restart: None,
                                stop_sent,
                            },
                        );
                    }
                    Step::Restart { pause } => {
                        let stop_sent = self.reload_work.stop_sent(&k);
                        self.reload_work.pending.insert(
                            k.clone(),
                            Pending {
                                restart: Some(pause),
                                stop_sent,
                            },
                        );
                        started.push(k);
                    }
                    Step::Start => {
                        let rt = self.services.get_mut(&sp.name).expect("added above");
                        if (index as usize) < rt.instances.len() {
                            // Failed, or still being removed by an earlier reload: its
                            // stop finishes first when it has one.
                            match self.reload_work.pending.get_mut(&k) {
                                Some(p) => p.restart = Some(false),
                                None => self.want(&k),
                            }
                        } else {
                            rt.grow(index + 1, seed, now);
                            self.want(&k);
                        }
                        started.push(k);
                    }
                }
            }
        }
        for k in reconfigure {
            self.input(&k, Input::Reconfigured);
        }
        started
    }

    /// Starts the instance when its dependencies allow (after the boot, if it is on).
    fn want(&mut self, key: &Key) {
        if self.boot.is_done() {
            self.waiting.insert(key.clone());
        }
    }

    /// Moves the reloads on: stops what may stop now, restarts or removes what is down,
    /// pauses what came back, and answers the reloads that are done.
    pub(super) fn advance_reload(&mut self) {
        if self.reload_work.pending.is_empty()
            && self.reload_work.pause_after.is_empty()
            && self.reload_work.waiters.is_empty()
        {
            return;
        }
        self.rolled_back();
        let may_stop: Vec<Key> = self
            .reload_work
            .pending
            .iter()
            .filter(|(k, p)| !p.stop_sent && !self.stop_blocked(k))
            .map(|(k, _)| k.clone())
            .collect();
        // A rolling service has one instance out for a restart at a time.
        let mut out: BTreeSet<String> = self
            .reload_work
            .pending
            .iter()
            .filter(|(_, p)| p.stop_sent && p.restart.is_some())
            .map(|(k, _)| k.service.clone())
            .chain(self.reload_work.rolling.iter().map(|k| k.service.clone()))
            .collect();
        for key in may_stop {
            let restart = self
                .reload_work
                .pending
                .get(&key)
                .is_some_and(|p| p.restart.is_some());
            if restart && self.is_rolling(&key.service) && !out.insert(key.service.clone()) {
                continue;
            }
            if let Some(p) = self.reload_work.pending.get_mut(&key) {
                p.stop_sent = true;
            }
            self.input(&key, Input::Stop);
        }
        let down: Vec<(Key, Pending)> = self
            .reload_work
            .pending
            .iter()
            .filter(|(k, p)| p.stop_sent && self.instance(k).is_none_or(is_down))
            .filter(|(k, p)| p.restart.is_none() || !self.start_blocked(k))
            .map(|(k, p)| (k.clone(), *p))
            .collect();
        let mut removed = BTreeSet::new();
        for (key, p) in down {
            self.reload_work.pending.remove(&key);
            match p.restart {
                Some(pause) => {
                    if pause {
                        self.reload_work.pause_after.insert(key.clone());
                    }
                    if self.is_rolling(&key.service) {
                        self.reload_work.rolling.insert(key.clone());
                    }
                    self.want(&key);
                }
                None => {
                    removed.insert(key.service.clone());
                }
            }
        }
        for service in removed {
            self.shrink(&service);
        }
        self.pause_returned();
    }

    fn is_rolling(&self, service: &str) -> bool {
        self.services.get(service).is_some_and(|rt| rt.spec.rolling)
    }

    /// Forgets the rolling restarts that are over: the instance runs (ready) again, or
    /// has settled down (failed, stopped) and so holds nothing up.
    fn rolled_back(&mut self) {
        let back: Vec<Key> = self
            .reload_work
            .rolling
            .iter()
            .filter(|k| {
                self.instance(k).is_none_or(|i| {
                    matches!(
                        i.state,
                        State::Running | State::Paused | State::Failed | State::Stopped
                    ) && !self.waiting.contains(*k)
                })
            })
            .cloned()
            .collect();
        for key in back {
            self.reload_work.rolling.remove(&key);
        }
    }

    /// Whether a service that depends on `key`'s service still has an instance this
    /// reload stops that is not down yet.
    fn stop_blocked(&self, key: &Key) -> bool {
        let Some(dependents) = self.reload_work.dependents.get(&key.service) else {
            return false;
        };
        self.reload_work.pending.keys().any(|k| {
            dependents.contains(&k.service) && self.instance(k).is_some_and(|i| !is_down(i))
        })
    }

    /// Whether a dependency of `key`'s service still has instances this reload restarts:
    /// the dependency comes back first.
    fn start_blocked(&self, key: &Key) -> bool {
        let Some(rt) = self.services.get(&key.service) else {
            return false;
        };
        rt.spec.depends_on.iter().any(|d| {
            self.reload_work
                .pending
                .iter()
                .any(|(k, p)| k.service == d.service && p.restart.is_some())
        })
    }

    /// Drops the instances of `service` that were removed and are down, from the top;
    /// the whole service when the config no longer has it.
    fn shrink(&mut self, service: &str) {
        let running = self.active.names.contains(service);
        let Some(rt) = self.services.get_mut(service) else {
            return;
        };
        let wanted = if running {
            rt.spec.instances as usize
        } else {
            0
        };
        let mut gone = Vec::new();
        while rt.instances.len() > wanted {
            let index = rt.instances.len() as u32 - 1;
            let key = Key {
                service: service.to_string(),
                index,
            };
            if self.reload_work.pending.contains_key(&key)
                || !is_down(&rt.instances[index as usize])
            {
                break;
            }
            rt.instances.pop();
            if let Some(io) = rt.io.pop()
                && let Some(dir) = &io.cgroup
            {
                crate::cgroup::Cgroups::remove(dir);
            }
            gone.push(key);
        }
        if wanted == 0 && rt.instances.is_empty() {
            self.services.remove(service);
            info!("{service}: removed");
        }
        let shrunk = !gone.is_empty();
        for key in gone {
            self.arm(super::Timer::Instance(key), None);
        }
        if shrunk {
            self.sync_endpoints();
        }
    }

    /// Pauses the restarted instances that were paused, once they are running again.
    fn pause_returned(&mut self) {
        let keys: Vec<Key> = self.reload_work.pause_after.iter().cloned().collect();
        for key in keys {
            let state = self.instance(&key).map(|i| i.state);
            match state {
                Some(State::Running) => {
                    self.reload_work.pause_after.remove(&key);
                    info!("{key}: paused again, as it was before the reload");
                    self.input(&key, Input::Pause);
                }
                // Gave up, or gone: nothing to pause.
                None | Some(State::Failed) => {
                    self.reload_work.pause_after.remove(&key);
                }
                Some(State::Stopped) if !self.waiting.contains(&key) => {
                    self.reload_work.pause_after.remove(&key);
                }
                _ => {}
            }
        }
    }

    pub(super) fn settle_reload_waiters(&mut self) {
        if self.reload_work.waiters.is_empty() {
            return;
        }
        let shutting_down = self.shutdown.is_some();
        let (done, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reload_work.waiters)
            .into_iter()
            .partition(|w| shutting_down || w.keys.iter().all(|k| self.reload_settled(k)));
        self.reload_work.waiters = pending;
        for w in done {
            let _ = w.reply.send(Ok(w.report));
        }
    }

    /// Whether the reload is done with `key`: stopped and started again, paused again, or
    /// settled where its own recovery or its dependencies leave it.
    fn reload_settled(&self, key: &Key) -> bool {
        if self.reload_work.pending.contains_key(key) || self.reload_work.pause_after.contains(key)
        {
            return false;
        }
        let Some(inst) = self.instance(key) else {
            return true;
        };
        if !self.waiting.contains(key) {
            return inst.state.is_settled();
        }
        // Waiting: done only if what it waits for has settled without meeting it.
        let Some(rt) = self.services.get(&key.service) else {
            return true;
        };
        rt.spec.depends_on.iter().all(|d| {
            self.services.get(&d.service).is_none_or(|dep| {
                dep.instances.iter().enumerate().all(|(i, inst)| {
                    let k = Key {
                        service: d.service.clone(),
                        index: i as u32,
                    };
                    inst.state.is_settled()
                        && !self.waiting.contains(&k)
                        && !self.reload_work.pending.contains_key(&k)
                })
            })
        })
    }

    /// The specs of the running config's services (not of background tasks, nor of
    /// services a reload is still removing).
    fn running_specs(&self) -> impl Iterator<Item = &ServiceSpec> {
        self.active
            .names
            .iter()
            .filter_map(|n| self.services.get(n).map(|rt| &rt.spec))
    }

    /// The running config, whole: what a new one is compared with.
    fn running_config(&self) -> Config {
        let mut config = self.active.rest.clone();
        config.services = self
            .running_specs()
            .map(|s| (s.name.clone(), s.clone()))
            .collect();
        config
    }

    /// `GET /v1/config`.
    pub(super) fn config_status(&self) -> ConfigStatus {
        let running = self.running_specs();
        ConfigStatus {
            path: self.active.path.as_ref().map(|p| p.display().to_string()),
            sha256: self.active.sha256.clone(),
            loaded_at: self.active.loaded_at.to_string(),
            services: self.active.names.len(),
            instances: running.map(|s| s.instances).sum(),
            watching: self.active.path.is_some()
                && self.active.rest.supervisor.on_config_change == OnConfigChange::Reload,
            source: self.active.text.clone(),
            last_reload: self.active.last.clone(),
        }
    }
}

fn is_down(inst: &steward_core::machine::Instance) -> bool {
    inst.pid.is_none() && matches!(inst.state, State::Stopped | State::Failed)
}

/// "FILE has N problems; the running config is kept".
fn invalid_why(path: &std::path::Path, diags: &steward_core::diagnostic::Diagnostics) -> String {
    let n = diags.0.len();
    let s = if n == 1 { "" } else { "s" };
    format!(
        "{} has {n} problem{s}; the running config is kept",
        path.display()
    )
}

fn report(
    trigger: &str,
    outcome: &str,
    sha256: Option<&str>,
    error: Option<String>,
    diagnostics: &[steward_core::diagnostic::Diagnostic],
    plan: Option<&Plan>,
) -> ReloadReport {
    ReloadReport {
        at: jiff::Timestamp::now().to_string(),
        trigger: trigger.into(),
        outcome: outcome.into(),
        sha256: sha256.map(str::to_string),
        error,
        diagnostics: diagnostics
            .iter()
            .map(|d| ConfigDiagnostic {
                file: d.file.clone(),
                line: d.line,
                column: d.column,
                message: d.message.clone(),
                help: d.help.clone(),
                rendered: d.to_string(),
            })
            .collect(),
        plan: plan.map_or_else(Vec::new, plan_doc),
        unchanged: plan.map_or(0, |p| p.services.iter().filter(|s| !s.touches()).count()),
        needs_restart: plan.map_or_else(Vec::new, |p| {
            p.needs_restart.iter().map(|s| s.to_string()).collect()
        }),
        summary: plan.map_or_else(Vec::new, reload::describe),
    }
}

fn plan_doc(plan: &Plan) -> Vec<ServicePlan> {
    plan.services
        .iter()
        .filter(|s| s.touches())
        .map(|s| ServicePlan {
            name: s.name.clone(),
            change: s.change.as_str().into(),
            keys: s.keys.iter().map(|k| k.to_string()).collect(),
            instances: s
                .instances
                .iter()
                .map(|&(instance, step)| InstancePlan {
                    instance,
                    step: match step {
                        Step::Keep => "keep",
                        Step::Update => "update",
                        Step::Start => "start",
                        Step::Stop => "stop",
                        Step::Restart { pause: false } => "restart",
                        Step::Restart { pause: true } => "restart-paused",
                    }
                    .into(),
                })
                .collect(),
        })
        .collect()
}
