//! `[service.NAME]` tables: the keys of a service and their tables (`backoff`, `recovery`,
//! `on_give_up`), the readiness, watchdog and pause keys, and the rules between a
//! service's `endpoint` and its other keys (`instances`, `ready`).

use super::endpoint::{self, EndpointSpans};
use super::*;
use crate::config::model::{EndpointMode, EndpointSpec};

/// A service's own keys, besides the [`PROCESS_KEYS`] it shares with tasks.
const SERVICE_KEYS: &[&str] = &[
    "instances",
    "restart",
    "failure_flag",
    "success_exit_codes",
    "recovery",
    "reset_failures_after",
    "backoff",
    "max_failures",
    "on_give_up",
    "stop_signal",
    "stop_timeout",
    "notify",
    "ready",
    "start_timeout",
    "watchdog",
    "watchdog_signal",
    "readiness",
    "liveness",
    "depends_on",
    "pause",
    "pause_signal",
    "continue_signal",
    "log",
    "acl",
    "endpoint",
    "rolling",
];
const BACKOFF_KEYS: &[&str] = &["initial", "max", "multiplier", "jitter", "reset_after"];
const RECOVERY_KEYS: &[&str] = &["action", "command", "delay"];
const GIVE_UP_KEYS: &[&str] = &["action", "command"];

/// Most entries `recovery` may have.
const MAX_RECOVERY: usize = 16;
/// Most instances one service may ask for.
const MAX_INSTANCES: i64 = 10_000;
/// The file descriptors `ready = "fd:N"` may name: 0 to 2 are stdio.
const MIN_READY_FD: u32 = 3;
const MAX_READY_FD: u32 = 255;

const RUN_EXAMPLE: &str = "{ action = \"run\", command = [\"page-oncall\"] }";
const READY_EXAMPLE: &str = "e.g. `ready = \"fd:3\"`";

const STOP_REFUSED: &[(Signal, &str)] = &[
    (
        Signal::STOP,
        "it pauses the process instead of asking it to exit",
    ),
    (
        Signal::CONT,
        "it resumes the process instead of asking it to exit",
    ),
];
const WATCHDOG_REFUSED: &[(Signal, &str)] = &[
    (Signal::STOP, "it pauses the process instead of ending it"),
    (Signal::CONT, "it resumes the process instead of ending it"),
];
const PAUSE_REFUSED: &[(Signal, &str)] = &[
    (
        Signal::STOP,
        "a program cannot catch it, so it cannot pause itself; `pause = \"freeze\"` stops it \
         from outside",
    ),
    (
        Signal::KILL,
        "a program cannot catch it; it would end the instance",
    ),
];

/// What one action table (`recovery` entry or `on_give_up`) says.
struct ActionEntry {
    action: &'static str,
    command: Option<Vec<String>>,
    delay: Duration,
}

/// The `pause`, `pause_signal` and `continue_signal` keys as written, resolved once the
/// whole table has been read.
#[derive(Default)]
struct PauseKeys {
    /// Whether `pause` is there at all.
    given: bool,
    /// Its value when valid: `true` for "signal", `false` for "freeze".
    signal_mode: Option<bool>,
    /// Key span and value (when valid) of `pause_signal` and `continue_signal`.
    pause_signal: Option<(Range<usize>, Option<Signal>)>,
    continue_signal: Option<(Range<usize>, Option<Signal>)>,
}

impl Checker<'_> {
    pub(super) fn services(&mut self, v: &Value<'_>, out: &mut BTreeMap<String, ServiceSpec>) {
        let DeValue::Table(table) = v.get_ref() else {
            let help = "define each service in its own table: `[service.web]`".to_string();
            self.mismatch(v, "service", "a table of services", Some(help));
            return;
        };
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            let name = key.get_ref().as_ref();
            let name_ok = match bad_name("service", name) {
                Some(why) => {
                    self.error(key.span(), why, Some(NAME_HELP.into()));
                    false
                }
                None => true,
            };
            // Check the body even when the name is bad, so every problem shows at once.
            self.process_spans.clear();
            self.pending_claims.clear();
            if let (Some(spec), true) = (self.service(key, value), name_ok) {
                out.insert(name.to_string(), spec);
                self.keep_references(Owner::Service(name.to_string()));
                let claims = std::mem::take(&mut self.pending_claims);
                self.claims.extend(claims);
            }
        }
        self.dependency_cycles();
    }

    fn service(&mut self, name_key: &Key<'_>, v: &Value<'_>) -> Option<ServiceSpec> {
        let name = name_key.get_ref().as_ref();
        let DeValue::Table(table) = v.get_ref() else {
            let help = format!("write the service as a table: `[service.{name}]`");
            self.mismatch(v, &format!("service.{name}"), "a table", Some(help));
            return None;
        };
        let before = self.diags.len();
        let place = format!("in `[service.{name}]`");
        let known = [PROCESS_KEYS, SERVICE_KEYS].concat();
        let mut spec = ServiceSpec::with_defaults(name, Vec::new());
        let mut has_command = false;
        let mut pause = PauseKeys::default();
        let mut watchdog_span = None;
        let mut ready_span = None;
        let mut endpoint = None;
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            if self.broken(key, value) {
                // Reported by the TOML parser; do not also say the key is missing.
                has_command |= k == "command";
                continue;
            }
            has_command |= k == "command";
            if self.process_key(k, value, &mut spec.process) {
                continue;
            }
            match k {
                "instances" => {
                    if let Some(n) = self.integer_in(value, "instances", 0, MAX_INSTANCES) {
                        spec.instances = n as u32;
                    }
                }
                "restart" => {
                    let choices = [
                        ("always", RestartPolicy::Always),
                        ("on-failure", RestartPolicy::OnFailure),
                        ("never", RestartPolicy::Never),
                    ];
                    if let Some(r) = self.choice(value, "restart", &choices) {
                        spec.restart = r;
                    }
                }
                "failure_flag" => {
                    if let Some(b) = self.boolean(value, "failure_flag") {
                        spec.failure_flag = b;
                    }
                }
                "success_exit_codes" => {
                    if let Some(codes) = self.exit_codes(value) {
                        spec.success_exit_codes = codes;
                    }
                }
                "recovery" => {
                    if let Some(r) = self.recovery(value) {
                        spec.recovery = r;
                    }
                }
                "reset_failures_after" => {
                    if let Some(d) = self.duration(value, "reset_failures_after") {
                        spec.reset_failures_after = d;
                    }
                }
                "backoff" => {
                    if let Some(b) = self.backoff(value) {
                        spec.backoff = b;
                    }
                }
                "max_failures" => {
                    if let Some(n) = self.integer_in(value, "max_failures", 1, u32::MAX.into()) {
                        spec.max_failures = Some(n as u32);
                    }
                }
                "on_give_up" => {
                    if let Some(g) = self.give_up(value) {
                        spec.on_give_up = g;
                    }
                }
                "stop_signal" => {
                    let help = "use \"TERM\" (the default), \"INT\", \"QUIT\" or another signal \
                                the service exits on";
                    if let Some(s) = self.signal(value, "stop_signal", STOP_REFUSED, help) {
                        spec.stop_signal = s;
                    }
                }
                "stop_timeout" => {
                    if let Some(d) = self.duration(value, "stop_timeout") {
                        spec.stop_timeout = d;
                    }
                }
                "notify" => {
                    if let Some(b) = self.boolean(value, "notify") {
                        spec.notify = b;
                    }
                }
                "ready" => {
                    if let Some((fd, span)) = self.ready(value) {
                        spec.ready_fd = Some(fd);
                        ready_span = Some(span);
                    }
                }
                "start_timeout" => {
                    let help = "it is how long an instance may take to become ready".to_string();
                    if let Some(d) = self.positive_duration(value, "start_timeout", Some(help)) {
                        spec.start_timeout = d;
                    }
                }
                "watchdog" => {
                    let help = "leave `watchdog` out to run without a watchdog".to_string();
                    spec.watchdog = self.positive_duration(value, "watchdog", Some(help));
                    watchdog_span = Some(key.span());
                }
                "watchdog_signal" => {
                    let help = "use \"ABRT\" (the default, which can leave a core dump), \"TERM\" \
                                or \"KILL\"";
                    let refused = WATCHDOG_REFUSED;
                    if let Some(s) = self.signal(value, "watchdog_signal", refused, help) {
                        spec.watchdog_signal = s;
                    }
                }
                "acl" => spec.acl = self.acl(value, "acl", Some(crate::acl::Right::Control)),
                "endpoint" => endpoint = self.endpoint(name, value),
                "rolling" => {
                    if let Some(b) = self.boolean(value, "rolling") {
                        spec.rolling = b;
                    }
                }
                "log" => {
                    if let Some(log) = self.log(value) {
                        spec.log = log;
                    }
                }
                "readiness" => spec.readiness = self.probe(value, "readiness"),
                "liveness" => spec.liveness = self.probe(value, "liveness"),
                "depends_on" => {
                    if let Some(deps) = self.depends_on(name, value) {
                        spec.depends_on = deps;
                    }
                }
                "pause" => {
                    pause.given = true;
                    pause.signal_mode = self.pause(value);
                }
                "pause_signal" | "continue_signal" => {
                    let help = "use \"USR1\" or \"USR2\" (the defaults), or another signal the \
                                program handles";
                    let signal = self.signal(value, k, PAUSE_REFUSED, help);
                    let slot = if k == "pause_signal" {
                        &mut pause.pause_signal
                    } else {
                        &mut pause.continue_signal
                    };
                    *slot = Some((key.span(), signal));
                }
                k if matches!(value.get_ref(), DeValue::Table(_))
                    && suggest(k, &known).is_none() =>
                {
                    // Most likely `[service.api.v2]` meant as one name.
                    let help = format!(
                        "a table here is not a setting; if `{name}.{k}` is meant as one service \
                         name, quote it: `[service.\"{name}.{k}\"]`"
                    );
                    let message = format!("unknown table `{k}` {place}");
                    self.error(key.span(), message, Some(help));
                }
                _ => self.unknown_key(key, value, &known, &place),
            }
        }
        if let Some(mode) = self.pause_mode(pause) {
            spec.pause = mode;
        }
        if let (Some(span), Some(_), false) = (watchdog_span, spec.watchdog, spec.notify) {
            self.error(
                span,
                "`watchdog` needs `notify = true`: the service feeds it with WATCHDOG=1 on \
                 NOTIFY_SOCKET",
                Some(
                    "add `notify = true`, or use a `liveness` probe for a program that does not \
                      speak the notify protocol"
                        .into(),
                ),
            );
        }
        if let Some((e, spans)) = endpoint {
            self.endpoint_in_service(&mut spec, e, spans, ready_span);
        }
        if !has_command {
            // A missing key may be the parser dropping a broken line; the syntax error
            // already says what is wrong there.
            if !self.syntax_error_in_section(name_key.span().start) {
                self.error(
                    name_key.span(),
                    format!("service `{name}` has no `command`"),
                    Some(format!(
                        "add the program to run, e.g. `command = [\"{name}\"]`"
                    )),
                );
            }
            return None;
        }
        (self.diags.len() == before).then_some(spec)
    }

    /// The rules between an endpoint and the rest of its service; a valid endpoint goes
    /// into `spec`, and what it binds into `pending_claims`.
    fn endpoint_in_service(
        &mut self,
        spec: &mut ServiceSpec,
        e: EndpointSpec,
        spans: EndpointSpans,
        ready_span: Option<Range<usize>>,
    ) {
        let before = self.diags.len();
        if let (EndpointMode::Socket, Some(3), Some(span)) = (e.mode, spec.ready_fd, ready_span) {
            let message = "`ready` cannot use file descriptor 3 here: with an endpoint in \
                           socket mode, fd 3 is the listening socket (LISTEN_FDS=1)";
            let help = "use \"fd:4\" or later";
            self.error(span, message, Some(help.into()));
        }
        if let (Some(first), Some(span)) = (e.backend, &spans.backend) {
            let last = u32::from(first.port()) + spec.instances.saturating_sub(1);
            if last > u32::from(u16::MAX) {
                let message = format!(
                    "`endpoint.backend` tcp:{first} leaves no port for every instance: \
                     instance {} would listen on port {last}, past 65535",
                    spec.instances - 1
                );
                let help = format!(
                    "instance i listens on `backend`'s port plus i; with {} instances the \
                     port can be at most {}",
                    spec.instances,
                    u32::from(u16::MAX) + 1 - spec.instances
                );
                self.error(span.clone(), message, Some(help));
            }
        }
        if self.diags.len() == before {
            self.pending_claims = endpoint::Claim::endpoint(&spec.name, &e, &spans, spec.instances);
            spec.endpoint = Some(e);
        }
    }

    /// `ready = "fd:N"`: the file descriptor number, and where the number was written.
    fn ready(&mut self, v: &Value<'_>) -> Option<(u32, Range<usize>)> {
        let s = match v.get_ref() {
            DeValue::String(s) => s,
            DeValue::Integer(_) => {
                let help = format!(
                    "write it as a string: `ready = \"fd:{}\"`",
                    &self.source[v.span()]
                );
                self.mismatch(v, "ready", "a string \"fd:N\"", Some(help));
                return None;
            }
            _ => {
                self.mismatch(v, "ready", "a string \"fd:N\"", Some(READY_EXAMPLE.into()));
                return None;
            }
        };
        let number = s
            .strip_prefix("fd:")
            .filter(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()));
        let Some(number) = number else {
            let message = format!(
                "`ready` must be \"fd:N\", the file descriptor the program writes a newline to \
                 when it is ready, found {}",
                toml_str(s)
            );
            self.error(v.span(), message, Some(READY_EXAMPLE.into()));
            return None;
        };
        let fd: u32 = number.parse().ok()?;
        // Point at the number when the source spells the string as it is.
        let span = match self.string_content_start(&v.span(), s) {
            Some(start) => start + 3..start + s.len(),
            None => v.span(),
        };
        if fd < MIN_READY_FD {
            let message = format!(
                "`ready` cannot use file descriptor {fd}: 0, 1 and 2 are the program's stdin, \
                 stdout and stderr"
            );
            self.error(span, message, Some(READY_EXAMPLE.into()));
            return None;
        }
        if fd > MAX_READY_FD {
            let message = format!(
                "`ready` must name a file descriptor from {MIN_READY_FD} to {MAX_READY_FD}, \
                 found {fd}"
            );
            self.error(span, message, Some(READY_EXAMPLE.into()));
            return None;
        }
        Some((fd, span))
    }

    /// `pause`: `Some(true)` for "signal", `Some(false)` for "freeze".
    fn pause(&mut self, v: &Value<'_>) -> Option<bool> {
        if let DeValue::String(s) = v.get_ref()
            && let Some(signal) = s.strip_prefix("signal:")
        {
            let message = format!(
                "`pause` must be \"freeze\" or \"signal\", found {}",
                toml_str(s)
            );
            let help = format!(
                "name the signal in its own key: `pause = \"signal\"` and `pause_signal = {}`",
                toml_str(signal)
            );
            self.error(v.span(), message, Some(help));
            return None;
        }
        self.choice(v, "pause", &[("freeze", false), ("signal", true)])
    }

    /// The pause mode from the three pause keys; `None` keeps the default (or there was a
    /// problem, which is reported).
    fn pause_mode(&mut self, keys: PauseKeys) -> Option<PauseMode> {
        let signals = [
            ("pause_signal", &keys.pause_signal),
            ("continue_signal", &keys.continue_signal),
        ];
        match keys.signal_mode {
            Some(true) => {}
            // A bad `pause` value was reported; what goes with it is not judged.
            None if keys.given => return None,
            _ => {
                for (key, given) in signals {
                    if let Some((span, _)) = given {
                        let help = if keys.given {
                            format!("remove `{key}`, or set `pause = \"signal\"`")
                        } else {
                            format!(
                                "add `pause = \"signal\"` to pause by signal, or remove `{key}`"
                            )
                        };
                        let message = format!("`{key}` is used only with `pause = \"signal\"`");
                        self.error(span.clone(), message, Some(help));
                    }
                }
                return None;
            }
        }
        let pause = match &keys.pause_signal {
            Some((_, Some(s))) => *s,
            Some((_, None)) => return None,
            None => Signal::parse("USR1")?,
        };
        let resume = match &keys.continue_signal {
            Some((_, Some(s))) => *s,
            Some((_, None)) => return None,
            None => Signal::parse("USR2")?,
        };
        if pause == resume {
            // Point at whichever of the two was written last (at least one was: the
            // defaults differ).
            let span = signals
                .iter()
                .filter_map(|(_, given)| given.as_ref().map(|(span, _)| span.clone()))
                .max_by_key(|span| span.start)?;
            let message = format!(
                "`pause_signal` and `continue_signal` are both {pause}: the program could not \
                 tell pause from continue"
            );
            self.error(span, message, Some("use two different signals".into()));
            return None;
        }
        Some(PauseMode::Signal { pause, resume })
    }

    fn exit_codes(&mut self, v: &Value<'_>) -> Option<Vec<i32>> {
        let DeValue::Array(items) = v.get_ref() else {
            let help = "e.g. `success_exit_codes = [2, 143]`".to_string();
            self.mismatch(v, "success_exit_codes", "an array of integers", Some(help));
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.integer_in(item, &format!("success_exit_codes[{i}]"), 0, 255) {
                Some(n) => out.push(n as i32),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn backoff(&mut self, v: &Value<'_>) -> Option<Backoff> {
        let DeValue::Table(table) = v.get_ref() else {
            let help = "e.g. `backoff = { initial = \"100ms\", max = \"30s\" }`".to_string();
            self.mismatch(v, "backoff", "a table", Some(help));
            return None;
        };
        let before = self.diags.len();
        let mut out = Backoff::default();
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "initial" => {
                    out.initial = self.duration(value, "backoff.initial").unwrap_or_default()
                }
                "max" => out.max = self.duration(value, "backoff.max").unwrap_or_default(),
                "reset_after" => {
                    out.reset_after = self
                        .duration(value, "backoff.reset_after")
                        .unwrap_or_default()
                }
                "multiplier" => {
                    if let Some(m) = self.number(value, "backoff.multiplier") {
                        if m < 1.0 {
                            let message =
                                format!("`backoff.multiplier` must be at least 1.0, found {m}");
                            self.error(value.span(), message, None);
                        }
                        out.multiplier = m;
                    }
                }
                "jitter" => {
                    if let Some(j) = self.number(value, "backoff.jitter") {
                        if !(0.0..=1.0).contains(&j) {
                            let message = format!(
                                "`backoff.jitter` must be between 0.0 and 1.0 (a fraction of \
                                 the delay), found {j}"
                            );
                            self.error(value.span(), message, None);
                        }
                        out.jitter = j;
                    }
                }
                _ => self.unknown_key(key, value, BACKOFF_KEYS, "in `backoff`"),
            }
        }
        (self.diags.len() == before).then_some(out)
    }

    fn recovery(&mut self, v: &Value<'_>) -> Option<Vec<RecoveryAction>> {
        let items = match v.get_ref() {
            DeValue::Array(items) => items,
            DeValue::Table(_) => {
                let help = format!(
                    "wrap it in a list: `recovery = [{}]`",
                    &self.source[v.span()]
                );
                self.mismatch(v, "recovery", "an array of actions", Some(help));
                return None;
            }
            _ => {
                let help = "e.g. `recovery = [{ action = \"restart\", delay = \"5s\" }]`";
                self.mismatch(v, "recovery", "an array of actions", Some(help.into()));
                return None;
            }
        };
        let before = self.diags.len();
        if items.is_empty() {
            self.error(
                v.span(),
                "`recovery` needs at least one action",
                Some("leave `recovery` out to restart at once after every failure".into()),
            );
        } else if items.len() > MAX_RECOVERY {
            let message = format!(
                "`recovery` has {} actions; at most {MAX_RECOVERY} are allowed (the last one \
                 repeats for every later failure)",
                items.len()
            );
            self.error(v.span(), message, None);
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let name = format!("recovery[{i}]");
            let Some(entry) = self.action(item, &name, &["restart", "run", "none"], true) else {
                continue;
            };
            out.push(match entry.action {
                "restart" => RecoveryAction::Restart { delay: entry.delay },
                "run" => RecoveryAction::Run {
                    command: entry.command.unwrap_or_default(),
                    delay: entry.delay,
                },
                _ => RecoveryAction::None,
            });
        }
        (self.diags.len() == before).then_some(out)
    }

    /// One action table: `{ action = "...", command = [...], delay = "..." }`. `command` is
    /// required with, and only allowed with, `action = "run"`; `delay` (when allowed here)
    /// means nothing with `action = "none"`.
    fn action(
        &mut self,
        v: &Value<'_>,
        name: &str,
        actions: &[&'static str],
        with_delay: bool,
    ) -> Option<ActionEntry> {
        let example = if with_delay {
            "{ action = \"restart\", delay = \"5s\" }"
        } else {
            "{ action = \"run\", command = [\"page-oncall\"] }"
        };
        let DeValue::Table(table) = v.get_ref() else {
            let help = format!("e.g. `{example}`");
            self.mismatch(v, name, "a table", Some(help));
            return None;
        };
        let known = if with_delay {
            RECOVERY_KEYS
        } else {
            GIVE_UP_KEYS
        };
        let before = self.diags.len();
        let mut action = None;
        let mut command: Option<(Range<usize>, Option<Vec<String>>)> = None;
        let mut delay: Option<(Range<usize>, Duration)> = None;
        let choices: Vec<(&str, &'static str)> = actions.iter().map(|a| (*a, *a)).collect();
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "action" => action = self.choice(value, &format!("{name}.action"), &choices),
                "command" => {
                    let argv = self.command(value, &format!("{name}.command"));
                    command = Some((key.span(), argv));
                }
                "delay" if with_delay => {
                    let d = self.duration(value, &format!("{name}.delay"));
                    delay = Some((key.span(), d.unwrap_or_default()));
                }
                _ => self.unknown_key(key, value, known, &format!("in `{name}`")),
            }
        }
        let has_action = table.get("action").is_some();
        if !has_action {
            let message = format!("`{name}` has no `action` (one of {})", quoted_list(actions));
            self.error(v.span(), message, Some(format!("e.g. `{example}`")));
        }
        if let Some(action) = action {
            match (action, &command) {
                ("run", None) => self.error(
                    v.span(),
                    format!("`{name}` has `action = \"run\"` but no `command`"),
                    Some(format!("add the command to run, e.g. `{RUN_EXAMPLE}`")),
                ),
                ("run", Some(_)) => {}
                (other, Some((span, _))) => self.error(
                    span.clone(),
                    format!("`command` is only used with `action = \"run\"`, not \"{other}\""),
                    Some("remove `command`, or set `action = \"run\"`".into()),
                ),
                (_, None) => {}
            }
            if let ("none", Some((span, _))) = (action, &delay) {
                self.error(
                    span.clone(),
                    "`delay` means nothing with `action = \"none\"`: the instance stays failed",
                    Some("remove `delay`, or use `action = \"restart\"`".into()),
                );
            }
        }
        if self.diags.len() != before {
            return None;
        }
        Some(ActionEntry {
            action: action?,
            command: command.and_then(|(_, argv)| argv),
            delay: delay.map(|(_, d)| d).unwrap_or_default(),
        })
    }

    fn give_up(&mut self, v: &Value<'_>) -> Option<GiveUp> {
        match v.get_ref() {
            DeValue::String(s) => match s.as_ref() {
                "stay" => Some(GiveUp::Stay),
                "exit" => Some(GiveUp::Exit),
                "run" => {
                    self.error(
                        v.span(),
                        "`on_give_up = \"run\"` needs the command to run",
                        Some(format!("write it as a table: `on_give_up = {RUN_EXAMPLE}`")),
                    );
                    None
                }
                other => {
                    let help = match suggest(other, &["stay", "exit", "run"]) {
                        Some("run") => {
                            Some(format!("write it as a table: `on_give_up = {RUN_EXAMPLE}`"))
                        }
                        Some(c) => Some(format!("did you mean \"{c}\"?")),
                        None => None,
                    };
                    let message = format!(
                        "`on_give_up` must be \"stay\", \"exit\" or a table \
                         `{{ action = \"run\", command = [...] }}`, found {}",
                        toml_str(other)
                    );
                    self.error(v.span(), message, help);
                    None
                }
            },
            DeValue::Table(_) => {
                let entry = self.action(v, "on_give_up", &["stay", "exit", "run"], false)?;
                Some(match entry.action {
                    "stay" => GiveUp::Stay,
                    "exit" => GiveUp::Exit,
                    _ => GiveUp::Run {
                        command: entry.command.unwrap_or_default(),
                    },
                })
            }
            _ => {
                let expected =
                    "\"stay\", \"exit\" or a table `{ action = \"run\", command = [...] }`";
                self.mismatch(v, "on_give_up", expected, None);
                None
            }
        }
    }
}
