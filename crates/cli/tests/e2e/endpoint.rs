//! Service endpoints against a real `steward up`: the built-in reverse service (steward's
//! own binary, `__reverse`) as three instances behind one address, real clients, real
//! users, real signals.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use steward_proto::{EndpointStatus, State};

use crate::harness::{DEADLINE, Daemon, free_port, poll, steward_bin};
use crate::users::ensure_user;

/// The reverse service, `instances` of them, with `endpoint` (lines) in its endpoint table
/// and `extra` (lines) in its service table.
fn reverse(instances: u32, extra: &str, endpoint: &str) -> String {
    format!(
        r#"
[service.rev]
command = ["{steward}", "__reverse"{args}]
instances = {instances}
notify = true
stop_timeout = "5s"
{extra}

[service.rev.endpoint]
{endpoint}
"#,
        steward = steward_bin().display(),
        args = "",
    )
}

fn with_args(text: &str, args: &[&str]) -> String {
    let quoted: String = args.iter().map(|a| format!(", \"{a}\"")).collect();
    text.replacen("\"__reverse\"", &format!("\"__reverse\"{quoted}"), 1)
}

/// The endpoint's socket in the daemon's dir.
fn front(d: &Daemon) -> std::path::PathBuf {
    d.path("rev.sock")
}

fn unix_listen() -> &'static str {
    "listen = \"unix:{dir}/rev.sock\""
}

/// Waits until every instance of `rev` is running.
fn all_running(d: &Daemon, n: usize) {
    d.wait_for("every instance running", |all| {
        let rev = all.iter().find(|s| s.name == "rev")?;
        (rev.instances.len() == n && rev.instances.iter().all(|i| i.state == State::Running))
            .then_some(())
    });
}

/// One request on a new connection: the answer line, e.g. `olleh (instance 2)`.
fn ask(path: &Path, text: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("{text}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without an answer",
        ));
    }
    Ok(line.trim_end().to_string())
}

/// The instance number in an answer.
fn served_by(answer: &str) -> u32 {
    answer
        .trim_end()
        .rsplit_once("(instance ")
        .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no instance in {answer:?}"))
}

/// `n` requests, each on a new connection: how many each instance answered.
fn spread(path: &Path, n: u32) -> BTreeMap<u32, u32> {
    let mut by = BTreeMap::new();
    for k in 0..n {
        let answer = ask(path, &format!("req{k}")).unwrap_or_else(|e| panic!("request {k}: {e}"));
        assert!(
            answer.starts_with(&format!(
                "{}q",
                k.to_string().chars().rev().collect::<String>()
            )),
            "{answer}"
        );
        *by.entry(served_by(&answer)).or_default() += 1;
    }
    by
}

fn endpoint(d: &Daemon) -> EndpointStatus {
    d.status()
        .into_iter()
        .find(|s| s.name == "rev")
        .and_then(|s| s.endpoint)
        .expect("rev has an endpoint")
}

#[test]
fn connections_spread_by_each_policy_and_a_reload_switches_it_in_place() {
    let d = Daemon::start(&reverse(
        3,
        "",
        &format!("{}\nbalance = \"round-robin\"", unix_listen()),
    ));
    all_running(&d, 3);
    let pids: Vec<Option<u32>> = d.status()[0].instances.iter().map(|i| i.pid).collect();
    let rr = spread(&front(&d), 30);
    assert_eq!(
        rr,
        BTreeMap::from([(0, 10), (1, 10), (2, 10)]),
        "round-robin"
    );

    // One connection at a time: the instances tie (or one still has the last relay
    // closing), so the ties going in turn reach every instance.
    d.replace_config(&reverse(
        3,
        "",
        &format!("{}\nbalance = \"least-connections\"", unix_listen()),
    ));
    d.wait_for("the new balance", |_| {
        (endpoint(&d).balance == "least-connections").then_some(())
    });
    let by = spread(&front(&d), 30);
    assert_eq!(by.len(), 3, "least-connections: {by:?}");

    // Least-connections with one connection held open on whichever instance took it:
    // the next connections go to the two others.
    let mut held = UnixStream::connect(front(&d)).unwrap();
    held.write_all(b"hold\n").unwrap();
    let mut line = String::new();
    BufReader::new(held.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    let busy = served_by(&line);
    // Each next request once the last one's relay has ended, so the only open
    // connection is the held one.
    let mut by = BTreeMap::new();
    for k in 0..20 {
        d.wait_for("only the held connection open", |_| {
            (endpoint(&d).active == 1).then_some(())
        });
        let answer = ask(&front(&d), &format!("lc{k}")).unwrap();
        *by.entry(served_by(&answer)).or_insert(0u32) += 1;
    }
    assert_eq!(
        by.get(&busy),
        None,
        "{by:?}: instance {busy} has a connection open"
    );
    assert_eq!(by.values().sum::<u32>(), 20);
    drop(held);

    d.replace_config(&reverse(
        3,
        "",
        &format!("{}\nbalance = \"random\"", unix_listen()),
    ));
    d.wait_for("the new balance", |_| {
        (endpoint(&d).balance == "random").then_some(())
    });
    let by = spread(&front(&d), 90);
    assert_eq!(by.len(), 3, "random reaches every instance: {by:?}");

    // The balance applies in place: the same processes served all of it.
    let after: Vec<Option<u32>> = d.status()[0].instances.iter().map(|i| i.pid).collect();
    assert_eq!(pids, after);
    let e = endpoint(&d);
    assert_eq!(e.accepted, 30 + 30 + 1 + 20 + 90);
    let per: u64 = e.instances.iter().map(|i| i.connections).sum();
    assert_eq!(per, e.accepted);
    assert_eq!(e.unavailable, 0);
    assert!(e.bytes_in > 0 && e.bytes_out > e.bytes_in, "{e:?}");
    let metrics = d.ok(&["status"]);
    assert!(metrics.contains("ENDPOINT"), "{metrics}");
}

#[test]
fn a_refused_connect_is_retried_on_the_next_instance() {
    // Instance 1 runs but never listens: every connection it is picked for is refused by
    // the kernel and must reach instance 0 instead, unnoticed by the client.
    let text = format!(
        r#"
[service.rev]
command = ["sh", "-c", "if [ \"$STEWARD_INSTANCE\" = 1 ]; then exec sleep 1000; else exec \"$0\" __reverse; fi", "{steward}"]
instances = 2

[service.rev.endpoint]
{listen}
"#,
        steward = steward_bin().display(),
        listen = unix_listen(),
    );
    let d = Daemon::start(&text);
    all_running(&d, 2);
    let by = spread(&front(&d), 20);
    assert_eq!(by, BTreeMap::from([(0, 20)]));
    let e = endpoint(&d);
    assert!(e.failed_over >= 10, "{e:?}");
    assert_eq!(e.instances[1].connections, 0);
    assert_eq!(e.instances[1].failed, e.failed_over);
    assert_eq!(e.unavailable, 0);
}

#[test]
fn a_killed_instance_fails_no_request_and_rejoins_once_restarted() {
    let d = Daemon::start(&reverse(3, "", unix_listen()));
    all_running(&d, 3);
    let victim = d.instance("rev", 1).pid.unwrap();
    let path = front(&d);
    for k in 0..20 {
        ask(&path, &format!("before{k}")).unwrap();
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Once the kernel has closed its socket (a connection it had queued is lost with it,
    // as with any server killed mid-request): every request goes on being answered,
    // whether or not steward has seen the death yet.
    poll(
        "the killed instance's files closed",
        || {
            // Every thread a zombie (or reaped): only then are its files closed.
            let tasks = std::fs::read_dir(format!("/proc/{victim}/task"));
            let all_dead = tasks.map_or(true, |tasks| {
                tasks.flatten().all(|t| {
                    let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                    matches!(
                        stat.rsplit_once(") ").map(|(_, rest)| rest.as_bytes()[0]),
                        None | Some(b'Z' | b'X')
                    )
                })
            });
            all_dead.then_some(())
        },
        || d.log(),
    );
    let mut by = BTreeMap::new();
    for k in 0..60 {
        let answer = ask(&path, &format!("after{k}"))
            .unwrap_or_else(|e| panic!("request {k} after the kill: {e}"));
        *by.entry(served_by(&answer)).or_insert(0u32) += 1;
    }
    assert_eq!(by.values().sum::<u32>(), 60);
    let back = d.wait_instance("rev", 1, "instance 1 restarted and ready", |i| {
        i.state == State::Running && i.pid.is_some_and(|p| p != victim)
    });
    assert!(back.restarts >= 1);
    let before = endpoint(&d).instances[1].connections;
    let by = spread(&path, 30);
    assert_eq!(
        by.get(&1),
        Some(&10),
        "instance 1 rejoined the turn: {by:?}"
    );
    assert_eq!(endpoint(&d).instances[1].connections, before + 10);
}

#[test]
fn a_paused_instance_gets_no_new_connections() {
    let d = Daemon::start(&reverse(3, "", unix_listen()));
    all_running(&d, 3);
    d.ok(&["pause", "rev:2"]);
    d.wait_instance("rev", 2, "paused", |i| i.state == State::Paused);
    let e = endpoint(&d);
    assert!(!e.instances[2].takes_connections);
    let by = spread(&front(&d), 30);
    assert_eq!(by, BTreeMap::from([(0, 15), (1, 15)]));
    d.ok(&["continue", "rev:2"]);
    d.wait_instance("rev", 2, "running again", |i| i.state == State::Running);
    let by = spread(&front(&d), 30);
    assert_eq!(by.get(&2), Some(&10), "{by:?}");
}

#[test]
fn with_no_instance_up_a_client_is_closed_at_once_and_counted() {
    let d = Daemon::start(&reverse(2, "", unix_listen()));
    all_running(&d, 2);
    d.ok(&["stop", "rev"]);
    let started = Instant::now();
    let mut s = UnixStream::connect(front(&d)).expect("the endpoint stays bound");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"anyone?\n");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed, not answered");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "promptly, not after a timeout"
    );
    d.wait_for("the refusal counted", |_| {
        (endpoint(&d).unavailable == 1).then_some(())
    });
}

#[test]
fn a_stop_drains_open_connections_first() {
    // Each answer takes 1.5 s; the instance is stopped while one is on its way.
    let text = with_args(
        &reverse(
            1,
            "",
            &format!("{}\ndrain_timeout = \"10s\"", unix_listen()),
        ),
        &["--delay", "1500"],
    );
    let d = Daemon::start(&text);
    all_running(&d, 1);
    let path = front(&d);
    let pending = std::thread::spawn(move || ask(&path, "slow"));
    d.wait_for("the connection open", |_| {
        (endpoint(&d).active == 1).then_some(())
    });
    let stop = std::thread::spawn({
        let socket = d.socket.clone();
        move || {
            Command::new(steward_bin())
                .args([
                    "--socket".as_ref(),
                    socket.as_os_str(),
                    "stop".as_ref(),
                    "rev".as_ref(),
                ])
                .output()
                .unwrap()
        }
    });
    let draining = d.wait_instance("rev", 0, "draining", |i| i.state == State::StopPending);
    assert!(draining.reason.contains("draining"), "{}", draining.reason);
    assert_eq!(pending.join().unwrap().unwrap(), "wols (instance 0)");
    assert!(stop.join().unwrap().status.success());
    let i = d.instance("rev", 0);
    assert_eq!(i.state, State::Stopped);
    assert!(
        i.last_exit
            .unwrap()
            .counted_as
            .contains("stopped on request")
    );
}

#[test]
fn socket_mode_passes_the_listening_socket_and_never_refuses_during_a_restart() {
    let d = Daemon::start(&reverse(
        2,
        "",
        &format!("{}\nmode = \"socket\"", unix_listen()),
    ));
    all_running(&d, 2);
    let pid = d.instance("rev", 0).pid.unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(vars.contains(&"LISTEN_FDS=1".to_string()), "{vars:?}");
    assert!(vars.contains(&format!("LISTEN_PID={pid}")), "{vars:?}");
    assert!(vars.contains(&"LISTEN_FDNAMES=rev".to_string()), "{vars:?}");
    assert!(
        !vars.iter().any(|v| v.starts_with("STEWARD_LISTEN=")),
        "{vars:?}"
    );
    let answer = ask(&front(&d), "socket").unwrap();
    assert!(answer.starts_with("tekcos (instance "), "{answer}");

    // Restart both at once: the socket stays with steward, so connections queue in its
    // backlog and are answered once an instance is back.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU32::new(0));
    let client = {
        let (stop, failures, path) = (stop.clone(), failures.clone(), front(&d));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 2000 {
                if ask(&path, "x").is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            n
        })
    };
    d.ok(&["restart", "rev"]);
    all_running(&d, 2);
    stop.store(true, Ordering::Relaxed);
    let sent = client.join().unwrap();
    assert!(sent > 0);
    assert_eq!(failures.load(Ordering::Relaxed), 0, "of {sent} requests");
    assert_ne!(d.instance("rev", 0).pid, Some(pid));
}

/// Runs `act` while a client sends requests in a loop, each on a new connection; returns
/// how many it sent and how many failed.
fn serve_during(d: &Daemon, act: impl FnOnce()) -> (u32, u32) {
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU32::new(0));
    let client = {
        let (stop, failures, path) = (stop.clone(), failures.clone(), front(d));
        std::thread::spawn(move || {
            let mut n = 0u32;
            let deadline = Instant::now() + DEADLINE;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Err(e) = ask(&path, "roll") {
                    eprintln!("request {n}: {e}");
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            n
        })
    };
    act();
    stop.store(true, Ordering::Relaxed);
    let sent = client.join().unwrap();
    (sent, failures.load(Ordering::Relaxed))
}

fn pids(d: &Daemon) -> Vec<u32> {
    d.status()[0]
        .instances
        .iter()
        .map(|i| i.pid.unwrap())
        .collect()
}

/// The most instances of `rev` that were out (stop-pending, until running again) at once.
fn most_out_at_once(d: &Daemon) -> usize {
    let events = d.ok(&["events", "--json", "-n", "1000", "--service", "rev"]);
    let mut out = std::collections::BTreeSet::new();
    let mut worst = 0;
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (Some(index), Some(to)) = (v["instance"].as_u64(), v["to"].as_str()) else {
            continue;
        };
        if to == "running" {
            out.remove(&index);
        } else if to == "stop-pending" {
            out.insert(index);
        }
        worst = worst.max(out.len());
    }
    worst
}

#[test]
fn a_rolling_reload_or_restart_keeps_the_endpoint_serving() {
    // Each answer takes 20 ms, so the client always has a request on its way: every
    // drain has a connection to wait for.
    let table = format!("{}\ndrain_timeout = \"2s\"", unix_listen());
    let d = Daemon::start(&with_args(
        &reverse(3, "rolling = true", &table),
        &["--delay", "20"],
    ));
    all_running(&d, 3);
    let before = pids(&d);
    // A changed env restarts every instance: one at a time, each once the one before runs.
    let text = with_args(
        &reverse(3, "rolling = true\nenv = { ROUND = \"2\" }", &table),
        &["--delay", "20"],
    );
    let (sent, failed) = serve_during(&d, || {
        d.write_config(&text);
        let reload = d.ok(&["reload"]);
        assert!(reload.contains("restart"), "{reload}");
    });
    all_running(&d, 3);
    let after = pids(&d);
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b, a, "every instance restarted");
    }
    assert!(sent >= 2, "the client ran throughout ({sent} requests)");
    assert_eq!(failed, 0, "of {sent} requests\n{}", d.log());
    assert_eq!(most_out_at_once(&d), 1);

    // `steward restart` of the whole service rolls the same way.
    let (sent, failed) = serve_during(&d, || {
        d.ok(&["restart", "rev"]);
    });
    all_running(&d, 3);
    for (b, a) in after.iter().zip(&pids(&d)) {
        assert_ne!(b, a, "every instance restarted again");
    }
    assert!(sent >= 2, "the client ran throughout ({sent} requests)");
    assert_eq!(failed, 0, "of {sent} requests\n{}", d.log());
    assert_eq!(most_out_at_once(&d), 1);
}

#[test]
fn scale_starts_and_stops_only_the_instances_it_adds_or_removes() {
    let d = Daemon::start(&reverse(3, "", unix_listen()));
    all_running(&d, 3);
    let pid = |d: &Daemon, i| d.instance("rev", i).pid.unwrap();
    let first: Vec<u32> = (0..3).map(|i| pid(&d, i)).collect();
    let out = d.ok(&["scale", "rev", "5"]);
    assert!(out.contains("scale: applied"), "{out}");
    all_running(&d, 5);
    assert_eq!((0..3).map(|i| pid(&d, i)).collect::<Vec<_>>(), first);
    assert_eq!(
        spread(&front(&d), 25).len(),
        5,
        "the new instances take connections"
    );

    d.ok(&["scale", "rev", "2"]);
    all_running(&d, 2);
    assert_eq!((0..2).map(|i| pid(&d, i)).collect::<Vec<_>>(), first[..2]);
    assert_eq!(endpoint(&d).instances.len(), 2);

    // A reload that leaves the file's `instances` alone keeps the scaled count...
    d.write_config(&reverse(3, "stop_signal = \"INT\"", unix_listen()));
    d.ok(&["reload"]);
    all_running(&d, 2);
    // ...one that changes it wins.
    d.write_config(&reverse(4, "stop_signal = \"INT\"", unix_listen()));
    d.ok(&["reload"]);
    all_running(&d, 4);
    assert_eq!((0..2).map(|i| pid(&d, i)).collect::<Vec<_>>(), first[..2]);

    let bad = d.cli(&["scale", "nope", "2"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no service \"nope\""));
    let (code, body) = d.http("POST", "/v1/services/rev/scale");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("instances"), "{body}");
    // Bad bodies name the field, and change nothing.
    for (bad, says) in [
        (r#"{"instances": -1}"#, "instances"),
        (r#"{"instances": "two"}"#, "instances"),
        (r#"{"instanses": 2}"#, "instanses"),
        (r#"{"instances": 10001}"#, "10000"),
        ("{", "EOF"),
    ] {
        let (code, body) = d.http_with("POST", "/v1/services/rev/scale", Some(bad));
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains(says), "{bad}: {body}");
    }
    assert_eq!(d.status()[0].instances.len(), 4);
}

#[test]
fn a_unix_endpoint_admits_by_the_callers_user() {
    let (Some((alice, alice_gid)), Some((gus, gus_gid))) = (
        ensure_user("stw-alice", &[]),
        ensure_user("stw-gus", &["stw-guests"]),
    ) else {
        eprintln!("skipped: needs root");
        return;
    };
    let table = format!(
        "{}\nacl = [\"deny group:stw-guests all\", \"allow user:stw-alice read,write\"]",
        unix_listen()
    );
    let d = Daemon::start(&reverse(2, "", &table));
    all_running(&d, 2);
    // The temp dir is root's 0700: let the users reach the endpoint's socket in it.
    let dir = d.dir.path();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let client = |uid: u32, gid: u32| {
        Command::new(steward_bin())
            .args(["reverse-client", "--address"])
            .arg(format!("unix:{}", front(&d).display()))
            .arg("hello")
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let ok = client(alice, alice_gid);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("olleh (instance "));
    let refused = client(gus, gus_gid);
    assert!(
        !refused.status.success(),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    d.wait_for("the refusal counted", |_| {
        (endpoint(&d).refused == 1).then_some(())
    });
    // Journaled, with who and why.
    let events = d.ok(&["events", "--json", "-n", "1000", "--service", "rev"]);
    let refusal = events
        .lines()
        .find(|l| l.contains("\"access\"") && l.contains("stw-gus"))
        .unwrap_or_else(|| panic!("{events}"));
    assert!(
        refusal.contains("the entry `deny group:stw-guests"),
        "{refusal}"
    );
    // Nobody reaches an instance past the endpoint: its socket's directory is closed to them.
    let own = d.path("state/endpoints/rev/0.sock");
    assert!(own.exists());
    let direct = Command::new(steward_bin())
        .args(["reverse-client", "--address"])
        .arg(format!("unix:{}", own.display()))
        .arg("sneak")
        .uid(alice)
        .gid(alice_gid)
        .output()
        .unwrap();
    assert!(!direct.status.success());
    assert!(
        String::from_utf8_lossy(&direct.stderr)
            .to_lowercase()
            .contains("permission denied")
    );
}

#[test]
fn a_tcp_endpoint_admits_by_address_and_gives_instances_their_ports() {
    let port = free_port();
    let backend = free_port_range(2);
    let table = format!(
        "listen = \"tcp:127.0.0.1:{port}\"\nbackend = \"tcp:127.0.0.1:{backend}\"\nacl = [\"allow address:127.0.0.0/8 read,write\"]"
    );
    let d = Daemon::start(&reverse(2, "", &table));
    all_running(&d, 2);
    let pid = d.instance("rev", 1).pid.unwrap();
    let environ = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap())
        .replace('\0', "\n");
    assert!(
        environ.contains(&format!("STEWARD_LISTEN=tcp:127.0.0.1:{}", backend + 1)),
        "{environ}"
    );
    assert!(
        environ.contains(&format!("PORT={}", backend + 1)),
        "{environ}"
    );
    let out = d.ok(&[
        "reverse-client",
        "--address",
        &format!("tcp:127.0.0.1:{port}"),
        "--count",
        "10",
    ]);
    assert!(
        out.contains("instance 0: 5") && out.contains("instance 1: 5"),
        "{out}"
    );
    // Only loopback is allowed: a caller from another address (a second loopback
    // address is not in 127.0.0.0/8's complement, so reload with a narrower ACL).
    let narrow = table.replace("127.0.0.0/8", "127.0.0.2/32");
    d.replace_config(&reverse(2, "", &narrow));
    poll(
        "the narrower ACL",
        || {
            let out = d.cli(&[
                "reverse-client",
                "--address",
                &format!("tcp:127.0.0.1:{port}"),
                "hi",
            ]);
            (!out.status.success()).then_some(())
        },
        || d.log(),
    );
    assert!(endpoint(&d).refused >= 1);
}

/// The first of `n` consecutive ports free now, below the kernel's ephemeral range (so
/// no outgoing connection holds one of them).
fn free_port_range(n: u16) -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id();
    for attempt in 0..200u32 {
        let first = 20_000 + ((seed.wrapping_add(attempt * 7919)) % 10_000) as u16;
        if (0..n).all(|k| std::net::TcpListener::bind(("127.0.0.1", first + k)).is_ok()) {
            return first;
        }
    }
    panic!("no {n} consecutive free ports");
}

#[test]
fn a_reload_moves_the_endpoint_without_touching_the_instances() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start(&reverse(2, "", unix_listen()));
    all_running(&d, 2);
    let before = pids(&d);
    let moved = "listen = \"unix:{dir}/moved.sock\"\nsocket_mode = \"0600\"";
    d.replace_config(&reverse(2, "", moved));
    let path = d.path("moved.sock");
    poll(
        "the endpoint to move",
        || path.exists().then_some(()),
        || d.log(),
    );
    assert!(ask(&path, "moved").unwrap().starts_with("devom (instance "));
    assert!(!front(&d).exists(), "the old socket is gone");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A new mode alone is applied to the socket file in place.
    d.replace_config(&reverse(2, "", &moved.replace("0600", "0660")));
    poll(
        "the new mode",
        || {
            let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
            (mode == 0o660).then_some(())
        },
        || d.log(),
    );
    // An address that cannot be bound now (taken) leaves the endpoint where it was, with
    // the rest of the new settings.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    d.replace_config(&reverse(
        2,
        "",
        &format!("listen = \"tcp:127.0.0.1:{port}\"\nbalance = \"random\""),
    ));
    poll(
        "the failed move to be logged",
        || d.log().contains("the endpoint stays on").then_some(()),
        || d.log(),
    );
    assert!(ask(&path, "still").unwrap().starts_with("llits (instance "));
    let e = endpoint(&d);
    assert_eq!(e.listen, format!("unix:{}", path.display()));
    assert_eq!(e.balance, "random");
    assert_eq!(pids(&d), before, "no instance was restarted");
}
