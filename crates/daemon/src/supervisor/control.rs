//! API requests: status documents, and operators' actions with their tickets.

use steward_core::machine::{Input, refusal, settled};
use steward_proto::{ConfigStatus, ServiceStatus, TaskStatus};
use tokio::sync::oneshot;
use tracing::info;

use super::{Key, Supervisor};
use crate::reloader::{Loaded, Trigger};
use crate::status;
use crate::usage;

/// What the API asks of the loop. Each carries its reply: a ticket that resolves once the
/// request has been applied.
#[derive(Debug)]
pub enum Request {
    Status {
        service: Option<String>,
        reply: oneshot::Sender<Result<Vec<ServiceStatus>, ApiError>>,
    },
    Tasks {
        reply: oneshot::Sender<Result<Vec<TaskStatus>, ApiError>>,
    },
    Control {
        service: String,
        instance: Option<u32>,
        action: Action,
        /// Who asked, as the kernel says; journaled with the action.
        who: String,
        /// Answer once every targeted instance has settled, not just on acceptance.
        wait: bool,
        reply: oneshot::Sender<Result<ServiceStatus, ApiError>>,
    },
    /// `steward scale`: a service's instance count, changed at runtime.
    Scale {
        service: String,
        instances: u32,
        who: String,
        /// Answer once the added instances are up and the removed ones gone.
        wait: bool,
        reply: oneshot::Sender<Result<steward_proto::ReloadReport, ApiError>>,
    },
    /// The config file, read and checked once for a batch of reload triggers.
    Reload {
        read: Box<Result<Loaded, String>>,
        batch: Vec<Trigger>,
    },
    Config {
        reply: oneshot::Sender<Result<ConfigStatus, ApiError>>,
    },
    /// Status documents with what to sample for usage (read by the API, off the loop).
    Usage {
        service: Option<String>,
        reply: oneshot::Sender<Result<usage::Snapshot, ApiError>>,
    },
    /// Stop every service, then steward (as SIGTERM does). Answered once the stopping has
    /// begun.
    Shutdown {
        who: String,
        reply: oneshot::Sender<Result<String, ApiError>>,
    },
    /// An event from outside the loop (the API's refusals), numbered and journaled here.
    Publish {
        service: Option<String>,
        message: String,
        body: steward_proto::EventBody,
    },
    /// Where an instance's captured output is (the API reads the files itself).
    Logs {
        service: String,
        instance: Option<u32>,
        output: crate::logs::Output,
        follow: bool,
        reply: oneshot::Sender<Result<crate::logs::Source, ApiError>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Pause,
    Continue,
}

impl Action {
    pub fn parse(word: &str) -> Option<Action> {
        Some(match word {
            "start" => Action::Start,
            "stop" => Action::Stop,
            "restart" => Action::Restart,
            "pause" => Action::Pause,
            "continue" => Action::Continue,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Pause => "pause",
            Action::Continue => "continue",
        }
    }

    fn input(self) -> Input {
        match self {
            Action::Start => Input::Start,
            Action::Stop => Input::Stop,
            Action::Restart => Input::Restart,
            Action::Pause => Input::Pause,
            Action::Continue => Input::Continue,
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

/// A control request waiting for its instances to settle.
pub(super) struct Waiter {
    service: String,
    /// Each targeted instance with its generation when the request was made.
    targets: Vec<(u32, u64)>,
    action: Action,
    reply: oneshot::Sender<Result<ServiceStatus, ApiError>>,
}

impl Supervisor {
    pub(super) fn on_request(&mut self, req: Request) {
        match req {
            Request::Status { service, reply } => {
                let _ = reply.send(self.status(service.as_deref()));
            }
            Request::Tasks { reply } => {
                let _ = reply.send(Ok(self.task_status()));
            }
            Request::Reload { read, batch } => self.on_reload(*read, batch),
            Request::Scale {
                service,
                instances,
                who,
                wait,
                reply,
            } => self.scale(&service, instances, who, wait, reply),
            Request::Config { reply } => {
                let _ = reply.send(Ok(self.config_status()));
            }
            Request::Usage { service, reply } => {
                let _ = reply.send(self.usage_snapshot(service));
            }
            Request::Publish {
                service,
                message,
                body,
            } => self.bus.publish(service.as_deref(), None, message, body),
            Request::Shutdown { who, reply } => {
                // A second request does not escalate to SIGKILL as a second SIGTERM does:
                // callers of the API may simply retry.
                let answer = if self.is_shutting_down() {
                    "steward is already stopping every service".to_string()
                } else {
                    self.begin_shutdown(0, &format!("shutdown requested by {who}"));
                    "stopping every service, then steward".to_string()
                };
                let _ = reply.send(Ok(answer));
            }
            Request::Logs {
                service,
                instance,
                output,
                follow,
                reply,
            } => {
                let _ = reply.send(self.log_source(&service, instance, output, follow));
            }
            Request::Control {
                service,
                instance,
                action,
                who,
                wait,
                reply,
            } => match self.control(&service, instance, action, &who) {
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
                Ok(targets) if wait => self.waiters.push(Waiter {
                    service,
                    targets,
                    action,
                    reply,
                }),
                Ok(_) => {
                    let _ = reply.send(self.service_status(&service));
                }
            },
        }
    }

    /// Applies an operator's action to every targeted instance, or to none of them when
    /// one refuses it; returns the targets and their generations.
    fn control(
        &mut self,
        service: &str,
        instance: Option<u32>,
        action: Action,
        who: &str,
    ) -> Result<Vec<(u32, u64)>, ApiError> {
        let result = self.check_control(service, instance, action);
        let outcome = match &result {
            Ok(_) => "accepted".to_string(),
            Err(e) => format!("refused: {}", e.message),
        };
        self.publish_control(service, instance, action.as_str(), who, &outcome);
        let targets = result?;
        let which = instance.map_or(String::new(), |i| format!(" for instance {i}"));
        info!("{service}: {action:?} requested by {who}{which}");
        let input = action.input();
        // A rolling service restarts one instance at a time, as a reload does: the first
        // now, each next one once the one before runs again.
        let rolling = matches!(action, Action::Restart)
            && targets.len() > 1
            && self.services.get(service).is_some_and(|rt| rt.spec.rolling);
        for (n, &(index, _)) in targets.iter().enumerate() {
            // An operator's action stands: no automatic start follows it.
            let key = Key {
                service: service.to_string(),
                index,
            };
            self.waiting.remove(&key);
            self.reload_work.release(&key);
            if !self.boot.is_done() {
                self.held.insert(key.clone());
            }
            if rolling && n > 0 {
                self.reload_work.queue_restart(key);
                continue;
            }
            self.input(&key, input.clone());
            if rolling {
                self.reload_work.rolling_out(key);
            }
        }
        Ok(targets)
    }

    /// Whether the action may be applied: the targeted instances and their generations.
    fn check_control(
        &self,
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
            Some(i) => return Err(no_such_instance(service, i, count)),
            None => (0..count).collect(),
        };
        let input = action.input();
        for &i in &indices {
            let key = Key {
                service: service.to_string(),
                index: i,
            };
            if self.reload_work.is_retiring(&key) {
                let why = "it is being removed by a reload";
                return Err(ApiError::new(409, format!("{key}: {why}")));
            }
            if let Some(why) = refusal(&rt.instances[i as usize], &input) {
                return Err(ApiError::new(409, format!("{service}:{i}: {why}")));
            }
        }
        Ok(indices
            .iter()
            .map(|&i| (i, rt.instances[i as usize].generation))
            .collect())
    }

    /// Answers the control requests whose instances have all settled.
    pub(super) fn settle_waiters(&mut self) {
        self.settle_reload_waiters();
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
            settled(inst, &w.action.input(), gen0)
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
                    .map(|rt| status::service(rt, &self.clock, now, &self.endpoints))
                    .collect())
            }
        }
    }

    fn service_status(&self, name: &str) -> Result<ServiceStatus, ApiError> {
        let rt = self
            .services
            .get(name)
            .ok_or_else(|| unknown_service(name))?;
        Ok(status::service(
            rt,
            &self.clock,
            self.clock.now(),
            &self.endpoints,
        ))
    }
}

impl Supervisor {
    /// What the API needs to read usage: the documents, and the pids and cgroups they are
    /// about, from one moment of the loop.
    fn usage_snapshot(&self, service: Option<String>) -> Result<usage::Snapshot, ApiError> {
        let services = self.status(service.as_deref())?;
        let targets = match &service {
            Some(name) => self
                .services
                .get(name)
                .map_or_else(Vec::new, |rt| usage::targets(rt).collect()),
            None => self.services.values().flat_map(usage::targets).collect(),
        };
        Ok(usage::Snapshot {
            services,
            targets,
            all: service.is_none(),
        })
    }
}

pub(super) fn unknown_service(name: &str) -> ApiError {
    ApiError::new(404, format!("no service named {name}"))
}

pub(super) fn no_such_instance(service: &str, index: u32, count: u32) -> ApiError {
    let last = count.saturating_sub(1);
    let what = format!("service {service} has no instance {index} (it has {count}: 0 to {last})");
    ApiError::new(404, what)
}
