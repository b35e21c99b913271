//! Startup tasks (`[[task]]`), run in order before any service: stdin is /dev/null, each
//! runs in its own process group, a timeout kills the group. A `once` task's success is
//! remembered in `state_dir/tasks/NAME.done` (with its command, so a changed command runs
//! again); a `background` task becomes a supervised service.

use std::path::{Path, PathBuf};

use steward_core::config::{EXIT_TASK_FAILED, RestartPolicy, ServiceSpec, TaskMode, TaskSpec};
use steward_core::machine::{ExitHow, Input, helper_result};
use steward_core::tasks::{Next, Outcome, Sequence, TaskState};
use steward_proto::TaskStatus;
use tracing::{error, info, warn};

use super::{Key, Owner, ServiceRt, Supervisor};
use crate::process::{self, Launch};

pub(super) struct Boot {
    seq: Sequence,
    markers: PathBuf,
    done: bool,
}

impl Boot {
    pub(super) fn new(specs: Vec<TaskSpec>, state_dir: &Path) -> Boot {
        let markers = state_dir.join("tasks");
        let seq = Sequence::new(specs, |t| read_marker(&markers, t));
        Boot {
            seq,
            markers,
            done: false,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.done
    }
}

/// The marker's first line is the command (as JSON); the second, when it succeeded.
fn read_marker(dir: &Path, task: &TaskSpec) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(format!("{}.done", task.name))).ok()?;
    let mut lines = text.lines();
    let command = serde_json::to_string(&task.process.command).ok()?;
    (lines.next()? == command).then(|| format!("on {}", lines.next().unwrap_or("an earlier start")))
}

fn write_marker(dir: &Path, task: &TaskSpec) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let command = serde_json::to_string(&task.process.command).map_err(std::io::Error::other)?;
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_err(std::io::Error::other)?;
    let path = dir.join(format!("{}.done", task.name));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{command}\n{now}\n"))?;
    std::fs::rename(tmp, path)
}

impl Supervisor {
    /// Runs the task sequence as far as it can go without waiting.
    pub(super) fn run_tasks(&mut self) {
        loop {
            match self.boot.seq.advance() {
                Next::Run(i) => {
                    if self.start_task(i) {
                        return;
                    }
                }
                Next::Background(i) => self.start_background(i),
                Next::Wait => return,
                Next::Done => {
                    self.boot.done = true;
                    if !self.boot.seq.specs.is_empty() {
                        info!("startup tasks done; starting services");
                    }
                    self.want_all_services();
                    self.start_waiting();
                    return;
                }
                Next::Abort(i) => {
                    self.boot.done = true;
                    let name = self.boot.seq.specs[i].name.clone();
                    let why = format!(
                        "task {name} failed and its on_failure = \"abort\": starting no service"
                    );
                    error!("{why}");
                    self.begin_shutdown(EXIT_TASK_FAILED, &why);
                    return;
                }
            }
        }
    }

    /// Starts task `i`; false when it could not start (already recorded as failed).
    fn start_task(&mut self, i: usize) -> bool {
        let spec = &self.boot.seq.specs[i];
        let name = spec.name.clone();
        let timeout = spec.timeout;
        let launch = Launch::new(&spec.process, &[("STEWARD_TASK", name.clone())]);
        let owner = Owner::Task {
            index: i,
            timed_out: false,
        };
        match self.start_helper(launch, owner, timeout) {
            Ok(pid) => {
                info!("task {name}: started (pid {pid})");
                self.boot.seq.started(i, pid);
                true
            }
            Err(e) => {
                error!("task {name}: cannot start: {e}");
                self.boot
                    .seq
                    .finished(i, Outcome::Failure(format!("could not start: {e}")));
                false
            }
        }
    }

    /// A background task: supervised from now on like a service of the same name.
    fn start_background(&mut self, i: usize) {
        let task = &self.boot.seq.specs[i];
        let mut spec = ServiceSpec::with_defaults(&task.name, Vec::new());
        spec.process = task.process.clone();
        spec.restart = RestartPolicy::OnFailure;
        info!(
            "task {}: started in the background, supervised as a service",
            task.name
        );
        let name = spec.name.clone();
        let rt = ServiceRt::new(spec, super::random_seed(), self.clock.now());
        self.services.insert(name.clone(), rt);
        self.input(
            &Key {
                service: name,
                index: 0,
            },
            Input::Start,
        );
    }

    pub(super) fn task_ended(&mut self, index: usize, how: ExitHow, timed_out: bool) {
        let spec = &self.boot.seq.specs[index];
        let outcome = match helper_result(how, spec.timeout.filter(|_| timed_out)) {
            Ok(s) => Outcome::Success(s),
            Err(s) if timed_out => Outcome::TimedOut(format!("{s} (it may be waiting for input)")),
            Err(s) => Outcome::Failure(s),
        };
        let (state, text) = match &outcome {
            Outcome::Success(s) => {
                info!("task {} succeeded ({s})", spec.name);
                ("succeeded", s)
            }
            Outcome::Failure(s) => {
                error!("task {} failed: {s}", spec.name);
                ("failed", s)
            }
            Outcome::TimedOut(s) => {
                error!("task {} {s}", spec.name);
                ("timed-out", s)
            }
        };
        let (state, text) = (state, text.clone());
        let spec = spec.clone();
        self.publish_task(&spec.name, state, &text);
        if self.boot.seq.finished(index, outcome)
            && let Err(e) = write_marker(&self.boot.markers, &spec)
        {
            warn!(
                "task {}: cannot remember it is done in {}: {e}",
                spec.name,
                self.boot.markers.display()
            );
        }
    }

    /// A shutdown during the boot: the running task is stopped, nothing more starts.
    pub(super) fn abort_tasks(&mut self) {
        self.boot.done = true;
        for (&pid, owner) in &self.pids {
            if matches!(owner, Owner::Task { .. }) {
                let _ = process::signal_group(pid, steward_core::signal::Signal::KILL);
            }
        }
    }

    pub(super) fn task_status(&self) -> Vec<TaskStatus> {
        let seq = &self.boot.seq;
        seq.specs
            .iter()
            .zip(&seq.states)
            .map(|(spec, state)| TaskStatus {
                name: spec.name.clone(),
                mode: match spec.mode {
                    TaskMode::Once => "once",
                    TaskMode::EveryStart => "every-start",
                    TaskMode::Background => "background",
                }
                .into(),
                state: state.as_str().into(),
                pid: match state {
                    TaskState::Running { pid } => Some(*pid),
                    _ => None,
                },
                outcome: state.outcome().map(str::to_string),
            })
            .collect()
    }
}
