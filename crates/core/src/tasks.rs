//! The startup tasks (`[[task]]`) as a sequence: which to run next, which to skip, and
//! whether the services may start.

use crate::config::{TaskFailure, TaskMode, TaskSpec};

/// Where one task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Pending,
    Running {
        pid: u32,
    },
    Succeeded(String),
    Failed(String),
    TimedOut(String),
    /// A `once` task that already succeeded in an earlier start of steward.
    Skipped(String),
    /// A background task, started and now supervised as a service.
    Background,
}

impl TaskState {
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running { .. } => "running",
            TaskState::Succeeded(_) => "succeeded",
            TaskState::Failed(_) => "failed",
            TaskState::TimedOut(_) => "timed-out",
            TaskState::Skipped(_) => "skipped",
            TaskState::Background => "background",
        }
    }

    /// The outcome in words, once there is one.
    pub fn outcome(&self) -> Option<&str> {
        match self {
            TaskState::Succeeded(s)
            | TaskState::Failed(s)
            | TaskState::TimedOut(s)
            | TaskState::Skipped(s) => Some(s),
            _ => None,
        }
    }
}

/// What the daemon must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Start task `index` and report its end with [`Sequence::finished`].
    Run(usize),
    /// Start task `index` as a supervised service; the sequence goes on at once.
    Background(usize),
    /// A task is running: wait for it.
    Wait,
    /// Every task is done: start the services.
    Done,
    /// Task `index` failed with `on_failure = "abort"`: start nothing, exit.
    Abort(usize),
}

/// How a run of a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success(String),
    Failure(String),
    TimedOut(String),
}

pub struct Sequence {
    pub specs: Vec<TaskSpec>,
    pub states: Vec<TaskState>,
    next: usize,
    aborted: Option<usize>,
}

impl Sequence {
    /// `done_before` says, for a `once` task, whether (and when) it already succeeded.
    pub fn new(
        specs: Vec<TaskSpec>,
        done_before: impl Fn(&TaskSpec) -> Option<String>,
    ) -> Sequence {
        let states = specs
            .iter()
            .map(|t| match (t.mode, done_before(t)) {
                (TaskMode::Once, Some(when)) => TaskState::Skipped(format!("already done {when}")),
                _ => TaskState::Pending,
            })
            .collect();
        Sequence {
            specs,
            states,
            next: 0,
            aborted: None,
        }
    }

    /// The next thing to do; call again after each [`Next::Run`] finished or
    /// [`Next::Background`] started.
    pub fn advance(&mut self) -> Next {
        if let Some(i) = self.aborted {
            return Next::Abort(i);
        }
        while let Some(state) = self.states.get(self.next) {
            let i = self.next;
            match state {
                TaskState::Pending => {
                    self.next += 1;
                    return match self.specs[i].mode {
                        TaskMode::Background => {
                            self.states[i] = TaskState::Background;
                            Next::Background(i)
                        }
                        _ => Next::Run(i),
                    };
                }
                TaskState::Running { .. } => return Next::Wait,
                _ => self.next += 1,
            }
        }
        if self
            .states
            .iter()
            .any(|s| matches!(s, TaskState::Running { .. }))
        {
            return Next::Wait;
        }
        Next::Done
    }

    pub fn started(&mut self, index: usize, pid: u32) {
        self.states[index] = TaskState::Running { pid };
        // A running task holds the sequence until it ends.
        self.next = index;
    }

    /// Records how task `index` ended. Returns true when it should be remembered as done
    /// (a `once` task that succeeded).
    pub fn finished(&mut self, index: usize, outcome: Outcome) -> bool {
        let spec = &self.specs[index];
        let remember = matches!(outcome, Outcome::Success(_)) && spec.mode == TaskMode::Once;
        let failed = !matches!(outcome, Outcome::Success(_));
        self.states[index] = match outcome {
            Outcome::Success(s) => TaskState::Succeeded(s),
            Outcome::Failure(s) => TaskState::Failed(s),
            Outcome::TimedOut(s) => TaskState::TimedOut(s),
        };
        if failed && spec.on_failure == TaskFailure::Abort {
            self.aborted = Some(index);
        }
        self.next = index + 1;
        remember
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProcessSpec;

    fn task(name: &str, mode: TaskMode, on_failure: TaskFailure) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            process: ProcessSpec {
                command: vec!["x".into()],
                ..ProcessSpec::default()
            },
            timeout: None,
            mode,
            on_failure,
        }
    }

    #[test]
    fn runs_in_order_skips_done_once_tasks_and_starts_background_ones() {
        let specs = vec![
            task("a", TaskMode::Once, TaskFailure::Abort),
            task("b", TaskMode::EveryStart, TaskFailure::Abort),
            task("c", TaskMode::Background, TaskFailure::Abort),
            task("d", TaskMode::Once, TaskFailure::Abort),
        ];
        let mut seq = Sequence::new(specs, |t| (t.name == "a").then(|| "at 09:00".into()));
        assert_eq!(
            seq.states[0],
            TaskState::Skipped("already done at 09:00".into())
        );
        assert_eq!(seq.advance(), Next::Run(1));
        seq.started(1, 10);
        assert_eq!(seq.advance(), Next::Wait);
        assert!(
            !seq.finished(1, Outcome::Success("exit code 0".into())),
            "every-start is not remembered"
        );
        assert_eq!(seq.advance(), Next::Background(2));
        assert_eq!(seq.advance(), Next::Run(3));
        seq.started(3, 11);
        assert!(
            seq.finished(3, Outcome::Success("exit code 0".into())),
            "once is remembered"
        );
        assert_eq!(seq.advance(), Next::Done);
    }

    #[test]
    fn abort_stops_the_sequence_and_continue_goes_on() {
        let specs = vec![
            task("a", TaskMode::EveryStart, TaskFailure::Continue),
            task("b", TaskMode::EveryStart, TaskFailure::Abort),
            task("c", TaskMode::EveryStart, TaskFailure::Abort),
        ];
        let mut seq = Sequence::new(specs, |_| None);
        assert_eq!(seq.advance(), Next::Run(0));
        seq.started(0, 1);
        seq.finished(0, Outcome::Failure("exit code 1".into()));
        assert_eq!(seq.advance(), Next::Run(1));
        seq.started(1, 2);
        seq.finished(1, Outcome::TimedOut("timed out".into()));
        assert_eq!(seq.advance(), Next::Abort(1));
        assert_eq!(
            seq.states[2],
            TaskState::Pending,
            "nothing after an abort runs"
        );
    }

    #[test]
    fn no_tasks_is_done_at_once() {
        assert_eq!(Sequence::new(Vec::new(), |_| None).advance(), Next::Done);
    }
}
