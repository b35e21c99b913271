//! The configuration, in two phases: [`parse`] reads the TOML text (keeping every key's
//! position) and checks it into a [`Config`], reporting every problem at once with its line
//! and column. Checks that need the machine (does the user exist, is the command executable)
//! belong to the daemon; this module only looks at the text.

pub mod graph;
mod model;
mod parse;

pub use model::*;
pub use parse::parse;
