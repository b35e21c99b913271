//! Reloading the config: only what changed is touched, an invalid file changes nothing.

use steward_proto::{ConfigStatus, ReloadReport, State};

use crate::harness::*;

fn pids(d: &Daemon, service: &str) -> Vec<u32> {
    d.status()
        .into_iter()
        .find(|s| s.name == service)
        .map(|s| s.instances.iter().filter_map(|i| i.pid).collect())
        .unwrap_or_default()
}

/// Waits until every instance of every service is running, and returns the status.
fn all_running(d: &Daemon, what: &str) -> Vec<steward_proto::ServiceStatus> {
    d.wait_for(what, |all| {
        all.iter()
            .all(|s| s.instances.iter().all(|i| i.state == State::Running))
            .then(|| all.to_vec())
    })
}

fn config_status(d: &Daemon) -> ConfigStatus {
    serde_json::from_str(&d.ok(&["config", "--json"])).unwrap()
}

fn reloads_in_log(d: &Daemon) -> usize {
    d.log().matches("reload (file)").count()
}

const TWO: &str = r#"
[service.keep]
command = ["{fixture}"]
instances = 2

[service.change]
command = ["{fixture}", "--env-to", "{dir}/change.env"]
env = { MODE = "one" }
"#;

#[test]
fn a_changed_env_restarts_only_that_service_and_the_rest_keep_their_pids() {
    let d = Daemon::start(TWO);
    all_running(&d, "everything up");
    let keep = pids(&d, "keep");
    let before = pids(&d, "change");
    wait_record(&d.path("change.env"), "the first env", |_| true);
    d.write_config(&TWO.replace("\"one\"", "\"two\""));
    let after = d.wait_for("change to restart", |all| {
        let s = all.iter().find(|s| s.name == "change")?;
        let i = &s.instances[0];
        (i.state == State::Running && i.pid.is_some() && i.pid != before.first().copied())
            .then_some(i.pid)
    });
    poll(
        "the new env",
        || {
            std::fs::read_to_string(d.path("change.env"))
                .ok()
                .filter(|t| t.contains("MODE=two"))
        },
        || d.log(),
    );
    assert_eq!(
        pids(&d, "keep"),
        keep,
        "the unchanged service kept its processes"
    );
    assert!(after.is_some());
    wait_gone(&before, "the old process of the changed service");

    let c = config_status(&d);
    let last = c.last_reload.expect("a reload happened");
    assert_eq!(last.outcome, "applied");
    assert_eq!(last.trigger, "file");
    assert_eq!(last.summary, vec!["restarted change (env): restart 0"]);
    assert_eq!((last.plan.len(), last.unchanged), (1, 1));
    assert_eq!(c.sha256, sha256_of(&d.config));
    assert!(c.source.contains("MODE = \"two\""));
    assert!(c.watching);
}

fn sha256_of(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_paused_service_that_changes_comes_back_paused() {
    let config = r#"
[service.p]
command = ["{fixture}", "--busy", "--record", "{dir}/p.rec"]
"#;
    let d = Daemon::start(config);
    all_running(&d, "p up");
    d.ok(&["pause", "p"]);
    let old = d.instance("p", 0).pid.unwrap();
    d.write_config(&config.replace("p.rec\"]", "p.rec\", \"--print\", \"v2\"]"));
    let i = d.wait_instance("p", 0, "p restarted and paused", |i| {
        i.pid.is_some_and(|p| p != old) && i.state == State::Paused
    });
    wait_gone(&[old], "the old process");
    // Paused for real: the new process is frozen (perhaps before it got far), not merely
    // reported so; continued, it is the new program that runs.
    let new = i.pid.unwrap();
    let ticks = cpu_ticks(new);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(cpu_ticks(new), ticks, "a frozen process uses no CPU");
    d.ok(&["continue", "p"]);
    let rec = wait_record(&d.path("p.rec"), "the new start", |r| {
        r.starts.iter().any(|(pid, _)| *pid == new)
    });
    assert_eq!(rec.starts.len(), 2);
    d.ok(&["pause", "p"]);
    // A change that applies in place leaves it paused, with the same process.
    d.write_config(&format!(
        "{}stop_timeout = \"3s\"\n",
        config.replace("p.rec\"]", "p.rec\", \"--print\", \"v2\"]")
    ));
    d.wait_for("the in-place reload", |_| {
        config_status(&d)
            .last_reload
            .filter(|r| r.summary == vec!["updated p (stop_timeout): update 0"])
    });
    let i = d.instance("p", 0);
    assert_eq!((i.pid, i.state), (Some(new), State::Paused));
}

#[test]
fn an_invalid_file_keeps_the_old_config_running_and_says_where() {
    let d = Daemon::start(TWO);
    let before = all_running(&d, "everything up");
    let sha = config_status(&d).sha256;
    // A syntax error, picked up by the watcher.
    d.write_config(&format!("{TWO}\n[service.broken\ncommand = [\"x\"]\n"));
    let last = d.wait_for("the failed reload", |_| {
        config_status(&d)
            .last_reload
            .filter(|r| r.outcome == "invalid")
    });
    let diag = &last.diagnostics[0];
    assert_eq!(diag.file, d.config.display().to_string());
    assert!(diag.line > 1 && diag.column > 1, "{diag:?}");
    assert!(last.error.unwrap().contains("the running config is kept"));

    // A program that does not exist: `steward reload` exits 2 and names line and column.
    d.write_config(&TWO.replace(
        "[\"{fixture}\", \"--env-to\"",
        "[\"{dir}/no-such-program\", \"--env-to\"",
    ));
    let out = d.cli(&["reload"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&d.config).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("no-such-program"))
        .unwrap()
        + 1;
    let column = text.lines().nth(line - 1).unwrap().find('"').unwrap() + 1;
    assert!(
        err.contains(&format!("steward.toml:{line}:{column}: error:")) && err.contains("not found"),
        "{err}"
    );
    // Nothing was touched, and the API says which config runs.
    let now = d.status();
    for (a, b) in before.iter().zip(&now) {
        let pa: Vec<_> = a.instances.iter().map(|i| i.pid).collect();
        let pb: Vec<_> = b.instances.iter().map(|i| i.pid).collect();
        assert_eq!(pa, pb, "{} was touched", a.name);
    }
    let c = config_status(&d);
    assert_eq!(c.sha256, sha);
    assert_eq!(c.last_reload.unwrap().trigger, "api");
    let (code, body) = d.http("POST", "/v1/reload");
    assert_eq!(code, 422, "{body}");
    let report: ReloadReport = serde_json::from_str(&body).unwrap();
    assert_eq!(report.diagnostics[0].line, line);
}

#[test]
fn a_file_replaced_by_rename_is_seen() {
    let d = Daemon::start(TWO);
    all_running(&d, "everything up");
    let old = pids(&d, "change");
    d.replace_config(&TWO.replace("\"one\"", "\"renamed\""));
    d.wait_for("the rename to be applied", |all| {
        let s = all.iter().find(|s| s.name == "change")?;
        let i = &s.instances[0];
        (i.state == State::Running && i.pid != old.first().copied()).then_some(())
    });
    assert!(config_status(&d).source.contains("renamed"));
}

#[test]
fn fifty_quick_writes_make_one_or_two_reloads_and_the_last_file_wins() {
    let d = Daemon::start(TWO);
    all_running(&d, "everything up");
    let keep = pids(&d, "keep");
    for n in 1..=50 {
        d.write_config(&TWO.replace("\"one\"", &format!("\"v{n}\"")));
    }
    poll(
        "the last value",
        || {
            std::fs::read_to_string(d.path("change.env"))
                .ok()
                .filter(|t| t.contains("MODE=v50\n"))
        },
        || d.log(),
    );
    all_running(&d, "everything up again");
    let reloads = reloads_in_log(&d);
    assert!(
        (1..=2).contains(&reloads),
        "{reloads} reloads:\n{}",
        d.log()
    );
    assert_eq!(pids(&d, "keep"), keep);
}

#[test]
fn scaling_up_and_down_touches_only_the_instances_added_or_removed() {
    let three = "[service.w]\ncommand = [\"{fixture}\"]\ninstances = 3\n";
    let d = Daemon::start(three);
    let first = all_running(&d, "three up")[0]
        .instances
        .iter()
        .map(|i| i.pid.unwrap())
        .collect::<Vec<_>>();
    d.write_config(&three.replace("= 3", "= 5"));
    let five = d.wait_for("five running", |all| {
        let w = &all[0];
        (w.instances.len() == 5 && w.instances.iter().all(|i| i.state == State::Running)).then(
            || {
                w.instances
                    .iter()
                    .map(|i| i.pid.unwrap())
                    .collect::<Vec<_>>()
            },
        )
    });
    assert_eq!(five[..3], first[..], "the first three were not touched");
    d.write_config(&three.replace("= 3", "= 2"));
    let two = d.wait_for("two left", |all| {
        let w = &all[0];
        (w.instances.len() == 2).then(|| {
            w.instances
                .iter()
                .map(|i| i.pid.unwrap())
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(two[..], first[..2]);
    wait_gone(&five[2..], "the removed instances' processes");
    // An index that is gone is an error, not a new instance.
    let out = d.cli(&["start", "w:3"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no instance 3"));
}

#[test]
fn services_are_added_and_removed_and_restarted_in_dependency_order() {
    let config = r#"
[service.db]
command = ["{fixture}", "--print", "db1"]

[service.web]
command = ["{fixture}", "--print", "web1"]
depends_on = ["db"]

[service.old]
command = ["{fixture}", "--fork-grandchild", "--record", "{dir}/old.rec"]
"#;
    let d = Daemon::start(config);
    all_running(&d, "everything up");
    let rec = wait_record(&d.path("old.rec"), "old's grandchild", |r| {
        !r.grandchildren.is_empty()
    });
    let old: Vec<u32> = pids(&d, "old")
        .into_iter()
        .chain(rec.grandchildren)
        .collect();
    let new = r#"
[service.db]
command = ["{fixture}", "--print", "db2"]

[service.web]
command = ["{fixture}", "--print", "web2"]
depends_on = ["db"]

[service.new]
command = ["{fixture}"]
"#;
    let out = d.cli(&["reload", "--dry-run"]);
    assert!(out.status.success());
    let before = pids(&d, "db");
    d.write_config(new);
    let report: ReloadReport = serde_json::from_str(&d.ok(&["reload", "--json"])).unwrap();
    // The watcher may have applied it already; either way it is applied by now.
    let last = config_status(&d).last_reload.unwrap();
    assert!(["applied", "unchanged"].contains(&report.outcome.as_str()));
    assert_eq!(last.needs_restart, Vec::<String>::new());
    let all = all_running(&d, "the new set up");
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "new", "web"]);
    assert_ne!(pids(&d, "db"), before);
    wait_gone(
        &old,
        "every process of the removed service, grandchild included",
    );
    // web stopped before db, and db was running again before web started.
    let log = d.log();
    let at = |needle: &str| {
        log.rfind(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the log:\n{log}"))
    };
    assert!(at("web:0: running -> stop-pending") < at("db:0: running -> stop-pending"));
    assert!(at("db:0: start-pending -> running") < at("web:0: stopped -> start-pending"));
}

const IGNORE: &str = "on_config_change = \"ignore\"\n";

/// A daemon that does not reload on its own when its file changes.
fn start_ignoring(services: &str) -> Daemon {
    let d = Daemon::prepare(services);
    d.write_config_with(IGNORE, services);
    d.spawn()
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let d = start_ignoring(TWO);
    all_running(&d, "everything up");
    let before = pids(&d, "change");
    let sha = config_status(&d).sha256;
    d.write_config_with(IGNORE, &TWO.replace("\"one\"", "\"dry\""));
    let out = d.ok(&["reload", "--dry-run"]);
    assert_eq!(
        out,
        "reload: would change (dry run, nothing applied)\n  restarted change (env): restart 0\n"
    );
    assert_eq!(pids(&d, "change"), before);
    let c = config_status(&d);
    assert_eq!(c.sha256, sha, "still the old config");
    assert!(c.last_reload.is_none(), "a dry run is not a reload attempt");
    // Then applied for real: the same plan.
    let report: ReloadReport = serde_json::from_str(&d.ok(&["reload", "--json"])).unwrap();
    assert_eq!(report.summary, vec!["restarted change (env): restart 0"]);
    assert_ne!(
        pids(&d, "change"),
        before,
        "the ticket resolves once it has restarted"
    );
}

#[test]
fn sighup_reloads_and_ignore_leaves_file_changes_alone() {
    let config = r#"
[service.s]
command = ["{fixture}"]
env = { V = "1" }
"#;
    let d = start_ignoring(config);
    all_running(&d, "s up");
    let old = pids(&d, "s");
    d.write_config_with(IGNORE, &config.replace("\"1\"", "\"2\""));
    // The watcher's trigger is ignored; SIGHUP applies the file.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let last = d.wait_for("the SIGHUP reload", |_| config_status(&d).last_reload);
    assert_eq!(last.trigger, "signal");
    assert_eq!(last.outcome, "applied");
    assert_eq!(reloads_in_log(&d), 0, "{}", d.log());
    assert!(!config_status(&d).watching);
    d.wait_instance("s", 0, "s restarted", |i| {
        i.state == State::Running && i.pid != old.first().copied()
    });
}

const SLOW: &str = r#"
[service.slow]
command = ["{fixture}", "--ignore-sigterm", "--record", "{dir}/slow.rec", "--env-to", "{dir}/slow.env"]
stop_timeout = "1s"
env = { V = "1" }

[service.other]
command = ["{fixture}"]
"#;

#[test]
fn reloads_during_a_slow_restart_coalesce_into_the_last_file() {
    let d = Daemon::start(SLOW);
    all_running(&d, "everything up");
    d.write_config(&SLOW.replace("\"1\"", "\"2\""));
    d.wait_instance("slow", 0, "the restart to begin", |i| {
        i.state == State::StopPending
    });
    // A second reload while the first one's stop is under way, and an operator's
    // commands on another service meanwhile.
    d.write_config(&SLOW.replace("\"1\"", "\"3\""));
    d.ok(&["stop", "other"]);
    d.ok(&["start", "other"]);
    poll(
        "the last file's env",
        || {
            std::fs::read_to_string(d.path("slow.env"))
                .ok()
                .filter(|t| t.contains("V=3\n"))
        },
        || d.log(),
    );
    all_running(&d, "everything up again");
    let rec = record(&d.path("slow.rec"));
    assert_eq!(
        rec.starts.len(),
        2,
        "started once more, not once per reload"
    );
    assert!(config_status(&d).source.contains("V = \"3\""));
}

#[test]
fn an_operator_stop_during_a_reload_restart_stands() {
    let d = Daemon::start(SLOW);
    all_running(&d, "everything up");
    d.write_config(&SLOW.replace("\"1\"", "\"2\""));
    d.wait_instance("slow", 0, "the restart to begin", |i| {
        i.state == State::StopPending
    });
    d.ok(&["stop", "slow"]);
    let i = d.instance("slow", 0);
    assert_eq!(i.state, State::Stopped);
    // Once the reload is done with everything else, slow is still down.
    d.ok(&["reload"]);
    assert_eq!(d.instance("slow", 0).state, State::Stopped);
    assert_eq!(record(&d.path("slow.rec")).starts.len(), 1);
    // And its next start runs the new config.
    d.ok(&["start", "slow"]);
    poll(
        "the new env",
        || {
            std::fs::read_to_string(d.path("slow.env"))
                .ok()
                .filter(|t| t.contains("V=2\n"))
        },
        || d.log(),
    );
}

#[test]
fn the_built_in_demo_runs_without_a_config_file_and_has_none_to_reload() {
    let http = free_port();
    let front = free_port();
    let mut d = Daemon::prepare("")
        .with_env("STEWARD_DEMO_HTTP", format!("127.0.0.1:{http}").into())
        .with_env(
            "STEWARD_DEMO_ENDPOINT",
            format!("tcp:127.0.0.1:{front}").into(),
        )
        .spawn_demo();
    // Three reverse instances behind the endpoint, and the HTTP API on loopback.
    d.wait_for("the demo's instances running", |all| {
        let rev = all.iter().find(|s| s.name == "reverse")?;
        (rev.instances.len() == 3
            && rev
                .instances
                .iter()
                .all(|i| i.state == steward_proto::State::Running))
        .then_some(())
    });
    let address = format!("tcp:127.0.0.1:{front}");
    let out = d.ok(&["reverse-client", "--address", &address, "hello"]);
    assert!(out.starts_with("olleh (instance "), "{out}");
    let out = d.ok(&["reverse-client", "--address", &address, "--count", "9"]);
    for i in 0..3 {
        assert!(out.contains(&format!("instance {i}: 3")), "{out}");
    }
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
    write!(
        s,
        "GET /v1/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"reverse\""), "{text}");
    assert!(
        d.log()
            .contains(&format!("reverse-client --address {address} hello")),
        "what to try is printed"
    );
    let (code, body) = d.http("POST", "/v1/reload");
    assert_eq!(code, 409, "{body}");
    let out = d.cli(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("built-in demo"));
    let c = config_status(&d);
    assert_eq!(c.path, None);
    assert!(!c.watching);
    assert!(c.source.contains("[service.reverse]"));
    // SIGHUP is logged, and steward goes on.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    poll(
        "the SIGHUP to be logged",
        || d.log().contains("no config file to reload").then_some(()),
        || d.log(),
    );
    d.ok(&["status"]);
    let pids: Vec<u32> = d
        .status()
        .iter()
        .flat_map(|s| &s.instances)
        .filter_map(|i| i.pid)
        .collect();
    assert!(
        d.signal_and_wait(nix::sys::signal::Signal::SIGTERM)
            .success()
    );
    crate::harness::wait_gone(&pids, "the demo's services");
}

#[test]
fn a_config_swapped_behind_a_symlink_is_seen() {
    // The layout of a Kubernetes ConfigMap volume: steward.toml -> ..data/steward.toml,
    // and an update renames a new `..data` symlink over the old one.
    let d = Daemon::prepare(TWO);
    let v1 = d.path("v1");
    std::fs::create_dir(&v1).unwrap();
    std::fs::rename(&d.config, v1.join("steward.toml")).unwrap();
    std::os::unix::fs::symlink("v1", d.path("..data")).unwrap();
    std::os::unix::fs::symlink("..data/steward.toml", &d.config).unwrap();
    let d = d.spawn();
    all_running(&d, "everything up");
    let old = pids(&d, "change");
    let v2 = d.path("v2");
    std::fs::create_dir(&v2).unwrap();
    let text = std::fs::read_to_string(v1.join("steward.toml")).unwrap();
    std::fs::write(
        v2.join("steward.toml"),
        text.replace("\"one\"", "\"swapped\""),
    )
    .unwrap();
    std::os::unix::fs::symlink("v2", d.path("..data_tmp")).unwrap();
    std::fs::rename(d.path("..data_tmp"), d.path("..data")).unwrap();
    d.wait_for("the swap to be applied", |all| {
        let i = &all.iter().find(|s| s.name == "change")?.instances[0];
        (i.state == State::Running && i.pid != old.first().copied()).then_some(())
    });
    assert!(config_status(&d).source.contains("swapped"));
}

#[test]
fn a_liveness_probe_added_by_a_reload_watches_the_running_process() {
    let config = "[service.l]\ncommand = [\"{fixture}\"]\n";
    let d = Daemon::start(config);
    all_running(&d, "l up");
    let first = d.instance("l", 0).pid.unwrap();
    d.write_config(&format!(
        "{config}liveness = {{ exec = [\"false\"], interval = \"100ms\", failures = 2 }}\n"
    ));
    let last = d.wait_for("the in-place reload", |_| config_status(&d).last_reload);
    assert_eq!(last.summary, vec!["updated l (liveness): update 0"]);
    // Not restarted by the reload: the probe, now running against the same process,
    // fails it, and recovery restarts it.
    let i = d.wait_instance("l", 0, "the liveness failure", |i| {
        i.last_exit
            .as_ref()
            .is_some_and(|e| e.counted_as.contains("liveness probe failed"))
    });
    assert!(i.restarts >= 1);
    wait_gone(&[first], "the process the probe failed");
    assert!(d.log().contains(&format!("started, pid {first}")));
}
