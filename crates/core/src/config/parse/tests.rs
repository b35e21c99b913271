//! The parser against config texts: values, defaults, and every kind of error with its
//! exact position.

use super::*;
use crate::config::ProcessSpec;
pub(super) use support::*;

pub(super) mod support {
    use super::*;

    /// (line, column, message, help) of every problem, in order.
    pub(crate) fn problems(src: &str) -> Vec<(usize, usize, String, Option<String>)> {
        match parse("/etc/steward/steward.toml", src) {
            Ok(c) => panic!("expected problems, got {c:#?}"),
            Err(Diagnostics(ds)) => ds
                .into_iter()
                .map(|d| (d.line, d.column, d.message, d.help))
                .collect(),
        }
    }

    /// The single problem in `src`.
    pub(crate) fn problem(src: &str) -> (usize, usize, String, Option<String>) {
        let mut ps = problems(src);
        assert_eq!(ps.len(), 1, "{ps:#?}");
        ps.remove(0)
    }

    pub(crate) fn ok(src: &str) -> Config {
        match parse("/etc/steward/steward.toml", src) {
            Ok(c) => c,
            Err(d) => panic!("{d}"),
        }
    }

    pub(crate) fn service(src: &str) -> ServiceSpec {
        let mut c = ok(src);
        assert_eq!(c.services.len(), 1);
        c.services.pop_first().unwrap().1
    }

    pub(crate) fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }
}

const FULL: &str = r#"
[supervisor]
state_dir = "state"
on_config_change = "ignore"
journal_max_age = "7d"
journal_max_events = 5000

[control]
socket = "/run/steward/s.sock"

[service.reverse]
command = ["reverse-service", "--port", "7000"]
env = { RUST_LOG = "info", "A.B" = "x=y" }
env_file = "reverse.env"
working_dir = "/srv/reverse"
user = "reverse"
group = "reverse"
supplementary_groups = ["audio", "video"]
instances = 3
restart = "always"
failure_flag = true
success_exit_codes = [2, 143]
recovery = [
  { action = "restart", delay = "0s" },
  { action = "restart", delay = "5s" },
  { action = "run", command = ["page-oncall", "reverse"], delay = "1m" },
  { action = "none" },
]
reset_failures_after = "2h"
backoff = { initial = "250ms", max = "1m", multiplier = 1.5, jitter = 0.25, reset_after = "30s" }
max_failures = 5
on_give_up = "exit"
stop_signal = "SIGINT"
stop_timeout = "1m30s"

[service.db]
command = ["postgres"]
on_give_up = { action = "run", command = ["page", "db"] }
stop_signal = 3
"#;

#[test]
fn full_example_resolves_every_field() {
    let c = ok(FULL);
    assert_eq!(
        c.supervisor.state_dir,
        Some(PathBuf::from("/etc/steward/state"))
    );
    assert_eq!(c.supervisor.on_config_change, OnConfigChange::Ignore);
    assert_eq!(
        c.supervisor.journal.max_age,
        Duration::from_secs(7 * 86_400)
    );
    assert_eq!(c.supervisor.journal.max_events, 5000);
    assert_eq!(c.control.socket, Some(PathBuf::from("/run/steward/s.sock")));
    assert_eq!(c.services.keys().collect::<Vec<_>>(), ["db", "reverse"]);

    let s = &c.services["reverse"];
    let expected = ServiceSpec {
        name: "reverse".into(),
        process: ProcessSpec {
            command: strings(&["reverse-service", "--port", "7000"]),
            env: [("RUST_LOG", "info"), ("A.B", "x=y")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            env_file: Some("/etc/steward/reverse.env".into()),
            working_dir: Some("/srv/reverse".into()),
            user: Some("reverse".into()),
            group: Some("reverse".into()),
            supplementary_groups: Some(strings(&["audio", "video"])),
            ..ProcessSpec::default()
        },
        instances: 3,
        restart: RestartPolicy::Always,
        failure_flag: true,
        success_exit_codes: vec![2, 143],
        recovery: vec![
            RecoveryAction::Restart {
                delay: Duration::ZERO,
            },
            RecoveryAction::Restart {
                delay: Duration::from_secs(5),
            },
            RecoveryAction::Run {
                command: strings(&["page-oncall", "reverse"]),
                delay: Duration::from_secs(60),
            },
            RecoveryAction::None,
        ],
        reset_failures_after: Duration::from_secs(7200),
        backoff: Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(60),
            multiplier: 1.5,
            jitter: 0.25,
            reset_after: Duration::from_secs(30),
        },
        max_failures: Some(5),
        on_give_up: GiveUp::Exit,
        stop_signal: Signal::INT,
        stop_timeout: Duration::from_secs(90),
        ..ServiceSpec::with_defaults("reverse", Vec::new())
    };
    assert_eq!(s, &expected);

    let db = &c.services["db"];
    assert_eq!(
        db.on_give_up,
        GiveUp::Run {
            command: strings(&["page", "db"])
        }
    );
    assert_eq!(db.stop_signal.name(), "QUIT");
}

#[test]
fn defaults_apply() {
    let s = service("[service.web]\ncommand = [\"web\"]\n");
    assert_eq!(s, ServiceSpec::with_defaults("web", strings(&["web"])));
    let c = ok("[service.web]\ncommand = [\"web\"]\n");
    assert_eq!(c.supervisor, SupervisorSpec::default());
    assert_eq!(c.control, ControlSpec::default());
}

#[test]
fn partial_backoff_keeps_the_other_defaults() {
    let s = service("[service.web]\ncommand = [\"web\"]\nbackoff.max = \"0s\"\n");
    assert_eq!(
        s.backoff,
        Backoff {
            max: Duration::ZERO,
            ..Backoff::default()
        }
    );
    let s = service("[service.web]\ncommand = [\"w\"]\n[service.web.backoff]\nmultiplier = 3\n");
    assert_eq!(
        s.backoff,
        Backoff {
            multiplier: 3.0,
            ..Backoff::default()
        }
    );
}

#[test]
fn empty_file_is_a_valid_config_without_services() {
    for src in ["", "\n# nothing yet\n", "[service]\n"] {
        let c = ok(src);
        assert!(c.services.is_empty());
        assert_eq!(c.supervisor, SupervisorSpec::default());
    }
}

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let src = "[supervisor]\nstate_dir = \"st\"\n[control]\nsocket = \"../s.sock\"\n\
               [service.a]\ncommand = [\"a\"]\nworking_dir = \"work\"\nenv_file = \"/abs/a.env\"\n";
    let c = parse("conf/steward.toml", src).unwrap();
    assert_eq!(c.supervisor.state_dir, Some(PathBuf::from("conf/st")));
    assert_eq!(c.control.socket, Some(PathBuf::from("conf/../s.sock")));
    assert_eq!(
        c.services["a"].process.working_dir,
        Some(PathBuf::from("conf/work"))
    );
    assert_eq!(
        c.services["a"].process.env_file,
        Some(PathBuf::from("/abs/a.env"))
    );
    // A bare file name: relative to the current directory, which is its directory.
    let c = parse("steward.toml", src).unwrap();
    assert_eq!(c.supervisor.state_dir, Some(PathBuf::from("st")));
}

#[test]
fn on_give_up_forms() {
    let base = "[service.a]\ncommand = [\"a\"]\n";
    for (text, expected) in [
        ("\"stay\"", GiveUp::Stay),
        ("\"exit\"", GiveUp::Exit),
        ("{ action = \"stay\" }", GiveUp::Stay),
        ("{ action = \"exit\" }", GiveUp::Exit),
        (
            "{ action = \"run\", command = [\"x\"] }",
            GiveUp::Run {
                command: strings(&["x"]),
            },
        ),
    ] {
        let s = service(&format!("{base}on_give_up = {text}\n"));
        assert_eq!(s.on_give_up, expected, "{text}");
    }
}

#[test]
fn stop_signal_forms() {
    let base = "[service.a]\ncommand = [\"a\"]\n";
    for (text, n) in [
        ("\"TERM\"", 15),
        ("\"sigkill\"", 9),
        ("\"10\"", 10),
        ("1", 1),
    ] {
        let s = service(&format!("{base}stop_signal = {text}\n"));
        assert_eq!(s.stop_signal.number(), n, "{text}");
    }
    let p = problem(&format!("{base}stop_signal = \"STOP\"\n"));
    assert_eq!((p.0, p.1), (3, 15));
    assert!(p.2.contains("cannot be SIGSTOP"), "{p:?}");
    let p = problem(&format!("{base}stop_signal = 18\n"));
    assert!(p.2.contains("cannot be SIGCONT"), "{p:?}");
    let p = problem(&format!("{base}stop_signal = 0\n"));
    assert_eq!(p.2, "`stop_signal` 0 is not a signal number");
    let p = problem(&format!("{base}stop_signal = \"TERMINATE\"\n"));
    assert_eq!(p.2, "`stop_signal` \"TERMINATE\" is not a signal");
}

#[test]
fn integers_accept_toml_forms() {
    let s = service("[service.a]\ncommand = [\"a\"]\ninstances = 1_000\nmax_failures = 0x10\n");
    assert_eq!((s.instances, s.max_failures), (1000, Some(16)));
    let s = service("[service.a]\ncommand = [\"a\"]\ninstances = 0\n");
    assert_eq!(s.instances, 0);
}

// ---- errors ----

#[test]
fn unknown_key_points_at_the_key_with_a_suggestion() {
    let p = problem("[service.web]\ncommand = [\"x\"]\nrestrat = \"always\"\n");
    assert_eq!((p.0, p.1), (3, 1));
    assert_eq!(p.2, "unknown key `restrat` in `[service.web]`");
    assert_eq!(p.3.as_deref(), Some("did you mean `restart`?"));

    let p = problem("[service.web]\ncommand = [\"x\"]\n  zzz = 1\n");
    assert_eq!((p.0, p.1), (3, 3));
    assert!(
        p.3.unwrap()
            .starts_with("the keys allowed in `[service.web]` are `command`")
    );

    let p = problem("[supervisor]\nstate_dri = \"/x\"\n");
    assert_eq!(
        (p.0, p.1, p.3.as_deref()),
        (2, 1, Some("did you mean `state_dir`?"))
    );

    let p = problem("[service.a]\ncommand = [\"a\"]\nbackoff = { initail = \"1s\" }\n");
    assert_eq!((p.0, p.1), (3, 13));
    assert_eq!(p.2, "unknown key `initail` in `backoff`");
    assert_eq!(p.3.as_deref(), Some("did you mean `initial`?"));
}

#[test]
fn unknown_top_level_tables() {
    let p = problem("[servce.web]\ncommand = [\"x\"]\n");
    assert_eq!((p.0, p.1), (1, 2));
    assert_eq!(p.2, "unknown table `[servce]`");
    assert_eq!(p.3.as_deref(), Some("did you mean `service`?"));

    let p = problem("\n[[tasks]]\nname = \"x\"\n");
    assert_eq!((p.0, p.1), (2, 3));
    assert_eq!(p.2, "unknown key `tasks`");
    assert_eq!(p.3.as_deref(), Some("did you mean `task`?"));

    let p = problem("\n[[job]]\nname = \"x\"\n");
    assert_eq!((p.0, p.1), (2, 3));
    assert_eq!(p.2, "unknown key `job`");
    assert!(p.3.unwrap().contains("`[service.NAME]` and `[[task]]`"));

    let p = problem("[supervisr]\n");
    assert_eq!(p.3.as_deref(), Some("did you mean `supervisor`?"));
}

#[test]
fn wrong_types_say_expected_and_found() {
    let p = problem("[service.a]\ncommand = [\"a\"]\ninstances = \"3\"\n");
    assert_eq!((p.0, p.1), (3, 13));
    assert_eq!(p.2, "`instances` must be an integer, found a string");
    assert_eq!(p.3.as_deref(), Some("remove the quotes: `3`"));

    let p = problem("[service.a]\ncommand = [\"a\"]\nfailure_flag = \"yes\"\n");
    assert_eq!(
        p.2,
        "`failure_flag` must be a boolean (`true` or `false`), found a string"
    );

    let p = problem("[service.a]\ncommand = [\"a\"]\nuser = 0\n");
    assert_eq!(
        (p.0, p.1, p.2.as_str()),
        (3, 8, "`user` must be a string, found an integer")
    );

    let p = problem("[service.a]\ncommand = [\"a\"]\nenv = { PORT = 8080 }\n");
    assert_eq!((p.0, p.1), (3, 16));
    assert_eq!(p.2, "`env.PORT` must be a string, found an integer");
    assert_eq!(p.3.as_deref(), Some("quote it: `PORT = \"8080\"`"));

    let p = problem("service = 3\n");
    assert_eq!(
        p.2,
        "`service` must be a table of services, found an integer"
    );

    let p = problem("[service]\nweb = \"x\"\n");
    assert_eq!((p.0, p.1), (2, 7));
    assert_eq!(p.2, "`service.web` must be a table, found a string");
}

#[test]
fn command_errors() {
    let p = problem("[service.a]\ncommand = \"python3 -m http.server\"\n");
    assert_eq!((p.0, p.1), (2, 11));
    assert_eq!(
        p.2,
        "`command` must be an array of strings (the argv), found a string"
    );
    let help = p.3.unwrap();
    assert!(
        help.contains(r#"`command = ["python3", "-m", "http.server"]`"#),
        "{help}"
    );
    assert!(help.contains(r#"["sh", "-c", "...""#), "{help}");

    let p = problem("[service.a]\ncommand = \"a | b\"\n");
    assert!(p.3.unwrap().contains(r#"command = ["prog", "arg"]"#));

    let p = problem("[service.a]\ncommand = []\n");
    assert_eq!((p.0, p.1), (2, 11));
    assert!(p.2.starts_with("`command` cannot be empty"));

    let p = problem("[service.a]\ncommand = [\"\", \"x\"]\n");
    assert_eq!((p.0, p.1), (2, 12));
    assert_eq!(p.2, "the program to run (`command[0]`) cannot be empty");

    let p = problem("[service.a]\ncommand = [\"a\", 1]\n");
    assert_eq!((p.0, p.1), (2, 17));
    assert_eq!(p.2, "`command[1]` must be a string, found an integer");

    let p = problem("[service.a]\nuser = \"a\"\n");
    assert_eq!((p.0, p.1), (1, 10));
    assert_eq!(p.2, "service `a` has no `command`");
}

#[test]
fn service_names() {
    let p = problem("[service.\"web:1\"]\ncommand = [\"a\"]\n");
    assert_eq!((p.0, p.1), (1, 10));
    assert!(p.2.contains("contains `:`"), "{p:?}");
    assert!(p.2.contains("NAME:INSTANCE"), "{p:?}");
    for bad in [
        "\"-web\"",
        "\"a b\"",
        "\"\"",
        &format!("\"{}\"", "a".repeat(65)),
    ] {
        let p = problem(&format!("[service.{bad}]\ncommand = [\"a\"]\n"));
        assert_eq!(p.3.as_deref(), Some(NAME_HELP), "{bad}");
    }
    let p = problem("[service.api]\ncommand = [\"a\"]\n[service.api.v2]\n");
    assert_eq!((p.0, p.1), (3, 14));
    assert_eq!(p.2, "unknown table `v2` in `[service.api]`");
    assert!(p.3.unwrap().contains(r#"`[service."api.v2"]`"#));
    let long = "a".repeat(64);
    ok(&format!(
        "[service.{long}]\ncommand = [\"a\"]\n[service.\"A-b_c.9\"]\ncommand = [\"a\"]\n"
    ));
}

#[test]
fn enum_values_suggest_the_closest() {
    let p = problem("[service.a]\ncommand = [\"a\"]\nrestart = \"on_failure\"\n");
    assert_eq!((p.0, p.1), (3, 11));
    assert_eq!(
        p.2,
        "`restart` must be \"always\", \"on-failure\" or \"never\", found \"on_failure\""
    );
    assert_eq!(p.3.as_deref(), Some("did you mean \"on-failure\"?"));

    let p = problem("[supervisor]\non_config_change = true\n");
    assert_eq!(
        p.2,
        "`on_config_change` must be a string, \"reload\" or \"ignore\", found a boolean"
    );
}

#[test]
fn ranges() {
    let base = "[service.a]\ncommand = [\"a\"]\n";
    let p = problem(&format!("{base}instances = 10001\n"));
    assert_eq!(p.2, "`instances` must be between 0 and 10000, found 10001");
    let p = problem(&format!("{base}instances = -1\n"));
    assert_eq!(p.2, "`instances` must be between 0 and 10000, found -1");
    let p = problem(&format!("{base}max_failures = 0\n"));
    assert_eq!(p.2, "`max_failures` must be at least 1, found 0");
    let p = problem(&format!("{base}success_exit_codes = [1, 256]\n"));
    assert_eq!((p.0, p.1), (3, 26));
    assert_eq!(
        p.2,
        "`success_exit_codes[1]` must be between 0 and 255, found 256"
    );
    let p = problem(&format!("{base}backoff = {{ multiplier = 0.5 }}\n"));
    assert_eq!(p.2, "`backoff.multiplier` must be at least 1.0, found 0.5");
    let p = problem(&format!("{base}backoff = {{ jitter = 2 }}\n"));
    assert!(p.2.starts_with("`backoff.jitter` must be between 0.0 and 1.0"));
    let p = problem(&format!("{base}backoff = {{ jitter = nan }}\n"));
    assert_eq!(p.2, "`backoff.jitter` must be a finite number");
}

#[test]
fn durations_point_inside_the_string() {
    let base = "[service.a]\ncommand = [\"a\"]\n";
    let p = problem(&format!("{base}stop_timeout = \"10y\"\n"));
    assert_eq!((p.0, p.1), (3, 19));
    assert_eq!(
        p.2,
        "invalid duration for `stop_timeout`: unknown unit `y`; use one of ns, us, ms, s, m, h, d"
    );
    let p = problem(&format!("{base}reset_failures_after = '1h 5'\n"));
    assert_eq!((p.0, p.1), (3, 27));

    let p = problem(&format!("{base}stop_timeout = 10\n"));
    assert_eq!((p.0, p.1), (3, 16));
    assert_eq!(
        p.2,
        "`stop_timeout` must be a duration string, found an integer"
    );
    assert_eq!(
        p.3.as_deref(),
        Some("write it as a string with a unit, e.g. \"10s\"")
    );

    // With escapes the offsets do not map; the whole value is shown.
    let p = problem(&format!("{base}stop_timeout = \"\\u0031x\"\n"));
    assert_eq!((p.0, p.1), (3, 16));
}

#[test]
fn recovery_errors() {
    let base = "[service.a]\ncommand = [\"a\"]\n";
    let p = problem(&format!("{base}recovery = [{{ action = \"run\" }}]\n"));
    assert_eq!((p.0, p.1), (3, 13));
    assert_eq!(p.2, "`recovery[0]` has `action = \"run\"` but no `command`");

    let p = problem(&format!(
        "{base}recovery = [{{ action = \"restart\", command = [\"x\"] }}]\n"
    ));
    assert_eq!((p.0, p.1), (3, 35));
    assert!(
        p.2.starts_with("`command` is only used with `action = \"run\"`"),
        "{p:?}"
    );

    let p = problem(&format!("{base}recovery = [{{ delay = \"1s\" }}]\n"));
    assert_eq!(
        p.2,
        "`recovery[0]` has no `action` (one of \"restart\", \"run\" or \"none\")"
    );

    let p = problem(&format!(
        "{base}recovery = [{{ action = \"restart\", dealy = \"1s\" }}]\n"
    ));
    assert_eq!((p.0, p.1), (3, 35));
    assert_eq!(p.3.as_deref(), Some("did you mean `delay`?"));

    let p = problem(&format!("{base}recovery = []\n"));
    assert_eq!(p.2, "`recovery` needs at least one action");

    let many = vec!["{ action = \"none\" }"; 17].join(", ");
    let p = problem(&format!("{base}recovery = [{many}]\n"));
    assert!(
        p.2.starts_with("`recovery` has 17 actions; at most 16"),
        "{p:?}"
    );

    let p = problem(&format!("{base}recovery = {{ action = \"restart\" }}\n"));
    assert_eq!(
        p.3.as_deref(),
        Some("wrap it in a list: `recovery = [{ action = \"restart\" }]`")
    );

    let p = problem(&format!(
        "{base}recovery = [{{ action = \"none\", delay = \"1s\" }}]\n"
    ));
    assert!(p.2.starts_with("`delay` means nothing"), "{p:?}");

    // Array-of-tables syntax works too.
    let s = service(&format!(
        "{base}[[service.a.recovery]]\naction = \"restart\"\ndelay = \"2s\"\n"
    ));
    assert_eq!(
        s.recovery,
        vec![RecoveryAction::Restart {
            delay: Duration::from_secs(2)
        }]
    );
}

#[test]
fn on_give_up_errors() {
    let base = "[service.a]\ncommand = [\"a\"]\n";
    let p = problem(&format!("{base}on_give_up = \"run\"\n"));
    assert_eq!((p.0, p.1), (3, 14));
    let help = p.3.unwrap();
    assert!(
        help.contains("{ action = \"run\", command = [\"page-oncall\"] }"),
        "{help}"
    );

    let p = problem(&format!(
        "{base}on_give_up = {{ action = \"exit\", command = [\"x\"] }}\n"
    ));
    assert!(p.2.starts_with("`command` is only used with"), "{p:?}");

    let p = problem(&format!("{base}on_give_up = \"exti\"\n"));
    assert_eq!(p.3.as_deref(), Some("did you mean \"exit\"?"));

    let p = problem(&format!(
        "{base}on_give_up = {{ action = \"run\", command = [\"x\"], delay = \"1s\" }}\n"
    ));
    assert_eq!(p.2, "unknown key `delay` in `on_give_up`");
}

#[test]
fn env_names() {
    let ps = problems("[service.a]\ncommand = [\"a\"]\nenv = { \"A=B\" = \"x\", \"\" = \"y\" }\n");
    let at: Vec<(usize, usize, &str)> = ps.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
    assert_eq!(
        at,
        [
            (3, 9, "an environment variable name cannot contain `=`"),
            (3, 22, "an environment variable name cannot be empty"),
        ]
    );
    let s = service("[service.a]\ncommand = [\"a\"]\n[service.a.env]\nA_1 = \"\"\nlower = \"x\"\n");
    assert_eq!(s.process.env.len(), 2);
}

#[test]
fn every_problem_is_reported_in_order() {
    let src = r#"[service.web]
command = "web --port 80"
instances = "two"
restrat = "always"
stop_timeout = 5

[servce.db]
command = ["db"]

[service."bad name"]
stop_signal = "STOP"
"#;
    let ps = problems(src);
    let at: Vec<(usize, usize)> = ps.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(
        at,
        [
            (2, 11),
            (3, 13),
            (4, 1),
            (5, 16),
            (7, 2),
            (10, 10),
            (10, 10),
            (11, 15)
        ]
    );
    assert!(ps[4].2.contains("servce"));
    assert!(ps[5].2.contains("invalid service name `bad name`") || ps[6].2.contains("bad name"));
}

#[test]
fn syntax_errors_have_a_position() {
    let ps = problems("[service.a]\ncommand = [\"a\"]\nx = = 3\n");
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!((ps[0].0, ps[0].1), (3, 5));

    let ps = problems("[service.a]\ncommand = [\"a\"]\ncommand = [\"b\"]\n");
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!((ps[0].0, ps[0].1), (3, 1));
    assert!(ps[0].2.contains("duplicate key"), "{ps:#?}");
}

#[test]
fn syntax_and_semantic_errors_together() {
    let src = "[service.a]\ncommand = [\"a\"]\nx = = 3\n\n[service.b]\ncommand = [\"b\"]\ninstances = -4\n";
    let ps = problems(src);
    let at: Vec<(usize, usize)> = ps.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(at, [(3, 5), (7, 13)], "{ps:#?}");

    // A key the parser dropped is not also reported missing; other services still are.
    let src = "[service.a]\ncommand = = [\"a\"]\n\n[service.b]\nuser = \"b\"\n";
    let ps = problems(src);
    let at: Vec<(usize, usize)> = ps.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(at, [(2, 11), (4, 10)], "{ps:#?}");
    assert_eq!(ps[1].2, "service `b` has no `command`");
}

#[test]
fn unclosed_array_is_one_problem_per_line() {
    let ps = problems("[service.a]\ncommand = [\"a\"\nrestart = \"never\"\nuser = \"x\"\n");
    let lines: Vec<usize> = ps.iter().map(|p| p.0).collect();
    let mut dedup = lines.clone();
    dedup.dedup();
    assert_eq!(lines, dedup, "{ps:#?}");
    assert_eq!((ps[0].0, ps[0].1), (3, 1), "{ps:#?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn durations_round_trip(nanos in 0u64..10_000_000_000_000) {
        let d = Duration::from_nanos(nanos);
        let text = crate::duration::format_duration(d);
        let s = service(&format!("[service.a]\ncommand = [\"a\"]\nstop_timeout = \"{text}\"\n"));
        proptest::prop_assert_eq!(s.stop_timeout, d);
    }
}

mod depends;
mod endpoint;
mod full;
mod log;
mod pause;
mod readiness;
mod runas;
mod tasks;

#[test]
fn journal_retention_is_checked() {
    let c = ok("");
    assert_eq!(c.supervisor.journal.max_events, 100_000);
    assert_eq!(
        c.supervisor.journal.max_age,
        Duration::from_secs(30 * 86_400)
    );
    let (line, col, msg, _) = problem("[supervisor]\njournal_max_events = 0\n");
    assert_eq!((line, col), (2, 22));
    assert!(msg.contains("journal_max_events"), "{msg}");
    let (line, col, msg, _) = problem("[supervisor]\njournal_max_age = \"0s\"\n");
    assert_eq!((line, col), (2, 19));
    assert!(msg.contains("longer than zero"), "{msg}");
}
