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
//!   them all); SIGHUP is logged.
//!
//! Each event is fed to `steward_core::machine::step`, and the effects are carried out in
//! order: spawn, signal a group, freeze or thaw, probe, run a command, exit. A [`guard`]
//! process kills every remaining process if steward itself is killed.

pub mod api;
pub mod cgroup;
pub mod clock;
pub mod guard;
pub mod notify;
pub mod paths;
pub mod probe;
pub mod process;
mod status;
pub mod supervisor;

use std::path::PathBuf;

use steward_core::config::Config;
use tokio::sync::mpsc;
use tracing::info;

/// What `steward up` needs to run.
pub struct Options {
    pub config: Config,
    pub socket: PathBuf,
    /// Where `once` tasks are remembered (and, later, the journal and logs).
    pub state_dir: PathBuf,
}

/// Runs the daemon on the current thread until shutdown; returns steward's exit code.
/// Must be called from a current-thread runtime: spawning relies on no other thread of
/// steward calling `wait`, and `PR_SET_PDEATHSIG` follows the thread that forked.
pub async fn run(opts: Options) -> std::io::Result<i32> {
    let listener = api::bind(&opts.socket)?;
    info!("API listening on {}", opts.socket.display());
    let clock = clock::Clock::start();
    let (tx, rx) = mpsc::channel(256);
    let socket = opts.socket.clone();
    let server = tokio::spawn(api::serve(listener, tx, socket.clone()));
    if let Err(e) = std::fs::create_dir_all(&opts.state_dir) {
        tracing::warn!(
            "cannot create the state directory {}: {e}",
            opts.state_dir.display()
        );
    }
    let (supervisor, receivers) = supervisor::Supervisor::new(&opts.config, clock, opts.state_dir);
    let code = supervisor.run(rx, receivers).await;
    server.abort();
    let _ = std::fs::remove_file(&socket);
    code
}
