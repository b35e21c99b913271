//! The state machine against a simulated world: processes are numbers, time is a counter.

use super::*;
use crate::config::{Backoff, PauseMode, Probe, ProbeCheck, ServiceSpec};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

fn spec() -> ServiceSpec {
    let mut s = ServiceSpec::with_defaults("svc", vec!["prog".into()]);
    s.backoff.max = Duration::ZERO;
    s
}

/// A tiny world: spawns succeed with increasing pids unless told otherwise.
struct World {
    inst: Instance,
    spec: ServiceSpec,
    now: Instant,
    next_pid: u32,
    fail_spawns: bool,
    /// Every effect seen, in order.
    log: Vec<Effect>,
    /// Signals sent to live processes.
    signals: Vec<Signal>,
    /// Every run's end, with the state and its start time just before it.
    exits: Vec<(ExitRecord, State, Instant)>,
}

impl World {
    fn new(spec: ServiceSpec) -> World {
        World {
            inst: Instance::new(0, 7, Instant::ORIGIN),
            spec,
            now: Instant::ORIGIN,
            next_pid: 100,
            fail_spawns: false,
            log: Vec::new(),
            signals: Vec::new(),
            exits: Vec::new(),
        }
    }

    fn feed(&mut self, input: Input) -> Vec<Effect> {
        let (state, since, gen_before) = (
            self.inst.state,
            self.inst.since,
            self.inst.last_exit.clone(),
        );
        let fx = step(&mut self.inst, &self.spec, input, self.now);
        if self.inst.last_exit != gen_before {
            self.exits
                .push((self.inst.last_exit.clone().unwrap(), state, since));
        }
        let mut all = fx.clone();
        for e in fx {
            match e {
                Effect::Spawn => {
                    let answer = if self.fail_spawns {
                        Input::SpawnFailed {
                            error: "no such file".into(),
                        }
                    } else {
                        self.next_pid += 1;
                        Input::Spawned { pid: self.next_pid }
                    };
                    all.extend(self.feed(answer));
                }
                Effect::Signal { signal, .. } => self.signals.push(signal),
                // The daemon freezes and thaws at once and says so.
                Effect::Freeze { .. } => all.extend(self.feed(Input::PauseDone)),
                Effect::Thaw { .. } => all.extend(self.feed(Input::ContinueDone)),
                _ => {}
            }
        }
        self.log.extend(all.iter().cloned());
        all
    }

    fn advance(&mut self, d: Duration) -> Vec<Effect> {
        self.now = self.now + d;
        self.feed(Input::Tick)
    }

    fn exit(&mut self, how: ExitHow) -> Vec<Effect> {
        let pid = self.inst.pid.expect("a live process");
        self.feed(Input::Exited { pid, how })
    }

    fn last_kind(&self) -> ExitKind {
        self.inst.last_exit.as_ref().unwrap().kind.clone()
    }
}

fn running(spec: ServiceSpec) -> World {
    let mut w = World::new(spec);
    w.feed(Input::Start);
    assert_eq!(w.inst.state, State::Running);
    w
}

// ---- the failure table, row by row ----

#[test]
fn exit_after_stop_request_is_not_a_failure() {
    let mut w = running(spec());
    w.feed(Input::Stop);
    assert_eq!(w.inst.state, State::StopPending);
    assert_eq!(w.signals, vec![Signal::TERM]);
    w.exit(ExitHow::Signal(Signal::TERM));
    assert_eq!(w.inst.state, State::Stopped);
    assert_eq!(w.last_kind(), ExitKind::StopRequested);
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 0);
}

#[test]
fn signal_steward_did_not_send_is_a_failure() {
    let mut w = running(spec());
    w.exit(ExitHow::Signal(Signal::KILL));
    assert_eq!(w.last_kind(), ExitKind::Signaled);
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);
    assert_eq!(w.inst.state, State::Running, "restarted at once (delay 0)");
    assert_eq!(w.inst.restarts, 1);
}

#[test]
fn unhealthy_stop_is_a_failure_and_recovers() {
    let mut w = running(spec());
    w.feed(Input::Unhealthy {
        reason: "watchdog expired".into(),
        signal: Signal::ABRT,
    });
    assert_eq!(w.inst.state, State::StopPending);
    assert_eq!(w.signals, vec![Signal::ABRT]);
    w.exit(ExitHow::Signal(Signal::ABRT));
    assert_eq!(
        w.last_kind(),
        ExitKind::Unhealthy("watchdog expired".into())
    );
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);
    assert_eq!(w.inst.state, State::Running);
}

#[test]
fn clean_exit_is_not_a_failure_and_restarts_only_with_always() {
    let mut w = running(spec());
    w.exit(ExitHow::Code(0));
    assert_eq!(w.last_kind(), ExitKind::Success);
    assert_eq!(
        w.inst.state,
        State::Stopped,
        "on-failure does not restart a clean exit"
    );

    let mut s = spec();
    s.restart = RestartPolicy::Always;
    let mut w = running(s);
    w.exit(ExitHow::Code(0));
    assert_eq!(w.inst.state, State::Running);
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 0);
    assert_eq!(w.inst.restarts, 1);
}

#[test]
fn announced_stop_with_nonzero_code_follows_the_failure_flag() {
    for flag in [false, true] {
        let mut s = spec();
        s.failure_flag = flag;
        let mut w = running(s);
        w.feed(Input::StoppingAnnounced);
        w.exit(ExitHow::Code(4));
        if flag {
            assert_eq!(w.last_kind(), ExitKind::ReportedStopFailed);
            assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);
            assert_eq!(w.inst.state, State::Running, "recovered");
        } else {
            assert_eq!(w.last_kind(), ExitKind::ReportedStop);
            assert_eq!(w.inst.failures_at(&w.spec, w.now), 0);
            assert_eq!(w.inst.state, State::Stopped);
        }
    }
}

#[test]
fn announcement_does_not_carry_over_to_the_next_run() {
    let mut s = spec();
    s.restart = RestartPolicy::Always;
    let mut w = running(s);
    w.feed(Input::StoppingAnnounced);
    w.exit(ExitHow::Code(0));
    w.exit(ExitHow::Code(4));
    assert_eq!(w.last_kind(), ExitKind::ExitCode);
}

#[test]
fn nonzero_code_is_a_failure_unless_listed() {
    let mut w = running(spec());
    w.exit(ExitHow::Code(3));
    assert_eq!(w.last_kind(), ExitKind::ExitCode);
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);

    let mut s = spec();
    s.success_exit_codes = vec![3];
    let mut w = running(s);
    w.exit(ExitHow::Code(3));
    assert_eq!(w.last_kind(), ExitKind::Success);
    assert_eq!(w.inst.state, State::Stopped);
}

#[test]
fn spawn_failure_counts_and_follows_recovery() {
    let mut s = spec();
    s.max_failures = Some(3);
    s.recovery = vec![RecoveryAction::Restart { delay: 10 * MS }];
    let mut w = World::new(s);
    w.fail_spawns = true;
    w.feed(Input::Start);
    assert_eq!(w.inst.state, State::Backoff);
    assert!(matches!(w.last_kind(), ExitKind::SpawnFailed(_)));
    assert_eq!(
        w.inst.deadline(),
        Some(w.now + SPAWN_RETRY_FLOOR),
        "never a tight retry loop"
    );
    w.advance(SPAWN_RETRY_FLOOR);
    w.advance(SPAWN_RETRY_FLOOR);
    assert_eq!(w.inst.state, State::Failed);
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 3);
}

// ---- recovery, backoff, give up ----

#[test]
fn recovery_actions_apply_in_order_and_the_last_repeats() {
    let mut s = spec();
    s.recovery = vec![
        RecoveryAction::Restart {
            delay: Duration::ZERO,
        },
        RecoveryAction::Restart {
            delay: 5 * 1000 * MS,
        },
        RecoveryAction::Run {
            command: vec!["page".into()],
            delay: 50 * MS,
        },
    ];
    let mut w = running(s);
    w.exit(ExitHow::Code(1));
    assert_eq!(w.inst.state, State::Running, "first: restart at once");

    w.exit(ExitHow::Code(1));
    assert_eq!(w.inst.state, State::Backoff, "second: restart in 5s");
    assert_eq!(w.inst.deadline(), Some(w.now + 5000 * MS));
    w.advance(4999 * MS);
    assert_eq!(w.inst.state, State::Backoff, "not before the delay");
    w.advance(MS);
    assert_eq!(w.inst.state, State::Running);

    for _ in 0..2 {
        let fx = w.exit(ExitHow::Code(1));
        let runs = fx.iter().filter(|e| {
            matches!(
                e,
                Effect::Run {
                    purpose: RunPurpose::Recovery,
                    ..
                }
            )
        });
        assert_eq!(runs.count(), 1, "third and later: run the command");
        assert_eq!(w.inst.state, State::Backoff);
        w.advance(50 * MS);
        assert_eq!(w.inst.state, State::Running);
    }
    assert_eq!(w.inst.restarts, 4);
}

#[test]
fn backoff_grows_and_caps() {
    let mut s = spec();
    s.restart = RestartPolicy::Always;
    s.backoff = Backoff {
        initial: 100 * MS,
        max: 1000 * MS,
        multiplier: 2.0,
        jitter: 0.0,
        reset_after: 10_000 * MS,
    };
    let mut w = running(s);
    let mut waits = Vec::new();
    for _ in 0..8 {
        w.exit(ExitHow::Code(1));
        let wait = w.inst.deadline().map_or(Duration::ZERO, |d| d - w.now);
        waits.push(wait.as_millis());
        w.advance(wait);
        assert_eq!(w.inst.state, State::Running);
    }
    assert_eq!(waits, vec![0, 100, 200, 400, 800, 1000, 1000, 1000]);

    // A run of reset_after ends the streak.
    w.now = w.now + 10_000 * MS;
    w.exit(ExitHow::Code(1));
    assert_eq!(
        w.inst.state,
        State::Running,
        "first quick restart is immediate again"
    );
}

#[test]
fn jitter_stays_within_its_fraction() {
    let mut s = spec();
    s.backoff = Backoff {
        initial: 100 * MS,
        max: 60_000 * MS,
        multiplier: 2.0,
        jitter: 0.5,
        reset_after: MS,
    };
    for seed in 0..200u64 {
        let d = backoff_delay(&s, 3, seed).as_secs_f64();
        assert!((0.2..0.3).contains(&d), "{d}");
    }
}

#[test]
fn max_failures_gives_up_with_each_action() {
    for (give_up, want) in [
        (GiveUp::Stay, None),
        (
            GiveUp::Run {
                command: vec!["alert".into()],
            },
            Some(RunPurpose::GiveUp),
        ),
        (GiveUp::Exit, None),
    ] {
        let mut s = spec();
        s.max_failures = Some(3);
        s.on_give_up = give_up.clone();
        let mut w = running(s);
        w.exit(ExitHow::Code(1));
        w.exit(ExitHow::Code(1));
        assert_eq!(w.inst.state, State::Running);
        let fx = w.exit(ExitHow::Code(1));
        assert_eq!(w.inst.state, State::Failed);
        assert!(
            w.inst.reason.contains("gave up after 3 failures"),
            "{}",
            w.inst.reason
        );
        let run = fx.iter().find_map(|e| match e {
            Effect::Run { purpose, .. } => Some(*purpose),
            _ => None,
        });
        assert_eq!(run, want);
        let exits = fx.contains(&Effect::ExitSupervisor {
            code: crate::config::EXIT_GAVE_UP,
        });
        assert_eq!(exits, give_up == GiveUp::Exit);
    }
}

#[test]
fn operator_start_of_a_failed_instance_works_and_resets_the_budget() {
    let mut s = spec();
    s.max_failures = Some(1);
    let mut w = running(s);
    w.exit(ExitHow::Code(1));
    assert_eq!(w.inst.state, State::Failed);
    w.feed(Input::Start);
    assert_eq!(w.inst.state, State::Running);
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 0);
}

#[test]
fn failures_reset_after_a_clean_running_period() {
    let mut s = spec();
    s.reset_failures_after = 1000 * MS;
    s.max_failures = Some(2);
    let mut w = running(s);
    w.exit(ExitHow::Code(1));
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);
    w.now = w.now + 999 * MS;
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);
    w.now = w.now + MS;
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 0);
    w.exit(ExitHow::Code(1));
    assert_eq!(
        w.inst.state,
        State::Running,
        "the count was reset, so this is failure 1 again"
    );
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);
}

#[test]
fn restart_policy_never_leaves_a_failure_failed() {
    let mut s = spec();
    s.restart = RestartPolicy::Never;
    let mut w = running(s);
    w.exit(ExitHow::Code(1));
    assert_eq!(w.inst.state, State::Failed);
}

#[test]
fn recovery_none_leaves_it_failed() {
    let mut s = spec();
    s.recovery = vec![RecoveryAction::None];
    let mut w = running(s);
    w.exit(ExitHow::Signal(Signal::from_number(11).unwrap()));
    assert_eq!(w.inst.state, State::Failed);
}

// ---- stopping and restarting ----

#[test]
fn stop_escalates_to_sigkill_after_the_timeout() {
    let mut s = spec();
    s.stop_timeout = 2000 * MS;
    let mut w = running(s);
    w.feed(Input::Stop);
    w.advance(1999 * MS);
    assert_eq!(w.signals, vec![Signal::TERM]);
    w.advance(MS);
    assert_eq!(w.signals, vec![Signal::TERM, Signal::KILL]);
    assert_eq!(w.inst.state, State::StopPending);
    w.exit(ExitHow::Signal(Signal::KILL));
    assert_eq!(w.inst.state, State::Stopped);
    assert_eq!(w.last_kind(), ExitKind::StopTimedOut);
    assert!(!w.last_kind().is_failure());
}

#[test]
fn restart_stops_then_starts_a_new_process() {
    let mut w = running(spec());
    w.exit(ExitHow::Code(1));
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 1);
    let first = w.inst.pid;
    w.feed(Input::Restart);
    assert_eq!(w.inst.state, State::StopPending);
    w.exit(ExitHow::Signal(Signal::TERM));
    assert_eq!(w.inst.state, State::Running);
    assert_ne!(w.inst.pid, first);
    assert_eq!(
        w.inst.failures_at(&w.spec, w.now),
        0,
        "an operator's restart resets the count"
    );
}

#[test]
fn stop_during_backoff_cancels_the_restart() {
    let mut s = spec();
    s.recovery = vec![RecoveryAction::Restart { delay: 100 * MS }];
    let mut w = running(s);
    w.exit(ExitHow::Code(1));
    assert_eq!(w.inst.state, State::Backoff);
    w.feed(Input::Stop);
    assert_eq!(w.inst.state, State::Stopped);
    assert_eq!(w.inst.deadline(), None);
    w.advance(1000 * MS);
    assert_eq!(w.inst.state, State::Stopped);
}

#[test]
fn exits_of_other_pids_are_ignored() {
    let mut w = running(spec());
    let fx = w.feed(Input::Exited {
        pid: 1,
        how: ExitHow::Code(1),
    });
    assert!(fx.is_empty());
    assert_eq!(w.inst.state, State::Running);
}

#[test]
fn operator_stop_overrides_a_health_stop() {
    let mut w = running(spec());
    w.feed(Input::Unhealthy {
        reason: "liveness".into(),
        signal: Signal::TERM,
    });
    w.feed(Input::Stop);
    w.exit(ExitHow::Signal(Signal::TERM));
    assert_eq!(w.inst.state, State::Stopped);
    assert_eq!(w.last_kind(), ExitKind::StopRequested);
}

// ---- settings changed in place by a reload ----

fn tcp_probe() -> Probe {
    let mut p = Probe::new(ProbeCheck::Tcp {
        address: "127.0.0.1:1".into(),
    });
    p.interval = Duration::from_secs(10);
    p.failures = 1;
    p
}

fn probes(log: &[Effect]) -> usize {
    log.iter()
        .filter(|e| matches!(e, Effect::Probe { .. }))
        .count()
}

#[test]
fn a_liveness_probe_added_by_a_reload_starts_checking_the_running_process() {
    let mut w = running(spec());
    let pid = w.inst.pid;
    w.spec.liveness = Some(tcp_probe());
    w.feed(Input::Reconfigured);
    w.advance(MS);
    assert_eq!(
        probes(&w.log),
        1,
        "checked at once: the run is older than the delay"
    );
    assert_eq!(w.inst.pid, pid, "the process was not touched");
    // Removed again: no more checks, and its results are forgotten.
    w.spec.liveness = None;
    w.feed(Input::Reconfigured);
    w.advance(Duration::from_secs(60));
    assert_eq!(probes(&w.log), 1);
    assert_eq!(w.inst.liveness, ProbeState::default());
    assert_eq!(w.inst.deadline(), None);
}

#[test]
fn a_shorter_probe_interval_applies_before_the_old_one_is_due() {
    let mut s = spec();
    s.liveness = Some(tcp_probe());
    let mut w = running(s);
    w.advance(MS);
    assert_eq!(probes(&w.log), 1);
    let generation = w.inst.generation;
    w.feed(Input::ProbeResult {
        kind: ProbeKind::Liveness,
        generation,
        ok: true,
        detail: String::new(),
    });
    w.spec.liveness.as_mut().unwrap().interval = Duration::from_secs(1);
    w.feed(Input::Reconfigured);
    w.advance(Duration::from_secs(1));
    assert_eq!(probes(&w.log), 2, "due one new interval after the reload");
}

#[test]
fn a_readiness_probe_removed_while_starting_makes_the_instance_running() {
    let mut s = spec();
    s.readiness = Some(tcp_probe());
    let mut w = World::new(s);
    w.feed(Input::Start);
    assert_eq!(w.inst.state, State::StartPending);
    w.spec.readiness = None;
    w.feed(Input::Reconfigured);
    assert_eq!(w.inst.state, State::Running);
}

#[test]
fn a_new_start_timeout_counts_from_the_start_of_the_run() {
    let mut s = spec();
    s.notify = true;
    let mut w = World::new(s);
    w.feed(Input::Start);
    w.advance(Duration::from_secs(5));
    w.spec.start_timeout = Duration::from_secs(6);
    w.feed(Input::Reconfigured);
    w.advance(Duration::from_millis(999));
    assert_eq!(w.inst.state, State::StartPending);
    w.advance(MS);
    assert_eq!(
        w.inst.state,
        State::StopPending,
        "6 s after the start, not the reload"
    );
}

// ---- properties over any sequence of inputs ----

#[derive(Debug, Clone)]
enum Op {
    Start,
    Stop,
    Restart,
    Pause,
    Continue,
    Ready,
    Probe(ProbeKind, bool),
    WatchdogPing,
    Exit(i32),
    Killed,
    Announce,
    Unhealthy,
    Advance(u32),
    FailSpawns(bool),
    /// A reload changes settings that apply in place: bit 0 toggles the readiness probe,
    /// bit 1 the liveness probe, bit 2 switches `start_timeout` between 2 s and 0.5 s.
    Reconfigure(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Start),
        1 => Just(Op::Stop),
        1 => Just(Op::Restart),
        3 => (0..4i32).prop_map(Op::Exit),
        1 => Just(Op::Killed),
        1 => Just(Op::Announce),
        1 => Just(Op::Unhealthy),
        3 => (0..3000u32).prop_map(Op::Advance),
        1 => any::<bool>().prop_map(Op::FailSpawns),
        1 => Just(Op::Pause),
        1 => Just(Op::Continue),
        1 => Just(Op::Ready),
        2 => (prop_oneof![Just(ProbeKind::Readiness), Just(ProbeKind::Liveness)], any::<bool>())
            .prop_map(|(k, ok)| Op::Probe(k, ok)),
        1 => Just(Op::WatchdogPing),
        1 => (1..8u8).prop_map(Op::Reconfigure),
    ]
}

/// The probe every generated spec uses.
fn test_probe() -> Probe {
    Probe {
        interval: 500 * MS,
        failures: 2,
        ..Probe::new(ProbeCheck::Tcp {
            address: "x:1".into(),
        })
    }
}

fn any_spec() -> impl Strategy<Value = ServiceSpec> {
    (
        prop_oneof![Just(RestartPolicy::Always), Just(RestartPolicy::OnFailure)],
        any::<bool>(),
        proptest::option::of(1..6u32),
        0..2000u32,
        100..5000u32,
        0..500u32,
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                restart,
                flag,
                max,
                delay,
                reset,
                backoff,
                (notify, readiness, liveness, watchdog, freeze),
            )| {
                let mut s = spec();
                s.restart = restart;
                s.failure_flag = flag;
                s.max_failures = max;
                s.recovery = vec![
                    RecoveryAction::Restart {
                        delay: Duration::ZERO,
                    },
                    RecoveryAction::Restart { delay: delay * MS },
                ];
                s.reset_failures_after = reset * MS;
                s.backoff.initial = backoff * MS;
                s.backoff.max = 10 * backoff * MS;
                s.stop_timeout = 1000 * MS;
                s.notify = notify;
                s.start_timeout = 2000 * MS;
                let probe = test_probe();
                s.readiness = readiness.then(|| probe.clone());
                s.liveness = liveness.then_some(probe);
                s.watchdog = watchdog.then_some(700 * MS);
                s.pause = if freeze {
                    PauseMode::Freeze
                } else {
                    PauseMode::Signal {
                        pause: Signal::parse("USR1").unwrap(),
                        resume: Signal::parse("USR2").unwrap(),
                    }
                };
                s
            },
        )
}

/// Feeds `op`, checking the invariants that must hold after every step.
fn apply(w: &mut World, op: Op, failures_model: &mut u32) {
    let before = w.inst.clone();
    let seen_exits = w.exits.len();
    let operator = match op {
        Op::Pause => Some(Input::Pause),
        Op::Continue => Some(Input::Continue),
        _ => None,
    };
    // The daemon answers a refused request with 409 and changes nothing.
    if let Some(input) = &operator
        && let Some(why) = refusal(&w.inst, input)
    {
        assert!(
            !matches!(w.inst.state, State::Running | State::Paused),
            "{why}"
        );
        return;
    }
    let fx = match op {
        Op::Start => w.feed(Input::Start),
        Op::Pause => w.feed(Input::Pause),
        Op::Continue => w.feed(Input::Continue),
        Op::Ready => w.feed(Input::Ready),
        Op::Probe(kind, ok) => {
            let generation = w.inst.generation;
            w.feed(Input::ProbeResult {
                kind,
                generation,
                ok,
                detail: "probe".into(),
            })
        }
        Op::WatchdogPing => w.feed(Input::WatchdogPing),
        Op::Stop => w.feed(Input::Stop),
        Op::Restart => w.feed(Input::Restart),
        Op::Exit(code) if w.inst.pid.is_some() => w.exit(ExitHow::Code(code)),
        Op::Killed if w.inst.pid.is_some() => w.exit(ExitHow::Signal(Signal::KILL)),
        Op::Announce => w.feed(Input::StoppingAnnounced),
        Op::Unhealthy => w.feed(Input::Unhealthy {
            reason: "probe".into(),
            signal: Signal::TERM,
        }),
        Op::Advance(ms) => w.advance(ms * MS),
        Op::FailSpawns(b) => {
            w.fail_spawns = b;
            Vec::new()
        }
        Op::Reconfigure(bits) => {
            let toggle = |p: &mut Option<Probe>| {
                *p = if p.is_some() {
                    None
                } else {
                    Some(test_probe())
                }
            };
            if bits & 1 != 0 {
                toggle(&mut w.spec.readiness);
            }
            if bits & 2 != 0 {
                toggle(&mut w.spec.liveness);
            }
            if bits & 4 != 0 {
                let shorter = w.spec.start_timeout > 500 * MS;
                w.spec.start_timeout = if shorter { 500 * MS } else { 2000 * MS };
            }
            w.feed(Input::Reconfigured)
        }
        Op::Exit(_) | Op::Killed => Vec::new(),
    };

    // An operator's start of a failed instance always starts it.
    if before.state == State::Failed && matches!(op, Op::Start | Op::Restart) {
        assert!(
            fx.contains(&Effect::Spawn),
            "start of failed must spawn: {fx:?}"
        );
    }
    // A probe runs only while the spec has it: a reload that removed it stopped it.
    for e in &fx {
        if let Effect::Probe { kind, .. } = e {
            assert!(kind.of(&w.spec).is_some(), "{kind:?} probe without a probe");
        }
    }
    // At most one live process: a spawn only ever happens with none alive.
    let spawns = fx.iter().filter(|e| **e == Effect::Spawn).count();
    assert!(spawns <= 1, "{spawns} spawns in one step");
    if spawns > 0 {
        let died = matches!(op, Op::Exit(_) | Op::Killed);
        assert!(before.pid.is_none() || died, "spawned over a live process");
    }
    // Only StartPending..StopPending have a process.
    match w.inst.state {
        State::Running
        | State::StopPending
        | State::PausePending
        | State::Paused
        | State::ContinuePending => {
            assert!(w.inst.pid.is_some(), "{:?}", w.inst.state)
        }
        State::Stopped | State::Backoff | State::Failed => assert!(w.inst.pid.is_none()),
        State::StartPending => {}
    }
    // Paused: no watchdog, no probes. Running with a watchdog: it is armed.
    if matches!(w.inst.state, State::Paused | State::PausePending) {
        let t = w.inst.timers;
        assert!(
            t.watchdog.is_none() && t.readiness.is_none() && t.liveness.is_none(),
            "{t:?}"
        );
    }
    if w.inst.state == State::Running && w.inst.watchdog.is_some() {
        assert!(
            w.inst.timers.watchdog.is_some(),
            "running without its watchdog armed"
        );
    }
    // Waiting for readiness is bounded by start_timeout.
    if w.inst.state == State::StartPending && w.inst.pid.is_some() {
        let d = w
            .inst
            .timers
            .start
            .expect("start-pending without a start timeout");
        assert!(d <= w.inst.started_at.unwrap() + w.spec.start_timeout);
    }
    // stop-pending is bounded: a deadline no later than stop_timeout after entering it,
    // until SIGKILL has been sent.
    if w.inst.state == State::StopPending && !w.signals.ends_with(&[Signal::KILL]) {
        let d = w.inst.deadline().expect("stop-pending without a deadline");
        assert!(
            d <= w.inst.since + w.spec.stop_timeout,
            "stop deadline too late"
        );
    }
    // Failure counts reset after reset_failures_after of clean running.
    if w.inst.state == State::Running && w.now - w.inst.since >= w.spec.reset_failures_after {
        assert_eq!(w.inst.failures_at(&w.spec, w.now), 0);
    }
    // The count the machine keeps matches an independent tally: a long enough clean run
    // resets it, an operator's restart (or start of a down instance) resets it, each failure
    // adds one.
    if before.state == State::Running && w.now - before.since >= w.spec.reset_failures_after {
        *failures_model = 0;
    }
    if matches!(op, Op::Restart)
        || (matches!(op, Op::Start)
            && matches!(
                before.state,
                State::Stopped | State::Failed | State::Backoff
            ))
    {
        *failures_model = 0;
    }
    for (rec, state, since) in &w.exits[seen_exits..] {
        if *state == State::Running && rec.at - *since >= w.spec.reset_failures_after {
            *failures_model = 0;
        }
        if rec.kind.is_failure() {
            *failures_model += 1;
        }
    }
    // failed only after max_failures failures within the window.
    if w.inst.state == State::Failed && before.state != State::Failed {
        let max = w
            .spec
            .max_failures
            .expect("recovery never gives up without max_failures");
        assert!(
            *failures_model >= max,
            "failed after {failures_model} < {max} failures"
        );
        assert_eq!(w.inst.failures_at(&w.spec, w.now), *failures_model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_for_any_sequence(spec in any_spec(), ops in proptest::collection::vec(op(), 1..80)) {
        let mut w = World::new(spec);
        let mut failures = 0;
        for op in ops {
            apply(&mut w, op, &mut failures);
        }
    }

    #[test]
    fn a_stop_request_always_ends_in_stopped(spec in any_spec(), ops in proptest::collection::vec(op(), 0..60)) {
        let mut w = World::new(spec);
        let mut failures = 0;
        for op in ops {
            apply(&mut w, op, &mut failures);
        }
        w.feed(Input::Stop);
        // The process ignores the stop signal; only time and SIGKILL end it.
        let stop_timeout = w.spec.stop_timeout;
        if w.inst.state == State::StopPending {
            w.advance(stop_timeout);
            prop_assert_eq!(w.signals.last(), Some(&Signal::KILL));
            w.exit(ExitHow::Signal(Signal::KILL));
        }
        prop_assert!(matches!(w.inst.state, State::Stopped), "ended in {:?}", w.inst.state);
        prop_assert_eq!(w.inst.deadline(), None);
        prop_assert!(!w.inst.wants_up());
    }
}

#[test]
fn a_count_reset_by_clean_running_stays_reset_after_a_stop() {
    let mut s = spec();
    s.reset_failures_after = 1000 * MS;
    let mut w = running(s);
    w.exit(ExitHow::Code(1));
    w.now = w.now + 1000 * MS;
    w.feed(Input::Stop);
    w.exit(ExitHow::Signal(Signal::TERM));
    assert_eq!(w.inst.state, State::Stopped);
    assert_eq!(w.inst.failures_at(&w.spec, w.now), 0);
}

#[test]
fn a_pause_that_fails_leaves_it_running() {
    let mut s = spec();
    s.pause = PauseMode::Freeze;
    let mut w = running(s);
    // Feed the machine by hand: this daemon cannot freeze.
    let fx = step(&mut w.inst, &w.spec, Input::Pause, w.now);
    assert!(matches!(fx[0], Effect::Freeze { .. }));
    assert_eq!(w.inst.state, State::PausePending);
    step(
        &mut w.inst,
        &w.spec,
        Input::PauseFailed {
            reason: "EACCES".into(),
        },
        w.now,
    );
    assert_eq!(w.inst.state, State::Running);
    assert!(w.inst.reason.contains("could not pause: EACCES"));
}

#[test]
fn tickets_settle_when_the_request_took_effect() {
    let mut w = running(spec());
    let gen0 = w.inst.generation;
    assert!(settled(&w.inst, &Input::Start, gen0), "already running");
    w.feed(Input::Restart);
    assert!(!settled(&w.inst, &Input::Restart, gen0), "still stopping");
    w.exit(ExitHow::Signal(Signal::TERM));
    assert!(settled(&w.inst, &Input::Restart, gen0), "a new run");
    let gen1 = w.inst.generation;
    w.feed(Input::Stop);
    assert!(!settled(&w.inst, &Input::Stop, gen1));
    w.exit(ExitHow::Signal(Signal::TERM));
    assert!(settled(&w.inst, &Input::Stop, gen1));
    // A paused instance is up: a start's ticket answers at once.
    let mut w = running(spec());
    w.feed(Input::Pause);
    assert_eq!(w.inst.state, State::Paused);
    assert!(settled(&w.inst, &Input::Start, w.inst.generation));
}

#[test]
fn helper_results_say_how_it_ended() {
    assert_eq!(
        helper_result(ExitHow::Code(0), None),
        Ok("exit code 0".into())
    );
    assert_eq!(
        helper_result(ExitHow::Code(2), None),
        Err("exit code 2".into())
    );
    assert_eq!(
        helper_result(ExitHow::Signal(Signal::KILL), None),
        Err("killed by SIGKILL".into())
    );
    let late = helper_result(ExitHow::Signal(Signal::KILL), Some(200 * MS));
    assert_eq!(late, Err("timed out after 200ms".into()));
}

// ---- draining behind a proxy endpoint ----

fn behind_endpoint(drain: Duration) -> ServiceSpec {
    let mut s = spec();
    let mut e = crate::config::EndpointSpec::new(
        crate::endpoint::Address::parse("tcp:127.0.0.1:7000").unwrap(),
    );
    e.drain_timeout = drain;
    s.endpoint = Some(e);
    s
}

#[test]
fn a_stop_drains_before_the_signal() {
    let mut w = running(behind_endpoint(Duration::from_secs(5)));
    let fx = w.feed(Input::Stop);
    assert!(fx.contains(&Effect::Drain));
    assert_eq!(w.inst.state, State::StopPending);
    assert!(w.inst.draining);
    assert!(w.signals.is_empty(), "no signal while connections finish");
    assert!(w.inst.reason.contains("draining"), "{}", w.inst.reason);
    w.advance(MS);
    assert!(w.signals.is_empty());
    w.feed(Input::Drained);
    assert_eq!(w.signals, vec![Signal::TERM]);
    assert!(!w.inst.draining);
    // stop_timeout runs from the signal, not from the stop request.
    w.advance(w.spec.stop_timeout - MS);
    assert_eq!(w.signals, vec![Signal::TERM]);
    w.advance(MS);
    assert_eq!(w.signals, vec![Signal::TERM, Signal::KILL]);
    w.exit(ExitHow::Signal(Signal::KILL));
    assert_eq!(w.last_kind(), ExitKind::StopTimedOut);
}

#[test]
fn a_drain_ends_at_drain_timeout() {
    let mut w = running(behind_endpoint(Duration::from_secs(5)));
    w.feed(Input::Restart);
    w.advance(Duration::from_millis(4999));
    assert!(w.signals.is_empty());
    w.advance(MS);
    assert_eq!(w.signals, vec![Signal::TERM]);
    assert!(w.inst.reason.contains("drain_timeout"), "{}", w.inst.reason);
    // A late `Drained` changes nothing.
    w.feed(Input::Drained);
    assert_eq!(w.signals, vec![Signal::TERM]);
    w.exit(ExitHow::Signal(Signal::TERM));
    assert_eq!(w.last_kind(), ExitKind::StopRequested);
    assert_eq!(w.inst.state, State::Running, "restarted");
    assert!(!w.inst.draining);
}

#[test]
fn what_does_not_drain() {
    // No drain time, an unhealthy stop, a paused instance, socket mode: the signal goes at once.
    let mut w = running(behind_endpoint(Duration::ZERO));
    w.feed(Input::Stop);
    assert_eq!(w.signals, vec![Signal::TERM]);

    let mut w = running(behind_endpoint(Duration::from_secs(5)));
    w.feed(Input::Unhealthy {
        reason: "liveness".into(),
        signal: Signal::TERM,
    });
    assert_eq!(w.signals, vec![Signal::TERM]);

    let mut w = running(behind_endpoint(Duration::from_secs(5)));
    w.feed(Input::Pause);
    assert_eq!(w.inst.state, State::Paused);
    w.feed(Input::Stop);
    assert_eq!(w.signals, vec![Signal::TERM]);

    let mut s = behind_endpoint(Duration::from_secs(5));
    s.endpoint.as_mut().unwrap().mode = crate::config::EndpointMode::Socket;
    let mut w = running(s);
    w.feed(Input::Stop);
    assert_eq!(w.signals, vec![Signal::TERM]);
}

#[test]
fn an_exit_while_draining_ends_the_drain() {
    let mut w = running(behind_endpoint(Duration::from_secs(5)));
    w.feed(Input::Stop);
    w.exit(ExitHow::Code(0));
    assert_eq!(w.inst.state, State::Stopped);
    assert!(!w.inst.draining);
    assert_eq!(w.inst.deadline(), None);
    assert_eq!(w.last_kind(), ExitKind::StopRequested);
}
