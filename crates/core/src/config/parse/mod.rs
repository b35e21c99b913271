//! Reading a config file in two phases: the TOML text is parsed into a document that keeps
//! the position of every key and value, then a hand-written walk checks each key against the
//! schema and builds the [`Config`]. The walk never stops at the first problem: every unknown
//! key, wrong type and bad value is reported, sorted by position, so one run shows them all.
//!
//! The walk is split by table: `service` (`[service.NAME]`), `probe` (`readiness`,
//! `liveness`), `depends` (`depends_on` and the cycle check), `log` (`[service.NAME.log]`),
//! `runas` (`umask`, `pass_env`, `limits`), `endpoint` (`[service.NAME.endpoint]` and the
//! addresses endpoints may not share) and `task` (`[[task]]`); this file holds the
//! entry point and the readers of single values they share.
//!
//! See `docs/configuration.md` for the schema as users see it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::host::{Field, Owner, Reference};
use super::model::{
    Backoff, Condition, Config, ControlSpec, Dependency, GiveUp, OnConfigChange, PauseMode, Probe,
    ProbeCheck, ProcessSpec, RecoveryAction, RestartPolicy, ServiceSpec, SupervisorSpec,
    TaskFailure, TaskMode, TaskSpec,
};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::duration::parse_duration;
use crate::signal::Signal;

type Value<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<Cow<'i, str>>;

mod access;
mod depends;
mod endpoint;
mod log;
mod probe;
mod runas;
mod service;
mod task;

const TOP_KEYS: &[&str] = &["supervisor", "control", "http", "service", "task"];
const SUPERVISOR_KEYS: &[&str] = &[
    "state_dir",
    "on_config_change",
    "journal_max_age",
    "journal_max_events",
];
const CONTROL_KEYS: &[&str] = &["socket", "socket_group", "socket_mode", "acl"];
/// The keys of a [`ProcessSpec`], which services and tasks share.
const PROCESS_KEYS: &[&str] = &[
    "command",
    "env",
    "env_file",
    "working_dir",
    "user",
    "group",
    "supplementary_groups",
    "umask",
    "pass_env",
    "limits",
    "no_new_privileges",
];
/// Longest service or task name.
const MAX_NAME: usize = 64;

const COMMAND_HELP: &str = "write the argv as an array, e.g. `command = [\"prog\", \"arg\"]`; \
     steward runs a shell only when asked: `command = [\"sh\", \"-c\", \"...\"]`";

/// Parses and checks a config file.
///
/// `file` is the path as the user typed it: it names the file in diagnostics, and its parent
/// directory is the base for relative paths in the config (`state_dir`, `socket`,
/// `working_dir`, `env_file`). Absolute paths are kept as they are. Nothing is read from the
/// file system: `source` is the file's text.
///
/// On failure, every problem found is returned, sorted by position.
pub fn parse(file: &str, source: &str) -> Result<Config, Diagnostics> {
    parse_with_references(file, source).map(|(config, _)| config)
}

/// [`parse`], and where each value that only the machine can check was written (programs,
/// users, groups, `working_dir`, `env_file`), for [`super::host::check`]. The positions are
/// kept out of the [`Config`], so that two configs that say the same are equal.
pub fn parse_with_references(
    file: &str,
    source: &str,
) -> Result<(Config, Vec<Reference>), Diagnostics> {
    let (doc, errors) = DeTable::parse_recoverable(source);
    let mut cx = Checker {
        file,
        source,
        base: Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        syntax: Vec::new(),
        diags: Vec::new(),
        service_names: Vec::new(),
        task_names: Vec::new(),
        dependency_spans: BTreeMap::new(),
        process_spans: Vec::new(),
        references: Vec::new(),
        pending_claims: Vec::new(),
        claims: Vec::new(),
    };
    cx.syntax_errors(&errors);
    let config = cx.root(doc.get_ref());
    if cx.diags.is_empty() {
        Ok((config, cx.references))
    } else {
        cx.diags.sort_by_key(|d| (d.span.start, d.span.end));
        Err(Diagnostics(cx.diags))
    }
}

struct Checker<'s> {
    file: &'s str,
    source: &'s str,
    /// The config file's directory; relative paths are joined onto it.
    base: PathBuf,
    /// Where the TOML parser found problems; values around them are not checked further.
    syntax: Vec<Range<usize>>,
    diags: Vec<Diagnostic>,
    /// Every name under `[service]`, valid or not, collected before the walk so that
    /// `depends_on` and task names can be checked against all of them.
    service_names: Vec<String>,
    /// Every `name` string of a `[[task]]`, for help texts.
    task_names: Vec<String>,
    /// service -> (dependency, span of its `depends_on` entry), to point at cycles.
    dependency_spans: BTreeMap<String, Vec<(String, Range<usize>)>>,
    /// Where the process keys of the service or task being read were written; they become
    /// `references` once its table turns out valid.
    process_spans: Vec<(Field, Range<usize>)>,
    /// The values of valid services and tasks that only the machine can check.
    references: Vec<Reference>,
    /// What the endpoint of the service being read binds; kept in `claims` once the
    /// service turns out valid.
    pending_claims: Vec<endpoint::Claim>,
    /// What valid endpoints and `[http]` bind, checked against each other at the end.
    claims: Vec<endpoint::Claim>,
}

/// "a string", "an integer", ...: what a value is, for "found ..." messages.
fn kind(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The closest of `candidates` to `word`, if one is close enough to be a likely typo.
fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .filter_map(|&c| {
            let lower = c.to_lowercase();
            let jw = strsim::jaro_winkler(&word, &lower);
            let dl = strsim::damerau_levenshtein(&word, &lower);
            let close = jw > 0.8 || (dl <= 2 && 2 * dl <= word.len().max(c.len()));
            close.then_some((dl, jw, c))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    suggest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn key_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TOML basic string for `s`, for help texts that show config lines.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why `name` cannot be the name of a `what` ("service" or "task"), if it cannot. Tasks
/// follow the service rules: background tasks are shown next to services.
fn bad_name(what: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("a {what} name cannot be empty"));
    }
    if name.contains(':') {
        return Some(format!(
            "{what} name `{name}` contains `:`, which is not allowed: the command line \
             writes NAME:INSTANCE"
        ));
    }
    if name.chars().count() > MAX_NAME {
        return Some(format!(
            "{what} name `{name}` is longer than {MAX_NAME} characters"
        ));
    }
    let first_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Some(format!("invalid {what} name `{name}`"));
    }
    None
}

const NAME_HELP: &str = "a service name is 1 to 64 ASCII letters, digits, `_`, `.` or `-`, \
     starting with a letter or digit";
const TASK_NAME_HELP: &str = "a task name is 1 to 64 ASCII letters, digits, `_`, `.` or `-`, \
     starting with a letter or digit";

/// A TOML integer as an `i128` (TOML integers are 64-bit, so this never overflows for
/// anything the parser accepts; anything else saturates).
fn integer_value(v: &DeValue<'_>) -> Option<i128> {
    let DeValue::Integer(i) = v else { return None };
    Some(
        i128::from_str_radix(i.as_str(), i.radix()).unwrap_or_else(|_| {
            if i.as_str().starts_with('-') {
                i128::MIN
            } else {
                i128::MAX
            }
        }),
    )
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        self.diags
            .push(Diagnostic::new(self.file, self.source, span, message, help));
    }

    /// Reports the TOML parser's errors, one per line: after the first problem on a line,
    /// the parser's recovery often produces follow-on errors that only repeat it.
    fn syntax_errors(&mut self, errors: &[toml::de::Error]) {
        let mut errors: Vec<(Range<usize>, &str)> = errors
            .iter()
            .map(|e| (e.span().unwrap_or(0..0), e.message()))
            .collect();
        errors.sort_by_key(|(span, _)| (span.start, span.end));
        let mut last_line = None;
        for (span, message) in errors {
            self.syntax.push(span.clone());
            let d = Diagnostic::new(self.file, self.source, span, message, None);
            if last_line != Some(d.line) {
                last_line = Some(d.line);
                self.diags.push(d);
            }
        }
    }

    /// True when the TOML parser reported a problem from `start` to the next line that
    /// starts a table (`[...]`), i.e. most likely in the table that begins at `start`.
    fn syntax_error_in_section(&self, start: usize) -> bool {
        let line_end = self.source[start..]
            .find('\n')
            .map_or(self.source.len(), |i| start + i);
        let mut end = self.source.len();
        let mut at = line_end;
        for line in self.source[line_end..].split_inclusive('\n') {
            if line.trim_start().starts_with('[') {
                end = at;
                break;
            }
            at += line.len();
        }
        self.syntax
            .iter()
            .any(|e| start <= e.start && e.start <= end)
    }

    /// True when the TOML parser reported a problem between the start of `key` and the end
    /// of its `value`: the entry is the parser's best guess, and checking it would only add
    /// confusing errors.
    /// A value the parser could not read at all has an empty span.
    fn broken(&self, key: &Key<'_>, value: &Value<'_>) -> bool {
        if value.span().is_empty() {
            return true;
        }
        let start = key.span().start.min(value.span().start);
        let end = key.span().end.max(value.span().end);
        self.syntax
            .iter()
            .any(|e| start <= e.start && e.start <= end)
    }

    fn unknown_key(&mut self, key: &Key<'_>, value: &Value<'_>, known: &[&str], place: &str) {
        let name = key.get_ref().as_ref();
        let what = if matches!(value.get_ref(), DeValue::Table(_)) {
            "table"
        } else {
            "key"
        };
        let help = did_you_mean(name, known)
            .unwrap_or_else(|| format!("the keys allowed {place} are {}", key_list(known)));
        self.error(
            key.span(),
            format!("unknown {what} `{name}` {place}"),
            Some(help),
        );
    }

    fn mismatch(&mut self, v: &Value<'_>, name: &str, expected: &str, help: Option<String>) {
        let found = kind(v.get_ref());
        self.error(
            v.span(),
            format!("`{name}` must be {expected}, found {found}"),
            help,
        );
    }

    // ---- the document ----------------------------------------------------------------

    fn root(&mut self, doc: &DeTable<'_>) -> Config {
        let mut config = Config {
            supervisor: SupervisorSpec::default(),
            control: ControlSpec::default(),
            http: None,
            services: BTreeMap::new(),
            tasks: Vec::new(),
        };
        if let Some(DeValue::Table(services)) = doc.get("service").map(Spanned::get_ref) {
            self.service_names = services
                .iter()
                .map(|(k, _)| k.get_ref().to_string())
                .collect();
        }
        if let Some(DeValue::Array(tasks)) = doc.get("task").map(Spanned::get_ref) {
            self.task_names = tasks
                .iter()
                .filter_map(|t| match t.get_ref() {
                    DeValue::Table(t) => match t.get("name").map(Spanned::get_ref) {
                        Some(DeValue::String(name)) => Some(name.to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
        }
        for (key, value) in doc.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "supervisor" => self.supervisor(value, &mut config.supervisor),
                "control" => self.control(value, &mut config.control),
                "http" => config.http = self.http(value),
                "service" => self.services(value, &mut config.services),
                "task" => self.tasks(value, &mut config.tasks),
                name => {
                    let what = if matches!(value.get_ref(), DeValue::Table(_)) {
                        format!("unknown table `[{name}]`")
                    } else {
                        format!("unknown key `{name}`")
                    };
                    let help = did_you_mean(name, TOP_KEYS).unwrap_or_else(|| {
                        "the top-level tables are `[supervisor]`, `[control]`, `[http]`, \
                         `[service.NAME]` and `[[task]]`"
                            .into()
                    });
                    self.error(key.span(), what, Some(help));
                }
            }
        }
        self.claim_conflicts();
        config
    }

    fn table<'v, 'i>(&mut self, v: &'v Value<'i>, name: &str) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.mismatch(v, name, "a table", None);
                None
            }
        }
    }

    fn supervisor(&mut self, v: &Value<'_>, out: &mut SupervisorSpec) {
        let Some(table) = self.table(v, "supervisor") else {
            return;
        };
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "state_dir" => {
                    if let Some(p) = self.path(value, "state_dir") {
                        out.state_dir = Some(p);
                    }
                }
                "on_config_change" => {
                    let choices = [
                        ("reload", OnConfigChange::Reload),
                        ("ignore", OnConfigChange::Ignore),
                    ];
                    if let Some(c) = self.choice(value, "on_config_change", &choices) {
                        out.on_config_change = c;
                    }
                }
                "journal_max_age" => {
                    if let Some(d) = self.positive_duration(value, "journal_max_age", None) {
                        out.journal.max_age = d;
                    }
                }
                "journal_max_events" => {
                    if let Some(n) = self.integer_in(value, "journal_max_events", 1, i64::MAX) {
                        out.journal.max_events = n as u64;
                    }
                }
                _ => self.unknown_key(key, value, SUPERVISOR_KEYS, "in `[supervisor]`"),
            }
        }
    }

    // ---- values ------------------------------------------------------------------------

    fn string<'v>(&mut self, v: &'v Value<'_>, name: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => {
                self.mismatch(v, name, "a string", None);
                None
            }
        }
    }

    /// A non-empty string without NUL: a user or group name.
    fn name_string(&mut self, v: &Value<'_>, name: &str) -> Option<String> {
        let s = self.string(v, name)?;
        if s.is_empty() {
            self.error(v.span(), format!("`{name}` cannot be empty"), None);
            None
        } else if s.contains('\0') {
            self.error(
                v.span(),
                format!("`{name}` cannot contain a NUL character"),
                None,
            );
            None
        } else {
            Some(s.to_string())
        }
    }

    fn string_array(&mut self, v: &Value<'_>, name: &str) -> Option<Vec<String>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.mismatch(v, name, "an array of strings", None);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.name_string(item, &format!("{name}[{i}]")) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A path; relative ones are joined onto the config file's directory.
    fn path(&mut self, v: &Value<'_>, name: &str) -> Option<PathBuf> {
        let s = self.string(v, name)?;
        if s.is_empty() {
            self.error(v.span(), format!("`{name}` cannot be empty"), None);
            return None;
        }
        if s.contains('\0') {
            self.error(
                v.span(),
                format!("`{name}` cannot contain a NUL character"),
                None,
            );
            return None;
        }
        if s == "~" || s.starts_with("~/") {
            self.error(
                v.span(),
                format!("`{name}` starts with `~`, which steward does not expand"),
                Some("write the full path, e.g. \"/home/me/...\"".into()),
            );
            return None;
        }
        let path = Path::new(s);
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        })
    }

    fn boolean(&mut self, v: &Value<'_>, name: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            DeValue::String(s) if s == "true" || s == "false" => {
                self.mismatch(
                    v,
                    name,
                    "a boolean",
                    Some(format!("remove the quotes: `{s}`")),
                );
                None
            }
            _ => {
                self.mismatch(v, name, "a boolean (`true` or `false`)", None);
                None
            }
        }
    }

    fn integer_in(&mut self, v: &Value<'_>, name: &str, min: i64, max: i64) -> Option<i64> {
        let Some(n) = integer_value(v.get_ref()) else {
            let help = match v.get_ref() {
                DeValue::String(s) if s.trim().parse::<i64>().is_ok() => {
                    Some(format!("remove the quotes: `{}`", s.trim()))
                }
                _ => None,
            };
            self.mismatch(v, name, "an integer", help);
            return None;
        };
        if n < i128::from(min) || n > i128::from(max) {
            let range = if max == i64::from(u32::MAX) {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            };
            self.error(
                v.span(),
                format!("`{name}` must be {range}, found {n}"),
                None,
            );
            return None;
        }
        Some(n as i64)
    }

    /// A float or an integer, finite.
    fn number(&mut self, v: &Value<'_>, name: &str) -> Option<f64> {
        let x = match v.get_ref() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(_) => integer_value(v.get_ref()).map(|n| n as f64),
            _ => {
                self.mismatch(v, name, "a number", None);
                return None;
            }
        };
        match x {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.error(v.span(), format!("`{name}` must be a finite number"), None);
                None
            }
        }
    }

    fn choice<T: Copy>(&mut self, v: &Value<'_>, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
        let Some(s) = (match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => None,
        }) else {
            let expected = format!("a string, {}", quoted_list(&words));
            self.mismatch(v, name, &expected, None);
            return None;
        };
        if let Some((_, t)) = choices.iter().find(|(w, _)| *w == s.as_ref()) {
            return Some(*t);
        }
        let help = suggest(s, &words).map(|c| format!("did you mean \"{c}\"?"));
        let message = format!(
            "`{name}` must be {}, found {}",
            quoted_list(&words),
            toml_str(s)
        );
        self.error(v.span(), message, help);
        None
    }

    /// The argv of a command: a non-empty array of strings, the first one non-empty.
    fn command(&mut self, v: &Value<'_>, name: &str) -> Option<Vec<String>> {
        let items = match v.get_ref() {
            DeValue::Array(items) => items,
            DeValue::String(s) => {
                let words: Vec<String> = s.split_whitespace().map(toml_str).collect();
                let simple = !words.is_empty()
                    && !s.contains(|c: char| "\"'\\$`|&;<>(){}*?[]~#".contains(c));
                let help = if simple {
                    format!(
                        "write the argv as an array: `{name} = [{}]`; steward runs a shell \
                         only when asked: `[\"sh\", \"-c\", \"...\"]`",
                        words.join(", ")
                    )
                } else {
                    COMMAND_HELP.replace("command = ", &format!("{name} = "))
                };
                self.mismatch(v, name, "an array of strings (the argv)", Some(help));
                return None;
            }
            _ => {
                let help = COMMAND_HELP.replace("command = ", &format!("{name} = "));
                self.mismatch(v, name, "an array of strings (the argv)", Some(help));
                return None;
            }
        };
        if items.is_empty() {
            self.error(
                v.span(),
                format!("`{name}` cannot be empty: it needs at least the program to run"),
                Some(format!("e.g. `{name} = [\"prog\", \"arg\"]`")),
            );
            return None;
        }
        let mut argv = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let Some(s) = self.string(item, &format!("{name}[{i}]")) else {
                ok = false;
                continue;
            };
            if i == 0 && s.is_empty() {
                self.error(
                    item.span(),
                    format!("the program to run (`{name}[0]`) cannot be empty"),
                    None,
                );
                ok = false;
            } else if s.contains('\0') {
                let message = format!("`{name}[{i}]` cannot contain a NUL character");
                self.error(item.span(), message, None);
                ok = false;
            }
            argv.push(s.to_string());
        }
        ok.then_some(argv)
    }

    fn env(&mut self, v: &Value<'_>) -> Option<BTreeMap<String, String>> {
        let DeValue::Table(table) = v.get_ref() else {
            let help = "e.g. `env = { RUST_LOG = \"info\", PORT = \"8080\" }`".to_string();
            self.mismatch(v, "env", "a table of strings", Some(help));
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            let k = key.get_ref().as_ref();
            if let Some(why) = crate::env::bad_name(k) {
                self.error(key.span(), why, None);
                ok = false;
            }
            let name = format!("env.{k}");
            match value.get_ref() {
                DeValue::String(s) if s.contains('\0') => {
                    let message = format!("`{name}` cannot contain a NUL character");
                    self.error(value.span(), message, None);
                    ok = false;
                }
                DeValue::String(s) => {
                    out.insert(k.to_string(), s.to_string());
                }
                DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => {
                    let text = self.source[value.span()].to_string();
                    let help = format!("quote it: `{k} = {}`", toml_str(&text));
                    self.mismatch(value, &name, "a string", Some(help));
                    ok = false;
                }
                _ => {
                    self.mismatch(value, &name, "a string", None);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A duration string. On a bad one, the span points at the exact spot inside the quotes.
    fn duration(&mut self, v: &Value<'_>, name: &str) -> Option<Duration> {
        let s = match v.get_ref() {
            DeValue::String(s) => s,
            DeValue::Integer(_) | DeValue::Float(_) => {
                let number = &self.source[v.span()];
                let help = format!("write it as a string with a unit, e.g. \"{number}s\"");
                self.mismatch(v, name, "a duration string", Some(help));
                return None;
            }
            _ => {
                let help = "e.g. \"500ms\", \"10s\" or \"1m30s\"".to_string();
                self.mismatch(v, name, "a duration string", Some(help));
                return None;
            }
        };
        match parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                let span = match self.string_content_start(&v.span(), s) {
                    Some(start) => {
                        let lead = s.len() - s.trim_start().len();
                        let at = start + lead + e.offset;
                        let end = start + s.trim_end().len();
                        at..end.max(at)
                    }
                    None => v.span(),
                };
                let message = format!("invalid duration for `{name}`: {}", e.message);
                let help = "durations are numbers with a unit (ns, us, ms, s, m, h, d), e.g. \
                            \"500ms\", \"10s\" or \"1m30s\""
                    .to_string();
                self.error(span, message, Some(help));
                None
            }
        }
    }

    /// Where the text of the string value `value` starts in the source, when the source
    /// spells it literally (no escapes), so offsets inside it map to source offsets.
    fn string_content_start(&self, span: &Range<usize>, value: &str) -> Option<usize> {
        let raw = self.source.get(span.clone())?;
        let delim = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else if raw.starts_with('"') || raw.starts_with('\'') {
            1
        } else {
            return None;
        };
        let inner = raw.get(delim..raw.len().checked_sub(delim)?)?;
        // A multi-line string drops a newline right after its opening quotes.
        let skip = if delim == 3 {
            if inner.starts_with("\r\n") {
                2
            } else {
                usize::from(inner.starts_with('\n'))
            }
        } else {
            0
        };
        (inner.get(skip..)? == value).then_some(span.start + delim + skip)
    }

    /// A signal name or number. `refused` lists signals that make no sense for this key,
    /// each with the reason; `refused_help` says what to use instead.
    fn signal(
        &mut self,
        v: &Value<'_>,
        name: &str,
        refused: &[(Signal, &str)],
        refused_help: &str,
    ) -> Option<Signal> {
        let help = "use a name such as \"TERM\", \"INT\", \"QUIT\" or \"SIGHUP\", or a number from \
                    1 to 64";
        let signal = match v.get_ref() {
            DeValue::String(s) => Signal::parse(s.trim()).or_else(|| {
                let message = format!("`{name}` {} is not a signal", toml_str(s));
                self.error(v.span(), message, Some(help.into()));
                None
            })?,
            DeValue::Integer(_) => {
                let n = integer_value(v.get_ref())?;
                i32::try_from(n)
                    .ok()
                    .and_then(Signal::from_number)
                    .or_else(|| {
                        let message = format!("`{name}` {n} is not a signal number");
                        self.error(v.span(), message, Some(help.into()));
                        None
                    })?
            }
            _ => {
                self.mismatch(v, name, "a signal name or number", Some(help.into()));
                return None;
            }
        };
        if let Some((_, why)) = refused.iter().find(|(s, _)| *s == signal) {
            let message = format!("`{name}` cannot be {signal}: {why}");
            self.error(v.span(), message, Some(refused_help.into()));
            return None;
        }
        Some(signal)
    }

    /// A duration longer than zero.
    fn positive_duration(
        &mut self,
        v: &Value<'_>,
        name: &str,
        help: Option<String>,
    ) -> Option<Duration> {
        let d = self.duration(v, name)?;
        if d.is_zero() {
            self.error(v.span(), format!("`{name}` must be longer than zero"), help);
            return None;
        }
        Some(d)
    }

    /// Reads `key` into `out` when it is one of [`PROCESS_KEYS`], the keys services and tasks
    /// share; false when it is not one of them. The position of each value the machine
    /// must check is noted in `process_spans`.
    fn process_key(&mut self, key: &str, value: &Value<'_>, out: &mut ProcessSpec) -> bool {
        let span = value.span();
        match key {
            "command" => {
                if let Some(argv) = self.command(value, "command") {
                    out.command = argv;
                    if let DeValue::Array(items) = value.get_ref()
                        && let Some(program) = items.first()
                    {
                        self.process_spans.push((Field::Program, program.span()));
                    }
                }
            }
            "env" => {
                if let Some(env) = self.env(value) {
                    out.env = env;
                }
            }
            "env_file" => {
                out.env_file = self.path(value, "env_file");
                if out.env_file.is_some() {
                    self.process_spans.push((Field::EnvFile, span));
                }
            }
            "working_dir" => {
                out.working_dir = self.path(value, "working_dir");
                if out.working_dir.is_some() {
                    self.process_spans.push((Field::WorkingDir, span));
                }
            }
            "user" => {
                out.user = self.name_string(value, "user");
                if out.user.is_some() {
                    self.process_spans.push((Field::User, span));
                }
            }
            "group" => {
                out.group = self.name_string(value, "group");
                if out.group.is_some() {
                    self.process_spans.push((Field::Group, span));
                }
            }
            "supplementary_groups" => {
                out.supplementary_groups = self.string_array(value, "supplementary_groups");
                if out.supplementary_groups.is_some()
                    && let DeValue::Array(items) = value.get_ref()
                {
                    for (i, item) in items.iter().enumerate() {
                        let field = Field::SupplementaryGroup(i);
                        self.process_spans.push((field, item.span()));
                    }
                }
            }
            "umask" => {
                if let Some(mask) = self.umask(value) {
                    out.umask = Some(mask);
                }
            }
            "pass_env" => {
                if let Some(names) = self.pass_env(value) {
                    out.pass_env = names;
                }
            }
            "limits" => {
                if let Some(limits) = self.limits(value) {
                    out.limits = limits;
                }
            }
            "no_new_privileges" => {
                if let Some(b) = self.boolean(value, "no_new_privileges") {
                    out.no_new_privileges = b;
                }
            }
            _ => return false,
        }
        true
    }

    /// Turns the spans noted while reading the table of `owner` into references.
    fn keep_references(&mut self, owner: Owner) {
        let spans = std::mem::take(&mut self.process_spans);
        self.references
            .extend(spans.into_iter().map(|(field, span)| Reference {
                owner: owner.clone(),
                field,
                span,
            }));
    }
}

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod tests;
