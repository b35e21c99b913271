//! The configuration, in two phases: [`parse`] reads the TOML text (keeping every key's
//! position) and checks it into a [`Config`], reporting every problem at once with its line
//! and column. Checks that need the machine (does the user exist, is the command executable)
//! are decided in [`host`] from answers the daemon gives; this module does no I/O.

pub mod graph;
pub mod host;
mod model;
mod parse;

pub use model::*;
pub use parse::{parse, parse_with_references};
