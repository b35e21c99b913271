//! `GET /v1/metrics`: the status documents (with usage) in Prometheus' text exposition
//! format, version 0.0.4, made anew for each scrape.
//!
//! Written by hand rather than through a client library's registry: every value already
//! sits in the documents the scrape asked the loop for, so there is nothing to register
//! or keep between scrapes, and the format is a few lines of HELP, TYPE and samples.

use std::fmt::Write;

use steward_proto::{InstanceStatus, ServiceStatus, State};

use crate::usage::Own;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const STATES: [State; 9] = [
    State::Stopped,
    State::StartPending,
    State::Running,
    State::StopPending,
    State::PausePending,
    State::Paused,
    State::ContinuePending,
    State::Backoff,
    State::Failed,
];

/// The whole exposition: steward's own series, then per service, then per instance.
pub fn render(services: &[ServiceStatus], own: Option<&Own>, version: &str) -> String {
    let mut w = Writer::default();
    w.family(
        "steward_build_info",
        "gauge",
        "steward's version, as a label; always 1.",
    );
    w.sample("steward_build_info", &[("version", version)], 1);
    w.family(
        "steward_services",
        "gauge",
        "Services in the running config.",
    );
    w.sample("steward_services", &[], services.len());
    own_series(&mut w, own);

    w.family(
        "steward_service_instances",
        "gauge",
        "Instances configured for the service.",
    );
    for s in services {
        w.sample(
            "steward_service_instances",
            &[("service", &s.name)],
            s.instances.len(),
        );
    }

    let instances: Vec<&InstanceStatus> = services.iter().flat_map(|s| &s.instances).collect();
    w.family(
        "steward_instance_state",
        "gauge",
        "1 for the instance's current state, 0 for the others.",
    );
    for i in &instances {
        let index = i.instance.to_string();
        for s in STATES {
            let labels = [
                ("service", i.name.as_str()),
                ("instance", &index),
                ("state", s.as_str()),
            ];
            w.sample("steward_instance_state", &labels, u8::from(i.state == s));
        }
    }
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_restarts_total", "counter"),
        "Automatic restarts since steward started.",
        |i| Some(i.restarts.into()),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_failures", "gauge"),
        "Failures counted since the last reset (reset_failures_after).",
        |i| Some(i.failures.into()),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_uptime_seconds", "gauge"),
        "Seconds since the instance's process started; 0 while it has none.",
        |i| Some(Value::Float(i.uptime_seconds.unwrap_or(0.0))),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_last_exit_code", "gauge"),
        "Exit code of the previous run, when it exited with one (not killed by a signal).",
        |i| Some(i.last_exit.as_ref()?.code?.into()),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_cpu_seconds_total", "counter"),
        "CPU time (user and system) of the instance's processes: in its cgroup, every \
         process it ran; without one, the live processes of this run.",
        |i| Some(Value::Float(i.usage.as_ref()?.cpu_seconds)),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_resident_memory_bytes", "gauge"),
        "Resident memory of the instance's processes, summed.",
        |i| Some(i.usage.as_ref()?.rss_bytes.into()),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_threads", "gauge"),
        "Threads of the instance's processes.",
        |i| Some(i.usage.as_ref()?.threads.into()),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_open_fds", "gauge"),
        "Open file descriptors of the instance's processes.",
        |i| Some(i.usage.as_ref()?.open_fds?.into()),
    );
    per_instance(
        &mut w,
        &instances,
        ("steward_instance_processes", "gauge"),
        "Processes of the instance's current run, the main one included.",
        |i| Some(i.usage.as_ref()?.processes.into()),
    );
    endpoint_series(&mut w, services);
    w.out
}

/// Per endpoint, then per instance behind it; left out when no service has an endpoint.
fn endpoint_series(w: &mut Writer, services: &[ServiceStatus]) {
    let endpoints: Vec<(&str, &steward_proto::EndpointStatus)> = services
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.endpoint.as_ref()?)))
        .collect();
    if endpoints.is_empty() {
        return;
    }
    type Get = fn(&steward_proto::EndpointStatus) -> u64;
    let families: [(&str, &str, &str, Get); 7] = [
        (
            "steward_endpoint_connections_total",
            "counter",
            "Connections the endpoint accepted.",
            |e| e.accepted,
        ),
        (
            "steward_endpoint_active_connections",
            "gauge",
            "Connections open through the endpoint.",
            |e| e.active,
        ),
        (
            "steward_endpoint_refused_total",
            "counter",
            "Connections refused by the endpoint's ACL.",
            |e| e.refused,
        ),
        (
            "steward_endpoint_unavailable_total",
            "counter",
            "Connections closed because no instance could take them.",
            |e| e.unavailable,
        ),
        (
            "steward_endpoint_failed_over_total",
            "counter",
            "Connection attempts an instance refused, retried on another.",
            |e| e.failed_over,
        ),
        (
            "steward_endpoint_received_bytes_total",
            "counter",
            "Bytes from clients to instances.",
            |e| e.bytes_in,
        ),
        (
            "steward_endpoint_sent_bytes_total",
            "counter",
            "Bytes from instances to clients.",
            |e| e.bytes_out,
        ),
    ];
    for (name, kind, help, get) in families {
        w.family(name, kind, help);
        for (service, e) in &endpoints {
            w.sample(name, &[("service", service), ("listen", &e.listen)], get(e));
        }
    }
    type GetInstance = fn(&steward_proto::EndpointInstance) -> u64;
    let families: [(&str, &str, &str, GetInstance); 4] = [
        (
            "steward_endpoint_instance_connections_total",
            "counter",
            "Connections relayed to the instance.",
            |i| i.connections,
        ),
        (
            "steward_endpoint_instance_active_connections",
            "gauge",
            "Connections open to the instance.",
            |i| i.active,
        ),
        (
            "steward_endpoint_instance_failed_total",
            "counter",
            "Connection attempts the instance refused.",
            |i| i.failed,
        ),
        (
            "steward_endpoint_instance_takes_connections",
            "gauge",
            "1 while new connections may go to the instance.",
            |i| u64::from(i.takes_connections),
        ),
    ];
    for (name, kind, help, get) in families {
        if endpoints.iter().all(|(_, e)| e.instances.is_empty()) {
            break;
        }
        w.family(name, kind, help);
        for (service, e) in &endpoints {
            for i in &e.instances {
                let index = i.instance.to_string();
                w.sample(name, &[("service", service), ("instance", &index)], get(i));
            }
        }
    }
}

/// The series every Prometheus client library exports about its own process.
fn own_series(w: &mut Writer, own: Option<&Own>) {
    let Some(o) = own else { return };
    w.family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    w.sample(
        "process_cpu_seconds_total",
        &[],
        Value::Float(o.cpu_seconds),
    );
    w.family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    w.sample("process_resident_memory_bytes", &[], o.rss_bytes);
    if let Some(n) = o.open_fds {
        w.family(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        w.sample("process_open_fds", &[], n);
    }
    if let Some(n) = o.max_fds {
        w.family(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
        );
        w.sample("process_max_fds", &[], n);
    }
    if let Some(t) = o.start_time_seconds {
        w.family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        w.sample("process_start_time_seconds", &[], Value::Float(t));
    }
}

/// One family with a sample per instance that has a value.
fn per_instance(
    w: &mut Writer,
    instances: &[&InstanceStatus],
    (name, kind): (&str, &str),
    help: &str,
    value: impl Fn(&InstanceStatus) -> Option<Value>,
) {
    let values: Vec<(&InstanceStatus, Value)> = instances
        .iter()
        .filter_map(|i| Some((*i, value(i)?)))
        .collect();
    // A family without samples is left out whole (no usage was read, or no exit code yet).
    if values.is_empty() {
        return;
    }
    w.family(name, kind, help);
    for (i, v) in values {
        let index = i.instance.to_string();
        w.sample(name, &[("service", &i.name), ("instance", &index)], v);
    }
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Int(i64),
    Float(f64),
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Int(n as i64)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(n.into())
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<u8> for Value {
    fn from(n: u8) -> Value {
        Value::Int(n.into())
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Int(n.into())
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if x > 0.0 { "+Inf" } else { "-Inf" })
            }
            Value::Float(x) => write!(f, "{x}"),
        }
    }
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (n, (k, v)) in labels.iter().enumerate() {
                if n > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value.into());
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// HELP texts escape backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_proto::{LastExit, Usage};

    fn instance(name: &str, index: u32, state: State) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            instance: index,
            state,
            pid: None,
            since: String::new(),
            since_seconds: 0.0,
            uptime_seconds: None,
            restarts: 0,
            failures: 0,
            last_exit: None,
            reason: String::new(),
            notify: None,
            probes: Vec::new(),
            watchdog_seconds: None,
            usage: None,
        }
    }

    fn sample_doc() -> Vec<ServiceStatus> {
        let mut web = instance("web", 0, State::Running);
        web.pid = Some(42);
        web.uptime_seconds = Some(12.5);
        web.restarts = 3;
        web.failures = 2;
        web.last_exit = Some(LastExit {
            code: Some(7),
            signal: None,
            counted_as_failure: true,
            counted_as: "exit code 7: failure".into(),
            at: String::new(),
        });
        web.usage = Some(Usage {
            cpu_percent: 12.0,
            cpu_seconds: 1.25,
            rss_bytes: 4096,
            threads: 2,
            open_fds: Some(5),
            processes: 2,
            scope: "cgroup".into(),
        });
        let db = instance("db", 0, State::Failed);
        vec![
            ServiceStatus {
                name: "db".into(),
                instances: vec![db],
                endpoint: None,
            },
            ServiceStatus {
                name: "web".into(),
                instances: vec![web],
                endpoint: None,
            },
        ]
    }

    #[test]
    fn instance_series() {
        let text = render(&sample_doc(), None, "1.2.3");
        for line in [
            "steward_build_info{version=\"1.2.3\"} 1",
            "steward_services 2",
            "steward_service_instances{service=\"web\"} 1",
            "steward_instance_state{service=\"web\",instance=\"0\",state=\"running\"} 1",
            "steward_instance_state{service=\"web\",instance=\"0\",state=\"failed\"} 0",
            "steward_instance_state{service=\"db\",instance=\"0\",state=\"failed\"} 1",
            "steward_instance_restarts_total{service=\"web\",instance=\"0\"} 3",
            "steward_instance_failures{service=\"web\",instance=\"0\"} 2",
            "steward_instance_uptime_seconds{service=\"web\",instance=\"0\"} 12.5",
            "steward_instance_uptime_seconds{service=\"db\",instance=\"0\"} 0",
            "steward_instance_last_exit_code{service=\"web\",instance=\"0\"} 7",
            "steward_instance_cpu_seconds_total{service=\"web\",instance=\"0\"} 1.25",
            "steward_instance_resident_memory_bytes{service=\"web\",instance=\"0\"} 4096",
            "steward_instance_threads{service=\"web\",instance=\"0\"} 2",
            "steward_instance_open_fds{service=\"web\",instance=\"0\"} 5",
            "steward_instance_processes{service=\"web\",instance=\"0\"} 2",
            "# TYPE steward_instance_restarts_total counter",
            "# TYPE steward_instance_cpu_seconds_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        let states = text
            .lines()
            .filter(|l| l.starts_with("steward_instance_state{"))
            .count();
        assert_eq!(states, 2 * STATES.len());
        // db has no usage and no exit code: no such series for it.
        assert!(!text.contains("steward_instance_threads{service=\"db\""));
        assert!(!text.contains("steward_instance_last_exit_code{service=\"db\""));
    }

    fn with_endpoint() -> Vec<ServiceStatus> {
        let mut doc = sample_doc();
        let instance = |i: u32, takes: bool, connections: u64| steward_proto::EndpointInstance {
            instance: i,
            address: format!("unix:/s/{i}.sock"),
            takes_connections: takes,
            connections,
            active: u64::from(i),
            failed: 0,
            bytes_in: 10,
            bytes_out: 20,
        };
        doc[1].endpoint = Some(steward_proto::EndpointStatus {
            listen: "tcp:127.0.0.1:7000".into(),
            mode: "proxy".into(),
            balance: "round-robin".into(),
            listening: true,
            error: None,
            accepted: 12,
            active: 1,
            refused: 2,
            unavailable: 3,
            failed_over: 4,
            bytes_in: 20,
            bytes_out: 40,
            instances: vec![instance(0, true, 7), instance(1, false, 5)],
        });
        doc
    }

    #[test]
    fn endpoint_series() {
        assert!(!render(&sample_doc(), None, "1").contains("steward_endpoint"));
        let text = render(&with_endpoint(), None, "1");
        let web = "service=\"web\",listen=\"tcp:127.0.0.1:7000\"";
        for line in [
            format!("steward_endpoint_connections_total{{{web}}} 12"),
            format!("steward_endpoint_active_connections{{{web}}} 1"),
            format!("steward_endpoint_refused_total{{{web}}} 2"),
            format!("steward_endpoint_unavailable_total{{{web}}} 3"),
            format!("steward_endpoint_failed_over_total{{{web}}} 4"),
            format!("steward_endpoint_received_bytes_total{{{web}}} 20"),
            format!("steward_endpoint_sent_bytes_total{{{web}}} 40"),
            "steward_endpoint_instance_connections_total{service=\"web\",instance=\"0\"} 7".into(),
            "steward_endpoint_instance_active_connections{service=\"web\",instance=\"1\"} 1".into(),
            "steward_endpoint_instance_takes_connections{service=\"web\",instance=\"1\"} 0".into(),
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line}:\n{text}"
            );
        }
    }

    #[test]
    fn every_family_is_one_block_with_help_and_type() {
        let own = Own {
            cpu_seconds: 0.5,
            rss_bytes: 8192,
            open_fds: Some(9),
            max_fds: Some(1024),
            start_time_seconds: Some(1_763_712_000.25),
        };
        let text = render(&with_endpoint(), Some(&own), "1.2.3");
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(seen.insert(name.clone()), "{name} twice");
                current = name;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                assert!(rest.starts_with(&format!("{current} ")), "{line}");
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "a sample outside its family: {line}");
            }
        }
        assert!(text.contains("process_start_time_seconds 1763712000.25\n"));
        assert!(text.contains("process_open_fds 9\n"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
        assert_eq!(escape_help("a\\b\nc\"d"), r#"a\\b\nc"d"#);
        let mut w = Writer::default();
        w.sample("m", &[("k", "x\"y")], 1u8);
        assert_eq!(w.out, "m{k=\"x\\\"y\"} 1\n");
        assert_eq!(Value::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Value::Float(2.0).to_string(), "2");
    }
}
