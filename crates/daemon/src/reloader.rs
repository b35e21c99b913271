//! Where reloads come from, and reading the new config.
//!
//! Three things ask for a reload: a change in the config file's directory (inotify through
//! `notify`; the directory, not the file, because editors and config managers replace the
//! file by renaming a new one over it), SIGHUP, and `POST /v1/reload`. Each is a
//! [`Trigger`]. The file watcher's events are debounced: a burst of writes becomes one
//! trigger once the directory has been quiet for [`QUIET`].
//!
//! The reloader takes every trigger waiting, reads and validates the file once for all of
//! them on a blocking thread (the supervisor loop never waits on the file system or the
//! name service), and hands the result to the loop, which plans and applies it. Triggers
//! that arrive meanwhile form the next batch: a reload during a reload is queued, and any
//! number of them coalesce into one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use steward_core::config::Config;
use steward_core::diagnostic::Diagnostics;
use steward_proto::ReloadReport;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::auth::Access;
use crate::supervisor::{ApiError, Request};

/// The directory must be quiet this long before a change is read.
pub const QUIET: Duration = Duration::from_millis(40);
/// ...but a file written without pause is read at least this often.
pub const MAX_DELAY: Duration = Duration::from_millis(500);

/// A request for a reload.
#[derive(Debug)]
pub enum Trigger {
    /// The config file's directory changed.
    File,
    /// SIGHUP.
    Signal,
    /// `POST /v1/reload`: answered with the report (its ticket), once the plan has been
    /// carried out when `wait` is set.
    Api {
        dry_run: bool,
        wait: bool,
        /// Who asked, as the kernel says.
        who: String,
        reply: oneshot::Sender<Result<ReloadReport, ApiError>>,
    },
}

/// A config file as read for a reload.
#[derive(Debug)]
pub struct Loaded {
    pub text: String,
    pub sha256: String,
    /// The checked config, or every problem found: in the text, and on the machine
    /// (missing programs, users, groups, directories).
    pub result: Result<Config, Diagnostics>,
    /// What a valid config says about access, looked up here, off the loop.
    pub access: Option<Result<Arc<Access>, String>>,
}

/// SHA-256 in hex, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads and validates the file; an error when it cannot be read at all.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let sha256 = sha256_hex(&bytes);
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("{} is not UTF-8 text: {e}", path.display()))?;
    // On a reload, a missing program or user is an error: the old config keeps running.
    let result = crate::validate::validate(&path.display().to_string(), &text)
        .and_then(crate::validate::Checked::strict);
    let access = result.as_ref().ok().map(|c| Access::load(c).map(Arc::new));
    Ok(Loaded {
        text,
        sha256,
        result,
        access,
    })
}

/// Takes triggers in batches, reads the file once per batch, and sends the result to the
/// supervisor loop. Returns when either side is gone.
pub async fn run(
    path: PathBuf,
    mut triggers: mpsc::Receiver<Trigger>,
    to_loop: mpsc::Sender<Request>,
) {
    while let Some(first) = triggers.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = triggers.try_recv() {
            batch.push(more);
        }
        let file = path.clone();
        let read = tokio::task::spawn_blocking(move || load(&file))
            .await
            .unwrap_or_else(|e| Err(format!("reading the config failed: {e}")));
        if to_loop
            .send(Request::Reload {
                read: Box::new(read),
                batch,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Watches the directory of `path` and sends [`Trigger::File`] after each burst of
/// changes. The watcher stops when the returned value is dropped.
pub fn watch(
    path: &Path,
    triggers: mpsc::Sender<Trigger>,
) -> notify::Result<notify::RecommendedWatcher> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_os_string());
    // A config reached through a symlink (a Kubernetes ConfigMap swaps `..data`) changes
    // by a rename of something else in the directory: then any change counts, and one
    // that leaves the file as it was is dropped by its hash. A plain file changes only by
    // events that name it (a write, or a rename onto it), so a log file or an editor's swap
    // file beside it costs nothing.
    let any_name = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let e = match event {
            Ok(e) => e,
            Err(e) => return warn!("config watcher: {e}"),
        };
        // Reading the file (ours included) is not a change.
        if matches!(e.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write)) {
            return;
        }
        let names_it = || e.paths.iter().any(|p| p.file_name() == name.as_deref());
        if any_name || names_it() {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(debounce(rx, triggers));
    debug!("watching {} for changes of the config", dir.display());
    Ok(watcher)
}

/// One trigger per burst: once events stop for [`QUIET`], or after [`MAX_DELAY`] of
/// continuous events.
async fn debounce(mut events: mpsc::UnboundedReceiver<()>, triggers: mpsc::Sender<Trigger>) {
    while events.recv().await.is_some() {
        let burst = tokio::time::Instant::now();
        loop {
            match tokio::time::timeout(QUIET, events.recv()).await {
                Ok(None) => return,
                Ok(Some(())) if burst.elapsed() < MAX_DELAY => {}
                _ => break,
            }
        }
        if triggers.send(Trigger::File).await.is_err() {
            return;
        }
    }
}
