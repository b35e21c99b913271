//! `notify`, `ready`, `start_timeout`, the watchdog keys, and the `readiness` and `liveness`
//! probes.

use super::*;

const BASE: &str = "[service.a]\ncommand = [\"a\"]\n";

fn with(line: &str) -> ServiceSpec {
    service(&format!("{BASE}{line}\n"))
}

fn problem_with(line: &str) -> (usize, usize, String, Option<String>) {
    problem(&format!("{BASE}{line}\n"))
}

#[test]
fn defaults() {
    let s = with("");
    assert!(!s.notify);
    assert_eq!(s.ready_fd, None);
    assert_eq!(s.start_timeout, Duration::from_secs(90));
    assert_eq!(s.watchdog, None);
    assert_eq!(s.watchdog_signal, Signal::ABRT);
    assert_eq!((s.readiness.as_ref(), s.liveness.as_ref()), (None, None));
    assert!(!s.waits_for_readiness());
}

#[test]
fn readiness_keys() {
    let s = with(
        "notify = true\nstart_timeout = \"2m\"\nwatchdog = \"30s\"\nwatchdog_signal = \"KILL\"",
    );
    assert!(s.notify);
    assert_eq!(s.start_timeout, Duration::from_secs(120));
    assert_eq!(s.watchdog, Some(Duration::from_secs(30)));
    assert_eq!(s.watchdog_signal, Signal::KILL);
    assert!(s.waits_for_readiness());
    assert_eq!(with("ready = \"fd:3\"").ready_fd, Some(3));
    assert_eq!(with("ready = \"fd:255\"").ready_fd, Some(255));
    assert_eq!(with("watchdog_signal = 15").watchdog_signal, Signal::TERM);
}

#[test]
fn ready_errors() {
    let p = problem_with("ready = \"fd:1\"");
    assert_eq!((p.0, p.1), (3, 13));
    assert_eq!(
        p.2,
        "`ready` cannot use file descriptor 1: 0, 1 and 2 are the program's stdin, stdout and \
         stderr"
    );
    assert_eq!(p.3.as_deref(), Some("e.g. `ready = \"fd:3\"`"));

    let p = problem_with("ready = \"fd:256\"");
    assert_eq!((p.0, p.1), (3, 13));
    assert_eq!(
        p.2,
        "`ready` must name a file descriptor from 3 to 255, found 256"
    );

    for bad in [
        "\"3\"",
        "\"fd:\"",
        "\"fd:-3\"",
        "\"fd: 3\"",
        "\"FD:3\"",
        "\"stdout\"",
    ] {
        let p = problem_with(&format!("ready = {bad}"));
        assert_eq!((p.0, p.1), (3, 9), "{bad}");
        assert!(p.2.starts_with("`ready` must be \"fd:N\""), "{bad}: {p:?}");
        assert_eq!(p.3.as_deref(), Some("e.g. `ready = \"fd:3\"`"), "{bad}");
    }

    let p = problem_with("ready = 3");
    assert_eq!((p.0, p.1), (3, 9));
    assert_eq!(p.2, "`ready` must be a string \"fd:N\", found an integer");
    assert_eq!(
        p.3.as_deref(),
        Some("write it as a string: `ready = \"fd:3\"`")
    );

    let p = problem_with("ready = true");
    assert_eq!(p.3.as_deref(), Some("e.g. `ready = \"fd:3\"`"));
}

#[test]
fn watchdog_needs_notify() {
    let p = problem_with("watchdog = \"5s\"");
    assert_eq!((p.0, p.1), (3, 1));
    assert!(p.2.starts_with("`watchdog` needs `notify = true`"), "{p:?}");
}

#[test]
fn watchdog_errors() {
    let p = problem_with("watchdog = \"0s\"");
    assert_eq!((p.0, p.1), (3, 12));
    assert_eq!(p.2, "`watchdog` must be longer than zero");
    assert_eq!(
        p.3.as_deref(),
        Some("leave `watchdog` out to run without a watchdog")
    );

    let p = problem_with("start_timeout = \"0\"");
    assert_eq!((p.0, p.1), (3, 17));
    assert_eq!(p.2, "`start_timeout` must be longer than zero");

    let p = problem_with("watchdog = \"5x\"");
    assert_eq!((p.0, p.1), (3, 14));
    assert!(p.2.starts_with("invalid duration for `watchdog`"), "{p:?}");

    let p = problem_with("watchdog_signal = \"STOP\"");
    assert_eq!((p.0, p.1), (3, 19));
    assert_eq!(
        p.2,
        "`watchdog_signal` cannot be SIGSTOP: it pauses the process instead of ending it"
    );
    assert!(p.3.unwrap().contains("\"ABRT\" (the default"));

    let p = problem_with("watchdog_signal = \"CONT\"");
    assert_eq!(
        p.2,
        "`watchdog_signal` cannot be SIGCONT: it resumes the process instead of ending it"
    );

    let p = problem_with("watchdog_signal = \"ABORT\"");
    assert_eq!(p.2, "`watchdog_signal` \"ABORT\" is not a signal");

    let p = problem_with("notify = \"yes\"");
    assert_eq!((p.0, p.1), (3, 10));
    assert_eq!(
        p.2,
        "`notify` must be a boolean (`true` or `false`), found a string"
    );
}

#[test]
fn probe_checks_and_defaults() {
    let s = with("readiness = { tcp = \"127.0.0.1:8080\" }");
    let r = s.readiness.unwrap();
    assert_eq!(
        r,
        Probe::new(ProbeCheck::Tcp {
            address: "127.0.0.1:8080".into()
        })
    );
    assert_eq!(
        (
            r.initial_delay,
            r.interval,
            r.timeout,
            r.failures,
            r.successes
        ),
        (
            Duration::ZERO,
            Duration::from_secs(10),
            Duration::from_secs(1),
            3,
            1
        )
    );
    assert_eq!(s.liveness, None);

    let s = with("liveness = { exec = [\"check\", \"--quick\"] }");
    assert_eq!(
        s.liveness.unwrap().check,
        ProbeCheck::Exec {
            command: strings(&["check", "--quick"])
        }
    );

    let s = with(
        "readiness = { http = \"http://[::1]:8080/health\", initial_delay = \"2s\", \
         interval = \"500ms\", timeout = \"250ms\", failures = 5, successes = 2 }",
    );
    assert_eq!(
        s.readiness.unwrap(),
        Probe {
            check: ProbeCheck::Http {
                url: "http://[::1]:8080/health".into()
            },
            initial_delay: Duration::from_secs(2),
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(250),
            failures: 5,
            successes: 2,
        }
    );

    // As a table of its own.
    let s = service(&format!(
        "{BASE}[service.a.liveness]\ntcp = \"[::1]:5432\"\nfailures = 100\n"
    ));
    let l = s.liveness.unwrap();
    assert_eq!(
        l.check,
        ProbeCheck::Tcp {
            address: "[::1]:5432".into()
        }
    );
    assert_eq!(l.failures, 100);
}

#[test]
fn probe_needs_exactly_one_check() {
    let p = problem_with("readiness = { interval = \"1s\" }");
    assert_eq!((p.0, p.1), (3, 13));
    assert_eq!(
        p.2,
        "`readiness` has nothing to check: it needs one of `exec`, `tcp` or `http`"
    );
    assert_eq!(
        p.3.as_deref(),
        Some("e.g. `readiness = { tcp = \"127.0.0.1:8080\", interval = \"5s\" }`")
    );

    // The second check in the file is the one pointed at, whatever the key order.
    let p = problem_with("liveness = { tcp = \"h:1\", exec = [\"x\"] }");
    assert_eq!((p.0, p.1), (3, 27));
    assert_eq!(
        p.2,
        "`liveness` has both `tcp` and `exec`: a probe has exactly one check, `exec`, `tcp` or \
         `http`"
    );
    assert!(p.3.unwrap().starts_with("keep one"));

    let p = problem_with("liveness = \"tcp:h:1\"");
    assert_eq!((p.0, p.1), (3, 12));
    assert_eq!(p.2, "`liveness` must be a table, found a string");
}

#[test]
fn probe_value_errors() {
    let p = problem_with("readiness = { tcp = \"localhost\" }");
    assert_eq!((p.0, p.1), (3, 21));
    assert_eq!(
        p.2,
        "invalid `readiness.tcp` \"localhost\": it needs a port: write \"host:port\""
    );
    assert!(p.3.unwrap().contains("\"[::1]:8080\""));

    let p = problem_with("readiness = { tcp = \"::1:80\" }");
    assert_eq!(
        p.2,
        "invalid `readiness.tcp` \"::1:80\": write an IPv6 address in brackets: \"[::1]:80\""
    );

    let p = problem_with("readiness = { tcp = \"db:70000\" }");
    assert_eq!(
        p.2,
        "invalid `readiness.tcp` \"db:70000\": the port `70000` is not a number from 1 to 65535"
    );

    let p = problem_with("readiness = { http = \"https://x/health\" }");
    assert_eq!((p.0, p.1), (3, 22));
    assert_eq!(
        p.2,
        "invalid `readiness.http` \"https://x/health\": https is not supported yet; use an \
         http:// URL"
    );
    assert_eq!(
        p.3.as_deref(),
        Some("e.g. \"http://127.0.0.1:8080/health\"")
    );

    let p = problem_with("readiness = { http = \"localhost:8080/health\" }");
    assert!(p.2.ends_with("it must start with `http://`"), "{p:?}");
    let p = problem_with("readiness = { http = \"http:///health\" }");
    assert!(p.2.ends_with("the host is missing"), "{p:?}");

    let p = problem_with("readiness = { exec = [] }");
    assert_eq!((p.0, p.1), (3, 22));
    assert!(p.2.starts_with("`readiness.exec` cannot be empty"), "{p:?}");
    let p = problem_with("readiness = { exec = \"check\" }");
    assert_eq!(
        p.2,
        "`readiness.exec` must be an array of strings (the argv), found a string"
    );

    let p = problem_with("readiness = { tcp = \"h:1\", interval = \"0s\" }");
    assert_eq!((p.0, p.1), (3, 39));
    assert_eq!(p.2, "`readiness.interval` must be longer than zero");
    let p = problem_with("readiness = { tcp = \"h:1\", timeout = \"0s\" }");
    assert_eq!(p.2, "`readiness.timeout` must be longer than zero");
    let p = problem_with("liveness = { tcp = \"h:1\", failures = 0 }");
    assert_eq!((p.0, p.1), (3, 38));
    assert_eq!(
        p.2,
        "`liveness.failures` must be between 1 and 100, found 0"
    );
    let p = problem_with("liveness = { tcp = \"h:1\", successes = 101 }");
    assert_eq!(
        p.2,
        "`liveness.successes` must be between 1 and 100, found 101"
    );
    let p = problem_with("liveness = { tcp = \"h:1\", initial_delay = 5 }");
    assert_eq!(
        p.3.as_deref(),
        Some("write it as a string with a unit, e.g. \"5s\"")
    );
}

#[test]
fn probe_unknown_keys() {
    let p = problem_with("readiness = { tcp = \"h:1\", intervall = \"1s\" }");
    assert_eq!((p.0, p.1), (3, 28));
    assert_eq!(p.2, "unknown key `intervall` in `readiness`");
    assert_eq!(p.3.as_deref(), Some("did you mean `interval`?"));

    let p = problem_with("liveness = { tcp = \"h:1\", zzz = 1 }");
    assert_eq!(p.2, "unknown key `zzz` in `liveness`");
    assert!(
        p.3.unwrap()
            .starts_with("the keys allowed in `liveness` are `exec`, `tcp`")
    );

    // A misspelled check: the check is then missing too.
    let ps = problems(&format!("{BASE}readiness = {{ tpc = \"h:1\" }}\n"));
    let got: Vec<(usize, usize, &str)> = ps.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                3,
                13,
                "`readiness` has nothing to check: it needs one of `exec`, `tcp` or `http`"
            ),
            (3, 15, "unknown key `tpc` in `readiness`"),
        ]
    );
    assert_eq!(ps[1].3.as_deref(), Some("did you mean `tcp`?"));
}

#[test]
fn misspelled_new_keys_are_suggested() {
    for (typo, key) in [
        ("notfy", "notify"),
        ("redy", "ready"),
        ("watchdg", "watchdog"),
        ("readyness", "readiness"),
        ("dependson", "depends_on"),
        ("pause_sigal", "pause_signal"),
    ] {
        let p = problem_with(&format!("{typo} = 1"));
        assert_eq!(p.2, format!("unknown key `{typo}` in `[service.a]`"));
        assert_eq!(p.3, Some(format!("did you mean `{key}`?")), "{typo}");
    }
}
