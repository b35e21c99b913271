//! Reading a config file in two phases: the TOML text is parsed into a document that keeps
//! the position of every key and value, then a hand-written walk checks each key against the
//! schema and builds the [`Config`]. The walk never stops at the first problem: every unknown
//! key, wrong type and bad value is reported, sorted by position, so one run shows them all.
//!
//! See `docs/configuration.md` for the schema as users see it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::model::{
    Backoff, Config, ControlSpec, GiveUp, OnConfigChange, RecoveryAction, RestartPolicy,
    ServiceSpec, SupervisorSpec,
};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::duration::parse_duration;
use crate::signal::Signal;

type Value<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<Cow<'i, str>>;

const TOP_KEYS: &[&str] = &["supervisor", "control", "service"];
const SUPERVISOR_KEYS: &[&str] = &["state_dir", "on_config_change"];
const CONTROL_KEYS: &[&str] = &["socket"];
const SERVICE_KEYS: &[&str] = &[
    "command",
    "env",
    "env_file",
    "working_dir",
    "user",
    "group",
    "supplementary_groups",
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
];
const BACKOFF_KEYS: &[&str] = &["initial", "max", "multiplier", "jitter", "reset_after"];
const RECOVERY_KEYS: &[&str] = &["action", "command", "delay"];
const GIVE_UP_KEYS: &[&str] = &["action", "command"];

/// Most entries `recovery` may have.
const MAX_RECOVERY: usize = 16;
/// Most instances one service may ask for.
const MAX_INSTANCES: i64 = 10_000;
/// Longest service name.
const MAX_NAME: usize = 64;

const COMMAND_HELP: &str = "write the argv as an array, e.g. `command = [\"prog\", \"arg\"]`; \
     steward runs a shell only when asked: `command = [\"sh\", \"-c\", \"...\"]`";
const RUN_EXAMPLE: &str = "{ action = \"run\", command = [\"page-oncall\"] }";

/// Parses and checks a config file.
///
/// `file` is the path as the user typed it: it names the file in diagnostics, and its parent
/// directory is the base for relative paths in the config (`state_dir`, `socket`,
/// `working_dir`, `env_file`). Absolute paths are kept as they are. Nothing is read from the
/// file system: `source` is the file's text.
///
/// On failure, every problem found is returned, sorted by position.
pub fn parse(file: &str, source: &str) -> Result<Config, Diagnostics> {
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
    };
    cx.syntax_errors(&errors);
    let config = cx.root(doc.get_ref());
    if cx.diags.is_empty() {
        Ok(config)
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
            let jw = strsim::jaro_winkler(&word, c);
            let dl = strsim::damerau_levenshtein(&word, c);
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

/// Why `name` cannot be a service name, if it cannot.
fn bad_service_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a service name cannot be empty".into());
    }
    if name.contains(':') {
        return Some(format!(
            "service name `{name}` contains `:`, which is not allowed: the command line \
             writes NAME:INSTANCE"
        ));
    }
    if name.chars().count() > MAX_NAME {
        return Some(format!(
            "service name `{name}` is longer than {MAX_NAME} characters"
        ));
    }
    let first_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Some(format!("invalid service name `{name}`"));
    }
    None
}

const NAME_HELP: &str = "a service name is 1 to 64 ASCII letters, digits, `_`, `.` or `-`, \
     starting with a letter or digit";

/// Why `name` cannot be an environment variable name, if it cannot.
fn bad_env_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an environment variable name cannot be empty")
    } else if name.contains('=') {
        Some("an environment variable name cannot contain `=`")
    } else if name.contains('\0') {
        Some("an environment variable name cannot contain a NUL character")
    } else {
        None
    }
}

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

/// What one action table (`recovery` entry or `on_give_up`) says.
struct ActionEntry {
    action: &'static str,
    command: Option<Vec<String>>,
    delay: Duration,
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
            services: BTreeMap::new(),
            tasks: Vec::new(),
        };
        for (key, value) in doc.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "supervisor" => self.supervisor(value, &mut config.supervisor),
                "control" => self.control(value, &mut config.control),
                "service" => self.services(value, &mut config.services),
                name => {
                    let what = if matches!(value.get_ref(), DeValue::Table(_)) {
                        format!("unknown table `[{name}]`")
                    } else {
                        format!("unknown key `{name}`")
                    };
                    let help = did_you_mean(name, TOP_KEYS).unwrap_or_else(|| {
                        "the top-level tables are `[supervisor]`, `[control]` and \
                         `[service.NAME]`"
                            .into()
                    });
                    self.error(key.span(), what, Some(help));
                }
            }
        }
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
                _ => self.unknown_key(key, value, SUPERVISOR_KEYS, "in `[supervisor]`"),
            }
        }
    }

    fn control(&mut self, v: &Value<'_>, out: &mut ControlSpec) {
        let Some(table) = self.table(v, "control") else {
            return;
        };
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "socket" => {
                    if let Some(p) = self.path(value, "socket") {
                        out.socket = Some(p);
                    }
                }
                _ => self.unknown_key(key, value, CONTROL_KEYS, "in `[control]`"),
            }
        }
    }

    fn services(&mut self, v: &Value<'_>, out: &mut BTreeMap<String, ServiceSpec>) {
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
            let name_ok = match bad_service_name(name) {
                Some(why) => {
                    self.error(key.span(), why, Some(NAME_HELP.into()));
                    false
                }
                None => true,
            };
            // Check the body even when the name is bad, so every problem shows at once.
            if let (Some(spec), true) = (self.service(key, value), name_ok) {
                out.insert(name.to_string(), spec);
            }
        }
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
        let mut spec = ServiceSpec::with_defaults(name, Vec::new());
        let mut has_command = false;
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                // Reported by the TOML parser; do not also say the key is missing.
                has_command |= key.get_ref() == "command";
                continue;
            }
            match key.get_ref().as_ref() {
                "command" => {
                    has_command = true;
                    if let Some(argv) = self.command(value, "command") {
                        spec.process.command = argv;
                    }
                }
                "env" => {
                    if let Some(env) = self.env(value) {
                        spec.process.env = env;
                    }
                }
                "env_file" => spec.process.env_file = self.path(value, "env_file"),
                "working_dir" => spec.process.working_dir = self.path(value, "working_dir"),
                "user" => spec.process.user = self.name_string(value, "user"),
                "group" => spec.process.group = self.name_string(value, "group"),
                "supplementary_groups" => {
                    spec.process.supplementary_groups =
                        self.string_array(value, "supplementary_groups")
                }
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
                    if let Some(s) = self.stop_signal(value) {
                        spec.stop_signal = s;
                    }
                }
                "stop_timeout" => {
                    if let Some(d) = self.duration(value, "stop_timeout") {
                        spec.stop_timeout = d;
                    }
                }
                k if matches!(value.get_ref(), DeValue::Table(_))
                    && suggest(k, SERVICE_KEYS).is_none() =>
                {
                    // Most likely `[service.api.v2]` meant as one name.
                    let help = format!(
                        "a table here is not a setting; if `{name}.{k}` is meant as one service \
                         name, quote it: `[service.\"{name}.{k}\"]`"
                    );
                    let message = format!("unknown table `{k}` {place}");
                    self.error(key.span(), message, Some(help));
                }
                _ => self.unknown_key(key, value, SERVICE_KEYS, &place),
            }
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
            if let Some(why) = bad_env_name(k) {
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

    fn stop_signal(&mut self, v: &Value<'_>) -> Option<Signal> {
        let help = "use a name such as \"TERM\", \"INT\", \"QUIT\" or \"SIGHUP\", or a number from \
                    1 to 64";
        let signal = match v.get_ref() {
            DeValue::String(s) => Signal::parse(s.trim()).or_else(|| {
                let message = format!("`stop_signal` {} is not a signal", toml_str(s));
                self.error(v.span(), message, Some(help.into()));
                None
            })?,
            DeValue::Integer(_) => {
                let n = integer_value(v.get_ref())?;
                i32::try_from(n)
                    .ok()
                    .and_then(Signal::from_number)
                    .or_else(|| {
                        let message = format!("`stop_signal` {n} is not a signal number");
                        self.error(v.span(), message, Some(help.into()));
                        None
                    })?
            }
            _ => {
                self.mismatch(
                    v,
                    "stop_signal",
                    "a signal name or number",
                    Some(help.into()),
                );
                return None;
            }
        };
        if signal == Signal::STOP || signal == Signal::CONT {
            let message = format!(
                "`stop_signal` cannot be {signal}: it {} the process instead of asking it to exit",
                if signal == Signal::STOP {
                    "pauses"
                } else {
                    "resumes"
                }
            );
            let help = "use \"TERM\" (the default), \"INT\", \"QUIT\" or another signal the \
                        service exits on";
            self.error(v.span(), message, Some(help.into()));
            return None;
        }
        Some(signal)
    }
}

#[cfg(test)]
mod tests;
