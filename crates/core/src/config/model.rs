//! The checked configuration: every default applied, every value typed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::acl::Acl;
use crate::rlimit::{Limit, Resource};
use crate::signal::Signal;

/// A whole, valid config file. The default is the empty file: no services.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub supervisor: SupervisorSpec,
    pub control: ControlSpec,
    /// The API over TCP (`[http]`); `None`: only the Unix socket.
    pub http: Option<HttpSpec>,
    /// Services by name; names are unique and ordered so output is stable.
    pub services: BTreeMap<String, ServiceSpec>,
    /// `[[task]]` entries, in file order: run before any service starts.
    pub tasks: Vec<TaskSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorSpec {
    /// Where the journal, logs and runtime state go; `None` picks the platform default
    /// (`/var/lib/steward` as root, `$XDG_STATE_HOME/steward` otherwise).
    pub state_dir: Option<PathBuf>,
    pub on_config_change: OnConfigChange,
    pub journal: JournalSpec,
}

impl Default for SupervisorSpec {
    fn default() -> Self {
        SupervisorSpec {
            state_dir: None,
            on_config_change: OnConfigChange::Reload,
            journal: JournalSpec::default(),
        }
    }
}

/// How long the event journal keeps events: whichever limit is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSpec {
    /// `journal_max_age`: older events are removed.
    pub max_age: Duration,
    /// `journal_max_events`: only the newest this many are kept.
    pub max_events: u64,
}

impl Default for JournalSpec {
    fn default() -> Self {
        JournalSpec {
            max_age: Duration::from_secs(30 * 86_400),
            max_events: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConfigChange {
    #[default]
    Reload,
    Ignore,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ControlSpec {
    /// The API's Unix socket; `None` picks the default (`/run/steward/steward.sock` as
    /// root, `$XDG_RUNTIME_DIR/steward/steward.sock` otherwise).
    pub socket: Option<PathBuf>,
    /// The socket file's group; `None` keeps steward's own.
    pub socket_group: Option<String>,
    /// The socket file's permission bits (`socket_mode = "0660"`).
    pub socket_mode: u32,
    /// Who may do what through the API; `None` is the default: root and the user steward
    /// runs as have `admin`, nobody else has anything.
    pub acl: Option<Acl>,
}

impl Default for ControlSpec {
    fn default() -> Self {
        ControlSpec {
            socket: None,
            socket_group: None,
            socket_mode: 0o600,
            acl: None,
        }
    }
}

/// `[http]`: the same API over TCP, for callers identified by bearer tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    pub listen: SocketAddr,
    /// Who the tokens are (`NAME GROUPS sha256:HASH` lines); `None`: every caller is
    /// anonymous.
    pub tokens_file: Option<PathBuf>,
    pub tls: Option<TlsSpec>,
}

/// A certificate chain (the server's certificate first, then any intermediates) and its
/// private key: PEM files, read again when they change.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSpec {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What to run and as whom: the part a service and a startup task share.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// argv; never empty. `command[0]` is looked up in `PATH` when it has no `/`.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `KEY=VALUE` lines read when the process starts; `env` wins over it.
    pub env_file: Option<PathBuf>,
    pub working_dir: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// `None`: the user's own groups from the name service.
    pub supplementary_groups: Option<Vec<String>>,
    /// The file mode creation mask (0 to 0o777); `None` keeps steward's.
    pub umask: Option<u32>,
    /// Which of steward's variables the process gets: names, or prefixes ending in `*`.
    pub pass_env: Vec<String>,
    /// Set before the process drops its privileges; a resource not listed is inherited.
    pub limits: BTreeMap<Resource, Limit>,
    /// `PR_SET_NO_NEW_PRIVS`: exec can never grant more privileges (setuid bits, file
    /// capabilities).
    pub no_new_privileges: bool,
}

impl Default for ProcessSpec {
    fn default() -> Self {
        ProcessSpec {
            command: Vec::new(),
            env: BTreeMap::new(),
            env_file: None,
            working_dir: None,
            user: None,
            group: None,
            supplementary_groups: None,
            umask: None,
            pass_env: crate::env::default_pass_env(),
            limits: BTreeMap::new(),
            no_new_privileges: false,
        }
    }
}

/// One `[service.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub process: ProcessSpec,
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
    /// Speaks systemd's notify protocol: `NOTIFY_SOCKET` is set, and the instance is
    /// `running` only after `READY=1`.
    pub notify: bool,
    /// s6-style readiness (`ready = "fd:3"`): the program writes a newline to this file
    /// descriptor when it is ready.
    pub ready_fd: Option<u32>,
    /// How long an instance may take to become ready (notify, ready fd, readiness probe)
    /// before the start counts as a failure.
    pub start_timeout: Duration,
    /// The instance must send `WATCHDOG=1` at least this often once running.
    pub watchdog: Option<Duration>,
    /// Sent when the watchdog expires; SIGKILL follows after `stop_timeout`.
    pub watchdog_signal: Signal,
    /// Gates `running`: the instance is ready once this passes `successes` times in a row.
    pub readiness: Option<Probe>,
    /// `failures` failures in a row count as a failure of the instance.
    pub liveness: Option<Probe>,
    /// Services that must reach a condition before this one starts; stopped after it.
    pub depends_on: Vec<Dependency>,
    pub pause: PauseMode,
    /// What becomes of the instances' stdout and stderr (`[service.NAME.log]`).
    pub log: LogSpec,
    /// Who may control this service, checked with `[control] acl` (a deny in either wins,
    /// an allow in either grants).
    pub acl: Option<Acl>,
    /// `[service.NAME.endpoint]`: one address for every instance.
    pub endpoint: Option<EndpointSpec>,
    /// A reload (or `steward restart`) restarts the instances one at a time, each once the
    /// one before is running again, so the others serve meanwhile.
    pub rolling: bool,
}

/// Most instances one service may have (`instances`, `steward scale`).
pub const MAX_INSTANCES: u32 = 10_000;

/// `[service.NAME.endpoint]`: one address in front of every instance.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSpec {
    pub listen: crate::endpoint::Address,
    pub mode: EndpointMode,
    /// Proxy mode: which instance gets the next connection.
    pub balance: crate::balance::Balance,
    /// Proxy mode: who may connect (a connection needs `read` and `write`). `None`: anyone
    /// who can reach the address.
    pub acl: Option<Acl>,
    /// Proxy mode: the first instance's TCP address (`backend = "tcp:127.0.0.1:7101"`);
    /// instance `i` listens on its port plus `i`. `None`: each instance listens on a Unix
    /// socket of its own in `STATE_DIR/endpoints/SERVICE/`.
    pub backend: Option<SocketAddr>,
    /// A Unix `listen` socket's file mode and group (default 0666 and steward's group).
    pub socket_mode: Option<u32>,
    pub socket_group: Option<String>,
    /// Proxy mode: how long a stopping instance's open connections may go on before it
    /// is sent its stop signal. No new connection goes to it meanwhile.
    pub drain_timeout: Duration,
    /// Proxy mode: how long a connection to an instance may take before the next
    /// instance is tried.
    pub connect_timeout: Duration,
}

impl EndpointSpec {
    pub fn new(listen: crate::endpoint::Address) -> EndpointSpec {
        EndpointSpec {
            listen,
            mode: EndpointMode::Proxy,
            balance: crate::balance::Balance::RoundRobin,
            acl: None,
            backend: None,
            socket_mode: None,
            socket_group: None,
            drain_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointMode {
    /// steward accepts, checks the ACL, picks an instance and relays.
    Proxy,
    /// steward binds the address and passes the listening socket to every instance
    /// (`LISTEN_FDS`); the kernel spreads the connections.
    Socket,
}

impl EndpointMode {
    pub const ALL: [EndpointMode; 2] = [EndpointMode::Proxy, EndpointMode::Socket];

    /// The config's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointMode::Proxy => "proxy",
            EndpointMode::Socket => "socket",
        }
    }
}

/// A health check, run by steward.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub check: ProbeCheck,
    /// Wait this long after the process starts before the first check.
    pub initial_delay: Duration,
    pub interval: Duration,
    /// A check that takes longer fails.
    pub timeout: Duration,
    /// This many failures in a row make the probe fail.
    pub failures: u32,
    /// This many successes in a row make it pass.
    pub successes: u32,
}

impl Probe {
    pub fn new(check: ProbeCheck) -> Probe {
        Probe {
            check,
            initial_delay: Duration::ZERO,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            failures: 3,
            successes: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCheck {
    /// Run this command (as the service's user); exit code 0 passes.
    Exec { command: Vec<String> },
    /// Connect to `host:port`; a connection passes.
    Tcp { address: String },
    /// `GET` this `http://` URL; a 2xx answer passes.
    Http { url: String },
}

/// `depends_on` entry: `service` must reach `condition` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Its processes have been started.
    Started,
    /// It is `running`, that is ready (the default).
    Running,
    /// It ran and exited successfully (a one-shot service).
    Completed,
}

/// How `steward pause` pauses an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseMode {
    /// Freeze the whole instance (cgroup freezer, else SIGSTOP to its process group).
    Freeze,
    /// Send `pause` / `resume` signals; the program pauses itself, and with `notify` it
    /// confirms with `X_STEWARD=paused` / `X_STEWARD=continued`.
    Signal { pause: Signal, resume: Signal },
}

/// `[service.NAME.log]`: captured output, one file per instance and stream, rotated by size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    /// Capture stdout and stderr into files; `false` leaves them steward's own.
    pub capture: bool,
    pub stderr: StderrMode,
    /// A file is rotated before it would grow past this many bytes.
    pub max_size: u64,
    /// Rotated files kept besides the current one (at least 1).
    pub keep: u32,
    /// Each line starts with the time it was read, RFC 3339 in UTC with milliseconds.
    pub timestamps: bool,
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            capture: true,
            stderr: StderrMode::Merge,
            max_size: 10 << 20,
            keep: 5,
            timestamps: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StderrMode {
    /// stdout and stderr are one pipe, so their order is kept, into `INDEX.log`.
    Merge,
    /// stderr has its own pipe and files, `INDEX.err.log`.
    Separate,
}

/// One `[[task]]`: a command run before any service starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub name: String,
    pub process: ProcessSpec,
    /// Kill the task's process group after this long; `None` waits for ever.
    pub timeout: Option<Duration>,
    pub mode: TaskMode,
    pub on_failure: TaskFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskMode {
    /// Run once per state directory: a success is remembered across restarts of steward.
    Once,
    /// Run at every start of steward.
    EveryStart,
    /// Start it and go on; it is then supervised like a service (restarted on failure).
    Background,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFailure {
    /// steward exits with [`EXIT_TASK_FAILED`]; no service is started.
    Abort,
    /// Report it and go on with the next task.
    Continue,
}

/// steward's exit code when a task with `on_failure = "abort"` failed.
pub const EXIT_TASK_FAILED: i32 = 4;

impl ServiceSpec {
    /// A service with every default, running `command`; what an empty table means.
    pub fn with_defaults(name: &str, command: Vec<String>) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            process: ProcessSpec {
                command,
                ..ProcessSpec::default()
            },
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
            notify: false,
            ready_fd: None,
            start_timeout: Duration::from_secs(90),
            watchdog: None,
            watchdog_signal: Signal::ABRT,
            readiness: None,
            liveness: None,
            depends_on: Vec::new(),
            pause: PauseMode::Freeze,
            log: LogSpec::default(),
            acl: None,
            endpoint: None,
            rolling: false,
        }
    }

    /// Whether `running` waits for something after the process has started.
    pub fn waits_for_readiness(&self) -> bool {
        self.notify || self.ready_fd.is_some() || self.readiness.is_some()
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
