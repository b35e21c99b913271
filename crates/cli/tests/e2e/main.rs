//! End-to-end tests: a real `steward up` per test, real child processes, the real CLI.

mod harness;

mod access;
mod cli;
mod config_errors;
mod endpoint;
mod events;
mod logs;
mod order;
mod pause;
mod probes;
mod readiness;
mod recovery;
mod reload;
mod runas;
mod stopping;
mod tasks;
mod tcp;
mod token;
mod usage;
mod users;
