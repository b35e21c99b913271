//! steward's daemon: the I/O around the pure core.
//!
//! # Theory of operation
//!
//! One [`supervisor::Supervisor`] loop owns every instance's state. Five kinds of event reach
//! it, and it handles them one at a time, in the order they come:
//!
//! - **SIGCHLD**: [`process::reap`] collects every exited child (`waitid(P_ALL)`, the only
//!   wait in the process), kills what is left of the child's process group while the zombie
//!   still pins the group id (and, with [`cgroup`]s, everything left in its cgroup), and
//!   each exit becomes `Input::Exited`;
//! - **API requests** from [`api`] (each carries a oneshot reply, its ticket);
//! - **helper events**: notify datagrams ([`notify`]), ready-fd newlines and network probe
//!   results ([`probe`]), each read by a small task and sent to the loop;
//! - **timers**: the earliest `Instance::deadline`, and kill timers of probe and task
//!   processes;
//! - **signals**: SIGTERM/SIGINT stop every service, dependents first (a second one kills
//!   them all); SIGHUP asks for a reload;
//! - **reloads**: the [`reloader`] reads and checks the config file once per batch of
//!   triggers (file change, SIGHUP, `POST /v1/reload`) and the loop applies the plan the
//!   core makes of it, touching only what changed.
//!
//! Each event is fed to `steward_core::machine::step`, and the effects are carried out in
//! order: spawn, signal a group, freeze or thaw, probe, run a command, exit. A [`guard`]
//! process kills every remaining process if steward itself is killed.

pub mod api;
pub mod auth;
pub mod cgroup;
pub mod clock;
pub mod endpoint;
pub mod events;
pub mod filewatch;
pub mod guard;
pub mod http;
pub mod journal;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod paths;
pub mod probe;
pub mod process;
pub mod reloader;
mod sse;
mod status;
pub mod supervisor;
pub mod tls;
pub mod tokens;
pub mod usage;
pub mod validate;

use std::path::PathBuf;

use steward_core::config::Config;
use tokio::sync::mpsc;
use tracing::info;

/// What `steward up` needs to run.
pub struct Options {
    pub config: Config,
    /// The file `config` was read from, watched and read again on a reload; `None` for
    /// the built-in demo.
    pub config_path: Option<PathBuf>,
    /// The text `config` was read from.
    pub source: String,
    pub socket: PathBuf,
    /// Where `once` tasks are remembered (and, later, the journal and logs).
    pub state_dir: PathBuf,
    /// Also copy every captured line to steward's stdout, as `service:instance | line`.
    pub echo_logs: bool,
}

/// Runs the daemon on the current thread until shutdown; returns steward's exit code.
/// Must be called from a current-thread runtime: spawning relies on no other thread of
/// steward calling `wait`, and `PR_SET_PDEATHSIG` follows the thread that forked.
pub async fn run(opts: Options) -> std::io::Result<i32> {
    // One malloc arena: the helper threads (the config watcher, reload checks) allocate
    // rarely, and each would otherwise keep an arena of its own, megabytes of RSS after a
    // reload of a large file.
    // SAFETY: mallopt only sets an allocator parameter; called before those threads exist.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
    }
    let access = auth::Access::load(&opts.config).map_err(std::io::Error::other)?;
    let listener = api::bind(&opts.socket, access.socket_mode, access.socket_gid)?;
    let (access_tx, access_rx) = tokio::sync::watch::channel(std::sync::Arc::new(access));
    // At start, a listener that cannot be made stops steward; after a reload, it is said.
    let tcp = match &opts.config.http {
        Some(spec) => Some(http::Front::open(spec, None)?),
        None => None,
    };
    tokio::spawn(http::follow_tokens(access_tx.clone()));
    info!("API listening on {}", opts.socket.display());
    let clock = clock::Clock::start();
    let (tx, rx) = mpsc::channel(256);
    let socket = opts.socket.clone();
    let mut watcher = None;
    let reload_tx = opts.config_path.as_ref().map(|path| {
        let (reload_tx, reload_rx) = mpsc::channel(64);
        tokio::spawn(reloader::run(path.clone(), reload_rx, tx.clone()));
        match reloader::watch(path, reload_tx.clone()) {
            Ok(w) => watcher = Some(w),
            Err(e) => tracing::warn!(
                "cannot watch {} for changes ({e}); reload with SIGHUP or `steward reload`",
                path.display()
            ),
        }
        reload_tx
    });
    if let Err(e) = std::fs::create_dir_all(&opts.state_dir) {
        tracing::warn!(
            "cannot create the state directory {}: {e}",
            opts.state_dir.display()
        );
    }
    match process::raise_fd_limit() {
        Ok((old, new)) if old != new => info!("open files limit raised from {old} to {new}"),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
    let (health_tx, health_rx) = mpsc::unbounded_channel();
    let journal_path = opts.state_dir.join("journal.db");
    let (journal, first_id) =
        journal::Journal::start(journal_path, opts.config.supervisor.journal, health_tx);
    let bus = events::Bus::new(journal, first_id);
    let server = tokio::spawn(api::serve(
        listener,
        tcp,
        tx,
        reload_tx.clone(),
        bus.feed(),
        access_rx,
        socket.clone(),
    ));
    let logs = logs::start(&opts.state_dir, opts.echo_logs)
        .map_err(|e| tracing::error!("cannot start the log thread ({e}); output is not captured"))
        .ok();
    let active = supervisor::Active::new(opts.config_path, opts.source);
    let (mut supervisor, receivers) = supervisor::Supervisor::new(
        opts.config,
        active,
        clock,
        opts.state_dir,
        supervisor::Links {
            reload_tx,
            bus,
            access: access_tx,
            journal_health: health_rx,
        },
    );
    let log_thread = logs.map(|(logs, thread)| {
        supervisor.set_logs(logs);
        thread
    });
    let code = supervisor.run(rx, receivers).await;
    // Every service is down: what is left in their pipes goes to the files.
    if let Some(thread) = log_thread {
        thread.finish();
    }
    drop(watcher);
    server.abort();
    let _ = std::fs::remove_file(&socket);
    code
}
