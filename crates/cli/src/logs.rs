//! `steward logs NAME[:INSTANCE]`: captured output, read from the daemon's logs endpoint.
//!
//! One instance prints as it was written. Several print each line behind `name:i | `: one
//! after the other, or, when following, interleaved as the lines come.

use crate::client::Target;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use http_body_util::BodyExt;
use hyper::Method;
use hyper::body::Incoming;
use steward_proto::ServiceStatus;

use crate::{client, encode, parse_target};

#[derive(clap::Args)]
pub struct LogsArgs {
    /// NAME (every instance) or NAME:INSTANCE.
    #[arg(value_name = "NAME[:INSTANCE]")]
    target: String,
    /// Keep printing what is written, until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// Show the last N lines, or "all" [default: 100; all with --since]
    #[arg(short = 'n', long, value_name = "N")]
    lines: Option<String>,
    /// Show lines written since TIME: RFC 3339 (2026-05-20T10:00:00Z) or a duration back
    /// from now (10m, 1h30m); needs `log.timestamps = true`.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Show the stderr log (services with `log.stderr = "separate"`).
    #[arg(long)]
    stderr: bool,
}

pub fn run(target: &Target, args: &LogsArgs) -> Result<ExitCode> {
    let (name, instance) = parse_target(&args.target)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let result = rt.block_on(async {
        let instances = match instance {
            Some(i) => vec![i],
            None => {
                let path = format!("/v1/services/{}", encode(&name));
                let status: ServiceStatus = client::call_json(target, Method::GET, &path).await?;
                status.instances.iter().map(|i| i.instance).collect()
            }
        };
        if instances.is_empty() {
            return Err(anyhow!("service {name} has no instances"));
        }
        // Every request answered before anything prints: a bad one fails the command.
        let mut bodies = Vec::new();
        for &i in &instances {
            bodies.push((i, open(target, &name, i, args).await?));
        }
        let prefixed = bodies.len() > 1;
        if args.follow && prefixed {
            let tasks: Vec<_> = bodies
                .into_iter()
                .map(|(i, body)| tokio::spawn(copy(body, prefix(&name, i, prefixed))))
                .collect();
            for t in tasks {
                t.await??;
            }
        } else {
            for (i, body) in bodies {
                copy(body, prefix(&name, i, prefixed)).await?;
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `steward logs -f | head`: the reader has all it wanted.
        Err(e) if crate::is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}

fn prefix(name: &str, instance: u32, prefixed: bool) -> Option<String> {
    prefixed.then(|| format!("{name}:{instance} | "))
}

/// Starts the request for one instance; an error status is an error with the API's
/// message.
async fn open(target: &Target, name: &str, instance: u32, args: &LogsArgs) -> Result<Incoming> {
    let mut path = format!("/v1/services/{}/logs?instance={instance}", encode(name));
    if let Some(n) = &args.lines {
        path.push_str(&format!("&lines={}", encode(n)));
    }
    if let Some(t) = &args.since {
        path.push_str(&format!("&since={}", encode(t)));
    }
    if args.stderr {
        path.push_str("&stream=err");
    }
    if args.follow {
        path.push_str("&follow=true");
    }
    client::stream(target, Method::GET, &path).await
}

/// Copies a body to stdout as it comes; with `prefix`, whole lines only, each behind it.
async fn copy(mut body: Incoming, prefix: Option<String>) -> Result<()> {
    let mut partial: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the logs stream broke off")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut out = std::io::stdout().lock();
        match &prefix {
            None => out.write_all(&data)?,
            Some(p) => {
                partial.extend_from_slice(&data);
                let Some(last) = partial.iter().rposition(|&b| b == b'\n') else {
                    continue;
                };
                let mut text = Vec::with_capacity(last + 1 + p.len() * 8);
                for line in partial[..=last].split_inclusive(|&b| b == b'\n') {
                    text.extend_from_slice(p.as_bytes());
                    text.extend_from_slice(line);
                }
                out.write_all(&text)?;
                partial.drain(..=last);
            }
        }
        out.flush()?;
    }
    if let (Some(p), false) = (&prefix, partial.is_empty()) {
        let mut out = std::io::stdout().lock();
        out.write_all(p.as_bytes())?;
        out.write_all(&partial)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode("2026-05-20T10:00:00+02:00"),
            "2026-05-20T10%3A00%3A00%2B02%3A00"
        );
        assert_eq!(encode("10m"), "10m");
    }
}
