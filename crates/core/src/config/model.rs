//! The checked configuration: every default applied, every value typed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::signal::Signal;

/// A whole, valid config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub supervisor: SupervisorSpec,
    pub control: ControlSpec,
    /// Services by name; names are unique and ordered so output is stable.
    pub services: BTreeMap<String, ServiceSpec>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SupervisorSpec {
    /// Where the journal, logs and runtime state go; `None` picks the platform default
    /// (`/var/lib/steward` as root, `$XDG_STATE_HOME/steward` otherwise).
    pub state_dir: Option<PathBuf>,
    pub on_config_change: OnConfigChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConfigChange {
    #[default]
    Reload,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ControlSpec {
    /// The API's Unix socket; `None` picks the default (`/run/steward/steward.sock` as
    /// root, `$XDG_RUNTIME_DIR/steward/steward.sock` otherwise).
    pub socket: Option<PathBuf>,
}

/// One `[service.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    /// argv; never empty. `command[0]` is looked up in `PATH` when it has no `/`.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `KEY=VALUE` lines read when the instance starts; `env` wins over it.
    pub env_file: Option<PathBuf>,
    pub working_dir: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// `None`: the user's own groups from the name service.
    pub supplementary_groups: Option<Vec<String>>,
    /// How many copies run; each is told its index (0-based) in `STEWARD_INSTANCE`.
    pub instances: u32,
    pub restart: RestartPolicy,
    pub failure_flag: bool,
    /// Exit codes that count as success besides 0 (0 always does).
    pub success_exit_codes: Vec<i32>,
    /// Action for the first, second, and each later failure; the last entry repeats.
    /// Never empty (defaults to one immediate restart).
    pub recovery: Vec<RecoveryAction>,
    /// A failure count goes back to zero once the instance has run this long without one.
    pub reset_failures_after: Duration,
    pub backoff: Backoff,
    /// Give up after this many failures (counted since the last reset); `None` never does.
    pub max_failures: Option<u32>,
    pub on_give_up: GiveUp,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
}

impl ServiceSpec {
    /// A service with every default, running `command`; what an empty table means.
    pub fn with_defaults(name: &str, command: Vec<String>) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            command,
            env: BTreeMap::new(),
            env_file: None,
            working_dir: None,
            user: None,
            group: None,
            supplementary_groups: None,
            instances: 1,
            restart: RestartPolicy::OnFailure,
            failure_flag: false,
            success_exit_codes: Vec::new(),
            recovery: vec![RecoveryAction::Restart {
                delay: Duration::ZERO,
            }],
            reset_failures_after: Duration::from_secs(3600),
            backoff: Backoff::default(),
            max_failures: None,
            on_give_up: GiveUp::Stay,
            stop_signal: Signal::TERM,
            stop_timeout: Duration::from_secs(10),
        }
    }

    /// The recovery action for the `n`th failure (1-based) since the last reset.
    pub fn recovery_for(&self, n: u32) -> &RecoveryAction {
        let i = (n.max(1) as usize - 1).min(self.recovery.len() - 1);
        &self.recovery[i]
    }

    pub fn is_success_code(&self, code: i32) -> bool {
        code == 0 || self.success_exit_codes.contains(&code)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Restart after any exit that steward did not ask for, clean or not.
    Always,
    /// Restart only after an exit that counts as a failure.
    OnFailure,
    Never,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecoveryAction {
    /// Start the instance again after `delay` (or the crash-loop backoff, if longer).
    Restart { delay: Duration },
    /// Run `command` (not waited for), then restart after `delay`.
    Run {
        command: Vec<String>,
        delay: Duration,
    },
    /// Leave the instance `failed`.
    None,
}

/// Exponential backoff for crash loops: the first quick restart is immediate, the `k`th
/// consecutive one (k >= 2) waits `min(initial * multiplier^(k-2), max)`, plus up to
/// `jitter` of that. A run that lasts `reset_after` ends the streak. `max = 0` turns
/// backoff off.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// Fraction (0.0 to 1.0) of the delay added at random, so instances spread out.
    pub jitter: f64,
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.0,
            reset_after: Duration::from_secs(10),
        }
    }
}

/// What happens when an instance reaches `max_failures`.
#[derive(Debug, Clone, PartialEq)]
pub enum GiveUp {
    /// Stay `failed` until an operator starts it or a reload changes it.
    Stay,
    /// Stay `failed` and run this command once.
    Run { command: Vec<String> },
    /// Stop every other service and exit steward with [`EXIT_GAVE_UP`], so the platform
    /// above (systemd, Kubernetes, a scale set) replaces the node.
    Exit,
}

/// steward's exit code when a service gave up with `on_give_up = "exit"`.
pub const EXIT_GAVE_UP: i32 = 3;
