//! Where steward puts things when the config does not say.

use std::path::PathBuf;

use nix::unistd::Uid;

/// `/run/steward/steward.sock` as root; otherwise `$XDG_RUNTIME_DIR/steward/steward.sock`,
/// falling back to `/tmp/steward-UID/steward.sock`.
pub fn default_socket() -> PathBuf {
    runtime_dir().join("steward.sock")
}

fn runtime_dir() -> PathBuf {
    let uid = Uid::current();
    if uid.is_root() {
        return PathBuf::from("/run/steward");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("steward"),
        _ => PathBuf::from(format!("/tmp/steward-{uid}")),
    }
}

/// `/var/lib/steward` as root; otherwise `$XDG_STATE_HOME/steward`, falling back to
/// `~/.local/state/steward`.
pub fn default_state_dir() -> PathBuf {
    if Uid::current().is_root() {
        return PathBuf::from("/var/lib/steward");
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("steward");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/steward"),
        None => runtime_dir().join("state"),
    }
}
