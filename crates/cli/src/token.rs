//! `steward token new`: a bearer token for the TCP API, and its line for the tokens file.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use steward_daemon::tokens::{self, TokenIdentity};

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Make a new token: print it on stdout, and on stderr the line to append to the
    /// tokens file. Needs no daemon.
    New {
        /// Who the token stands for (letters, digits, `_`, `.`, `-`).
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The groups it stands for, comma-separated (`-` or nothing for none).
        #[arg(
            long,
            value_name = "GROUP,...",
            value_delimiter = ',',
            allow_hyphen_values = true
        )]
        groups: Vec<String>,
        /// Print `{"token": ..., "line": ...}` on stdout instead.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: &TokenCommand) -> Result<ExitCode> {
    match command {
        TokenCommand::New { name, groups, json } => {
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            let identity = TokenIdentity::new(name, &groups).map_err(|e| anyhow!("--{e}"))?;
            let (token, hash) = tokens::generate();
            let line = identity.line(&hash);
            if *json {
                #[derive(serde::Serialize)]
                struct New<'a> {
                    token: &'a str,
                    line: &'a str,
                }
                let doc = New {
                    token: &token,
                    line: &line,
                };
                println!("{}", serde_json::to_string(&doc)?);
            } else {
                // The token alone on stdout, for `TOKEN=$(steward token new ...)`; the
                // line on stderr, as a comment and the line: both valid in the file.
                println!("{token}");
                eprintln!("# append to the tokens file (mode 0600):\n{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
