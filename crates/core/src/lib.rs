//! steward's decisions, free of I/O.
//!
//! Everything here is a pure function of its inputs: the config text is parsed and checked
//! into a [`config::Config`], and each service instance evolves through
//! [`machine::step`], which takes the time as an argument and returns the effects the daemon
//! must carry out. Nothing reads a clock, a file or the environment, so every decision can be
//! tested without processes and without sleeping.

pub mod acl;
pub mod balance;
pub mod config;
pub mod deps;
pub mod diagnostic;
pub mod duration;
pub mod endpoint;
pub mod env;
pub mod machine;
pub mod notify;
pub mod reload;
pub mod rlimit;
pub mod signal;
pub mod size;
pub mod tasks;
pub mod time;
pub mod tokens;
pub mod words;
