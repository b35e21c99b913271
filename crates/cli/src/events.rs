//! `steward events`: the journal's events, and with `--follow` the live ones, read from
//! `GET /v1/events` (server-sent events).

use crate::client::Target;
use std::io::Write;

use anyhow::{Context, Result, anyhow};
use http_body_util::BodyExt;
use hyper::Method;
use steward_proto::Event;

use crate::client;

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Keep printing events as they happen, until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// Events since a time: a duration back from now (`10m`, `2h`) or RFC 3339.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only events after this id (to resume where an earlier read stopped).
    #[arg(long, value_name = "ID", conflicts_with = "since")]
    after: Option<u64>,
    /// Only events of one service, or of one instance (NAME:INSTANCE).
    #[arg(long, value_name = "NAME[:INSTANCE]")]
    service: Option<String>,
    /// How many of the newest events to show [default: 20, or all with --since/--after].
    #[arg(short = 'n', long, value_name = "N")]
    lines: Option<usize>,
    /// One JSON object per line (the API's event documents).
    #[arg(long)]
    json: bool,
}

pub fn run(target: &Target, args: &EventsArgs) -> Result<()> {
    let mut query = vec![format!("follow={}", args.follow)];
    if let Some(since) = &args.since {
        query.push(format!("since={}", crate::encode(since)));
    }
    if let Some(after) = args.after {
        query.push(format!("after={after}"));
    }
    let tail = match (args.lines, args.since.is_some() || args.after.is_some()) {
        (Some(n), _) => Some(n),
        (None, false) => Some(20),
        (None, true) => None,
    };
    if let Some(n) = tail {
        query.push(format!("tail={n}"));
    }
    if let Some(target) = &args.service {
        let (name, instance) = crate::parse_target(target)?;
        query.push(format!("service={}", crate::encode(&name)));
        if let Some(i) = instance {
            query.push(format!("instance={i}"));
        }
    }
    let path = format!("/v1/events?{}", query.join("&"));
    let rt = crate::client_runtime()?;
    rt.block_on(async {
        let mut body = client::stream(target, Method::GET, &path).await?;
        let mut parser = SseParser::default();
        let stdout = std::io::stdout();
        while let Some(frame) = body.frame().await {
            let frame = frame.context("reading events from steward")?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            let mut out = stdout.lock();
            for msg in parser.push(data) {
                print_message(&mut out, &msg, args.json)?;
            }
            out.flush()?;
        }
        Ok(())
    })
}

fn print_message(out: &mut impl Write, msg: &SseMessage, json: bool) -> Result<()> {
    if msg.event == "gap" {
        let text = serde_json::from_str::<serde_json::Value>(&msg.data)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| msg.data.clone());
        eprintln!("steward: some events are missing: {text}");
        return Ok(());
    }
    if json {
        writeln!(out, "{}", msg.data)?;
        return Ok(());
    }
    let event: Event = serde_json::from_str(&msg.data)
        .map_err(|e| anyhow!("steward sent an event this CLI cannot read: {e}"))?;
    let who = match (&event.service, event.instance) {
        (Some(s), Some(i)) => format!("{s}:{i}"),
        (Some(s), None) => s.clone(),
        (None, _) => "steward".into(),
    };
    writeln!(
        out,
        "{}  {:>6}  {:<14} {:<10} {}",
        event.at,
        event.id,
        who,
        event.body.kind(),
        event.message
    )?;
    Ok(())
}

/// One server-sent event.
#[derive(Debug, Default, PartialEq)]
struct SseMessage {
    id: Option<String>,
    event: String,
    data: String,
}

/// Splits a byte stream into server-sent events (the subset steward sends: `id`, `event`,
/// `data` and comments; one `data` line per event).
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = find_blank_line(&self.buf) {
            let block: Vec<u8> = self.buf.drain(..end.0).collect();
            self.buf.drain(..end.1);
            let text = String::from_utf8_lossy(&block);
            let mut msg = SseMessage::default();
            let mut any = false;
            for line in text.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => msg.id = Some(value.to_string()),
                    "event" => msg.event = value.to_string(),
                    "data" => {
                        if any {
                            msg.data.push('\n');
                        }
                        msg.data.push_str(value);
                        any = true;
                    }
                    _ => {}
                }
            }
            if any {
                out.push(msg);
            }
        }
        out
    }
}

/// Where the first event ends: (its length, the blank line's length).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_anywhere() {
        let stream = b": keep-alive\n\nid: 7\nevent: state\ndata: {\"a\":1}\n\nid: 8\nevent: exited\ndata: {}\n\n";
        for cut in 0..stream.len() {
            let mut p = SseParser::default();
            let mut got = p.push(&stream[..cut]);
            got.extend(p.push(&stream[cut..]));
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[0].id.as_deref(), Some("7"));
            assert_eq!(got[0].event, "state");
            assert_eq!(got[0].data, "{\"a\":1}");
            assert_eq!(got[1].event, "exited");
        }
    }
}
