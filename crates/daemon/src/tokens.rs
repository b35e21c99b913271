//! Reading the tokens file (see [`steward_core::tokens`] for its format): only a file that
//! nobody but its owner may read or write, owned by steward's user or root; and making new
//! tokens from the operating system's random source.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use steward_core::diagnostic::Diagnostics;
pub use steward_core::tokens::{TokenIdentity, Tokens, check_name, hash};

/// Why a tokens file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("cannot read the tokens file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the tokens file {} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "the tokens file {} is open to other users (mode {mode:04o}); it holds secrets, so \
         only its owner may read or write it: run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error(
        "the tokens file {} is owned by uid {owner}, neither steward's user (uid {euid}) nor \
         root: run `chown {euid} {}`",
        path.display(),
        path.display()
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        euid: u32,
    },
    #[error("the tokens file {}: line {line} is not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads and parses the tokens file at `path`, after checking that only its owner may
/// read or write it and that its owner is steward's effective user or root. Both are
/// checked on the opened file (fstat), so a file renamed over `path` meanwhile cannot
/// be read in place of the one checked.
pub fn load(path: &Path) -> Result<Tokens, TokensError> {
    let read_error = |error| TokensError::Read {
        path: path.to_path_buf(),
        error,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(TokensError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid && meta.uid() != 0 {
        return Err(TokensError::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            euid,
        });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(TokensError::Mode {
            path: path.to_path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(read_error)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        TokensError::NotUtf8 {
            path: path.to_path_buf(),
            line: good.iter().filter(|&&b| b == b'\n').count() + 1,
        }
    })?;
    Tokens::parse(&text, &path.display().to_string()).map_err(TokensError::Invalid)
}

/// A new token and its hash, as `(token, "sha256:HEX")`: 32 bytes (256 bits) from the
/// operating system's random source.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let token = steward_core::tokens::token_text(&bytes);
    let hash = hash(&token);
    (token, hash)
}

#[cfg(test)]
mod tests;
