//! Events: the stream, its resumption, and the journal that keeps them across restarts.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Daemon, poll, steward_bin};

const CRASHER: &str = r#"
[service.crash]
command = ["{fixture}", "--exit-after", "100ms", "--exit-code", "3"]
recovery = [{ action = "restart", delay = "50ms" }]

[service.calm]
command = ["{fixture}"]
"#;

/// `steward events --json ARGS`: the events printed, parsed.
fn events(d: &Daemon, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["events", "--json"];
    all.extend_from_slice(args);
    d.ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn ids(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["id"].as_u64().unwrap()).collect()
}

fn assert_contiguous(ids: &[u64]) {
    for w in ids.windows(2) {
        assert_eq!(w[1], w[0] + 1, "ids must follow each other: {ids:?}");
    }
}

/// `steward events -f --json ARGS` as a child whose lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Follower {
    fn start(d: &Daemon, args: &[&str]) -> Follower {
        let mut child = Command::new(steward_bin())
            .arg("--socket")
            .arg(&d.socket)
            .args(["events", "--follow", "--json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// Events until `done` says so, failing after a deadline.
    fn until(&mut self, d: &Daemon, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => got.push(v),
                Err(_) => panic!(
                    "events did not arrive; got {got:#?}\n--- daemon log ---\n{}",
                    d.log()
                ),
            }
        }
        got
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The events of one instance in the form `state A->B` / `exited CODE`.
fn story(events: &[Value], service: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["service"] == service && !e["instance"].is_null())
        .filter_map(|e| match e["kind"].as_str()? {
            "state" => Some(format!("{}->{}", e["from"].as_str()?, e["to"].as_str()?)),
            "exited" => Some(format!(
                "exited {} {}",
                e["code"],
                if e["counted_as_failure"] == true {
                    "failure"
                } else {
                    "ok"
                }
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_crash_and_restart_cycle_arrives_in_order() {
    let d = Daemon::start(CRASHER);
    let mut f = Follower::start(&d, &["--after", "0"]);
    let got = f.until(&d, |got| {
        got.iter()
            .filter(|e| e["service"] == "crash" && e["kind"] == "exited")
            .count()
            >= 3
    });
    assert_contiguous(&ids(&got));
    assert_eq!(got[0]["kind"], "supervisor");
    assert_eq!(got[0]["what"], "started");
    let cycle = [
        "start-pending->running",
        "exited 3 failure",
        "running->backoff",
        "backoff->start-pending",
    ];
    let story = story(&got, "crash");
    assert_eq!(story[0], "stopped->start-pending", "{story:#?}");
    for (i, step) in story[1..].iter().enumerate() {
        assert_eq!(step, cycle[i % cycle.len()], "{story:#?}");
    }
    let exited = got.iter().find(|e| e["kind"] == "exited").expect("an exit");
    assert_eq!(exited["code"], 3);
    assert_eq!(exited["counted_as"], "exit code 3: failure");
    assert!(exited["pid"].as_u64().is_some());
    // Each line of the human form names the instance and says what happened.
    let text = d.ok(&["events", "--service", "crash:0", "-n", "3"]);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.contains("crash:0")), "{text}");
}

/// A raw HTTP/1.0 request (so the body ends when steward closes it) with `Last-Event-ID`.
fn sse_after(d: &Daemon, last_event_id: &str) -> (u16, Vec<Value>) {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    write!(
        s,
        "GET /v1/events?follow=false HTTP/1.0\r\nHost: steward\r\nLast-Event-ID: {last_event_id}\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split(' ').nth(1).unwrap().parse().unwrap();
    let events = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, events)
}

#[test]
fn resuming_with_last_event_id_loses_nothing() {
    let d = Daemon::start(CRASHER);
    // A live reader stops midway through a crash loop...
    let mut first = Follower::start(&d, &["--after", "0"]);
    let part1 = first.until(&d, |got| got.len() >= 15);
    drop(first);
    let last = *ids(&part1).last().unwrap();
    // ...events keep happening while nobody listens...
    poll(
        "more events while nobody listens",
        || (ids(&events(&d, &["-n", "1"]))[0] > last + 5).then_some(()),
        || d.log(),
    );
    // ...and the next reader resumes after the last id it saw.
    let mut second = Follower::start(&d, &["--after", &last.to_string()]);
    let part2 = second.until(&d, |got| got.len() >= 15);
    let mut all = ids(&part1);
    all.extend(ids(&part2));
    assert_contiguous(&all);

    // The same through the SSE header, as a browser's EventSource resumes.
    let history = events(&d, &["--after", "0"]);
    let middle = history[history.len() / 2]["id"].as_u64().unwrap();
    let (code, resumed) = sse_after(&d, &middle.to_string());
    assert_eq!(code, 200);
    assert_eq!(resumed[0]["id"].as_u64(), Some(middle + 1));
    let expected: Vec<u64> = ids(&history)
        .into_iter()
        .filter(|&id| id > middle)
        .collect();
    assert_eq!(&ids(&resumed)[..expected.len()], &expected[..]);
    assert_contiguous(&ids(&resumed));

    let (code, _) = sse_after(&d, "yesterday");
    assert_eq!(code, 400);
    let (code, body) = d.http("GET", "/v1/events?since=banana&follow=false");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("since"), "{body}");
}

#[test]
fn the_journal_survives_a_restart_of_steward() {
    let mut d = Daemon::start(CRASHER);
    d.wait_instance("crash", 0, "a few failures", |i| i.restarts >= 2);
    d.ok(&["stop", "calm"]);
    let before = events(&d, &["--after", "0"]);
    d.signal_and_wait(nix::sys::signal::Signal::SIGTERM);

    let d = d.spawn();
    let after = events(&d, &["--after", "0"]);
    let old = ids(&before);
    assert_eq!(
        &ids(&after)[..old.len()],
        &old[..],
        "the old events are kept"
    );
    // The last run's final words reached the file, and numbering goes on from them.
    let stopped = after
        .iter()
        .position(|e| e["kind"] == "supervisor" && e["what"] == "stopped")
        .expect("the first run's `stopped` event");
    assert_eq!(after[stopped + 1]["what"], "started");
    assert_contiguous(&ids(&after));
    let control = after
        .iter()
        .find(|e| e["kind"] == "control")
        .expect("the stop of calm");
    assert_eq!(control["action"], "stop");
    assert_eq!(control["service"], "calm");
    let uid = nix::unistd::getuid().as_raw();
    assert!(
        control["who"]
            .as_str()
            .unwrap()
            .starts_with(&format!("uid {uid}")),
        "{control}"
    );
}

#[test]
fn reloads_and_refusals_are_events() {
    let d = Daemon::start(CRASHER);
    let calm = CRASHER.replace(
        "command = [\"{fixture}\"]",
        "command = [\"{fixture}\", \"--print\", \"hi\"]",
    );
    d.write_config(&calm);
    d.ok(&["reload"]);
    let out = d.cli(&["start", "nosuch"]);
    assert!(!out.status.success());
    let all = events(&d, &["--after", "0"]);
    let reload = all
        .iter()
        .find(|e| e["kind"] == "reload" && e["report"]["outcome"] == "applied")
        .expect("the reload");
    assert_eq!(reload["report"]["plan"][0]["name"], "calm");
    assert_eq!(reload["report"]["plan"][0]["change"], "restarted");
    assert!(
        reload["who"].as_str().unwrap().starts_with("uid "),
        "{reload}"
    );
    let refused = all
        .iter()
        .find(|e| e["kind"] == "control" && e["service"] == "nosuch")
        .expect("the refused start");
    assert!(
        refused["outcome"].as_str().unwrap().starts_with("refused"),
        "{refused}"
    );
}

/// Sets or clears the immutable attribute; false when the filesystem cannot.
fn immutable(paths: &[std::path::PathBuf], on: bool) -> bool {
    let flag = if on { "+i" } else { "-i" };
    paths.iter().filter(|p| p.exists()).all(|p| {
        Command::new("chattr")
            .arg(flag)
            .arg(p)
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[test]
fn an_unwritable_journal_is_reported_and_services_keep_running() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: making a file unwritable for root's steward needs root (chattr +i)");
        return;
    }
    let d = Daemon::start(CRASHER);
    let state = d.path("state");
    let files: Vec<_> = ["journal.db", "journal.db-journal"]
        .iter()
        .map(|f| state.join(f))
        .collect();
    poll(
        "the journal file",
        || files[0].exists().then_some(()),
        || d.log(),
    );
    let mut live = Follower::start(&d, &["-n", "0"]);
    if !immutable(&files, true) {
        immutable(&files, false);
        eprintln!("SKIPPED: chattr +i is not supported on this filesystem");
        return;
    }
    let restarts = d.instance("crash", 0).restarts;
    // Services go on: the crash loop keeps restarting.
    d.wait_instance("crash", 0, "restarts with a broken journal", |i| {
        i.restarts >= restarts + 2
    });
    let problem = live.until(&d, |got| got.iter().any(|e| e["kind"] == "journal"));
    let report = problem.iter().find(|e| e["kind"] == "journal").unwrap();
    assert_eq!(report["ok"], false, "{report}");
    let (code, body) = d.http("GET", "/v1/journal");
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["ok"], false, "{status}");
    assert!(d.log().contains("journal: cannot"), "{}", d.log());
    assert_eq!(d.instance("calm", 0).state, steward_proto::State::Running);

    // Writable again: what waited in memory reaches the file, nothing missing.
    assert!(immutable(&files, false));
    live.until(&d, |got| {
        got.iter()
            .any(|e| e["kind"] == "journal" && e["ok"] == true)
    });
    let all = events(&d, &["--after", "0"]);
    assert_contiguous(&ids(&all));
    assert!(all.len() as u64 >= status["newest_id"].as_u64().unwrap_or(0));
}

#[test]
fn probe_changes_are_events() {
    let d = Daemon::start(
        r#"
[service.web]
command = ["{fixture}"]
liveness = { exec = ["test", "-e", "{dir}/alive"], interval = "100ms", failures = 2 }
"#,
    );
    let mut f = Follower::start(&d, &["--after", "0", "--service", "web"]);
    let failing = f.until(&d, |got| got.iter().any(|e| e["kind"] == "probe"));
    let probe = failing.iter().find(|e| e["kind"] == "probe").unwrap();
    assert_eq!(probe["probe"], "liveness");
    assert_eq!(probe["passing"], false, "{probe}");
    std::fs::write(d.path("alive"), "").unwrap();
    let passing = f.until(&d, |got| got.iter().any(|e| e["kind"] == "probe"));
    let probe = passing.iter().find(|e| e["kind"] == "probe").unwrap();
    assert_eq!(probe["passing"], true, "{probe}");
    assert_eq!(probe["message"], "liveness probe passing");
}

#[test]
fn task_outcomes_are_events() {
    let d = Daemon::start(
        r#"
[[task]]
name = "prepare"
command = ["{fixture}", "--exit-after", "1ms", "--exit-code", "0"]

[[task]]
name = "optional"
command = ["{fixture}", "--exit-after", "1ms", "--exit-code", "5"]
on_failure = "continue"

[service.web]
command = ["{fixture}"]
"#,
    );
    d.wait_instance("web", 0, "web running after the tasks", |i| {
        i.state == steward_proto::State::Running
    });
    let all = events(&d, &["--after", "0"]);
    let tasks: Vec<(String, String)> = all
        .iter()
        .filter(|e| e["kind"] == "task")
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("prepare".to_string(), "succeeded".to_string()),
            ("optional".to_string(), "failed".to_string())
        ]
    );
    let first_web = all.iter().position(|e| e["service"] == "web").unwrap();
    let last_task = all.iter().rposition(|e| e["kind"] == "task").unwrap();
    assert!(last_task < first_web, "tasks end before services start");
}
