//! `steward status`: one snapshot, or with `--watch` a new one every interval.

use crate::client::Target;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, anyhow};
use hyper::Method;
use steward_proto::{ServiceStatus, State, TaskStatus};
use tokio::signal::unix::{SignalKind, signal};

use crate::{client, encode, table};

/// What `steward status` was asked for.
pub struct Args<'a> {
    pub target: &'a Target,
    pub name: Option<&'a str>,
    pub json: bool,
    pub wide: bool,
    /// Ask for resource usage (read from /proc by the daemon for this request).
    pub usage: bool,
    /// `Some(interval)` with `--watch`.
    pub watch: Option<Duration>,
}

/// The shortest `--interval`: each snapshot reads /proc for every instance.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Parses `--interval` (`2s`, `500ms`).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = steward_core::duration::parse_duration(text).map_err(|e| e.message)?;
    if d < MIN_INTERVAL {
        return Err("the interval must be at least 100ms".into());
    }
    Ok(d)
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.watch {
        None => rt.block_on(once(args)),
        Some(every) => rt.block_on(watch(args, every)),
    }
}

async fn once(args: &Args<'_>) -> Result<ExitCode> {
    let services = fetch(args).await?;
    let mut out = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&services)?)
    } else {
        table::render_with(&services, args.wide)
    };
    // The startup tasks, under the whole table (not in --json: that is one document).
    if args.name.is_none() && !args.json {
        let tasks: Vec<TaskStatus> =
            client::call_json(args.target, Method::GET, "/v1/tasks").await?;
        if !tasks.is_empty() {
            out.push('\n');
            out.push_str(&table::render_tasks(&tasks));
        }
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

async fn fetch(args: &Args<'_>) -> Result<Vec<ServiceStatus>> {
    let query = if args.usage { "?usage=true" } else { "" };
    match args.name {
        Some(n) => {
            let path = format!("/v1/services/{}{query}", encode(n));
            let one: ServiceStatus = client::call_json(args.target, Method::GET, &path).await?;
            Ok(vec![one])
        }
        None => {
            let path = format!("/v1/services{query}");
            client::call_json(args.target, Method::GET, &path).await
        }
    }
}

/// Snapshots until SIGINT or SIGTERM (exit 0), or until stdout is closed. On a terminal each
/// one is drawn over the previous, from the top left, with no clearing in between (no
/// flicker), cut to the window; elsewhere snapshots follow each other, separated by a blank
/// line (with `--json`, one JSON document per line).
async fn watch(args: &Args<'_>, every: Duration) -> Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let tty = std::io::stdout().is_terminal() && !args.json;
    let mut screen = tty.then(Screen::enter);
    let mut first = true;
    let result = loop {
        let services = tokio::select! {
            r = fetch(args) => r,
            _ = sigint.recv() => break Ok(()),
            _ = sigterm.recv() => break Ok(()),
        };
        let services = match services {
            Ok(s) => s,
            Err(e) => break Err(e),
        };
        let text = if args.json {
            format!("{}\n", serde_json::to_string(&services)?)
        } else {
            let body = format!(
                "{}{}",
                header(&services, every),
                table::render_with(&services, args.wide)
            );
            match &mut screen {
                Some(s) => s.frame(&body),
                None if first => body,
                None => format!("\n{body}"),
            }
        };
        first = false;
        if let Err(e) = emit(&text) {
            break Err(e);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = sigint.recv() => break Ok(()),
            _ = sigterm.recv() => break Ok(()),
        }
    };
    drop(screen.take());
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A reader that went away (`| head`) is the end of the watch, not an error.
        Err(e) if crate::is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}

/// The first line of a watched snapshot: when, how often, and the instances by state.
fn header(services: &[ServiceStatus], every: Duration) -> String {
    let mut counts: Vec<(State, usize)> = Vec::new();
    for i in services.iter().flat_map(|s| &s.instances) {
        match counts.iter_mut().find(|(s, _)| *s == i.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((i.state, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| s.as_str());
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let by_state: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    let now = jiff::Zoned::now().strftime("%H:%M:%S");
    let every = steward_core::duration::format_duration(every);
    format!(
        "{now}  every {every}  {} services, {total} instances: {}\n",
        services.len(),
        if by_state.is_empty() {
            "-".to_string()
        } else {
            by_state.join(", ")
        }
    )
}

/// The terminal while watching: cursor hidden, each frame drawn from the top left.
struct Screen {
    drawn: bool,
}

impl Screen {
    fn enter() -> Screen {
        // Hide the cursor while frames are drawn.
        let _ = emit("\x1b[?25l");
        Screen { drawn: false }
    }

    /// `text` as one write: home, each line cleared to its end, then the rest of the
    /// screen cleared; the first frame clears the screen first. Lines are cut to the
    /// window's width and the frame to its height, so it never scrolls.
    fn frame(&mut self, text: &str) -> String {
        let (rows, cols) = window_size();
        self.draw(text, rows, cols)
    }

    fn draw(&mut self, text: &str, rows: usize, cols: usize) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let room = rows.saturating_sub(1).max(1);
        let mut out = String::from(if self.drawn {
            "\x1b[H"
        } else {
            "\x1b[2J\x1b[H"
        });
        self.drawn = true;
        let shown = if lines.len() > room {
            room - 1
        } else {
            lines.len()
        };
        for line in &lines[..shown] {
            out.extend(line.chars().take(cols));
            out.push_str("\x1b[K\n");
        }
        if shown < lines.len() {
            let more = format!(
                "... {} more rows: a taller window, or `steward status NAME`, shows them",
                lines.len() - shown
            );
            out.extend(more.chars().take(cols));
            out.push_str("\x1b[K\n");
        }
        out.push_str("\x1b[J");
        out
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // The cursor back; the last frame stays on the screen.
        let _ = emit("\x1b[?25h");
    }
}

/// The terminal's rows and columns (24 x 80 when unknown).
fn window_size() -> (usize, usize) {
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize, which `ws` is.
    let ok = unsafe { nix::libc::ioctl(1, nix::libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_row > 0 && ws.ws_col > 0 {
        (ws.ws_row.into(), ws.ws_col.into())
    } else {
        (24, 80)
    }
}

/// Writes and flushes stdout at once: a frame must not reach the terminal in pieces.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow!(e).context("writing to stdout"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_interval("50ms").is_err());
        assert!(parse_interval("2").is_err());
    }

    #[test]
    fn a_frame_fits_the_window_and_clears_behind_itself() {
        let mut s = Screen { drawn: false };
        let text: String = (0..200).map(|n| format!("row {n}\n")).collect();
        let first = s.draw(&text, 10, 12);
        assert!(first.starts_with("\x1b[2J\x1b[H"));
        // 8 rows and a line that says what is left out, under the last row of the window.
        assert_eq!(first.matches('\n').count(), 9, "{first:?}");
        assert!(
            first.contains("row 7\x1b[K\n... 192 more\x1b[K\n"),
            "{first:?}"
        );
        let next = s.draw("a\nb\n", 10, 80);
        assert_eq!(next, "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J");
        std::mem::forget(s);
    }
}
