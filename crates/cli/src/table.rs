//! The human form of `steward status`.

use std::fmt::Write;

use steward_proto::{InstanceStatus, ServiceStatus, State, TaskStatus};

/// The columns, in order; which are shown is decided in [`render_with`].
const HEADERS: [&str; 14] = [
    "SERVICE",
    "INST",
    "STATE",
    "PID",
    "UPTIME",
    "CPU%",
    "MEM",
    "THREADS",
    "FDS",
    "PROCS",
    "RESTARTS",
    "FAILURES",
    "LAST EXIT",
    "STATUS",
];
const CPU: usize = 5;
const WIDE: std::ops::Range<usize> = 7..10;
const STATUS: usize = 13;

/// One row per instance, columns aligned. The STATUS column (the service's own `STATUS=`
/// text, or a failing probe) is shown only when some instance has one.
pub fn render(services: &[ServiceStatus]) -> String {
    render_with(services, false)
}

/// [`render`], with the usage columns (CPU%, MEM; with `wide` also THREADS, FDS, PROCS)
/// when the documents carry usage.
pub fn render_with(services: &[ServiceStatus], wide: bool) -> String {
    let instances = services.iter().flat_map(|s| &s.instances);
    let with_usage = instances.clone().any(|i| i.usage.is_some());
    let rows: Vec<Vec<String>> = instances.map(row).collect();
    let keep: Vec<bool> = (0..HEADERS.len())
        .map(|c| match c {
            CPU | 6 => with_usage,
            c if WIDE.contains(&c) => with_usage && wide,
            STATUS => rows.iter().any(|r| !r[STATUS].is_empty()),
            _ => true,
        })
        .collect();
    let pick = |cells: Vec<String>| -> Vec<String> {
        cells
            .into_iter()
            .zip(&keep)
            .filter_map(|(c, k)| k.then_some(c))
            .collect()
    };
    let headers = pick(HEADERS.iter().map(|h| h.to_string()).collect());
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = rows.into_iter().map(pick).collect();
    let mut out = aligned(&headers, &rows);
    if rows.is_empty() {
        out.push_str("(no services)\n");
    }
    out.push_str(&render_endpoints(services));
    out
}

/// The endpoints' figures, after a blank line; nothing when no service has one. PER
/// INSTANCE is the connections each instance was given, in index order, with `-` after
/// those not taking new ones now.
fn render_endpoints(services: &[ServiceStatus]) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .filter_map(|s| Some((s, s.endpoint.as_ref()?)))
        .map(|(s, e)| {
            let per: Vec<String> = e
                .instances
                .iter()
                .map(|i| {
                    let mark = if i.takes_connections { "" } else { "-" };
                    format!("{}{mark}", i.connections)
                })
                .collect();
            let listen = match &e.error {
                Some(err) => format!("{} (not listening: {err})", e.listen),
                None => e.listen.clone(),
            };
            vec![
                s.name.clone(),
                listen,
                e.mode.clone(),
                if e.mode == "proxy" {
                    e.balance.clone()
                } else {
                    "kernel".into()
                },
                e.accepted.to_string(),
                e.active.to_string(),
                e.refused.to_string(),
                e.unavailable.to_string(),
                e.failed_over.to_string(),
                format!("{}/{}", bytes(e.bytes_in), bytes(e.bytes_out)),
                if per.is_empty() {
                    "-".into()
                } else {
                    per.join(" ")
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let headers = [
        "ENDPOINT",
        "LISTEN",
        "MODE",
        "BALANCE",
        "CONNS",
        "OPEN",
        "REFUSED",
        "UNAVAILABLE",
        "FAILED OVER",
        "IN/OUT",
        "PER INSTANCE",
    ];
    format!("\n{}", aligned(&headers, &rows))
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
    let u = i.usage.as_ref();
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    vec![
        i.name.clone(),
        i.instance.to_string(),
        state_text(i),
        i.pid.map_or("-".into(), |p| p.to_string()),
        uptime,
        or_dash(u.map(|u| format!("{:.1}", u.cpu_percent))),
        or_dash(u.map(|u| bytes(u.rss_bytes))),
        or_dash(u.map(|u| u.threads.to_string())),
        or_dash(u.and_then(|u| u.open_fds).map(|n| n.to_string())),
        or_dash(u.map(|u| u.processes.to_string())),
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

/// Sizes in powers of 1024, as `ls -h` writes them: `512B`, `980K`, `4.1M`, `12M`, `1.2G`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v < 9.95 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.0}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_proto::Usage;

    #[test]
    fn sizes() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(4300 * 1024), "4.2M");
        assert_eq!(bytes(12 * 1024 * 1024 + 1), "12M");
        assert_eq!(bytes(1_003_520), "980K");
        assert_eq!(bytes(1024 * 1024 * 1024 * 5 / 4), "1.2G");
    }

    fn instance(name: &str, usage: Option<Usage>) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            instance: 0,
            state: State::Running,
            pid: Some(7),
            since: String::new(),
            since_seconds: 1.0,
            uptime_seconds: Some(65.0),
            restarts: 0,
            failures: 0,
            last_exit: None,
            reason: String::new(),
            notify: None,
            probes: Vec::new(),
            watchdog_seconds: None,
            usage,
        }
    }

    fn one(i: InstanceStatus) -> Vec<ServiceStatus> {
        vec![ServiceStatus {
            name: i.name.clone(),
            instances: vec![i],
            endpoint: None,
        }]
    }

    #[test]
    fn usage_columns_only_with_usage() {
        let plain = render(&one(instance("web", None)));
        assert_eq!(
            plain.lines().next().unwrap(),
            "SERVICE  INST  STATE    PID  UPTIME  RESTARTS  FAILURES  LAST EXIT"
        );
        let usage = Usage {
            cpu_percent: 12.345,
            cpu_seconds: 3.0,
            rss_bytes: 5 * 1024 * 1024,
            threads: 4,
            open_fds: None,
            processes: 2,
            scope: "cgroup".into(),
        };
        let docs = one(instance("web", Some(usage)));
        let table = render_with(&docs, false);
        let mut lines = table.lines();
        assert_eq!(
            lines.next().unwrap(),
            "SERVICE  INST  STATE    PID  UPTIME  CPU%  MEM   RESTARTS  FAILURES  LAST EXIT"
        );
        assert_eq!(
            lines.next().unwrap(),
            "web      0     running  7    1m05s   12.3  5.0M  0         0         -"
        );
        let wide = render_with(&docs, true);
        assert!(
            wide.starts_with(
                "SERVICE  INST  STATE    PID  UPTIME  CPU%  MEM   THREADS  FDS  PROCS  RESTARTS"
            ),
            "{wide}"
        );
        assert!(wide.contains("5.0M  4        -    2      0"), "{wide}");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0.4), "0s");
        assert_eq!(human(187.0), "3m07s");
        assert_eq!(human(7500.0), "2h05m");
        assert_eq!(human(273_600.0), "3d04h");
    }
}
