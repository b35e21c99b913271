//! Watching a few files that are read again when they change: the TLS certificate and key,
//! the tokens file.
//!
//! The files' directories are watched, not the files, because certbot and config managers
//! replace files by renaming new ones over them (or by swapping symlinks; when a path is a
//! symlink, any change in its directory counts). A burst of changes becomes one call, once
//! the files have been quiet for [`QUIET`] (or at least every [`MAX_DELAY`]). The calls run
//! on a thread of their own (they read files), which ends when the returned watcher is
//! dropped.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tracing::{debug, warn};

/// The files are read once they have been quiet this long...
pub const QUIET: Duration = Duration::from_millis(100);
/// ...or after this long of continuous changes.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// Calls `on_change` after each burst of changes to `files`; `what` names them in logs.
pub fn watch(
    files: &[PathBuf],
    what: &'static str,
    on_change: impl Fn() + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|p| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let names: Vec<_> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
        .collect();
    let any_name = files
        .iter()
        .any(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()));
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let e = match event {
            Ok(e) => e,
            Err(e) => return warn!("{what} watcher: {e}"),
        };
        // Reading a file (ours included) is not a change.
        if matches!(e.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write)) {
            return;
        }
        let names_one = || {
            e.paths
                .iter()
                .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)))
        };
        if any_name || names_one() {
            let _ = tx.send(());
        }
    })?;
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        debug!("watching {} for a new {what}", dir.display());
    }
    std::thread::Builder::new()
        .name("steward-filewatch".into())
        .spawn(move || {
            // Ends when the watcher, and with it the sender, is dropped.
            while rx.recv().is_ok() {
                let burst = Instant::now();
                loop {
                    match rx.recv_timeout(QUIET) {
                        Ok(()) if burst.elapsed() < MAX_DELAY => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        _ => break,
                    }
                }
                on_change();
            }
        })
        .map_err(notify::Error::io)?;
    Ok(watcher)
}
