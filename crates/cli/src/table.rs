//! The human form of `steward status`.

use std::fmt::Write;

use steward_proto::{InstanceStatus, ServiceStatus, State, TaskStatus};

const HEADERS: [&str; 9] = [
    "SERVICE",
    "INST",
    "STATE",
    "PID",
    "UPTIME",
    "RESTARTS",
    "FAILURES",
    "LAST EXIT",
    "STATUS",
];

/// One row per instance, columns aligned. The STATUS column (the service's own `STATUS=`
/// text, or a failing probe) is shown only when some instance has one.
pub fn render(services: &[ServiceStatus]) -> String {
    let mut rows: Vec<Vec<String>> = services
        .iter()
        .flat_map(|s| s.instances.iter().map(row))
        .collect();
    let mut headers: Vec<&str> = HEADERS.to_vec();
    if rows.iter().all(|r| r[8].is_empty()) {
        headers.pop();
        for r in &mut rows {
            r.pop();
        }
    }
    let mut out = aligned(&headers, &rows);
    if rows.is_empty() {
        out.push_str("(no services)\n");
    }
    out
}

/// The startup tasks, in order.
pub fn render_tasks(tasks: &[TaskStatus]) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let state = match t.pid {
                Some(pid) => format!("{} (pid {pid})", t.state),
                None => t.state.clone(),
            };
            vec![
                t.name.clone(),
                t.mode.clone(),
                state,
                t.outcome.clone().unwrap_or_default(),
            ]
        })
        .collect();
    aligned(&["TASK", "MODE", "STATE", "OUTCOME"], &rows)
}

/// Columns padded to their widest cell; the last column is not padded.
fn aligned(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for r in std::iter::once(&headers).chain(rows) {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn row(i: &InstanceStatus) -> Vec<String> {
    let uptime = i.uptime_seconds.map_or("-".into(), human);
    let last = i
        .last_exit
        .as_ref()
        .map_or("-".to_string(), |e| e.counted_as.clone());
    // A probe's verdict matters while there is a process to judge.
    let live = matches!(i.state, State::StartPending | State::Running);
    let failing = i.probes.iter().find(|p| live && p.passing == Some(false));
    let note = match (i.notify.as_ref().and_then(|n| n.status.clone()), failing) {
        (Some(text), _) => text,
        (None, Some(p)) => format!(
            "{} failing: {}",
            p.kind,
            p.last_error.clone().unwrap_or_default()
        ),
        (None, None) => String::new(),
    };
    vec![
        i.name.clone(),
        i.instance.to_string(),
        state_text(i),
        i.pid.map_or("-".into(), |p| p.to_string()),
        uptime,
        i.restarts.to_string(),
        i.failures.to_string(),
        last,
        note,
    ]
}

fn state_text(i: &InstanceStatus) -> String {
    match i.state {
        State::Running => "running".into(),
        other => format!("{} {}", other.as_str(), human(i.since_seconds)),
    }
}

/// `42s`, `3m07s`, `2h05m`, `3d04h`.
pub fn human(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(0.4), "0s");
        assert_eq!(human(187.0), "3m07s");
        assert_eq!(human(7500.0), "2h05m");
        assert_eq!(human(273_600.0), "3d04h");
    }
}
