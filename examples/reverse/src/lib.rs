//! `reverse`: a small service to show and test steward, and `reverse-client`, its client.
//!
//! The protocol: a client sends text ending in `\n` (or `\r\n`) or in a NUL byte; the
//! service answers `<reversed text> (instance N)` ending with the same terminator, N being
//! its `STEWARD_INSTANCE` (0 when unset). A request ends at its first `\n` or NUL, so the
//! text itself holds neither. A connection may carry any number of requests; text left
//! unterminated when the client closes its side is answered too, ending in `\n`.
//!
//! Text is reversed by extended grapheme cluster (Unicode's user-perceived characters), so
//! `"e\u{301}"` (e and a combining acute accent), flags made of two regional indicators and
//! emoji joined with zero-width joiners come out whole rather than as reordered code points.
//!
//! Both entry points take no global state beyond the process, so steward's own binary can
//! run them from a hidden subcommand and its built-in demo needs no other binary.

mod client;
mod protocol;
mod server;

pub use client::client_main;
pub use protocol::reverse_graphemes;
pub use server::{service_main, service_main_from};

/// Where the service listens by hand and the client connects by default: the address of
/// steward's built-in demo endpoint.
pub const DEFAULT_ADDRESS: &str = "tcp:127.0.0.1:7000";
