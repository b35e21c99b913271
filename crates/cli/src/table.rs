//! The human form of `steward status`.

use std::fmt::Write;

use steward_proto::{InstanceStatus, ServiceStatus, State};

const HEADERS: [&str; 8] = [
    "SERVICE",
    "INST",
    "STATE",
    "PID",
    "UPTIME",
    "RESTARTS",
    "FAILURES",
    "LAST EXIT",
];

/// One row per instance, columns aligned; the last column is not padded.
pub fn render(services: &[ServiceStatus]) -> String {
    let rows: Vec<[String; 8]> = services
        .iter()
        .flat_map(|s| s.instances.iter().map(row))
        .collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let headers = HEADERS.map(String::from);
    for r in std::iter::once(&headers).chain(&rows) {
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
    if rows.is_empty() {
        out.push_str("(no services)\n");
    }
    out
}

fn row(i: &InstanceStatus) -> [String; 8] {
    let uptime = if i.state == State::Running {
        human(i.since_seconds)
    } else {
        "-".into()
    };
    let last = i
        .last_exit
        .as_ref()
        .map_or("-".to_string(), |e| e.counted_as.clone());
    [
        i.name.clone(),
        i.instance.to_string(),
        state_text(i),
        i.pid.map_or("-".into(), |p| p.to_string()),
        uptime,
        i.restarts.to_string(),
        i.failures.to_string(),
        last,
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
